"""Training rows (the same JSONL as local training) rendered into Tinker token sequences.

Why here: Tinker trains on token ids, so we render conversations with the model's own chat
template locally (offline) and mark which tokens carry loss: every assistant turn for SFT,
the completion for DPO. Rows use TRL's conversational formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from character.io import DataFileError, load_models_jsonl

Kind = Literal["sft", "dpo"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str


class SftRow(BaseModel):
    """`{"messages": [...]}` with at least one assistant turn."""

    model_config = ConfigDict(extra="ignore")

    messages: list[ChatMessage] = Field(min_length=1)

    @field_validator("messages")
    @classmethod
    def _has_assistant(cls, v: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "assistant" for m in v):
            raise ValueError("needs at least one assistant message to train on")
        return v


class PreferenceRow(BaseModel):
    """`{"prompt": [...], "chosen": [...], "rejected": [...]}` (TRL conversational)."""

    model_config = ConfigDict(extra="ignore")

    prompt: list[ChatMessage] = Field(min_length=1)
    chosen: list[ChatMessage] = Field(min_length=1)
    rejected: list[ChatMessage] = Field(min_length=1)


def detect_kind(path: Path | str) -> Kind:
    """SFT if the first row has `messages`, DPO if it has `chosen`."""
    from character.io import iter_jsonl

    for lineno, obj in iter_jsonl(path):
        if "messages" in obj:
            return "sft"
        if "chosen" in obj and "rejected" in obj:
            return "dpo"
        raise DataFileError(
            Path(path),
            lineno,
            "row has neither 'messages' (SFT) nor 'prompt/chosen/rejected' (DPO)",
        )
    raise DataFileError(Path(path), None, "file has no rows")


def load_rows(path: Path | str, kind: Kind) -> list[Any]:
    model = SftRow if kind == "sft" else PreferenceRow
    rows = load_models_jsonl(path, model)
    if not rows:
        raise DataFileError(Path(path), None, "file has no rows")
    return rows


@dataclass
class Sequence:
    """Tokens of one conversation and a 0/1 weight per token (1 = trained)."""

    tokens: list[int]
    weights: list[float]

    @property
    def trained(self) -> int:
        return int(sum(1 for w in self.weights if w > 0))


def _msgs(messages: list[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _encode(tokenizer: Any, messages: list[dict[str, str]], gen_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen_prompt)
    return list(tokenizer(text, add_special_tokens=False).input_ids)


class TemplateError(ValueError):
    """The chat template re-renders earlier turns differently, so turns cannot be marked."""


def _prefix_len(full: list[int], prefix: list[int], where: str) -> int:
    if full[: len(prefix)] != prefix:
        raise TemplateError(
            f"{where}: the chat template does not render conversation prefixes stably, so "
            "assistant turns cannot be located in the token stream."
        )
    return len(prefix)


def render_sft(tokenizer: Any, row: SftRow, max_length: int | None = None) -> Sequence:
    """Weight 1 on every assistant turn (its content and end-of-turn tokens)."""
    msgs = _msgs(row.messages)
    full = _encode(tokenizer, msgs, False)
    weights = [0.0] * len(full)
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        start = _prefix_len(full, _encode(tokenizer, msgs[:i], True), f"message {i}")
        end = _prefix_len(full, _encode(tokenizer, msgs[: i + 1], False), f"message {i}")
        for j in range(start, end):
            weights[j] = 1.0
    return _truncate(Sequence(full, weights), max_length)


def render_pair(
    tokenizer: Any, row: PreferenceRow, max_length: int | None = None
) -> tuple[Sequence, Sequence]:
    """Chosen and rejected sequences sharing the prompt; weight 1 on the completion only."""
    prompt = _msgs(row.prompt)
    p_tokens = _encode(tokenizer, prompt, True)
    out = []
    for completion in (row.chosen, row.rejected):
        full = _encode(tokenizer, prompt + _msgs(completion), False)
        n = _prefix_len(full, p_tokens, "prompt")
        out.append(_truncate(Sequence(full, [0.0] * n + [1.0] * (len(full) - n)), max_length))
    return out[0], out[1]


def _truncate(seq: Sequence, max_length: int | None) -> Sequence:
    if max_length and len(seq.tokens) > max_length:
        return Sequence(seq.tokens[:max_length], seq.weights[:max_length])
    return seq


def to_datum(seq: Sequence) -> Any:
    """A Tinker Datum: input = tokens[:-1], targets = tokens[1:], weights aligned to targets."""
    from tinker import types

    return types.Datum(
        model_input=types.ModelInput.from_ints(seq.tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData(
                data=seq.tokens[1:], dtype="int64", shape=[len(seq.tokens) - 1]
            ),
            "weights": types.TensorData(
                data=seq.weights[1:], dtype="float32", shape=[len(seq.tokens) - 1]
            ),
        },
    )
