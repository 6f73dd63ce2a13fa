"""A config field's help and default, read from the typed config itself.

Why: the studio's knobs, the CLI's options and the docs said the same things in separate
hand-written tables that drifted from the configs (a knob with no help, a default that differed).
Every surface that explains a setting asks the config through these functions instead; a dotted
path (`dpo.lora_rank`) reaches into nested sections such as the recipe's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


def field_info(model: type[BaseModel], path: str) -> FieldInfo:
    """The field at `path` (`name` or `section.name`); a KeyError names the model and the
    known fields when the path does not exist."""
    section, _, name = path.rpartition(".")
    holder = model
    for part in filter(None, section.split(".")):
        holder = _nested(holder, part, path)
    if name not in holder.model_fields:
        known = ", ".join(holder.model_fields)
        raise KeyError(f"{model.__name__} has no field {path!r} (known: {known})")
    return holder.model_fields[name]


def _nested(model: type[BaseModel], part: str, path: str) -> type[BaseModel]:
    info = model.model_fields.get(part)
    annotation = info.annotation if info else None
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise KeyError(f"{model.__name__}.{part} is not a section (in {path!r})")
    return annotation


def field_help(model: type[BaseModel], path: str) -> str:
    """The field's description: the one help text of a setting, wherever it is shown."""
    return (field_info(model, path).description or "").strip()


def field_default(model: type[BaseModel], path: str) -> Any:
    """The field's default (a factory's value for `default_factory`); None for a required
    field."""
    info = field_info(model, path)
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default
