"""Feedback → the next round's training data, and suggestions a person accepts or rejects.

Corrections become DPO pairs (the correction preferred over the original) and SFT rows; arena
votes become DPO pairs; traits people found missing become suggested new questions for those
traits; "knows too much" becomes suggested protective scenes. Feedback is mixed into the next
round at a capped share so a handful of votes cannot swamp the distilled data.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from character.feedback.store import ErrorTag, FeedbackRecord, load_feedback
from character.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings


def _last_user_index(messages: list[dict[str, str]]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return i
    return -1


def _corrected_prompt(record: FeedbackRecord) -> list[dict[str, str]] | None:
    """The conversation up to the user turn that the correction answers; None when there is
    no correction or no user turn to answer."""
    if not record.correction:
        return None
    prompt = record.prompt_messages()
    cut = _last_user_index(prompt)
    return prompt[: cut + 1] if cut >= 0 else None


def correction_to_dpo(record: FeedbackRecord) -> dict[str, Any] | None:
    """TRL conversational preference row: correction (chosen) over the original (rejected)."""
    prompt = _corrected_prompt(record)
    if prompt is None:
        return None
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": record.correction}],
        "rejected": [{"role": "assistant", "content": record.response}],
        "source": "feedback_correction",
        "feedback_id": record.id,
        "persona": record.persona,
        "model": record.model,
        "adapter": record.adapter,
        # The fields every DPO pair carries (see DpoExample): who wrote chosen and rejected.
        "teacher_model": f"human:{record.rater}",
        "student_model": record.adapter or record.model,
        "constitution": record.persona,
    }


def correction_to_sft(record: FeedbackRecord) -> dict[str, Any] | None:
    """`{"messages": [...]}` row ending with the corrected reply; no system prompt."""
    prompt = _corrected_prompt(record)
    if prompt is None:
        return None
    return {
        "messages": [*prompt, {"role": "assistant", "content": record.correction}],
        "source": "feedback_correction",
        "feedback_id": record.id,
        "persona": record.persona,
    }


class Suggestion(BaseModel):
    """A proposed change for a person to accept: a new trait question or a protective scene."""

    id: str
    kind: Literal["trait_question", "protective_scene"]
    persona: str
    trait: str | None = None
    text: str
    evidence: list[str] = Field(default_factory=list, description="Feedback ids behind it.")
    count: int = 1
    status: Literal["pending", "accepted", "rejected"] = "pending"


def _sid(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def suggest(records: list[FeedbackRecord]) -> list[Suggestion]:
    """Cluster feedback into suggestions: each missing trait with the prompts it went missing
    on (as candidate questions), and each 'knows too much' prompt as a protective scene."""
    by_trait: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    protective: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        prompt = next((m["content"] for m in reversed(r.conversation) if m["role"] == "user"), "")
        if not prompt:
            continue
        for trait in r.traits_missing:
            by_trait[(r.persona, trait)][prompt].append(r.id)
        if ErrorTag.knows_too_much in r.error_tags:
            protective[(r.persona, prompt)].append(r.id)
    out: list[Suggestion] = []
    for (persona, trait), prompts in by_trait.items():
        for prompt, ids in prompts.items():
            out.append(
                Suggestion(
                    id=_sid("q", persona, trait, prompt),
                    kind="trait_question",
                    persona=persona,
                    trait=trait,
                    text=prompt,
                    evidence=ids,
                    count=len(ids),
                )
            )
    for (persona, prompt), ids in protective.items():
        out.append(
            Suggestion(
                id=_sid("p", persona, prompt),
                kind="protective_scene",
                persona=persona,
                text=prompt,
                evidence=ids,
                count=len(ids),
            )
        )
    out.sort(key=lambda s: (-s.count, s.kind, s.text))
    return out


def suggestions_path() -> Path:
    return get_settings().data_path / "feedback" / "suggestions.json"


def refresh_suggestions(records: list[FeedbackRecord] | None = None) -> list[Suggestion]:
    """Recompute suggestions from feedback, keeping decisions already made on earlier ones."""
    import json

    records = load_feedback() if records is None else records
    path = suggestions_path()
    previous: dict[str, Suggestion] = {}
    if path.exists():
        previous = {
            s["id"]: Suggestion.model_validate(s)
            for s in json.loads(path.read_text(encoding="utf-8"))
        }
    fresh = suggest(records)
    for s in fresh:
        if s.id in previous:
            s.status = previous[s.id].status
    atomic_write_json(path, [s.model_dump(mode="json") for s in fresh])
    return fresh


def decide_suggestion(
    suggestion_id: str, accept: bool, *, constitution_path: Path | None = None
) -> Suggestion:
    """Accept or reject. Accepting a trait question adds it to that trait in the constitution
    file (written atomically); accepting a protective scene appends it to the persona's
    protective prompts (used by experience upload to write deflections)."""
    import json

    from character.constitution import load_constitution, resolve_constitution, save_constitution

    path = suggestions_path()
    items = (
        [Suggestion.model_validate(s) for s in json.loads(path.read_text(encoding="utf-8"))]
        if path.exists()
        else []
    )
    match = next((s for s in items if s.id == suggestion_id), None)
    if match is None:
        raise KeyError(f"no suggestion {suggestion_id}; refresh suggestions first")
    match.status = "accepted" if accept else "rejected"
    if accept and match.kind == "trait_question":
        const = (
            load_constitution(constitution_path)
            if constitution_path
            else resolve_constitution(match.persona)
        )
        target = constitution_path
        if target is None:
            from character.constitution import list_constitutions

            target = list_constitutions()[const.name]
        for t in const.traits:
            if t.trait == match.trait and match.text not in t.all_questions():
                t.questions.append(match.text)
        save_constitution(const, target)
    elif accept and match.kind == "protective_scene":
        append_jsonl(
            get_settings().data_path / "feedback" / f"{match.persona}_protective_prompts.jsonl",
            [{"prompt": match.text, "suggestion_id": match.id}],
        )
    atomic_write_json(path, [s.model_dump(mode="json") for s in items])
    return match


class FeedbackDataConfig(BaseModel):
    """Build the next round's datasets from feedback (and optionally arena votes)."""

    persona: str
    base_dataset: Path | None = Field(
        default=None, description="The previous round's DPO pairs to mix with."
    )
    arena_pairs: Path | None = Field(
        default=None, description="DPO pairs exported from arena votes (TRL format JSONL)."
    )
    max_feedback_share: float = Field(
        default=0.3, gt=0, le=1, description="Largest share of feedback rows in the mix."
    )
    seed: int = 0
    output_dir: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()


class FeedbackDataResult(BaseModel):
    dpo_path: Path
    sft_path: Path
    counts: dict[str, int]


def build_round_data(
    config: FeedbackDataConfig, reporter: Reporter | Progress | None = None
) -> FeedbackDataResult:
    """Write `round_dpo.jsonl` and `round_sft.jsonl`: feedback rows capped at a share."""
    check_config_outputs(config)
    progress = as_progress(reporter)
    progress.start_stage("feedback-data", total=3)
    records = [r for r in load_feedback(check_models=False) if r.persona == config.persona]
    fb_pairs = [p for r in records if (p := correction_to_dpo(r))]
    sft_rows = [s for r in records if (s := correction_to_sft(r))]
    arena: list[dict[str, Any]] = []
    if config.arena_pairs and config.arena_pairs.exists():
        arena = [
            {
                "teacher_model": f"human:{row.get('voter', 'anonymous')}",
                "student_model": row.get("rejected_model", "unknown"),
                "constitution": config.persona,
                **row,
                "source": row.get("source", "arena_vote"),
            }
            for row in read_jsonl(config.arena_pairs)
        ]
    feedback_rows = fb_pairs + arena
    base: list[dict[str, Any]] = []
    if config.base_dataset:
        base = [
            {**row, "source": row.get("source", "distillation")}
            for row in read_jsonl(config.base_dataset)
        ]
    progress.advance(1, 3)
    rng = random.Random(config.seed)
    dropped = 0
    if base:
        # share = f / (f + b) <= s  =>  f <= s * b / (1 - s)
        share = config.max_feedback_share
        cap = len(feedback_rows) if share >= 1 else int(share * len(base) / (1 - share))
        if len(feedback_rows) > cap:
            dropped = len(feedback_rows) - cap
            feedback_rows = rng.sample(feedback_rows, cap)
    mixed = base + feedback_rows
    rng.shuffle(mixed)
    out = config.output_dir or get_settings().data_path / "feedback" / f"{config.persona}_round"
    out.mkdir(parents=True, exist_ok=True)
    dpo_path, sft_path = out / "round_dpo.jsonl", out / "round_sft.jsonl"
    import json

    atomic_write_text(dpo_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in mixed))
    atomic_write_text(sft_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sft_rows))
    progress.advance(2, 3)
    counts = {
        "feedback_records": len(records),
        "correction_pairs": len(fb_pairs),
        "arena_pairs": len(arena),
        "base_pairs": len(base),
        "feedback_dropped_by_cap": dropped,
        "mixed_pairs": len(mixed),
        "sft_rows": len(sft_rows),
    }
    atomic_write_json(out / "counts.json", counts)
    progress.advance(3, 3, **counts)
    return FeedbackDataResult(dpo_path=dpo_path, sft_path=sft_path, counts=counts)
