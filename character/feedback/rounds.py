"""Round N+1: train from round N's adapter on feedback-derived data, with recorded lineage.

The previous LoRA is loaded trainable and training simply continues it (what
`run_dpo_training` does for `model=<adapter>`), so round N+1 is a descendant of round N and its
base never changes. Every round writes `round.json` beside its adapter: which adapter it came
from, which feedback records and arena votes fed it, and the data counts, so a later report
(or person) can tell exactly what changed between two rounds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from character.feedback.training_data import FeedbackDataConfig, build_round_data
from character.io import atomic_write_json, read_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings
from character.training_guards import Epochs, LearningRate, PositiveFinite

LINEAGE_FILE = "round.json"


class RoundConfig(BaseModel):
    """Train the next round from the previous adapter with feedback mixed in at a capped share."""

    model_config = ConfigDict(extra="forbid")

    persona: str
    previous_adapter: str = Field(description="Round N's adapter (folder or reference).")
    base_dataset: Path | None = Field(
        default=None, description="Round N's DPO pairs, to mix the feedback into."
    )
    arena_pairs: Path | None = Field(default=None, description="DPO pairs exported from votes.")
    max_feedback_share: float = Field(default=0.3, gt=0, le=1)
    output_dir: Path | None = Field(
        default=None,
        description="Default: <checkpoints>/<persona>-round<N+1> (so the model list finds it).",
    )
    allow_outside_data_dir: bool = allow_outside_field()
    learning_rate: LearningRate = 5e-5
    beta: PositiveFinite = Field(default=0.1, le=100)
    epochs: Epochs = 1.0
    batch_size: int = Field(default=4, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    max_length: int = Field(default=1024, ge=16)
    seed: int = 0
    resume: bool = False


def round_number(adapter: Path | str) -> int:
    """The round an adapter belongs to: from its lineage file, else 1 (a distilled adapter)."""
    for folder in (Path(adapter), Path(adapter).parent):
        f = folder / LINEAGE_FILE
        if f.exists():
            return int(json.loads(f.read_text(encoding="utf-8")).get("round", 1))
    return 1


def _adapter_folder(ref: str) -> Path:
    from character.models.registry import local_paths, resolve

    _, adapter = local_paths(resolve(ref))
    if adapter is None:
        raise ValueError(
            f"{ref!r} is not an adapter: a feedback round continues the previous round's "
            "LoRA adapter (train round 1 with `character distill` first)"
        )
    return Path(adapter)


def _weights_hash(adapter: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(adapter.glob("adapter_model.*")):
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def train_round(
    config: RoundConfig,
    reporter: Reporter | Progress | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> Path:
    """Build the round's data, continue training the previous adapter, write lineage; returns
    the new adapter folder."""
    from character.distillation.train import TrainingConfig, run_dpo_training

    progress = as_progress(reporter)
    previous = _adapter_folder(config.previous_adapter)
    number = round_number(previous) + 1
    out = config.output_dir or get_settings().checkpoints / f"{config.persona}-round{number}"
    # the default folder is marked too, so naming it later (to resume) is recognised as ours
    check_config_outputs(config.model_copy(update={"output_dir": out}))
    data_dir = out / "data"
    dpo_path = data_dir / "round_dpo.jsonl"
    if config.resume and dpo_path.exists():
        counts = json.loads((data_dir / "counts.json").read_text(encoding="utf-8"))
    else:
        if (out / "adapter" / "metrics.jsonl").exists():
            raise FileExistsError(
                f"{out} already holds round {number}; pass resume=True or another output_dir"
            )
        result = build_round_data(
            FeedbackDataConfig(
                persona=config.persona,
                base_dataset=config.base_dataset,
                arena_pairs=config.arena_pairs,
                max_feedback_share=config.max_feedback_share,
                seed=config.seed,
                output_dir=data_dir,
                allow_outside_data_dir=config.allow_outside_data_dir,
            ),
            progress,
        )
        counts = result.counts
    if counts.get("mixed_pairs", 0) == 0:
        raise ValueError(
            f"no training pairs for '{config.persona}': write corrections on some responses "
            "(or export arena votes) before training a new round"
        )
    rows = list(read_jsonl(dpo_path))
    feedback_ids = sorted({r["feedback_id"] for r in rows if r.get("feedback_id")})
    vote_ids = sorted({r["source_vote_id"] for r in rows if r.get("source_vote_id")})
    lineage: dict[str, Any] = {
        "round": number,
        "persona": config.persona,
        "previous_adapter": str(previous),
        "previous_adapter_sha256": _weights_hash(previous),
        "previous_round": number - 1,
        "dataset": str(dpo_path),
        "feedback_ids": feedback_ids,
        "arena_vote_ids": vote_ids,
        "counts": counts,
        "max_feedback_share": config.max_feedback_share,
        "adapter": str(out / "adapter"),
        "finished": False,
    }
    atomic_write_json(out / LINEAGE_FILE, lineage)
    progress.log(
        f"round {number}: {counts['mixed_pairs']} pairs ({len(feedback_ids)} feedback records, "
        f"{len(vote_ids)} votes) continuing {previous}"
    )
    adapter = run_dpo_training(
        TrainingConfig(
            dataset_path=dpo_path,
            persona=config.persona,
            model=str(previous),
            output_dir=out / "adapter",
            allow_outside_data_dir=config.allow_outside_data_dir,
            learning_rate=config.learning_rate,
            beta=config.beta,
            epochs=config.epochs,
            batch_size=config.batch_size,
            max_steps=config.max_steps,
            max_length=config.max_length,
            seed=config.seed,
            resume=config.resume,
        ),
        progress,
        stop_requested,
    )
    prov_path = adapter / "provenance.json"
    prov = json.loads(prov_path.read_text(encoding="utf-8")) if prov_path.exists() else {}
    lineage["finished"] = bool(prov.get("finished"))
    lineage["global_step"] = prov.get("global_step")
    lineage["training_loss"] = prov.get("training_loss")
    if lineage["finished"]:
        lineage["adapter_sha256"] = _weights_hash(adapter)
        atomic_write_json(adapter / LINEAGE_FILE, lineage)
    atomic_write_json(out / LINEAGE_FILE, lineage)
    return adapter
