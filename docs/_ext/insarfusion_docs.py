"""Sphinx directives that generate reference pages from the package itself.

* ``insarfusion-config-reference``: every configuration key from the pydantic schema
  (:func:`insarfusion.config_template.key_docs`), section by section, and the template that
  ``insarfusion init`` writes;
* ``insarfusion-products``: every product of a run, what it holds and what opens it
  (:data:`insarfusion.products.guide.PRODUCT_GUIDE`, the list ``run`` and ``demo`` print);
* ``insarfusion-formats``: the input formats and the reader of each (:mod:`insarfusion.io`).

Nothing is copied by hand: a key, product or format added to the package shows up here at
the next build.
"""

from __future__ import annotations

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def escape(text: str) -> str:
    """Text safe inside reStructuredText (no markup, references or substitutions)."""
    for char in "\\*`_|":
        text = text.replace(char, "\\" + char)
    return text


def literal(text: str) -> str:
    """Inline literal markup for ``text`` (empty text stays empty)."""
    return f"``{text}``" if text else ""


def list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    """A ``list-table`` directive (lines) with a header row; cells are already markup."""
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        for i, cell in enumerate(row):
            lines.append(("   * - " if i == 0 else "     - ") + (cell or " "))
    return lines + [""]


class _Generated(SphinxDirective):
    """A directive whose content is reStructuredText made by :meth:`lines`."""

    has_content = False

    def lines(self) -> list[str]:  # pragma: no cover - overridden
        """The generated reStructuredText, line by line."""
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        """Parse the generated text in place (titles allowed)."""
        node = nodes.container()
        source = self.get_source_info()[0]
        content = StringList(self.lines(), source=f"{source} (generated)")
        nested_parse_with_titles(self.state, content, node)
        return node.children


class ConfigReference(_Generated):
    """Every configuration key: one table per section, then the full template."""

    def lines(self) -> list[str]:
        """Tables of the keys (key, values, default, what) and the ``init`` template."""
        from insarfusion.config_template import config_template, key_docs

        docs = key_docs()
        sections = {"": [d for d in docs if "." not in d.key]}
        for doc in docs:
            if doc.section:
                prefix = doc.key + ("[]." if doc.type.startswith("list") else ".")
                sections[doc.key] = [d for d in docs if d.key.startswith(prefix)
                                     and "." not in d.key[len(prefix):]]
        out = []
        for name, rows in sections.items():
            title = "Top-level keys" if not name else f"``{name}``"
            out += [f".. _config-{name or 'top'}:", "", title, "-" * len(title), ""]
            if name:
                parent = next(d for d in docs if d.key == name)
                kind = "a list of sections, each with" if "list" in parent.type else \
                    "a section with"
                optional = " Optional: leave it out to go without." if "null" in parent.type \
                    else ""
                out += [f"{escape(parent.help[:1].upper() + parent.help[1:])}: {kind} the keys "
                        f"below.{optional}", ""]
            table = []
            for d in rows:
                key = d.key.rsplit(".", 1)[-1]
                key = f":ref:`{key} <config-{d.key}>`" if d.section else literal(key)
                default = "*required*" if d.required else literal(d.default) or "(section)"
                table.append([key, literal(d.type), default, escape(d.help)])
            out += list_table(["key", "values", "default", "what"], table, "18 27 20 35")
        out += ["The template", "-" * len("The template"), "",
                "``insarfusion init`` writes this file (optional sections commented out):", "",
                ".. code-block:: yaml", ""]
        out += ["   " + line if line else "" for line in config_template().splitlines()]
        return out + [""]


class Products(_Generated):
    """The products of a run, what they hold and what opens them."""

    def lines(self) -> list[str]:
        """A table of :data:`~insarfusion.products.guide.PRODUCT_GUIDE`."""
        from insarfusion.products.guide import PRODUCT_GUIDE

        rows = [[literal(path), escape(what), escape(how)] for path, what, how in PRODUCT_GUIDE]
        return list_table(["file in the output folder", "what", "open it with"], rows,
                          "22 48 30")


class Formats(_Generated):
    """The input formats (``format:`` in the config) and their readers."""

    option_spec = {"kind": str}

    def lines(self) -> list[str]:
        """A table: format name, reader function and the first line of its docstring."""
        import importlib

        from insarfusion import io

        formats = io.GNSS_FORMATS if self.options.get("kind") == "gnss" else io.POINT_FORMATS
        rows = []
        for name, target in formats.items():
            module, function = target.split(":")
            reader = getattr(importlib.import_module(f"insarfusion.io.{module}"), function)
            summary = (reader.__doc__ or "").strip().splitlines()[0]
            rows.append([literal(name), f":func:`~insarfusion.io.{module}.{function}`",
                         summary])  # a docstring's summary is reStructuredText already
        return list_table(["format", "reader", "what"], rows, "15 35 50")


def setup(app):
    """Register the directives."""
    app.add_directive("insarfusion-config-reference", ConfigReference)
    app.add_directive("insarfusion-products", Products)
    app.add_directive("insarfusion-formats", Formats)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
