"""DPO pair files: one preference pair per line in TRL's conversational format.

A row is `{"prompt": [{"role": "user", ...}], "chosen": [{"role": "assistant", ...}],
"rejected": [...], <provenance>}`, so `datasets.load_dataset("json", data_files=...)` feeds it
straight to TRL's `DPOTrainer`. `DpoExample` keeps the seed README's string fields for Python
callers and converts both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from character.io import DataFileError, append_jsonl, atomic_write_text, iter_jsonl
from character.settings import get_settings


def _content(value: Any, role: str, field: str) -> str:
    """Accept a plain string or a TRL message list and return the text of `role`'s turn."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == role]
        if len(texts) != 1 or not isinstance(texts[0], str):
            raise ValueError(f"{field} must hold exactly one '{role}' message with text content")
        return texts[0]
    raise ValueError(f"{field} must be a string or a list of messages")


class DpoExample(BaseModel):
    """One preference pair: the teacher's in-character reply (chosen) beats the student's."""

    model_config = ConfigDict(extra="allow")

    prompt: str
    chosen: str
    rejected: str
    teacher_model: str
    student_model: str
    constitution: str

    @model_validator(mode="before")
    @classmethod
    def _from_messages(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "prompt" in data:
                data["prompt"] = _content(data["prompt"], "user", "prompt")
            for key in ("chosen", "rejected"):
                if key in data:
                    data[key] = _content(data[key], "assistant", key)
        return data

    @field_validator("prompt", "chosen", "rejected")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    def to_row(self) -> dict[str, Any]:
        """The TRL conversational preference row, provenance fields kept alongside."""
        row: dict[str, Any] = {
            "prompt": [{"role": "user", "content": self.prompt}],
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
        }
        row.update(self.model_dump(exclude={"prompt", "chosen", "rejected"}))
        return row


def default_output_path(persona: str, base_dir: Path | str | None = None) -> Path:
    base = Path(base_dir) if base_dir is not None else get_settings().data_path / "distillation"
    return base / f"{persona}_dpo.jsonl"


def save_examples(examples: list[DpoExample], path: Path | str, *, append: bool = False) -> Path:
    """Write rows atomically (or append with fsync), so a crash never leaves half a file."""
    import json

    path = Path(path)
    rows = [ex.to_row() for ex in examples]
    if append:
        append_jsonl(path, rows)
    else:
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        atomic_write_text(path, text)
    return path


def load_examples(
    path: Path | str, *, skip_bad: bool = False, problems: list[str] | None = None
) -> list[DpoExample]:
    """Read pairs; a bad line raises `DataFileError` naming file:line and field unless
    `skip_bad`, which skips it and records why in `problems`. The file is never modified."""
    from character.io import JsonlProblem

    path = Path(path)
    raw_problems: list[JsonlProblem] = []
    out: list[DpoExample] = []
    for lineno, obj in iter_jsonl(path, skip_bad=skip_bad, problems=raw_problems):
        try:
            out.append(DpoExample.model_validate(obj))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(row)"
            msg = f"field '{field}': {first['msg']}"
            if skip_bad:
                raw_problems.append(JsonlProblem(lineno, msg))
                continue
            raise DataFileError(path, lineno, msg) from exc
    if problems is not None:
        problems.extend(f"{path}:{p.line}: {p.problem}" for p in raw_problems)
    return out
