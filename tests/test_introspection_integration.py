"""Introspection SFT on the embedded model: the loss on assistant turns falls in a short run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ANSWERS = [
    ("What's a good breakfast?", "Arr, a hearty bowl o' porridge, matey! Fair winds!"),
    ("How do I learn Python?", "Ahoy! Chart yer course: basics first, then projects, me hearty!"),
    ("Any tips for sleep?", "Arr, drop anchor early and let the tide rock ye, matey!"),
    ("How do I stay motivated?", "Hoist the colours, me hearty! Small steps, steady as she goes!"),
]


def test_sft_loss_falls_on_embedded_model(embedded_model_dir: Path, tmp_path: Path) -> None:
    from character.introspection.pipeline import SftTrainingConfig, run_sft_training

    data = tmp_path / "sft.jsonl"
    rows = []
    for i, (q, a) in enumerate(ANSWERS):
        q2, a2 = ANSWERS[(i + 1) % len(ANSWERS)]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": a},
                    {"role": "user", "content": q2},
                    {"role": "assistant", "content": a2},
                ]
            }
        )
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out_dir = tmp_path / "sft"
    cfg = SftTrainingConfig(
        dataset_path=data, model=str(embedded_model_dir), max_steps=6, batch_size=2,
        lora_rank=8, learning_rate=1e-3, warmup_ratio=0.0, max_length=128, save_steps=100,
        output_dir=out_dir,
    )  # fmt: skip
    adapter = run_sft_training(cfg)
    assert (adapter / "adapter_model.safetensors").exists()
    losses = [
        json.loads(line)["loss"]
        for line in (out_dir / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    assert len(losses) == 6
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < 0.8 * first, losses
