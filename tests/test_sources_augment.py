"""Card augmentation: every style yields a usable variant; unusable rewrites fall back."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from character.constitution import resolve_constitution
from character.sources.augment import AugmentConfig, augment_card, load_card_variants, rule_rewrite

pytestmark = pytest.mark.unit


def test_rule_rewrites_keep_every_trait() -> None:
    c = resolve_constitution("pirate")
    for style in ("paraphrase", "stylize"):
        text = rule_rewrite(c, style, random.Random(0))
        assert c.title.split()[0] in text
    para = rule_rewrite(c, "paraphrase", random.Random(0))
    assert para.count("You ") >= len(c.traits) // 2


def test_augment_with_a_tiny_model_falls_back_to_rules(tiny_model_dir: Path) -> None:
    variants = augment_card(
        AugmentConfig(persona="pirate", model=str(tiny_model_dir), max_new_tokens=8)
    )
    assert [v.style for v in variants] == ["summarize", "paraphrase", "stylize"]
    # A random tiny model cannot keep the character, so every variant is a rule rewrite.
    assert {v.origin for v in variants} == {"rule"}
    assert load_card_variants("pirate") == variants
