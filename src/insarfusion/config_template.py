"""The configuration template of ``insarfusion init``, generated from the schema.

Every key of :class:`insarfusion.config.Config` is written with its default and its one-line
help (the field's ``description``, and the choices of a key that takes a few). A section
that is optional (``gnss``, ``reference_point``, ``decomposition``) is written commented
out; a key without a default gets an example value (:data:`EXAMPLES`) marked ``required``
(and a key whose default means "leave it out" an example marked so).
"""

from __future__ import annotations

import types
import typing

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
