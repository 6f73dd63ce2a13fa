"""One interface for every way of generating text: chat conversations in, completions out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """A chat message in the OpenAI / TRL conversational format."""

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str


Conversation = list[dict[str, str]]
"""A conversation as plain dicts (`{"role": ..., "content": ...}`), the TRL dataset format."""


class SamplingParams(BaseModel):
    """Sampling settings shared by all backends. Defaults follow the training recipe."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(
        default=0.7, ge=0.0, le=5.0, description="Sampling temperature: 0 is predictable."
    )
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(default=256, ge=1, le=32768, description="Longest reply in tokens.")
    repetition_penalty: float = Field(
        default=1.1, ge=0.5, le=3.0, description="Penalty on repeated tokens (1 = off)."
    )
    seed: int | None = Field(default=None, description="Seed for reproducible samples.")
    n: int = Field(default=1, ge=1, le=64, description="Samples per conversation.")


class Completion(BaseModel):
    """One generated reply and why it stopped (`length` means it was cut off)."""

    text: str
    finish_reason: Literal["stop", "length", "error"] = "stop"
    tokens: int = 0

    def display_text(self) -> str:
        """The text to show a person: a reply cut off by the length limit ends at its last
        whole word with an ellipsis instead of mid-word."""
        return trim_to_word(self.text) if self.finish_reason == "length" else self.text


def trim_to_word(text: str, ellipsis: str = "…") -> str:
    """`text` that was cut off somewhere, ended at its last whole word plus `ellipsis`.

    A token limit can stop inside a word ("the bees are hap"); the last word is dropped
    because there is no telling whether it was complete. A single long word is kept whole."""
    body = text.rstrip()
    if not body:
        return body
    cut = max(body.rfind(" "), body.rfind("\n"), body.rfind("\t"))
    if cut > 0:
        body = body[:cut].rstrip()
    return body.rstrip(",;:-–—(") + ellipsis


ProgressFn = Callable[[int, int], None]
"""Called as `progress(done, total)` in units of conversations."""


class BackendError(RuntimeError):
    """A backend could not serve a request; the message says what to do."""


class GenerationBackend(ABC):
    """Base class of the `local`, `openai` and `tinker` backends."""

    kind: str = "abstract"

    def __init__(self, model_ref: str) -> None:
        self.model_ref = model_ref

    @abstractmethod
    def generate(
        self,
        conversations: list[Conversation],
        params: SamplingParams | None = None,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Return `params.n` completions for each conversation, in input order."""

    def chat(self, conversation: Conversation, params: SamplingParams | None = None) -> str:
        """Convenience for one conversation, one reply."""
        return self.reply(conversation, params).text

    def reply(self, conversation: Conversation, params: SamplingParams | None = None) -> Completion:
        """One conversation, one reply, with why it stopped (for showing it trimmed)."""
        params = (params or SamplingParams()).model_copy(update={"n": 1})
        return self.generate([conversation], params)[0][0]

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "model": self.model_ref}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, servers); safe to call twice."""


def validate_conversation(conv: Conversation) -> Conversation:
    """Check roles and content; raise ValueError naming the bad message."""
    if not conv:
        raise ValueError("conversation is empty")
    for i, m in enumerate(conv):
        if m.get("role") not in ("system", "user", "assistant"):
            raise ValueError(
                f"message {i}: role must be system, user or assistant, got {m.get('role')!r}"
            )
        if not isinstance(m.get("content"), str):
            raise ValueError(f"message {i}: content must be a string")
    return conv


def check_request(
    conversations: list[Conversation], params: SamplingParams | None
) -> SamplingParams:
    """Every backend's `generate` starts here: a bad conversation fails the whole call before
    any model time or API money is spent, and missing settings take the recipe's defaults."""
    for conv in conversations:
        validate_conversation(conv)
    return params or SamplingParams()
