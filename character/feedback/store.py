"""The feedback questionnaire: what a person thought of one response, stored append-only.

Each record keeps the full conversation, the model, adapter and sampling settings, so it stays
meaningful after the model is deleted (it is then marked, never dropped).
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from character.io import append_jsonl, atomic_write_text, load_models_jsonl
from character.settings import get_settings


class ErrorTag(str, Enum):
    out_of_character = "out_of_character"
    knows_too_much = "knows_too_much"
    sounds_like_assistant = "sounds_like_assistant"
    sounds_like_other_character = "sounds_like_other_character"
    repetition = "repetition"
    low_quality = "low_quality"


ERROR_TAG_HELP = {
    ErrorTag.out_of_character: "Out of character: the reply does not sound like the persona.",
    ErrorTag.knows_too_much: "Knows too much: mentions things the character could not know.",
    ErrorTag.sounds_like_assistant: "Sounds like a generic AI assistant.",
    ErrorTag.sounds_like_other_character: "Sounds like a different character.",
    ErrorTag.repetition: "Repeats itself.",
    ErrorTag.low_quality: "Low quality: wrong, unhelpful or incoherent.",
}


class FeedbackError(ValueError):
    pass


class FeedbackRecord(BaseModel):
    """One person's judgement of one response."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: float = Field(default_factory=time.time)
    rater: str = "anonymous"
    source: Literal["chat", "preview", "arena", "test", "other"] = "chat"
    persona: str
    constitution_hash: str | None = None
    conversation: list[dict[str, str]] = Field(
        description="The messages the model saw (system prompt included, if any)."
    )
    response: str
    model: str
    adapter: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)
    rating: int = Field(ge=1, le=5, description="In-character rating, 1 (not at all) to 5.")
    traits_shown: list[str] = Field(default_factory=list)
    traits_missing: list[str] = Field(default_factory=list)
    error_tags: list[ErrorTag] = Field(default_factory=list)
    correction: str | None = Field(default=None, description="What the character would really say.")
    confidence: int = Field(default=3, ge=1, le=5, description="Rater confidence, 1 to 5.")
    model_available: bool = True

    @field_validator("correction")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @model_validator(mode="after")
    def _check(self) -> FeedbackRecord:
        if self.correction is not None and self.correction.strip() == self.response.strip():
            raise ValueError(
                "the correction is identical to the response; leave it empty or write what the "
                "character would really say"
            )
        both = set(self.traits_shown) & set(self.traits_missing)
        if both:
            raise ValueError(f"traits marked both shown and missing: {sorted(both)}")
        if not any(m.get("role") == "user" for m in self.conversation):
            raise ValueError("the conversation has no user message")
        return self

    def prompt_messages(self) -> list[dict[str, str]]:
        """The conversation without the system prompt (what training data should contain)."""
        return [m for m in self.conversation if m.get("role") != "system"]


def feedback_path() -> Path:
    return get_settings().data_path / "feedback" / "feedback.jsonl"


def record_feedback(
    record: FeedbackRecord, *, constitution: Any = None, path: Path | None = None
) -> FeedbackRecord:
    """Validate against the constitution (trait names must be its traits) and append."""
    if constitution is not None:
        known = {t.trait for t in constitution.traits}
        unknown = [t for t in [*record.traits_shown, *record.traits_missing] if t not in known]
        if unknown:
            raise FeedbackError(f"traits not in the constitution '{constitution.name}': {unknown}")
        if record.constitution_hash is None:
            record = record.model_copy(update={"constitution_hash": constitution.content_hash()})
    append_jsonl(path or feedback_path(), [record])
    return record


def _model_exists(model: str, adapter: str | None) -> bool:
    from character.models.registry import UnknownModelError, resolve

    if adapter and not Path(adapter).exists():
        return False
    try:
        resolve(model)
    except (UnknownModelError, ValueError):
        return False
    return True


def load_feedback(path: Path | None = None, *, check_models: bool = True) -> list[FeedbackRecord]:
    """All records; those whose model or adapter has since been deleted are marked, not dropped."""
    path = path or feedback_path()
    if not path.exists():
        return []
    records = load_models_jsonl(path, FeedbackRecord)
    if check_models:
        cache: dict[tuple[str, str | None], bool] = {}
        for r in records:
            key = (r.model, r.adapter)
            if key not in cache:
                cache[key] = _model_exists(r.model, r.adapter)
            r.model_available = cache[key]
    return records


def export_feedback(
    out: Path, fmt: Literal["jsonl", "csv"] = "jsonl", path: Path | None = None
) -> Path:
    """Write all feedback to `out` as JSONL (full records) or CSV (one row per record)."""
    records = load_feedback(path)
    if fmt == "jsonl":
        text = "".join(
            json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in records
        )
    else:
        buf = io.StringIO()
        cols = [
            "id",
            "created_at",
            "rater",
            "source",
            "persona",
            "model",
            "adapter",
            "rating",
            "confidence",
            "traits_shown",
            "traits_missing",
            "error_tags",
            "prompt",
            "response",
            "correction",
            "model_available",
        ]
        writer = csv.DictWriter(buf, fieldnames=cols)
        writer.writeheader()
        for r in records:
            d = r.model_dump(mode="json")
            d["prompt"] = next(
                (m["content"] for m in reversed(r.conversation) if m["role"] == "user"), ""
            )
            for key in ("traits_shown", "traits_missing", "error_tags"):
                d[key] = "; ".join(d[key])
            writer.writerow({c: d.get(c) for c in cols})
        text = buf.getvalue()
    atomic_write_text(out, text)
    return out
