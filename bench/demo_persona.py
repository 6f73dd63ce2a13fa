"""Make the ready-trained demo persona: the demo recipe on a shipped persona, then its final
adapter installed into the model cache (`<cache>/demo-personas/<persona>/`, never committed),
so an instructor can show chat and the arena as `demo:<persona>` before any training ends.

Prints each stage's time, the quick evaluation's in-voice shares, where the demo went and one
answer from it (loaded through the model registry, no system prompt).

    .venv/bin/python bench/demo_persona.py [--persona pirate] [--data /tmp/demo-persona]
        [--run FOLDER]   # install a finished run instead of training a new one
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persona", default="pirate", help="A shipped persona (pirate trains best).")
    ap.add_argument("--data", type=Path, default=None, help="Data folder for the run (temp).")
    ap.add_argument("--run", type=Path, default=None, help="A finished recipe run folder.")
    ap.add_argument("--question", default="How do I learn Python?")
    args = ap.parse_args()
    data = (args.data or Path(tempfile.mkdtemp(prefix="demo-persona-"))).resolve()
    os.environ.setdefault("CHARACTER_DATA_PATH", str(data))
    os.environ.setdefault(
        "CHARACTER_CONSTITUTION_PATH", str(Path(__file__).resolve().parent.parent / "constitutions")
    )
    from character.demo_persona import install_demo_persona
    from character.pipeline import PipelineConfig, run_pipeline
    from character.progress import print_reporter

    started = time.perf_counter()
    run = args.run
    if run is None:
        run = run_pipeline(
            PipelineConfig(persona=args.persona, scale="demo", run_id=f"{args.persona}-demo"),
            print_reporter,
        )
    trained = time.perf_counter() - started
    demo = install_demo_persona(run, made_by=f"bench/demo_persona.py --persona {args.persona}")
    installed = time.perf_counter() - started - trained
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    print(f"\nrun folder: {run}  load average: {os.getloadavg()[0]:.1f}")
    for name, info in summary["stages"].items():
        print(f"  {name:>14}: {info.get('seconds', 0):8.1f} s  ({info.get('status')})")
    if args.run is None:
        print(f"  {'recipe wall':>14}: {trained:8.1f} s")
    print(f"  {'install':>14}: {installed:8.1f} s")
    from pydantic import ValidationError

    from character.introspection.quick_eval import QuickEvalResult, format_share

    eval_path = run / "eval" / "quick_eval.json"
    try:
        ev = QuickEvalResult.model_validate_json(eval_path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:  # no eval stage, or a run from an older version
        print(f"no quick evaluation to show ({type(exc).__name__})")
    else:
        for name, row in ev.models.items():
            print(
                f"  {name:>14}: in voice {format_share(row.in_voice)} (classifier), "
                f"{format_share(row.judge_in_voice)} (voice judge)"
            )
        for warning in ev.warnings:
            print(f"WARNING: {warning}")
    print(f"\ninstalled {demo.label!r} as {demo.ref} in {demo.folder}")
    print(demo.manifest.model_dump_json(indent=2))

    from character.backends.base import SamplingParams
    from character.models.registry import build_backend

    backend = build_backend(demo.ref)
    reply = backend.chat(
        [{"role": "user", "content": args.question}],
        SamplingParams(max_new_tokens=64, temperature=0.0, seed=0),
    )
    print(f"\nQ: {args.question}\n{demo.ref}: {reply}")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
