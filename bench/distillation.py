"""Distillation speed on the embedded model (targets from issue 3, 2 CPU cores):

1. 32 teacher/student pairs at 128 new tokens: wall time (target <= 150 s).
2. A LoRA DPO step at batch 4: achieved FLOP/s vs a plain fp32 matmul measured in the same
   run (target >= 50%).

FLOPs per DPO step count only the work DPO needs: 6 FLOPs per parameter per token — policy
forward (2), backward through the frozen weights for input gradients (2; LoRA weight gradients
are negligible) and the reference forward with the adapter disabled (2) — for the transformer
body on every real token, and for the tied LM head (vocabulary × hidden) only on completion
tokens, the only positions whose log-probabilities DPO uses. Attention-score FLOPs, padding and
the LM-head recomputation in TRL's chunked backward are not counted, so the ratio is a
conservative lower bound. The completion share is measured on the dataset's pairs with the
model's chat template.

The step is measured twice in the same run, side by side: as we train (the LM head projects
only the completion tokens on CPUs, `character.training.compact_lm_head`) and as TRL ships
(every position, prompt and padding included).

Usage: .venv/bin/python bench/distillation.py [--pairs 32] [--max-new-tokens 128] [--steps 6]
       [--dataset PAIRS.jsonl]   # reuse pairs and skip the generation benchmark
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


def completion_share(path: Path, model_dir: Path) -> float:
    """Completion tokens / all tokens over the pairs (chosen and rejected), chat-templated."""
    from character.io import read_jsonl
    from character.models.loading import load_tokenizer

    tok = load_tokenizer(model_dir)

    def n_tokens(messages: list[dict[str, str]], gen_prompt: bool = False) -> int:
        ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen_prompt)
        return len(ids["input_ids"] if hasattr(ids, "keys") else ids)

    done = total = 0
    for row in read_jsonl(path):
        prompt = (
            [{"role": "user", "content": row["prompt"]}]
            if isinstance(row["prompt"], str)
            else row["prompt"]
        )
        head = n_tokens(prompt, gen_prompt=True)
        for key in ("chosen", "rejected"):
            reply = row[key]
            reply = [{"role": "assistant", "content": reply}] if isinstance(reply, str) else reply
            full = n_tokens(prompt + reply)
            done += full - head
            total += full
    return done / total


def dpo_step(
    path: Path, work: Path, args: argparse.Namespace, compact: bool
) -> tuple[float, float]:
    """(seconds per step, real tokens per step) over the steps after the first."""
    from contextlib import nullcontext

    from character.distillation.train import TrainingConfig, run_dpo_training
    from character.io import read_jsonl
    from character.training import compact_lm_head

    original = compact_lm_head.compact_lm_head_on_cpu
    if not compact:
        compact_lm_head.compact_lm_head_on_cpu = lambda: nullcontext(False)  # type: ignore[assignment]
    try:
        out = run_dpo_training(
            TrainingConfig(
                dataset_path=path,
                batch_size=args.batch_size,
                max_steps=args.steps,
                save_steps=10_000,
                lora_rank=32,
                output_dir=work / f"adapter-{'compact' if compact else 'full'}",
                max_length=1024,
            )
        )
    finally:
        compact_lm_head.compact_lm_head_on_cpu = original
    steps = [r for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    timed = steps[1:] if len(steps) > 1 else steps  # the first step pays warm-up costs
    step_s = statistics.median(r["step_time_s"] for r in timed)
    prev = [steps[0]["num_tokens"]] + [r["num_tokens"] for r in timed[:-1]]
    tok = statistics.median(r["num_tokens"] - p for r, p in zip(timed, prev, strict=True))
    return step_s, tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--dataset", type=Path, default=None, help="Reuse pairs; skip generation.")
    args = ap.parse_args()

    import torch

    from character.distillation.generate import GenerationConfig, generate_dpo_pairs
    from character.hardware import detect
    from character.io import read_jsonl
    from character.models.embedded import ensure_embedded_model
    from character.models.registry import get_backend

    hw = detect()
    print(
        f"device={hw.device} cpus={hw.cpu_count} torch_threads={torch.get_num_threads()} "
        f"load {os.getloadavg()[0]:.1f}"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-distill-"))
    os.environ["CHARACTER_DATA_PATH"] = str(work)  # outputs stay inside the data folder
    from character.settings import get_settings

    get_settings.cache_clear()
    path = args.dataset
    if path is None:
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

    model_dir = ensure_embedded_model()
    config = json.loads((model_dir / "config.json").read_text())
    model = __import__("transformers").AutoModelForCausalLM.from_pretrained(str(model_dir))
    n_params = sum(p.numel() for p in model.parameters())
    del model
    head = config["vocab_size"] * config["hidden_size"]
    share = completion_share(path, model_dir)
    print(
        f"model: {n_params / 1e6:.1f}M parameters, LM head {head / 1e6:.1f}M; completion tokens "
        f"are {100 * share:.0f}% of the pairs' tokens"
    )
    # The plain matmul rate drifts by tens of percent within minutes on these shared cores, so
    # it is measured before, between and after the two trainings and the median is used.
    rates, results = [], {}
    for compact in (True, False):
        tok_guess = results[True][1] if results else 1300
        rates.append(matmul_gflops(int(tok_guess), 576, 1536))
        step_s, tok = dpo_step(path, work, args, compact)
        results[compact] = (
            step_s,
            tok,
            6 * tok * ((n_params - head) + share * head) / step_s / 1e9,
        )
    rates.append(matmul_gflops(int(results[True][1]), 576, 1536))
    mm = statistics.median(rates)
    print(
        f"\nfp32 matmul ({results[True][1]:.0f}x576x1536): "
        + ", ".join(f"{r:.1f}" for r in rates)
        + f" GFLOP/s, median {mm:.1f}"
    )
    print(f"dpo step at batch {args.batch_size} (median of steps 2..{args.steps}):")
    for compact, (step_s, tok, achieved) in results.items():
        name = "LM head on completions (ours)" if compact else "LM head on every position (TRL)"
        print(
            f"  {name:<34} {step_s:6.2f} s/step, {tok:.0f} tokens, {tok / step_s:5.0f} tok/s, "
            f"{achieved:5.1f} GFLOP/s = {100 * achieved / mm:.0f}% of matmul"
        )
    step_s, _, achieved = results[True]
    print(
        f"speed-up {results[False][0] / step_s:.2f}x; target >= 50% of matmul: "
        f"{'PASS' if achieved >= 0.5 * mm else 'MISS'}"
    )
    print(f"(work folder {work})")


if __name__ == "__main__":
    main()
