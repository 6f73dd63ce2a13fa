"""Validation errors in the words of the form a person filled in.

Pydantic names a problem by its path and counts list items from 0 ("traits.1.trait: String
should have at least 3 characters"); a student looking at the form sees "Trait 2". These
functions turn a `ValidationError` into messages that use the form's labels and count from 1
("Trait 2: the trait text is too short (at least 3 characters)"), optionally followed by the
field path for people editing the file by hand (the CLI).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

CONSTITUTION_LABELS: dict[str, str] = {
    "name": "Persona id",
    "display_name": "Display name",
    "description": "Description",
    "system_prompt": "System prompt",
    "traits": "Traits",
    "traits.*": "Trait {1}",
    "traits.*.trait": "Trait {1}: the trait text",
    "traits.*.questions": "Questions for trait {1}",
    "traits.*.questions.*": "Trait {1}, question {2}",
    "traits.*.additional_questions.*": "Trait {1}, extra question {2}",
    "directives": "Directives",
    "directives.*": "Directive {1}",
    "safety": "Safety rules",
    "safety.*": "Safety rule {1}",
    "example_signoffs": "Sign-offs",
    "example_signoffs.*": "Sign-off {1}",
    "examples": "Examples",
    "examples.*": "Example {1}",
    "examples.*.user": "Example {1}: what someone asks",
    "examples.*.assistant": "Example {1}: the persona's answer",
    "attributes": "More fields: attributes",
    "attributes.*": "More fields: attributes, {1}",
    "attributes.*.*": "More fields: attributes, {1} line {2}",
    "behaviors": "More fields: behaviors",
    "behaviors.*": "More fields: behaviors, {1}",
    "behaviors.*.*": "More fields: behaviors, {1} line {2}",
}
"""Labels of the Constitution editor, by field path (`*` is a list index or a field name;
`{1}`, `{2}` are the wildcards in order, list indexes counted from 1)."""


def _matches(pattern: Sequence[str], loc: Sequence[Any]) -> list[Any] | None:
    if len(pattern) != len(loc):
        return None
    captured: list[Any] = []
    for part, value in zip(pattern, loc, strict=True):
        if part == "*":
            captured.append(value)
        elif part != str(value):
            return None
    return captured


def _human(value: Any) -> str:
    return str(value + 1) if isinstance(value, int) else str(value).replace("_", " ")


def field_label(loc: Sequence[Any], labels: Mapping[str, str]) -> str:
    """The form's label for a pydantic error location; unknown paths are spelled out in
    words with list items counted from 1 ("Field 'prompts #3'")."""
    best: tuple[int, str, list[Any]] | None = None
    for pattern, label in labels.items():
        parts = pattern.split(".")
        captured = _matches(parts, loc)
        if captured is None:
            continue
        exact = sum(p != "*" for p in parts)
        if best is None or exact > best[0]:
            best = (exact, label, captured)
    if best is not None:
        _, label, captured = best
        for n, value in enumerate(captured, start=1):
            label = label.replace(f"{{{n}}}", _human(value))
        return label
    words: list[str] = []
    for part in loc:
        if isinstance(part, int):
            words[-1:] = [f"{words[-1]} #{part + 1}" if words else f"#{part + 1}"]
        else:
            words.append(str(part).replace("_", " "))
    return f"Field '{', '.join(words)}'" if words else "The form"


def plain_reason(error: Mapping[str, Any]) -> str:
    """What is wrong, as the end of a sentence ("is empty", "must be at most 1")."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind == "missing":
        return "is missing"
    if kind == "string_too_short":
        if isinstance(given, str) and not given.strip():
            return "is empty"
        return f"is too short (at least {ctx.get('min_length')} characters)"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"has too many items (at most {ctx.get('max_length')})"
    if kind == "extra_forbidden":
        return "is not a field this form knows (check the spelling)"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be yes or no (true or false)"
    if kind in ("string_type",):
        return "must be text"
    if kind in ("list_type",):
        return "must be a list (one item per line)"
    bounds = {
        "greater_than": ("more than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        msg = str(error.get("msg", ""))
        return msg.removeprefix("Value error, ")
    msg = str(error.get("msg", "is not valid"))
    return msg[:1].lower() + msg[1:]


def plain_problems(
    exc: ValidationError, labels: Mapping[str, str] | None = None, *, with_path: bool = False
) -> list[str]:
    """One message per problem: "<label> <reason>", e.g. "Trait 2: the trait text is empty".

    `with_path` adds the field path as the file spells it ("[traits.1.trait]"), for people
    who edit the JSON/YAML by hand."""
    out: list[str] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        reason = plain_reason(err)
        if not loc:  # a check of the whole form: its message says it all
            out.append(reason[:1].upper() + reason[1:])
            continue
        label = field_label(loc, labels or {})
        sep = ": " if label.rstrip().endswith(")") or reason[:1].isupper() else " "
        text = f"{label}{sep}{reason}"
        if with_path:
            text += f" [{'.'.join(str(p) for p in loc) or 'top level'}]"
        out.append(text)
    return out


def config_labels(model: type[BaseModel], prefix: str = "") -> dict[str, str]:
    """Labels for a config model's fields from their titles (or names in words), so a form
    built from a config names its fields the way its widgets do."""
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        out[path] = field.title or name.replace("_", " ").capitalize()
    return out
