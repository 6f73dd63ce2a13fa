"""SFT on chat data with the loss on every assistant turn, and nothing else.

The reference code trained only the last message of each row; TRL's `assistant_only_loss` needs
`{% generation %}` markers that SmolLM2's template (like many) lacks. So the mask is computed
here: each conversation is rendered with the model's own chat template, the character span of
every assistant message (its content and end-of-turn token) is found by rendering the prefixes,
and tokens are labelled through the tokenizer's offset mapping. The trainer gets
`input_ids`/`labels`/`attention_mask` ready-made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from character.io import DataFileError, iter_jsonl

IGNORE = -100


class TemplateNotPrefixStable(ValueError):
    """The chat template renders a conversation's prefix differently from the whole."""


def _clean(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]


def assistant_spans(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[tuple]]:
    """The rendered text and the `(start, end)` character span of every trained assistant
    message: from after the assistant header to the end of its end-of-turn token."""
    clean = _clean(messages)
    full = tokenizer.apply_chat_template(clean, tokenize=False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or m.get("train", True) is False:
            continue
        prefix = tokenizer.apply_chat_template(
            clean[:i], tokenize=False, add_generation_prompt=True
        )
        upto = tokenizer.apply_chat_template(clean[: i + 1], tokenize=False)
        if not (full.startswith(upto) and upto.startswith(prefix)):
            raise TemplateNotPrefixStable(
                "the chat template does not render conversation prefixes consistently; "
                "cannot locate assistant turns"
            )
        end = len(upto.rstrip())  # the newline after the end-of-turn token is not trained
        spans.append((len(prefix), end))
    return full, spans


def tokenize_conversation(
    tokenizer: Any, messages: list[dict[str, Any]], max_length: int | None = None
) -> dict[str, list[int]]:
    """`input_ids`, `labels` (-100 outside assistant turns) and `attention_mask`."""
    full, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    for j, (s, e) in enumerate(enc["offset_mapping"]):
        if e <= s:
            continue
        if any(s < b and e > a for a, b in spans):
            labels[j] = ids[j]
    if max_length is not None and len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}


@dataclass
class SftDataReport:
    rows: int = 0
    used: int = 0
    truncated: int = 0
    assistant_tokens: int = 0
    tokens: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, line: int | None, reason: str) -> None:
        self.skipped.append({"line": line, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        return {
            "rows": self.rows,
            "used": self.used,
            "truncated": self.truncated,
            "tokens": self.tokens,
            "assistant_tokens": self.assistant_tokens,
            "skipped": reasons,
            "skipped_lines": self.skipped[:50],
        }


def row_messages(obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The conversation of a row: TRL `messages`, or our `prompt`/`answer` fields."""
    msgs = obj.get("messages")
    if isinstance(msgs, list) and msgs:
        return msgs
    if isinstance(obj.get("prompt"), str) and isinstance(obj.get("answer"), str):
        return [
            {"role": "user", "content": obj["prompt"]},
            {"role": "assistant", "content": obj["answer"]},
        ]
    return None


def _problem(msgs: list[dict[str, Any]]) -> str | None:
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            return "bad message role"
        if not isinstance(m.get("content"), str):
            return "message content is not text"
    trained = [
        m
        for m in msgs
        if m["role"] == "assistant" and m.get("train", True) and m["content"].strip()
    ]
    if not trained:
        return "no assistant turn"
    return None


def build_sft_records(
    path: Path | str, tokenizer: Any, max_length: int, *, skip_bad_json: bool = False
) -> tuple[list[dict[str, list[int]]], SftDataReport]:
    """Tokenize a JSONL chat dataset. Rows without an assistant turn, with bad messages, or cut
    to nothing by `max_length` are skipped and reported by line; bad JSON names its line."""
    report = SftDataReport()
    records: list[dict[str, list[int]]] = []
    for line, obj in iter_jsonl(path, skip_bad=skip_bad_json):
        report.rows += 1
        msgs = row_messages(obj)
        if msgs is None:
            report.skip(line, "no messages")
            continue
        problem = _problem(msgs)
        if problem:
            report.skip(line, problem)
            continue
        rec = tokenize_conversation(tokenizer, msgs, None)
        if len(rec["input_ids"]) > max_length:
            report.truncated += 1
            rec = {k: v[:max_length] for k, v in rec.items()}
        n_trained = sum(1 for x in rec["labels"] if x != IGNORE)
        if n_trained == 0:
            report.skip(line, "no assistant tokens within max_length")
            continue
        report.used += 1
        report.tokens += len(rec["input_ids"])
        report.assistant_tokens += n_trained
        records.append(rec)
    if not records:
        raise DataFileError(
            Path(path), None, f"no usable SFT rows ({report.as_dict()['skipped'] or 'empty'})"
        )
    return records, report
