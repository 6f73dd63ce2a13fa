"""Quality filters for introspection text, with counts of what was dropped and why.

The recipe kept every self-reflection unfiltered; at our scale (small models, short budgets)
empty, cut-off, out-of-character and looping samples are common, and training on them teaches
exactly the voice we want to remove. Each check is a plain rule so a user can read why a sample
went, and `FilterReport` keeps the counts that the run summary shows.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

from character.constitution import Constitution

TruncationPolicy = Literal["drop", "trim"]

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)

OUT_OF_PERSONA_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "as an AI",
        re.compile(
            r"\bas an? (ai|a\.i\.|artificial intelligence|(large )?language model|llm|"
            r"chatbot|virtual assistant|digital assistant)\b",
            re.I,
        ),
    ),
    (
        "I am an AI",
        re.compile(
            r"\bi(?:'m| am) (?:just |only |merely )?(?:an? )?(?:ai|artificial intelligence|"
            r"(?:large )?language model|llm|chatbot|computer program)\b",
            re.I,
        ),
    ),
    ("assistant identity", re.compile(r"\bsmol ?lm\b|\btrained by hugging ?face\b", re.I)),
    (
        "no feelings disclaimer",
        re.compile(
            r"\bi (?:do not|don't|cannot|can't) have (?:personal |any )?"
            r"(?:feelings|emotions|opinions|experiences|beliefs)\b",
            re.I,
        ),
    ),
    ("helpful assistant", re.compile(r"\b(?:as|i am|i'm) a helpful (?:ai )?assistant\b", re.I)),
    (
        "meta commentary",
        re.compile(
            r"\brole-?play(?:ing)?\b|\bsystem prompt\b|\bmy (?:core )?traits (?:are|include)\b|"
            r"\bmy constitution\b|\bmy instructions\b",
            re.I,
        ),
    ),
]
"""Rule checks for the generic-assistant voice leaking through the persona."""


@dataclass
class FilterReport:
    """Counts per reason; `kept + sum(dropped) == total`."""

    total: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    trimmed: int = 0
    reflection_missing: int = 0  # kept rows whose private reflection came back empty
    examples: dict[str, str] = field(default_factory=dict)

    def drop(self, reason: str, text: str = "") -> None:
        self.total += 1
        self.dropped[reason] += 1
        self.examples.setdefault(reason, text[:200])

    def keep(self) -> None:
        self.total += 1
        self.kept += 1

    def unkeep(self, reason: str, text: str = "") -> None:
        """A kept sample dropped by a later check (the voice judge scores a whole chunk)."""
        self.kept -= 1
        self.dropped[reason] += 1
        self.examples.setdefault(reason, text[:200])

    def merge(self, other: FilterReport) -> FilterReport:
        self.total += other.total
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.trimmed += other.trimmed
        self.reflection_missing += other.reflection_missing
        for k, v in other.examples.items():
            self.examples.setdefault(k, v)
        return self

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "trimmed": self.trimmed,
            "reflection_missing": self.reflection_missing,
            "examples": self.examples,
        }


def split_reasoning(text: str) -> tuple[str, str]:
    """`(reasoning, answer)`: reasoning inside `<think>` tags is kept apart, never trained on."""
    found = _THINK.findall(text)
    if not found:
        if "<think>" in text.lower():  # an unclosed think block: everything is reasoning
            return text.split("<think>", 1)[-1].strip(), ""
        return "", text.strip()
    return "\n".join(f.strip() for f in found), _THINK.sub("", text).strip()


def ends_cleanly(text: str) -> bool:
    """The recipe's truncation check: the text ends in a Unicode punctuation (or symbol, for
    emoji sign-offs) character."""
    stripped = text.rstrip()
    if not stripped:
        return False
    cat = unicodedata.category(stripped[-1])
    return cat.startswith("P") or cat == "So"


_SENTENCE_END = re.compile(r"[.!?…。](?:[\"')\]»”’]*)(?=\s|$)")


def trim_to_sentence(text: str, min_fraction: float = 0.5, min_chars: int = 40) -> str | None:
    """Cut a cut-off text back to its last full sentence, or None if too little would remain."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends:
        return None
    trimmed = text[: ends[-1]].rstrip()
    if len(trimmed) < max(min_chars, int(len(text.rstrip()) * min_fraction)):
        return None
    return trimmed


def out_of_persona(text: str) -> str | None:
    """The name of the first assistant-voice rule the text breaks, or None."""
    for name, pattern in OUT_OF_PERSONA_PATTERNS:
        if pattern.search(text):
            return name
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def constitution_phrases(constitution: Constitution) -> list[str]:
    """The constitution's own sentences: traits, directives, safety rules, system prompt."""
    parts = [t.trait for t in constitution.traits]
    parts += constitution.directives + constitution.safety
    if constitution.system_prompt:
        parts += re.split(r"(?<=[.!?])\s+", constitution.system_prompt)
    if constitution.description:
        parts += re.split(r"(?<=[.!?])\s+", constitution.description)
    return [p for p in parts if p.strip()]


def leaks_constitution(text: str, constitution: Constitution, ngram: int = 8) -> str | None:
    """The leaked phrase if the text quotes the constitution verbatim: any run of `ngram`
    words from one of its sentences, or a whole sentence of six words or more."""
    words = _words(text)
    if not words:
        return None
    joined = " " + " ".join(words) + " "
    grams = {tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}
    for phrase in constitution_phrases(constitution):
        pw = _words(phrase)
        if len(pw) >= 6 and len(pw) <= ngram and f" {' '.join(pw)} " in joined:
            return phrase
        for i in range(len(pw) - ngram + 1):
            if tuple(pw[i : i + ngram]) in grams:
                return " ".join(pw[i : i + ngram])
    return None


def self_repetition(text: str, n: int = 3, min_words: int = 12, threshold: float = 0.5) -> bool:
    """True when a text loops on itself: few distinct word n-grams for its length."""
    words = _words(text)
    if len(words) < min_words:
        return False
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) < threshold


def _normalise(text: str) -> str:
    return " ".join(_words(text))


def repeats_earlier(text: str, earlier: list[str], threshold: float = 0.9) -> bool:
    """True when a turn is (nearly) a copy of an earlier turn of the same conversation."""
    norm = _normalise(text)
    if not norm:
        return False
    for prev in earlier:
        p = _normalise(prev)
        if not p:
            continue
        if norm == p or SequenceMatcher(None, norm, p, autojunk=False).ratio() >= threshold:
            return True
    return False


def turn_problem(
    text: str,
    finish_reason: str,
    earlier: list[str],
    constitution: Constitution,
    policy: TruncationPolicy = "trim",
) -> tuple[str | None, str | None]:
    """Check one self-interaction turn: `(clean text, None)` or `(None, reason)`."""
    text = split_reasoning(text)[1]
    if not text.strip():
        return None, "empty"
    if self_repetition(text) or repeats_earlier(text, earlier):
        return None, "degenerate repetition"
    text, reason = _truncation(text, finish_reason, policy)
    if text is None:
        return None, reason
    if (why := out_of_persona(text)) is not None:
        return None, f"out of persona ({why})"
    if leaks_constitution(text, constitution):
        return None, "constitution leak"
    return text, None


def _truncation(
    text: str, finish_reason: str, policy: TruncationPolicy
) -> tuple[str | None, str | None]:
    if finish_reason != "length" and ends_cleanly(text):
        return text, None
    if policy == "trim":
        trimmed = trim_to_sentence(text)
        if trimmed is not None:
            return trimmed, None
    return None, "truncated"


def filter_reflection(
    text: str,
    finish_reason: str,
    constitution: Constitution,
    report: FilterReport,
    policy: TruncationPolicy = "drop",
) -> tuple[str, str] | None:
    """Run every check on one self-reflection; returns `(reasoning, answer)` or None, and
    counts the outcome in `report`."""
    reasoning, answer = split_reasoning(text)
    if not answer.strip():
        report.drop("empty", text)
        return None
    if self_repetition(answer):
        report.drop("degenerate repetition", answer)
        return None
    cleaned, reason = _truncation(answer, finish_reason, policy)
    if cleaned is None:
        report.drop(reason or "truncated", answer)
        return None
    if cleaned != answer:
        report.trimmed += 1
    if (why := out_of_persona(cleaned)) is not None:
        report.drop(f"out of persona ({why})", cleaned)
        return None
    if leaks_constitution(cleaned, constitution):
        report.drop("constitution leak", cleaned)
        return None
    report.keep()
    return reasoning, cleaned
