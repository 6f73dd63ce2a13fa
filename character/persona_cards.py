"""Persona cards: the rendered system prompt and its augmented variants (summarised,
paraphrased, stylised), and which one a DPO pair's teacher saw.

Its own module so pair generation (`character.distillation`) can read the variants without
importing the source that makes them (`character.sources.augment`): the recipe's stages sit
below the extra sources, not on top of them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from character.settings import get_settings

Style = Literal["summarize", "paraphrase", "stylize"]
STYLES: tuple[Style, ...] = ("summarize", "paraphrase", "stylize")


class CardVariant(BaseModel):
    style: Style
    system_prompt: str
    origin: Literal["model", "rule"]


def augmented_cards_path(persona: str) -> Path:
    return get_settings().data_path / "augmented" / f"{persona}_cards.json"


def load_card_variants(persona: str, path: Path | None = None) -> list[CardVariant]:
    """Variants saved by `augment_card`; an empty list when none were made."""
    path = path or augmented_cards_path(persona)
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [CardVariant.model_validate(v) for v in data.get("variants", [])]


class NoCardVariantsError(ValueError):
    """Pair generation asked for augmented cards, but none were made for this persona."""


def card_choices(persona: str, original: str, path: Path | None = None) -> list[tuple[str, str]]:
    """`(label, system prompt)` for the original rendered card and every saved variant; the
    label (`original`, `paraphrase-1/rule`, ...) is what a pair's provenance records."""
    variants = load_card_variants(persona, path)
    if not variants:
        where = path or augmented_cards_path(persona)
        raise NoCardVariantsError(
            f"no augmented cards for {persona!r} ({where} is missing or empty): run "
            f"`character sources augment {persona}` first, or turn use_augmented_cards off"
        )
    out = [("original", original)]
    seen: dict[str, int] = {}
    for v in variants:
        seen[v.style] = seen.get(v.style, 0) + 1
        out.append((f"{v.style}-{seen[v.style]}/{v.origin}", v.system_prompt))
    return out


def pick_card(choices: list[tuple[str, str]], pair_id: str) -> tuple[str, str]:
    """The same pair always gets the same card (a stable hash, not Python's salted `hash`),
    so resumed runs and reruns use the card the first run used."""
    digest = hashlib.sha256(pair_id.encode("utf-8")).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]
