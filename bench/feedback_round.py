"""Done-when of the feedback loop on the embedded model, with timings per stage.

Feedback on the round-1 adapter's real replies → round-2 data → round 2 trained from round 1 →
the round-over-round report. Not a test (too slow for the suite on 2 shared cores); it prints
wall and CPU seconds per stage and the report's verdict. `python bench/feedback_round.py`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
os.environ["CHARACTER_DATA_PATH"] = str(WORK / "data")
os.environ.setdefault("CHARACTER_CONSTITUTION_PATH", str(ROOT / "constitutions"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

_t = time.time()


def lap(msg: str) -> None:
    global _t
    print(f"{msg}: {time.time() - _t:.1f}s wall, cpu so far {time.process_time():.1f}s", flush=True)
    _t = time.time()


def main() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from test_feedback_rounds import _classifier, _collect_feedback
    from transformers import AutoModelForCausalLM

    from character.backends.base import SamplingParams
    from character.feedback.report import RoundReportConfig, load_round_report, round_report
    from character.feedback.rounds import RoundConfig, train_round
    from character.models.embedded import ensure_embedded_model
    from character.models.loading import write_adapter_meta

    emb = ensure_embedded_model()
    base = AutoModelForCausalLM.from_pretrained(str(emb), dtype=torch.float32)
    round1 = WORK / "round1"
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear")
    get_peft_model(base, lora).save_pretrained(round1)
    write_adapter_meta(round1, base, str(emb))
    del base
    lap("round-1 adapter")
    _collect_feedback(round1)
    lap("feedback on 3 replies")
    adapter = train_round(
        RoundConfig(
            persona="pirate",
            previous_adapter=str(round1),
            max_steps=2,
            batch_size=2,
            learning_rate=1e-3,
            max_length=256,
        )
    )
    lap("train round 2 (2 steps)")
    rep = load_round_report(
        round_report(
            RoundReportConfig(
                persona="pirate",
                new_model=str(adapter),
                previous_model=str(round1),
                classifier_dir=_classifier(WORK),
                max_prompts=2,
                suffixes=["assistant"],
                include_prefill=False,
                sampling=SamplingParams(max_new_tokens=12, seed=0),
                bootstrap_rounds=200,
            )
        )
    )
    lap("round report")
    print("verdict:", rep.verdict)
    if rep.retention:
        print("adversarial retention:", rep.retention.adversarial)
    if rep.fixes:
        print("fixed now / before:", rep.fixes.fixed_new, rep.fixes.fixed_previous)


if __name__ == "__main__":
    main()
