"""Does training beat prompting on robustness, at the scale of the embedded model?

Runs `character pipeline --scale demo` for one persona on the embedded SmolLM2-135M (or reuses
a finished run folder), trains a persona classifier on the run's DPO training pairs, then
measures persona retention on held-out prompts (never used in training) plain, with each
adversarial "stop role-playing" instruction and under the prefill attack, for:

- base (no system prompt), base + persona prompt (the teacher's system prompt and example
  exchanges: prompting at its best), the DPO model and the final DPO+SFT model, both without
  a system prompt.

Prints retention with 95% Wilson intervals per variant, pooled adversarial retention with
prompt-cluster bootstrap intervals, and the paired difference of each trained model against
base + persona prompt.

    .venv/bin/python bench/character_quality.py [--persona pirate] [--run FOLDER]
        [--eval-prompts 20] [--max-new-tokens 80] [--work-dir /tmp/cq]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def draft_persona(description: str, folder: Path, seed: int) -> str:
    """Draft a constitution from one line with the embedded model, save it unedited and print
    what the quality check found; returns its persona name."""
    from character.drafting import draft_constitution
    from character.settings import EMBEDDED_MODEL

    draft = draft_constitution(description, model=EMBEDDED_MODEL, seed=seed)
    c = draft.constitution
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{c.name}.json").write_text(c.model_dump_json(indent=2), encoding="utf-8")
    print(f"drafted {c.name!r} from {description!r}: {draft.summary()}")
    for finding in draft.quality.findings if draft.quality else []:
        print(f"  quality: {finding.line()}")
    print(f"  traits: {[t.trait for t in c.traits]}")
    print(f"  examples: {len(c.examples or [])}")
    return c.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persona", default="pirate")
    parser.add_argument(
        "--draft",
        default=None,
        metavar="DESCRIPTION",
        help="Instead of a shipped persona: draft one from this one-line description with the "
        "embedded model (as a student would in the studio), unedited, and benchmark that.",
    )
    parser.add_argument("--run", type=Path, default=None, help="A finished pipeline run folder.")
    parser.add_argument("--eval-prompts", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--suffixes", nargs="*", default=None, help="Subset of suffix keys.")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/character_quality"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--classifier-pairs",
        type=int,
        default=48,
        help="Extra teacher/student pairs (training-pool prompts, never held-out ones) to train "
        "the persona classifier on, next to the run's own pairs; 0 uses the run's pairs only.",
    )
    args = parser.parse_args()

    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CHARACTER_DATA_PATH", str(work))  # outputs stay in the data folder
    shipped = Path(__file__).resolve().parent.parent / "constitutions"
    drafted_dir = work / "constitutions"
    os.environ.setdefault(
        "CHARACTER_CONSTITUTION_PATH", str(drafted_dir if args.draft else shipped)
    )
    if args.draft:
        args.persona = draft_persona(args.draft, drafted_dir, args.seed)
    from character.backends.base import SamplingParams
    from character.eval.persona_classifier import ClassifierConfig, train_classifier
    from character.eval.robustness import Condition, RobustnessConfig, run_robustness
    from character.eval.stats import wilson_interval
    from character.hardware import detect
    from character.io import read_jsonl
    from character.pipeline import PipelineConfig, run_pipeline
    from character.progress import print_reporter
    from character.settings import EMBEDDED_MODEL

    hw = detect()
    print(
        f"device {hw.device} ({hw.gpu_name or f'{hw.cpu_count} CPU cores'}), "
        f"load {os.getloadavg()[0]:.1f}"
    )
    t0 = time.time()
    run = args.run
    if run is None:
        run = run_pipeline(
            PipelineConfig(persona=args.persona, scale="demo", run_id=f"{args.persona}-cq"),
            print_reporter,
        )
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    t1 = time.time()
    print(f"pipeline run {run} ({summary.get('total_seconds', 0):.0f}s of stages)")
    pairs = run / "pairs" / "dpo_train.jsonl"
    clf_files = [pairs]
    if args.classifier_pairs:
        # A demo run has ~20 pairs: too few texts for a classifier that judges every reply.
        # More pairs from the same teacher set-up, on other training-pool prompts, are only
        # used to fit the classifier (the models never see them).
        from character.distillation.generate import GenerationConfig, generate_dpo_pairs

        extra = generate_dpo_pairs(
            GenerationConfig(
                persona=args.persona,
                pair_count=args.classifier_pairs,
                max_new_tokens=args.max_new_tokens,
                allow_cut_off=True,
                seed=args.seed + 7,
                samples_per_prompt=1,
                output_path=work / "classifier_pairs.jsonl",
                resume=True,
                # Raw teacher vs student replies: the classifier must not share the training
                # filter's voice judge, or it would grade the models by the filter's own taste.
                voice={"method": "off"},
            )
        )
        clf_files.append(extra)
    clf = train_classifier(
        ClassifierConfig(train_path=clf_files, output_dir=work / "classifier", seed=args.seed)
    )
    print(
        f"classifier (MiniLM + LR, in vs out of persona, {len(clf_files)} pair files): "
        f"held-out accuracy "
        f"{clf.accuracy.estimate:.2f} [{clf.accuracy.lower:.2f}, {clf.accuracy.upper:.2f}], "
        f"macro-F1 {clf.macro_f1:.2f}, n_test {clf.n_test}"
    )
    pairs_stage = summary.get("stages", {}).get("pairs", {})
    print(
        f"pairs stage: dropped {pairs_stage.get('dropped')}, voice judge "
        f"{pairs_stage.get('voice_judge')}: kept chosen replies in voice "
        f"{pairs_stage.get('chosen_in_voice')}"
    )
    heldout_rows = read_jsonl(run / "pairs" / "heldout.jsonl")
    if heldout_rows:
        from character.eval.persona_classifier import IN_PERSONA, PersonaClassifier

        scorer = PersonaClassifier.load(work / "classifier")
        texts = [r["chosen"][0]["content"] for r in heldout_rows]
        hits = sum(p >= 0.5 for p in scorer.prob_of(texts, IN_PERSONA))
        iv = wilson_interval(hits, len(texts))
        print(
            f"chosen replies in voice after filtering, by the classifier (held-out pairs it never "
            f"saw): {iv.estimate:.2f} [{iv.lower:.2f}, {iv.upper:.2f}] ({hits}/{len(texts)})"
        )
    conditions = [
        Condition(name="base", model=EMBEDDED_MODEL),
        Condition(name="base+prompt", model=EMBEDDED_MODEL, system_prompt=True),
    ]
    if (run / "merged-dpo" / "config.json").exists():
        conditions.append(Condition(name="dpo", model=str(run / "merged-dpo")))
    if (run / "sft" / "adapter_config.json").exists():
        conditions.append(Condition(name="dpo+sft", model=str(run / "sft")))
    training = [p for p in (pairs, run / "introspection" / "introspection.jsonl") if p.exists()]
    rep = run_robustness(
        RobustnessConfig(
            constitution=args.persona,
            classifier_dir=work / "classifier",
            conditions=conditions,
            max_prompts=args.eval_prompts,
            suffixes=args.suffixes,
            training_data=training,
            sampling=SamplingParams(max_new_tokens=args.max_new_tokens, seed=args.seed),
            output_dir=work / "robustness",
        )
    )
    t2 = time.time()
    print(
        f"robustness: {rep.n_prompts} held-out prompts x {len(rep.variants)} variants "
        f"in {t2 - t1:.0f}s\n"
    )
    conds = [c.name for c in rep.conditions]
    print(f"{'variant':<15}" + "".join(f"{c:>20}" for c in conds))
    for v in rep.variants:
        cells = [rep.cell(c, v).retention for c in conds]
        print(
            f"{v:<15}" + "".join(f"{r.estimate:>6.2f} [{r.lower:.2f},{r.upper:.2f}]" for r in cells)
        )
    print("\npooled adversarial retention (suffixes + prefill, prompt-cluster bootstrap 95% CI):")
    for c in conds:
        iv = rep.adversarial[c]
        print(f"  {c:<12} {iv.estimate:.2f} [{iv.lower:.2f}, {iv.upper:.2f}]  n={iv.n}")
    print(f"\npaired difference against {rep.reference} (over prompts):")
    for name, diff in rep.paired_difference.items():
        verdict = (
            "trained > prompted"
            if diff.lower > 0
            else "prompted > trained"
            if diff.upper < 0
            else "no clear difference (the interval contains 0)"
        )
        print(
            f"  {name:<10} {diff.estimate:+.2f} [{diff.lower:+.2f}, {diff.upper:+.2f}]  {verdict}"
        )
    print(f"\ntotal {t2 - t0:.0f}s; report in {work / 'robustness'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
