"""The configuration template of ``insarfusion init``, generated from the schema.

Every key of :class:`insarfusion.config.Config` is written with its default and its one-line
help (the field's ``description``, and the choices of a key that takes a few). A section
that is optional (``gnss``, ``reference_point``, ``decomposition``) is written commented
out; a key without a default gets an example value (:data:`EXAMPLES`) marked ``required``
(and a key whose default means "leave it out" an example marked so).

:func:`key_docs` lists the same keys as records (dotted key, type, default, help), from which
the configuration reference of the documentation is built.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .config import Config

#: Example values of the keys that have no default (or whose default is to leave them out),
#: by ``Model.key``.
EXAMPLES = {"DatasetConfig.name": "S1A", "DatasetConfig.path": "s1a_points.csv",
            "GnssConfig.path": "gnss/", "GnssConfig.reference": ["M01"],
            "ReferencePointConfig.lon": 0.0, "ReferencePointConfig.lat": 0.0}

_HEADER = """\
# insarfusion configuration: every key with its default and what it does.
# Written by `insarfusion init` from the schema; paths are relative to this file; unknown
# keys are errors. Sections written commented out are optional: uncomment to use them.
"""


def _models(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The model class inside an annotation (``Model``, ``Model | None``, ``list[Model]``).

    Returns the class (or None) and whether the key holds a list of them.
    """
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args:
        inner, _ = _models(args[0])
        return inner, inner is not None
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            inner, many = _models(arg)
            if inner is not None:
                return inner, many
    return None, False


def _choices(annotation) -> list:
    """The values of a ``Literal`` inside an annotation (``Literal[...] | float`` too)."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    out = []
    for arg in typing.get_args(annotation):
        out += _choices(arg)
    return out


def _value(value) -> str:
    """A value as one line of YAML."""
    if value is None:
        return "null"
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000)
    return text.strip().removesuffix("...").strip()


def _help(info, required: bool) -> str:
    words = info.description or ""
    choices = [c for c in _choices(info.annotation) if c is not None]
    if len(choices) > 1:
        words += f" ({' | '.join(str(c) for c in choices)})"
    return ("required: " if required else "") + words


def _model_lines(model: type[BaseModel], indent: str, first: str = "") -> list[str]:
    """The lines of every key of ``model``; the first line prefixed with ``first``."""
    lines = []
    for name, info in model.model_fields.items():
        lead = first if not lines else " " * len(first)
        inner, many = _models(info.annotation)
        required = info.default is PydanticUndefined and info.default_factory is None
        help_ = _help(info, required)
        if inner is not None and (many or info.default is None or info.default_factory):
            lines.append(f"{indent}{lead}{name}:  # {help_}")
            if many:
                lines += _model_lines(inner, indent + "  ", "- ")
            else:
                body = _model_lines(inner, indent + "  ")
                if info.default is None and not required:  # an optional section
                    lines[-1] = f"{indent}{lead}# {name}:  # {help_}"
                    body = [f"{indent}# {line[len(indent):]}" for line in body]
                lines += body
            continue
        example = f"{model.__name__}.{name}"
        if example in EXAMPLES:
            value = EXAMPLES[example]
            help_ = help_ if required else f"example; {help_}"
        elif info.default_factory is not None:
            value = info.default_factory()
        else:
            value = info.default
        value = getattr(value, "isoformat", lambda v=value: v)()
        lines.append(f"{indent}{lead}{name}: {_value(value)}  # {help_}".rstrip(" #"))
    return lines


def config_template() -> str:
    """The YAML template of a configuration, every key with its default and help.

    Returns
    -------
    str
        YAML text: uncommented, it loads as the defaults (with example datasets to replace).
    """
    return _HEADER + "\n".join(_model_lines(Config, "")) + "\n"


@dataclass(frozen=True)
class KeyDoc:
    """One configuration key, as the reference documents it.

    Attributes
    ----------
    key : str
        Dotted key, e.g. ``"spatial.cnn.epochs"``; ``[]`` marks the items of a list
        (``"datasets[].name"``).
    type : str
        The values it takes, in words (``"integer"``, ``"lstm | linear | pchip | auto"``,
        ``"section"``, ``"list of sections"``).
    default : str
        The default as YAML; empty for a required key or a section.
    required : bool
        Whether the key must be given.
    help : str
        The one-line help of the schema (its ``description``).
    section : bool
        Whether the key holds a section (or a list of them) whose keys follow.
    """

    key: str
    type: str
    default: str
    required: bool
    help: str
    section: bool


_TYPE_WORDS = {int: "integer", float: "number", str: "text", bool: "true | false",
               type(None): "null", dict: "mapping"}


def type_words(annotation) -> str:
    """The values an annotation admits, in words (``"integer | null"``, ``"list of text"``)."""
    inner, many = _models(annotation)
    if inner is not None:
        text = "list of sections" if many else "section"
        optional = type(None) in typing.get_args(annotation)
        return f"{text} | null" if optional else text
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(str(c) for c in typing.get_args(annotation))
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_words(arg) for arg in typing.get_args(annotation))
    if origin is list:
        args = typing.get_args(annotation)
        if not args:
            return "list"
        words = type_words(args[0])
        return f"list of ({words})" if " | " in words else f"list of {words}"
    if annotation in _TYPE_WORDS:
        return _TYPE_WORDS[annotation]
    return getattr(annotation, "__name__", str(annotation)).replace("Path", "path")


def key_docs(model: type[BaseModel] = Config, prefix: str = "") -> list[KeyDoc]:
    """Every key of ``model`` and of its sections, depth first, in the schema's order.

    Parameters
    ----------
    model : pydantic model class
        The section to document; default the whole configuration.
    prefix : str
        Dotted key of the section (``""`` at the top).

    Returns
    -------
    list of KeyDoc
        A section's own record comes before the records of its keys.
    """
    out = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        inner, many = _models(info.annotation)
        required = info.default is PydanticUndefined and info.default_factory is None
        if inner is not None:
            out.append(KeyDoc(key, type_words(info.annotation), "", required,
                              info.description or "", True))
            out += key_docs(inner, f"{key}[]." if many else f"{key}.")
            continue
        if required:
            default = ""
        else:
            value = (info.default_factory() if info.default_factory is not None
                     else info.default)
            default = _value(getattr(value, "isoformat", lambda v=value: v)())
        out.append(KeyDoc(key, type_words(info.annotation), default, required,
                          info.description or "", False))
    return out
