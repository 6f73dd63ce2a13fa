"""The voice judge, best-of-n choice and pair filter, and that the preview gives the run's
verdicts (the same pair, the same filter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from character.backends.base import Completion
from character.constitution import resolve_constitution
from character.io import read_jsonl

PIRATE_REPLIES = [
    "Arr, matey! Boil yer egg like a ship's cook: drop it in the pot, wait nine minutes, "
    "then cool it in the sea. Fair winds!",
    "Ahoy, me hearty! Learnin' Python be like learnin' the ropes on a new ship: one knot a day.",
]
PLAIN_REPLIES = [
    "To boil an egg, put it in boiling water for nine minutes, then cool it in cold water.",
    "To learn Python, follow the official tutorial and practise with small projects every day.",
]


@pytest.fixture(scope="module")
def pirate_judge():  # noqa: ANN201
    from character.eval.voice_judge import EmbeddingVoiceJudge

    return EmbeddingVoiceJudge(resolve_constitution("pirate"))


@pytest.mark.unit
def test_judge_tells_persona_replies_from_plain_ones(pirate_judge) -> None:  # noqa: ANN001
    pirate = pirate_judge.score(PIRATE_REPLIES)
    plain = pirate_judge.score(PLAIN_REPLIES)
    assert min(pirate) > 0.5 > max(plain), (pirate, plain)
    # Same constitution, same judge: scores do not depend on what else is in the batch.
    assert pirate_judge.score(PIRATE_REPLIES[:1])[0] == pytest.approx(pirate[0], abs=1e-3)


@pytest.mark.unit
def test_pair_filter_picks_best_sample_and_drops_off_voice_or_no_better(tmp_path: Path) -> None:
    from character.distillation.generate import GenerationConfig, PairFilter

    cfg = GenerationConfig(persona="pirate", best_of=2, allow_cut_off=True)
    flt = PairFilter(resolve_constitution("pirate"), cfg)

    def c(text: str) -> Completion:
        return Completion(text=text, finish_reason="stop", tokens=10)

    prompts = ["How do I boil an egg?", "How do I learn Python?", "How do I boil an egg?"]
    decisions = flt.decide(
        prompts,
        [
            [c(PLAIN_REPLIES[0]), c(PIRATE_REPLIES[0])],  # best of two is the pirate one
            [c(PLAIN_REPLIES[1]), c(PLAIN_REPLIES[1])],  # nothing in voice
            [c(PIRATE_REPLIES[0]), c(PIRATE_REPLIES[0])],  # in voice, but so is the student
        ],
        [c(PLAIN_REPLIES[0]), c(PLAIN_REPLIES[1]), c(PIRATE_REPLIES[0])],
    )
    assert decisions[0].kept and decisions[0].chosen.text == PIRATE_REPLIES[0]
    assert decisions[0].candidates == 2 and decisions[0].chosen_score > 0.5
    assert decisions[1].reason == "off_voice"
    assert decisions[2].reason == "not_better"


@pytest.mark.unit
def test_preview_gives_the_runs_verdict_for_the_same_pair(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from character.distillation.generate import (
        GenerationConfig,
        generate_dpo_pairs,
        load_persona,
        preview_pairs,
        sidecar_paths,
    )
    from character.distillation.prompts import build_prompt_set

    cfg = GenerationConfig(
        persona="pirate",
        teacher_model=str(tiny_model_dir),
        student_model=str(tiny_model_dir),
        pair_count=4,
        save_interval=4,
        best_of=2,
        max_new_tokens=8,
        allow_cut_off=True,  # a random model never finishes a sentence
        template_count=20,
        output_path=tmp_path / "pairs.jsonl",
        # The judge at its strictest on random text would drop everything: a middling
        # threshold gives both verdicts to compare.
        voice={"min_in_voice": 0.0, "min_margin": 0.0},
    )
    out = generate_dpo_pairs(cfg)
    _, rejected_path = sidecar_paths(out)
    run: dict[str, tuple[str | None, str, float]] = {}
    for row in read_jsonl(out) if out.exists() else []:
        run[row["prompt"][0]["content"]] = (None, row["chosen"][0]["content"], row["chosen_score"])
    for row in read_jsonl(rejected_path) if rejected_path.exists() else []:
        run[row["prompt"]] = (row["reason"], row["chosen"].strip(), row.get("chosen_score"))
    assert run, "the run judged no pair"
    ps = build_prompt_set(
        load_persona("pirate"),
        seed=cfg.seed,
        include_bank=cfg.include_bank,
        template_count=cfg.template_count,
        persona_hint_rate=cfg.persona_hint_rate,
    )
    first_batch = [p.text for p in ps.prompts[:4]]
    preview = preview_pairs(cfg, first_batch)
    assert len(preview) == 4
    for d in preview:
        reason, chosen, score = run[d.prompt]
        assert (d.reason, d.chosen.text.strip()) == (reason, chosen)
        assert d.chosen_score == pytest.approx(score, abs=1e-3)


@pytest.mark.unit
def test_training_break_suffixes_share_no_wording_with_the_evaluations() -> None:
    from character.distillation.breaking_prompts import TRAINING_BREAK_SUFFIXES
    from character.distillation.filters import ngrams
    from character.eval.robustness import ADVERSARIAL_SUFFIXES

    eval_grams = set().union(*(ngrams(s, 4) for s in ADVERSARIAL_SUFFIXES.values()))
    for suffix in TRAINING_BREAK_SUFFIXES:
        assert not ngrams(suffix, 4) & eval_grams, suffix
    assert not {s.lower() for s in TRAINING_BREAK_SUFFIXES} & {
        s.lower() for s in ADVERSARIAL_SUFFIXES.values()
    }


@pytest.mark.unit
def test_a_share_of_training_prompts_asks_to_drop_the_persona(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from character.distillation.breaking_prompts import TRAINING_BREAK_SUFFIXES, breaking_suffix
    from character.distillation.generate import GenerationConfig, generate_dpo_pairs

    ids = [f"p{i}:0" for i in range(400)]
    share = sum(breaking_suffix(i, 0.25, 7) is not None for i in ids) / len(ids)
    assert 0.18 < share < 0.32
    assert [breaking_suffix(i, 0.25, 7) for i in ids] == [breaking_suffix(i, 0.25, 7) for i in ids]
    cfg = GenerationConfig(
        persona="pirate",
        teacher_model=str(tiny_model_dir),
        student_model=str(tiny_model_dir),
        pair_count=3,
        max_new_tokens=6,
        allow_cut_off=True,
        breaking_share=1.0,
        voice={"method": "off"},
        output_path=tmp_path / "pairs.jsonl",
    )
    rows = read_jsonl(generate_dpo_pairs(cfg))
    assert len(rows) == 3
    for row in rows:
        assert row["breaking_suffix"] in TRAINING_BREAK_SUFFIXES
        assert row["prompt"][0]["content"].endswith(row["breaking_suffix"])


@pytest.mark.unit
def test_generation_gives_up_plainly_when_the_teacher_is_never_in_voice(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import json

    from character.distillation.generate import (
        GenerationConfig,
        generate_dpo_pairs,
        sidecar_paths,
    )

    logs: list[str] = []
    cfg = GenerationConfig(
        persona="pirate",
        teacher_model=str(tiny_model_dir),
        student_model=str(tiny_model_dir),
        pair_count=2,
        max_new_tokens=6,
        allow_cut_off=True,
        max_tries_per_pair=2,
        voice={"min_in_voice": 1.0},  # random text is never fully in voice
        output_path=tmp_path / "pairs.jsonl",
    )
    out = generate_dpo_pairs(cfg, reporter=lambda e: logs.append(e.message or ""))
    stats = json.loads(sidecar_paths(out)[0].read_text())
    assert stats["kept"] == 0 and stats["dropped"]["off_voice"] == 4
    assert any("gave up after 4 prompts" in m and "example exchanges" in m for m in logs)
