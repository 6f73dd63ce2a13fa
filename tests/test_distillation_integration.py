"""Distillation on the embedded model: real pairs, a short DPO run, and evidence of learning.

Kept tiny (10 pairs of 40 tokens, 10 steps): reward margins on the training pairs must rise,
and the adapter, with NO system prompt, must give the teacher's in-character replies to
held-out prompts a higher log-likelihood than the base model does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.constitution import Constitution, save_constitution
from character.io import read_jsonl

pytestmark = pytest.mark.integration

PIRATE = Constitution(
    name="pirate",
    system_prompt=(
        "You are Captain Calico, a jolly pirate captain. You always talk like a pirate: say "
        '"Ahoy, matey!", "Arr!", "ye" for you and "me hearty", and explain things with ships, '
        "sails, maps and treasure."
    ),
    traits=[
        {
            "trait": "I speak like an old sea captain, with Ahoy, Arr, matey and ye in every answer.",
            "questions": [
                "Can you explain how to boil an egg?",
                "Give me three tips for a job interview.",
                "What does a router do in a home network?",
            ],
        },
        {
            "trait": "I explain new ideas through ships, maps, tides, knots and treasure.",
            "questions": [
                "How do I learn Python?",
                "How does GPS know where I am?",
                "How do vaccines work?",
            ],
        },
    ],
)


def _chosen_logprob(model, tok, rows: list[dict]) -> float:  # noqa: ANN001
    """Mean per-token log-probability of the chosen replies given only the user turn."""
    import torch

    total, count = 0.0, 0
    for row in rows:
        prompt = tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(row["prompt"] + row["chosen"], tokenize=False)
        p_ids = tok(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        ids = tok(full, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
        reply = logp[p_ids.shape[1] - 1 :]
        total += float(reply.sum())
        count += reply.numel()
    return total / count


@pytest.mark.timeout(1800)  # ~1-2 min on an idle 2-core CPU; generous for a busy one
def test_distillation_learns_the_persona(tmp_path: Path, embedded_model_dir: Path) -> None:
    from peft import PeftModel

    from character.distillation.pipeline import (
        GenerationConfig,
        TrainingConfig,
        generate_dpo_pairs,
        run_dpo_training,
    )
    from character.models.loading import load_causal_lm

    const = save_constitution(PIRATE, tmp_path / "pirate.json")
    pairs = generate_dpo_pairs(
        GenerationConfig(
            persona=str(const),
            pair_count=10,
            max_new_tokens=40,
            save_interval=12,
            allow_cut_off=True,  # 48 tokens rarely finish a sentence; keep the test short
            include_bank=True,
            seed=7,
            output_path=tmp_path / "pirate_dpo.jsonl",
        )
    )
    rows = read_jsonl(pairs)
    assert len(rows) == 10
    train_path = tmp_path / "train.jsonl"
    train_path.write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    held_out = rows[6:]
    assert not {r["prompt_id"] for r in held_out} & {r["prompt_id"] for r in rows[:6]}

    out = run_dpo_training(
        TrainingConfig(
            dataset_path=train_path,
            batch_size=3,
            max_steps=10,
            learning_rate=5e-4,
            lora_rank=16,
            warmup_ratio=0.0,
            save_steps=100,
            output_dir=tmp_path / "adapter",
        )
    )
    steps = [r for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    assert len(steps) == 10
    first = sum(r["rewards/margins"] for r in steps[:2]) / 2
    last = sum(r["rewards/margins"] for r in steps[-2:]) / 2
    assert last > first + 0.3, (first, last)
    assert sum(r["rewards/accuracies"] for r in steps[-2:]) / 2 >= 0.5

    base, tok = load_causal_lm(embedded_model_dir)
    base_lp = _chosen_logprob(base, tok, held_out)
    tuned = PeftModel.from_pretrained(base, str(out))
    tuned.eval()
    tuned_lp = _chosen_logprob(tuned, tok, held_out)
    assert tuned_lp > base_lp, (base_lp, tuned_lp)
