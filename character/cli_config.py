"""CLI options generated from a pydantic config: one option per field (nested models as
`--section-field`), the field's description as help, the model's default shown but not restated.

Why: hand-written typer options restated every default and help line of the config and drifted
from it (a new field had no option; a changed default differed between the CLI and the library).
An option left out stays unset, so the config's own default applies.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

_SIMPLE = (str, int, float, bool, Path)


@dataclass(frozen=True)
class ConfigOption:
    """One generated option: the config path it sets (`voice.method`) and its parameter."""

    path: str
    param: str
    names: tuple[str, ...]
    kind: Any
    help: str


def _plain_type(annotation: Any) -> Any:
    """The click-friendly type of a field: X of `X | None`, str for a Literal of strings,
    `list[X]` for a list or tuple of X and for `X | list[X]` (a repeated option); None for
    anything an option cannot carry (dicts, models)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _plain_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _plain_type(args[0])
        kinds = [_plain_type(a) for a in args]
        lists = [k for k in kinds if typing.get_origin(k) is list]
        if len(lists) == 1 and all(k in (lists[0], *typing.get_args(lists[0])) for k in kinds):
            return lists[0]
        return None
    if origin in (list, tuple):
        items = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        item = _plain_type(items[0]) if len(set(items)) == 1 else None
        return list[item] if item in _SIMPLE else None  # type: ignore[valid-type]
    if origin is Literal:
        values = typing.get_args(annotation)
        return str if all(isinstance(v, str) for v in values) else None
    return annotation if annotation in _SIMPLE else None


_NO_DEFAULT = object()


def _help(info: FieldInfo, annotation: Any, section_value: Any = _NO_DEFAULT) -> str:
    """The description, the allowed values, and the default. `section_value` is the field's
    value in the default of the section that holds it (`sampling.max_new_tokens` is 120 in
    RobustnessConfig's sampling default, not SamplingParams' own 256)."""
    text = (info.description or "").strip()
    if typing.get_origin(annotation) is Literal:
        text += f" One of: {', '.join(map(str, typing.get_args(annotation)))}."
    if typing.get_origin(_plain_type(annotation)) is list:
        text += " Repeat the option for several values."
    if section_value is not _NO_DEFAULT:
        default = section_value
    elif info.default_factory is not None:
        default = info.default_factory()  # type: ignore[call-arg]
        if default and not isinstance(default, list | tuple | dict):
            return f"{text} (default: from settings)".strip()
    else:
        default = info.default
    if isinstance(default, tuple | list):
        default = ", ".join(map(str, default)) or None
    if default is not PydanticUndefined and default is not None:
        text += f" (default: {default})"
    return text.strip()


def _section_default(info: FieldInfo) -> BaseModel | None:
    """The default instance of a nested section, when the field has one."""
    if isinstance(info.default, BaseModel):
        return info.default
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return value if isinstance(value, BaseModel) else None
    return None


def config_options(
    model: type[BaseModel],
    *,
    aliases: dict[str, tuple[str, ...]] | None = None,
    required: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    prefix: str = "",
    section: BaseModel | None = None,
) -> list[ConfigOption]:
    """Every field of `model` (and of its nested models) as an option. `aliases` adds older
    option names per field path (e.g. `pair_count: ("--pairs",)`); `exclude` names field paths
    the command sets itself (a run-owned field), which get no option."""
    aliases = aliases or {}
    out: list[ConfigOption] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if path in exclude:
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += config_options(
                annotation,
                aliases=aliases,
                exclude=exclude,
                prefix=f"{path}.",
                section=_section_default(info),
            )
            continue
        kind = _plain_type(annotation)
        if kind is None:
            raise TypeError(f"{model.__name__}.{name}: {annotation} has no CLI option form")
        flag = "--" + path.replace(".", "-").replace("_", "-")
        names = (flag, *aliases.get(path, ()))
        if kind is bool:  # every long name gets its --no- form, as typer gave the old flags
            names = tuple(f"{n}/--no-{n[2:]}" if n.startswith("--") else n for n in names)
        shown = getattr(section, name) if section is not None else _NO_DEFAULT
        out.append(
            ConfigOption(path, path.replace(".", "__"), names, kind, _help(info, annotation, shown))
        )
    if not prefix:
        paths = {o.path for o in out}
        for path in (*required, *aliases):
            if path not in paths:
                raise ValueError(f"option for {path} is not a field of {model.__name__}")
        unknown = [p for p in exclude if p not in _field_paths(model)]
        if unknown:
            raise ValueError(f"excluded {unknown} are not fields of {model.__name__}")
    return out


def _field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        out.add(f"{prefix}{name}")
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _field_paths(ann, f"{prefix}{name}.")
    return out


def config_from_options(
    model: type[BaseModel], options: list[ConfigOption], values: dict[str, Any]
) -> BaseModel:
    """The config from parsed option values; options left out stay unset (model defaults). A
    nested section given only some options starts from the section's default (what its
    `default_factory` set), so `--sampling-max-new-tokens 50` keeps that default's seed."""
    data: dict[str, Any] = {}
    for opt in options:
        value = values.get(opt.param)
        if value is None or (isinstance(value, list | tuple) and not value):
            continue  # left out (a repeated option given no times arrives empty)
        if isinstance(value, tuple):
            value = list(value)
        section, _, name = opt.path.rpartition(".")
        holder, owner = data, model
        for part in filter(None, section.split(".")):
            info = owner.model_fields[part]
            if part not in holder:
                start = _section_default(info)
                holder[part] = start.model_dump(exclude_unset=True) if start else {}
            holder, owner = holder[part], info.annotation
        holder[name] = value
    return model.model_validate(data)


def config_command(
    model: type[BaseModel],
    run: Callable[..., None],
    *,
    doc: str,
    aliases: dict[str, tuple[str, ...]] | None = None,
    required: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    arguments: tuple[str, ...] = (),
    extra: tuple[inspect.Parameter, ...] = (),
    on_invalid: Callable[[Exception], None],
) -> Callable[..., None]:
    """A typer command whose options are `model`'s fields; it validates them into the config
    (`on_invalid` reports a bad value) and calls `run(config)`. Fields in `exclude` get no
    option and keep the model's default; fields in `arguments` are positional (required)
    arguments instead of options. `extra` adds parameters that are not config fields (how to
    print the result); their values reach `run` as keyword arguments."""
    options = config_options(
        model, aliases=aliases, required=(*required, *arguments), exclude=exclude
    )
    extra_names = [p.name for p in extra]

    def command(**values: Any) -> None:
        try:
            config = config_from_options(model, options, values)
        except ValueError as exc:
            on_invalid(exc)
            return
        run(config, **{name: values[name] for name in extra_names})

    params = []
    for opt in options:
        is_required = opt.path in required or opt.path in arguments
        kind: Any = opt.kind if is_required else (opt.kind | None)
        spec: Any = (
            typer.Argument(help=opt.help)
            if opt.path in arguments
            else typer.Option(*opt.names, help=opt.help)
        )
        params.append(
            inspect.Parameter(
                opt.param,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[kind, spec],
                default=inspect.Parameter.empty if is_required else None,
            )
        )
    params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in extra]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = "command"
    command.options = options  # type: ignore[attr-defined]
    return command
