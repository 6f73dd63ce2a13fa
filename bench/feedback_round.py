"""Done-when of the feedback loop on the embedded model, with timings per stage.

Round 1 is a trained persona: the final adapter of a finished `character pipeline` run
(`--run`). A "person" (this script, with corrections we wrote in the persona's voice) rates
round 1's real replies to everyday prompts; the feedback becomes round-2 DPO data mixed into
round 1's pairs at a capped share; round 2 trains from round 1; and the round-over-round
report compares them: blind arena judged by the persona classifier (Bradley–Terry interval),
persona retention on frozen held-out prompts with adversarial suffixes, and the share of the
prompts rated ≤ 2 that each round now answers in persona.

Without `--run` it uses a fresh zero-initialised round-1 adapter and a tiny TF-IDF
classifier: a plumbing run only (the verdict means nothing then).

    .venv/bin/python bench/feedback_round.py --run data/runs/<id> [--steps 8]
        [--report-prompts 8] [--max-new-tokens 48] [--classifier DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# Prompts a rater tried, and what Captain Calico would really have said (written by us).
FEEDBACK = [
    (
        "How do I make my houseplants live longer?",
        "Arr, treat 'em like yer crew, matey! Water 'em when the soil runs dry, not before, "
        "give 'em a spot with steady light like a ship in fair winds, and never let 'em sit "
        "in a flooded hold.",
    ),
    (
        "What should I cook for dinner tonight?",
        "Ahoy! A hearty galley stew, me hearty: onions, carrots and whatever treasure be in "
        "yer larder, simmered slow like the evening tide. Serve it hot and share it with the "
        "crew!",
    ),
    (
        "Can you explain what a budget is?",
        "Aye, a budget be yer map to treasure, matey! Ye chart what gold comes aboard each "
        "month, then mark where every coin sails off to, so ye never run aground before "
        "payday.",
    ),
    (
        "How can I get better at public speaking?",
        "Arr, speak like a captain on the quarterdeck! Know yer course before ye set sail, "
        "practise to an empty deck first, and look yer crew in the eye. Even old sea dogs "
        "feel the swell in their bellies.",
    ),
    (
        "What's a good way to start running?",
        "Ahoy, start slow like a ship leavin' harbour, matey! Run a wee bit, walk a wee bit, "
        "three mornings a week, and add a knot or two of distance each week till ye sail "
        "the whole course.",
    ),
    (
        "Why is the sky blue?",
        "Arr, the sun's light be a chest full of colours, matey, and the blue ones bounce "
        "about the air more than the rest, like spray off the bow. So wherever ye look, the "
        "sky shines blue as the open sea!",
    ),
]


def lap(msg: str, since: list[float]) -> None:
    now = time.time()
    print(f"{msg}: {now - since[0]:.1f}s wall, cpu so far {time.process_time():.1f}s", flush=True)
    since[0] = now


def _fresh_round1(work: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from character.models.embedded import ensure_embedded_model
    from character.models.loading import write_adapter_meta

    emb = ensure_embedded_model()
    base = AutoModelForCausalLM.from_pretrained(str(emb), dtype=torch.float32)
    round1 = work / "round1"
    get_peft_model(
        base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear")
    ).save_pretrained(round1)
    write_adapter_meta(round1, base, str(emb))
    return round1


def _collect(round1: Path, persona: str, max_new_tokens: int) -> int:
    """Rate round 1's real replies: in voice → 4, otherwise 1–2 with a correction."""
    from character.backends.base import SamplingParams
    from character.constitution import resolve_constitution
    from character.feedback.store import ErrorTag, FeedbackRecord, record_feedback
    from character.models.registry import get_backend

    const = resolve_constitution(persona)
    params = SamplingParams(max_new_tokens=max_new_tokens, seed=0)
    convs = [[{"role": "user", "content": p}] for p, _ in FEEDBACK]
    replies = [o[0].text for o in get_backend(str(round1)).generate(convs, params)]
    voice = ("arr", "ahoy", "matey", "aye", "ye ", "hearty")
    corrected = 0
    for conv, reply, (_, correction) in zip(convs, replies, FEEDBACK, strict=True):
        in_voice = sum(w in reply.lower() for w in voice) >= 2
        print(f"  [{'in voice' if in_voice else 'corrected'}] {reply.strip()[:140]!r}")
        record_feedback(
            FeedbackRecord(
                source="test",
                rater="bench",
                persona=persona,
                conversation=conv,
                response=reply,
                model=str(round1),
                adapter=str(round1),
                sampling=params.model_dump(),
                rating=4 if in_voice else 2 if reply.strip() else 1,
                traits_missing=[] if in_voice else [const.traits[0].trait],
                error_tags=[] if in_voice else [ErrorTag.sounds_like_assistant],
                correction=None if in_voice else correction,
                confidence=4,
            ),
            constitution=const,
        )
        corrected += not in_voice
    return corrected


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None, help="A finished pipeline run (round 1).")
    ap.add_argument("--adapter", default="sft", help="Round 1's adapter sub-folder of the run.")
    ap.add_argument("--persona", default="pirate")
    ap.add_argument("--classifier", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--report-prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--work-dir", type=Path, default=None)
    args = ap.parse_args()

    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="feedback-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["CHARACTER_DATA_PATH"] = str(work)  # outputs stay in the data folder
    os.environ.setdefault("CHARACTER_CONSTITUTION_PATH", str(ROOT / "constitutions"))

    from character.backends.base import SamplingParams
    from character.eval.persona_classifier import ClassifierConfig, train_classifier
    from character.feedback.report import RoundReportConfig, load_round_report, round_report
    from character.feedback.rounds import RoundConfig, train_round

    since = [time.time()]
    print(f"load {os.getloadavg()[0]:.1f}; work folder {work}")
    base_dataset = None
    if args.run is not None:
        round1 = (args.run / args.adapter).resolve()
        base_dataset = args.run / "pairs" / "dpo_train.jsonl"
        clf = args.classifier
        if clf is None:
            clf = work / "classifier"
            rep = train_classifier(ClassifierConfig(train_path=base_dataset, output_dir=clf))
            print(f"classifier from the run's pairs: accuracy {rep.accuracy.estimate:.2f}")
    else:
        from test_feedback_rounds import _classifier

        round1 = _fresh_round1(work)
        clf = args.classifier or _classifier(work)
    lap(f"round 1 = {round1}", since)
    corrected = _collect(round1, args.persona, args.max_new_tokens)
    lap(f"feedback on {len(FEEDBACK)} replies ({corrected} corrected)", since)
    adapter = train_round(
        RoundConfig(
            persona=args.persona,
            previous_adapter=str(round1),
            base_dataset=base_dataset,
            max_steps=args.steps,
            batch_size=2,
            learning_rate=1e-4,
            max_length=384,
        )
    )
    lap(f"train round 2 ({args.steps} steps) → {adapter}", since)
    rep = load_round_report(
        round_report(
            RoundReportConfig(
                persona=args.persona,
                new_model=str(adapter),
                previous_model=str(round1),
                classifier_dir=clf,
                max_prompts=args.report_prompts,
                suffixes=["assistant", "plain_chatbot"],
                include_prefill=False,
                sampling=SamplingParams(max_new_tokens=args.max_new_tokens, seed=0),
                bootstrap_rounds=1000,
            )
        )
    )
    lap("round report", since)
    print(rep.model_dump_json(indent=1)[:4000])
    print("\nverdict:", rep.verdict)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
