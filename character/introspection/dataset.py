"""Introspection data: the seed API's `IntrospectionExample`, stored as TRL conversational rows.

One JSONL line per example. `messages` is what SFT trains on (TRL's `{"messages": [...]}`
format; the constitution is never in it); the other fields are the seed README's fields plus
provenance, so any row can be traced to the model, persona version and sampling that made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from character.io import append_jsonl, atomic_write_text, load_models_jsonl

Kind = Literal["reflection", "interaction"]


class IntrospectionExample(BaseModel):
    """A reflection-style training example.

    `prompt` is the user's question (the reflection prompt, or the opener of a
    self-interaction); `reflection` is reasoning the model wrote before answering (text inside
    `<think>…</think>`, kept for inspection and never trained on); `answer` is the reply that is
    trained on. Self-interaction rows carry the whole conversation in `messages`.
    """

    model_config = ConfigDict(extra="ignore")

    prompt: str
    reflection: str = ""
    answer: str
    teacher_model: str
    constitution: str = Field(description="Persona name of the constitution in context.")
    kind: Kind = "reflection"
    variant: str | None = Field(default=None, description="'free' or 'leading' (interaction).")
    messages: list[dict[str, Any]] = Field(default_factory=list)
    constitution_hash: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    source_index: int | None = Field(default=None, description="Prompt or conversation index.")
    sample_index: int = 0
    speaker: str | None = Field(default=None, description="'A' or 'B' (interaction).")

    @model_validator(mode="after")
    def _fill_messages(self) -> IntrospectionExample:
        if not self.messages:
            self.messages = [
                {"role": "user", "content": self.prompt},
                {"role": "assistant", "content": self.answer},
            ]
        return self

    def key(self) -> str:
        """Identity used by `--resume` to skip work already done."""
        return f"{self.kind}:{self.variant or ''}:{self.source_index}:{self.sample_index}"


def default_output_path(persona: str, base_dir: Path | str | None = None) -> Path:
    """`<data>/introspection/<persona>_introspection.jsonl`, the seed README's layout."""
    if base_dir is None:
        from character.settings import get_settings

        base_dir = get_settings().data_path / "introspection"
    return Path(base_dir) / f"{persona}_introspection.jsonl"


def save_examples(
    examples: Iterable[IntrospectionExample], path: Path | str, *, append: bool = False
) -> Path:
    """Write examples as JSONL: atomically (replace) or by fsync'd append."""
    path = Path(path)
    rows = list(examples)
    if append:
        append_jsonl(path, rows)
    else:
        import json

        text = "".join(
            json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in rows
        )
        atomic_write_text(path, text)
    return path


def load_examples(path: Path | str, *, skip_bad: bool = False) -> list[IntrospectionExample]:
    """Load examples; a bad line raises `DataFileError` naming the file, line and field."""
    return load_models_jsonl(path, IntrospectionExample, skip_bad=skip_bad)
