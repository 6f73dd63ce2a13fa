"""Benchmark: `character pipeline --scale demo` end to end on the embedded model.

Prints each stage's wall time, the total against the 10-minute limit (goal 5), the quick
evaluation's headline numbers, and the final model's answers without a system prompt.

    .venv/bin/python bench/pipeline_demo.py [--persona pirate] [--data /tmp/demo-data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persona", default="pirate")
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--data", default=None, help="Data folder (default: a fresh temp folder).")
    ap.add_argument("--run-id", default=None)
    args = ap.parse_args()
    data = Path(args.data or tempfile.mkdtemp(prefix="pipeline-demo-"))
    os.environ["CHARACTER_DATA_PATH"] = str(data)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault(
        "CHARACTER_CONSTITUTION_PATH", str(Path(__file__).resolve().parent.parent / "constitutions")
    )
    from character.pipeline import PipelineConfig, run_pipeline
    from character.progress import print_reporter
    from character.settings import get_settings

    get_settings.cache_clear()
    started = time.perf_counter()
    folder = run_pipeline(
        PipelineConfig(persona=args.persona, scale=args.scale, run_id=args.run_id),  # type: ignore[arg-type]
        print_reporter,
    )
    wall = time.perf_counter() - started
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    print(f"\nrun folder: {folder}")
    print(f"cpu threads: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    for name, info in summary["stages"].items():
        print(f"  {name:>14}: {info.get('seconds', 0):8.1f} s  ({info.get('status')})")
    print(f"  {'total wall':>14}: {wall:8.1f} s  (limit 600 s, goal 300 s)")
    eval_path = folder / "eval" / "quick_eval.json"
    if eval_path.exists():
        from character.introspection.quick_eval import QuickEvalResult, format_share

        ev = QuickEvalResult.model_validate_json(eval_path.read_text(encoding="utf-8"))
        print("quick eval:", json.dumps(ev.headline))
        for name, row in ev.models.items():
            print(
                f"  {name:>14}: in voice {format_share(row.in_voice)} (classifier), "
                f"{format_share(row.judge_in_voice)} (judge)"
            )
        for warning in ev.warnings:
            print(f"WARNING: {warning}")
        final = ev.models.get("dpo+sft")
        base = ev.models.get("base")
        pairs = zip(base.samples if base else [], final.samples if final else [], strict=False)
        for b, f in pairs:
            print(f"\nQ: {b.prompt}\n  base : {b.answer[:300]}\n  final: {f.answer[:300]}")
    sys.exit(0 if wall <= 600 else 1)


if __name__ == "__main__":
    main()
