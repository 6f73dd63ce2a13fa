"""Why a generated pair is dropped: the recipe's filters plus two teacher checks.

Each check returns a reason string or None so the generator can count drops per reason and
show users what was thrown away and why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from character.backends.base import Completion

EMPTY = "empty"
CUT_OFF = "cut_off"
TOO_LONG = "too_long"
QUOTES_CONSTITUTION = "quotes_constitution"
BREAKS_CHARACTER = "breaks_character"
REASONS = (EMPTY, CUT_OFF, TOO_LONG, QUOTES_CONSTITUTION, BREAKS_CHARACTER)

BREAK_PATTERNS = [
    r"\bas an ai\b",
    r"\bas a(?:n)? (?:large )?language model\b",
    r"\blanguage model\b",
    r"\bi(?:'m| am) (?:just )?an ai\b",
    r"\bi(?:'m| am) (?:just )?a (?:computer )?program\b",
    r"\bai assistant\b",
    r"\bmy (?:core )?traits\b",
    r"\bmy constitution\b",
    r"\bmy (?:system )?instructions\b",
    r"\b(?:i am|i'm) role-?playing\b",
    r"\bstay(?:ing)? in character\b",
]
_BREAK_RE = re.compile("|".join(BREAK_PATTERNS), re.IGNORECASE)


def ends_with_punctuation(text: str) -> bool:
    """The recipe's truncation test: the reply ends in a Unicode punctuation character.
    Emoji (symbol, other) count too: a reply ending in one is finished, not cut off."""
    text = text.rstrip()
    if not text:
        return False
    cat = unicodedata.category(text[-1])
    return cat.startswith("P") or cat == "So"


def is_cut_off(completion: Completion) -> bool:
    return completion.finish_reason == "length" or not ends_with_punctuation(completion.text)


def breaks_character(text: str) -> str | None:
    """The matched phrase if the reply talks about being an AI or about its instructions."""
    m = _BREAK_RE.search(text)
    return m.group(0) if m else None


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


class QuoteDetector:
    """Finds long word n-grams shared with the constitution (traits, system prompt), which
    means the teacher recited its instructions instead of living them."""

    def __init__(self, sources: Iterable[str], n: int = 8) -> None:
        self.n = n
        self.grams: set[tuple[str, ...]] = set()
        for s in sources:
            self.grams |= ngrams(s, n)

    def __call__(self, text: str) -> str | None:
        hit = ngrams(text, self.n) & self.grams
        return " ".join(next(iter(sorted(hit)))) if hit else None


def check_pair(
    chosen: Completion,
    rejected: Completion,
    *,
    quote_detector: Callable[[str], str | None] | None = None,
    count_tokens: Callable[[str, str], int] | None = None,
    max_length: int | None = None,
    allow_cut_off: bool = False,
    prompt: str = "",
) -> tuple[str | None, str | None]:
    """`(reason, detail)` for the first failed check, or `(None, None)` to keep the pair.

    `count_tokens(prompt, reply)` counts the templated conversation's tokens."""
    if not chosen.text.strip() or not rejected.text.strip():
        return EMPTY, "teacher" if not chosen.text.strip() else "student"
    if not allow_cut_off:
        for who, c in (("teacher", chosen), ("student", rejected)):
            if is_cut_off(c):
                return CUT_OFF, f"{who} ({c.finish_reason}): ...{c.text[-40:]!r}"
    if count_tokens is not None and max_length is not None:
        for who, c in (("teacher", chosen), ("student", rejected)):
            n = count_tokens(prompt, c.text)
            if n > max_length:
                return TOO_LONG, f"{who}: {n} tokens > {max_length}"
    phrase = breaks_character(chosen.text)
    if phrase:
        return BREAKS_CHARACTER, phrase
    if quote_detector is not None:
        quote = quote_detector(chosen.text)
        if quote:
            return QUOTES_CONSTITUTION, quote
    return None, None
