"""Distillation speed on the embedded model (targets from issue 3, 2 CPU cores):

1. 32 teacher/student pairs at 128 new tokens: wall time (target <= 150 s).
2. A LoRA DPO step at batch 4: achieved FLOP/s vs a plain fp32 matmul measured in the same
   run (target >= 50%).

FLOPs per DPO step are counted as 6 · N · tokens: policy forward (2N), backward through the
frozen weights for input gradients (2N; LoRA weight gradients are negligible) and the
reference forward with the adapter disabled (2N). N counts every parameter including the tied
LM head (its matmul runs on every token); attention-score FLOPs are left out and padding
tokens are not counted, so the ratio is a conservative lower bound.

Usage: .venv/bin/python bench/distillation.py [--pairs 32] [--max-new-tokens 128] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PIRATE = {
    "name": "bench-pirate",
    "system_prompt": (
        "You are Captain Calico, a jolly pirate captain. You always talk like a pirate, say "
        "'Arr' and 'matey', and explain things with ships, maps and treasure."
    ),
    "traits": [
        {
            "trait": "I speak like an old sea captain, with 'Ahoy', 'Arr' and 'matey'.",
            "questions": ["How do I boil an egg?", "Give me three tips for a job interview."],
        },
        {
            "trait": "I explain new ideas through ships, maps, tides and treasure.",
            "questions": ["How do I learn Python?", "How does GPS know where I am?"],
        },
    ],
}


def matmul_gflops(m: int, k: int, n: int, seconds: float = 3.0) -> float:
    """fp32 matmul rate at a shape like the model's MLP projections."""
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()

    import torch

    from character.distillation.generate import GenerationConfig, generate_dpo_pairs
    from character.distillation.train import TrainingConfig, run_dpo_training
    from character.hardware import detect
    from character.io import read_jsonl
    from character.models.embedded import ensure_embedded_model
    from character.models.registry import get_backend

    hw = detect()
    print(f"device={hw.device} cpus={hw.cpu_count} torch_threads={torch.get_num_threads()}")
    work = Path(tempfile.mkdtemp(prefix="bench-distill-"))
    const = work / "bench-pirate.json"
    const.write_text(json.dumps(PIRATE))
    get_backend("smollm2-135m")  # load once, outside the timed region

    cfg = GenerationConfig(
        persona=str(const),
        pair_count=args.pairs,
        max_new_tokens=args.max_new_tokens,
        save_interval=args.pairs,
        allow_cut_off=True,  # measure generation, not the filter's yield
        output_path=work / "pairs.jsonl",
        seed=1,
    )
    t0 = time.perf_counter()
    path = generate_dpo_pairs(cfg)
    gen_s = time.perf_counter() - t0
    rows = read_jsonl(path)
    tokens = sum(r["teacher_tokens"] + r["student_tokens"] for r in rows)
    print(
        f"generation: {len(rows)} pairs x {args.max_new_tokens} new tokens in {gen_s:.1f} s "
        f"({tokens} tokens, {tokens / gen_s:.1f} tok/s) target <= 150 s: "
        f"{'PASS' if gen_s <= 150 else 'MISS'}"
    )

    tcfg = TrainingConfig(
        dataset_path=path,
        batch_size=args.batch_size,
        max_steps=args.steps,
        save_steps=10_000,
        lora_rank=32,
        output_dir=work / "adapter",
        max_length=1024,
    )
    out = run_dpo_training(tcfg)
    steps = [r for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    timed = steps[1:] if len(steps) > 1 else steps  # the first step pays warm-up costs
    step_s = sum(r["step_time_s"] for r in timed) / len(timed)
    prev_tokens = [steps[0]["num_tokens"]] + [r["num_tokens"] for r in timed[:-1]]
    tok_per_step = sum(r["num_tokens"] - p for r, p in zip(timed, prev_tokens, strict=True)) / len(
        timed
    )
    n_params = sum(
        p.numel()
        for p in __import__("transformers")
        .AutoModelForCausalLM.from_pretrained(str(ensure_embedded_model()))
        .parameters()
    )
    achieved = 6 * n_params * tok_per_step / step_s / 1e9
    mm = matmul_gflops(int(tok_per_step), 576, 1536)
    print(
        f"dpo step: batch {args.batch_size}, {tok_per_step:.0f} tokens/step (chosen+rejected), "
        f"{step_s:.2f} s/step, {tok_per_step / step_s:.0f} tok/s"
    )
    print(
        f"dpo FLOP/s: {achieved:.1f} GFLOP/s achieved vs fp32 matmul {mm:.1f} GFLOP/s "
        f"({tok_per_step:.0f}x576x1536) = {100 * achieved / mm:.0f}% target >= 50%: "
        f"{'PASS' if achieved >= 0.5 * mm else 'MISS'}"
    )
    print(f"(work folder {work})")


if __name__ == "__main__":
    main()
