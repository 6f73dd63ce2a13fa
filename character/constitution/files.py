"""One constitution file: parse, load, validate edited text, save.

Formats: `.json`/`.yaml` (the studio README's object), `.txt` (the recipe's JSON array of
traits) and `.jsonl` (Open Character Training's few-shot files, one trait object per line).
Why here: every error names the field, and for syntax errors the line, so a person can fix the
file; a write happens only after the text validates, so a bad edit never replaces a good file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from character.constitution.model import Constitution, ConstitutionError
from character.io import atomic_write_text


def _validation_error(source: str, exc: ValidationError) -> ConstitutionError:
    """Problems with the editor's labels, counted from 1 ("Trait 2: the trait text is
    empty"); the file's field paths ride along for the CLI's message."""
    from character.plain_errors import CONSTITUTION_LABELS, plain_problems

    fields = [".".join(str(p) for p in err["loc"]) for err in exc.errors()]
    return ConstitutionError(source, plain_problems(exc, CONSTITUTION_LABELS), fields)


def constitution_from_data(
    data: Any, *, source: str, default_name: str | None = None
) -> Constitution:
    """Validate already-parsed data (dict, or the recipe's list of traits)."""
    if isinstance(data, list):
        data = {"name": default_name or "persona", "traits": data}
    if data is None:
        raise ConstitutionError(source, ["the file is empty; expected an object with a 'name'"])
    if not isinstance(data, dict):
        raise ConstitutionError(
            source, [f"expected an object or a list of traits, got {type(data).__name__}"]
        )
    if "name" not in data and default_name:
        data = {**data, "name": default_name}
    try:
        return Constitution.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(source, exc) from exc


def _parse_trait_lines(text: str, source: str) -> list[Any]:
    """OCT's few-shot layout: each non-blank line is one JSON trait object."""
    rows: list[Any] = []
    problems: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: JSON syntax error at column {exc.colno}: {exc.msg}")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {lineno}: expected a trait object, got {type(row).__name__}")
            continue
        rows.append(row)
    if problems:
        raise ConstitutionError(source, problems)
    if not rows:
        raise ConstitutionError(source, ["the file holds no trait lines"])
    return rows


def parse_constitution_text(
    text: str, fmt: str, *, source: str, default_name: str | None = None
) -> Constitution:
    """Parse text in `json`, `yaml`, `txt` (recipe JSON array) or `jsonl` (one trait per line)
    form."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "jsonl":
        data = _parse_trait_lines(text, source)
    elif fmt in ("json", "txt"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConstitutionError(
                source, [f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
            ) from exc
    elif fmt in ("yaml", "yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConstitutionError(source, [f"YAML syntax error{where}: {problem}"]) from exc
    else:
        raise ConstitutionError(source, [f"unknown format {fmt!r}; use json, yaml, txt or jsonl"])
    return constitution_from_data(data, source=source, default_name=default_name)


def load_constitution(path: Path | str) -> Constitution:
    path = Path(path)
    if not path.exists():
        raise ConstitutionError(str(path), ["file does not exist"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConstitutionError(str(path), [f"not valid UTF-8: {exc.reason}"]) from exc
    default_name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "persona"
    return parse_constitution_text(
        text, path.suffix or ".json", source=str(path), default_name=default_name
    )


def save_constitution(
    constitution: Constitution, path: Path | str, *, overwrite: bool = True
) -> Path:
    """Save by extension (.json, .yaml/.yml, .txt, .jsonl); atomic, so a failure never truncates."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True or pick another name")
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = constitution.to_json()
    elif suffix in (".yaml", ".yml"):
        text = constitution.to_yaml()
    elif suffix == ".txt":
        text = constitution.to_recipe_txt()
    elif suffix == ".jsonl":
        text = constitution.to_recipe_jsonl()
    else:
        raise ValueError(
            f"unknown constitution extension {suffix!r}; use .json, .yaml, .txt or .jsonl"
        )
    atomic_write_text(path, text)
    return path


def write_constitution_text(
    text: str, path: Path | str, *, fmt: str | None = None, overwrite: bool = True
) -> Constitution:
    """Validate edited text, then write it verbatim (comments and layout kept).

    The file is only touched once the text parses and validates, so a bad edit never replaces
    a good file; the error lists every problem with its field.
    """
    path = Path(path)
    default_name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "persona"
    c = parse_constitution_text(
        text, fmt or path.suffix or ".json", source=str(path), default_name=default_name
    )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True or pick another name")
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    return c
