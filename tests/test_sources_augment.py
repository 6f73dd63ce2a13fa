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


def test_card_choice_is_stable_and_needs_variants(tmp_path: Path) -> None:
    from character.sources.augment import NoCardVariantsError, card_choices, pick_card

    with pytest.raises(NoCardVariantsError, match="character sources augment pirate"):
        card_choices("pirate", "You are a pirate.")
    choices = [("original", "A"), ("summarize-1/rule", "B"), ("paraphrase-1/rule", "C")]
    picks = [pick_card(choices, f"p{i}:0") for i in range(30)]
    assert picks == [pick_card(choices, f"p{i}:0") for i in range(30)]
    assert len(set(picks)) == 3  # every card gets used


def test_pair_generation_uses_augmented_cards(tiny_model_dir: Path, tmp_path: Path) -> None:
    from character.distillation.generate import GenerationConfig, generate_dpo_pairs
    from character.io import read_jsonl
    from character.sources.augment import NoCardVariantsError, card_choices, pick_card

    cfg = GenerationConfig(
        persona="pirate",
        teacher_model=str(tiny_model_dir),
        student_model=str(tiny_model_dir),
        pair_count=8,
        max_new_tokens=4,
        save_interval=8,
        allow_cut_off=True,
        include_bank=False,
        template_count=8,
        samples_per_prompt=1,
        use_augmented_cards=True,
        output_path=tmp_path / "pairs.jsonl",
    )
    with pytest.raises(NoCardVariantsError, match="run `character sources augment pirate`"):
        generate_dpo_pairs(cfg)
    augment_card(AugmentConfig(persona="pirate", model=str(tiny_model_dir), max_new_tokens=4))
    rows = read_jsonl(generate_dpo_pairs(cfg))
    assert rows
    from character.constitution import render_system_prompt

    choices = card_choices("pirate", render_system_prompt(resolve_constitution("pirate")))
    for row in rows:
        assert row["teacher_card"] == pick_card(choices, row["pair_id"])[0]
    assert len({r["teacher_card"] for r in rows}) > 1
