"""Transcript training, done-when check: does an adapter trained on MARGARET's lines in
examples/transcripts/lighthouse make her held-out lines (unseen scenes) more probable?

Trains on the embedded model (a few epochs over ~20 single-reply examples, max_length 256) and
prints held-out perplexity of her real lines under the base model and the adapter, with paired
bootstrap 95% CIs, plus the speaker classifier's held-out accuracy / macro-F1.

    .venv/bin/python bench/transcripts.py [--epochs 4] [--out /tmp/bench-transcripts] [--threads 1]

`--threads 1` pins the process to one core before torch starts: on a shared, overloaded 2-core
machine a training step measured 17 s with one thread against 85-100 s with two.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from character.sources.transcript_training import (
    TranscriptEvalConfig,
    TranscriptTrainConfig,
    evaluate_transcript_adapter,
    train_on_transcripts,
)

LIGHTHOUSE = Path(__file__).resolve().parent.parent / "examples" / "transcripts" / "lighthouse"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--classifier", default="auto", choices=["auto", "embedding", "tfidf"])
    ap.add_argument("--eval-only", action="store_true", help="Evaluate an existing --out run.")
    ap.add_argument("--threads", type=int, default=None, help="Pin to this many cores.")
    args = ap.parse_args()
    if args.threads and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[: args.threads]
        os.sched_setaffinity(0, set(cores))  # character.hardware sizes torch's threads from this
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-transcripts-"))
    if out.exists() and not args.eval_only:
        shutil.rmtree(out)
    t0 = time.perf_counter()
    adapter = (
        out
        if args.eval_only
        else train_on_transcripts(
            TranscriptTrainConfig(
                target="MARGARET",
                model="smollm2-135m",
                data_folder=LIGHTHOUSE,
                format="raw",
                max_assistant_turns=1,
                holdout_share=0.34,
                batch_size=4,
                gradient_accumulation=1,
                max_length=256,
                epochs=args.epochs,
                learning_rate=args.lr,
                lora_rank=16,
                output_dir=out,
                resume=False,
            )
        )
    )
    t_train = time.perf_counter() - t0
    summary = json.loads((out / "data" / "summary.json").read_text())
    t1 = time.perf_counter()
    report = evaluate_transcript_adapter(
        TranscriptEvalConfig(run_dir=out, max_length=256, classifier_method=args.classifier)
    )
    t_eval = time.perf_counter() - t1
    p = report["perplexity"]

    def show(d: dict) -> str:
        return f"{d['estimate']:.2f} [{d['lower']:.2f}, {d['upper']:.2f}]"

    print(f"adapter: {adapter}")
    print(
        f"data: {summary['train_examples']} train / {summary['holdout_examples']} holdout "
        f"examples (held-out scenes {summary['holdout_groups']})"
    )
    print(f"train: {t_train:.1f} s, evaluate: {t_eval:.1f} s")
    print(f"held-out {p['examples']} examples, {p['tokens']} assistant tokens")
    print(f"perplexity base    {show(p['base_ppl'])}")
    print(f"perplexity adapter {show(p['adapter_ppl'])}")
    print(f"ratio adapter/base {show(p['ratio_adapter_over_base'])}")
    print(
        f"adapter lower with 95% confidence: {p['adapter_better']} "
        f"(bootstrap share {p['adapter_better_share']:.3f})"
    )
    c = report.get("classifier")
    if c:
        acc = c["accuracy"]
        print(
            f"speaker classifier ({c['method']}): accuracy {show(acc)}, macro-F1 "
            f"{c['macro_f1']:.3f}, majority baseline {c['majority_baseline']:.3f}"
        )


if __name__ == "__main__":
    main()
