"""Does training beat prompting on robustness, at the scale of the embedded model?

Trains the demo pipeline for one persona on the embedded SmolLM2-135M (teacher = the model with
the constitution as system prompt, student = the same model without it; LoRA DPO), trains a
persona classifier on held-out-split DPO data, then measures persona retention on held-out
prompts (never used in training) plain, with each adversarial "stop role-playing" instruction
and under the prefill attack, for:

- base (no system prompt), base + system prompt, and the trained adapter without a system prompt.

Prints retention with 95% Wilson intervals per variant and pooled adversarial retention with
prompt-cluster bootstrap intervals. Sizes are flags; the defaults take tens of minutes on two
CPU cores and seconds-to-minutes on a GPU.

    .venv/bin/python bench/character_quality.py [--persona pirate] [--pairs 96] [--steps 40]
        [--eval-prompts 20] [--max-new-tokens 80] [--work-dir /tmp/cq]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persona", default="pirate")
    parser.add_argument("--pairs", type=int, default=96)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eval-prompts", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--suffixes", nargs="*", default=None, help="Subset of suffix keys.")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/character_quality"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--prompt-style",
        default="auto",
        choices=["auto", "full", "compact"],
        help="System prompt of the prompted baseline (auto: compact for the embedded model, "
        "which follows a short prompt better; gives prompting its best shot).",
    )
    args = parser.parse_args()

    from character.backends.base import SamplingParams
    from character.distillation.pipeline import (
        GenerationConfig,
        TrainingConfig,
        generate_dpo_pairs,
        run_dpo_training,
    )
    from character.eval.persona_classifier import ClassifierConfig, train_classifier
    from character.eval.robustness import Condition, RobustnessConfig, run_robustness
    from character.hardware import detect
    from character.settings import EMBEDDED_MODEL

    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    hw = detect()
    print(
        f"device {hw.device} ({hw.gpu_name or f'{hw.cpu_count} CPU cores'}), load {os.getloadavg()[0]:.1f}"
    )
    t0 = time.time()

    pairs = work / f"{args.persona}_dpo.jsonl"
    if not pairs.exists():
        generate_dpo_pairs(
            GenerationConfig(
                persona=args.persona,
                teacher_model=EMBEDDED_MODEL,
                student_model=EMBEDDED_MODEL,
                pair_count=args.pairs,
                max_new_tokens=args.max_new_tokens,
                # Short budgets cut most replies; keep them (both sides are cut alike).
                allow_cut_off=args.max_new_tokens < 128,
                output_path=pairs,
                seed=args.seed,
            )
        )
    n_pairs = sum(1 for _ in pairs.open(encoding="utf-8"))
    t1 = time.time()
    print(f"pairs: {n_pairs} in {t1 - t0:.0f}s")

    adapter = work / "adapter"
    if not (adapter / "adapter_config.json").exists():
        run_dpo_training(
            TrainingConfig(
                dataset_path=pairs,
                persona=args.persona,
                model=EMBEDDED_MODEL,
                output_dir=adapter,
                max_steps=args.steps,
                batch_size=4,
                max_length=512,
                seed=args.seed,
            )
        )
    t2 = time.time()
    print(f"DPO training: {args.steps} steps in {t2 - t1:.0f}s")

    clf = train_classifier(
        ClassifierConfig(train_path=pairs, output_dir=work / "classifier", seed=args.seed)
    )
    print(
        f"classifier (MiniLM + LR, in vs out of persona): held-out accuracy "
        f"{clf.accuracy.estimate:.2f} [{clf.accuracy.lower:.2f}, {clf.accuracy.upper:.2f}], "
        f"macro-F1 {clf.macro_f1:.2f}, n_test {clf.n_test}"
    )
    rep = run_robustness(
        RobustnessConfig(
            constitution=args.persona,
            classifier_dir=work / "classifier",
            conditions=[
                Condition(name="base", model=EMBEDDED_MODEL),
                Condition(name="base+system", model=EMBEDDED_MODEL, system_prompt=True),
                Condition(name="adapter", model=str(adapter)),
            ],
            max_prompts=args.eval_prompts,
            suffixes=args.suffixes,
            training_data=[pairs],
            prompt_style=args.prompt_style,
            sampling=SamplingParams(max_new_tokens=args.max_new_tokens, seed=args.seed),
            output_dir=work / "robustness",
        )
    )
    t3 = time.time()
    print(
        f"robustness: {rep.n_prompts} held-out prompts x {len(rep.variants)} variants in {t3 - t2:.0f}s\n"
    )
    conds = [c.name for c in rep.conditions]
    print(f"{'variant':<15}" + "".join(f"{c:>24}" for c in conds))
    for v in rep.variants:
        cells = [rep.cell(c, v).retention for c in conds]
        print(
            f"{v:<15}" + "".join(f"{r.estimate:>8.2f} [{r.lower:.2f},{r.upper:.2f}]" for r in cells)
        )
    print("\npooled adversarial retention (suffixes + prefill, prompt-cluster bootstrap 95% CI):")
    for c in conds:
        iv = rep.adversarial[c]
        print(f"  {c:<12} {iv.estimate:.2f} [{iv.lower:.2f}, {iv.upper:.2f}]  n={iv.n}")
    diff = rep.paired_difference["adapter"]
    print(
        f"\nadapter - base+system (paired over prompts): {diff.estimate:+.2f} "
        f"[{diff.lower:+.2f}, {diff.upper:+.2f}]"
    )
    verdict = (
        "adapter > system prompt"
        if diff.lower > 0
        else "system prompt > adapter"
        if diff.upper < 0
        else "no clear difference (the interval contains 0)"
    )
    print(f"\nheadline: {verdict}; total {t3 - t0:.0f}s; report in {work / 'robustness'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
