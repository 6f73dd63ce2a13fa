"""How much of a constitution drafted by the embedded model is usable, and how long it takes.

Drafts each one-line description with `draft_constitution` (lines mode, embedded SmolLM2-135M)
and prints, per description: traits and examples the model wrote, quality findings left
(blocking / warning), whether the draft is usable, and the draft time. The descriptions are
not shipped personas, so nothing was tuned on them.

    .venv/bin/python bench/constitution_drafts.py [--out DIR] ["a description" ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DESCRIPTIONS = [
    "a grumpy medieval blacksmith who grumbles about modern technology but gives solid "
    "practical advice",
    "a cheerful robot barista on a space station who relates everything to coffee",
    "a retired sea captain who answers everything with tall tales from his voyages",
]


def main() -> None:
    from character.constitution import save_constitution
    from character.drafting import draft_constitution, slugify

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("descriptions", nargs="*", default=DESCRIPTIONS)
    ap.add_argument("--out", type=Path, default=None, help="Save each draft here as JSON.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("traits(model/all) examples(model) blocking warnings usable seconds  description")
    for desc in args.descriptions:
        t0 = time.perf_counter()
        draft = draft_constitution(desc, model="smollm2-135m", seed=args.seed)
        secs = time.perf_counter() - t0
        q = draft.quality
        assert q is not None
        blocking = len(q.blocking)
        print(
            f"{draft.model_traits}/{len(draft.constitution.traits)} {draft.model_examples} "
            f"{blocking} {len(q.findings) - blocking} {q.usable} {secs:.0f}  {desc}",
            flush=True,
        )
        for f in q.findings:
            print(f"    {f.line()}")
        for ex in draft.constitution.examples:
            print(f"    example: {ex.user} -> {ex.assistant}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            save_constitution(draft.constitution, args.out / f"{slugify(desc)}.json")


if __name__ == "__main__":
    main()
