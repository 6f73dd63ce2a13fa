"""Job kinds for the character sources, so the studio and `character jobs` can run them:
`sources.transcripts.train`, `sources.experience`, `sources.augment`."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from character.jobs.registry import JobContext
from character.progress import as_progress
from character.sources.augment import AugmentConfig, augment_card
from character.sources.experience import (
    ExperienceConfig,
    generate_experiences,
    load_experience_stats,
)
from character.sources.transcript_training import (
    TranscriptEvalConfig,
    TranscriptTrainConfig,
    evaluate_transcript_adapter,
    local_evaluation_blocker,
    train_on_transcripts,
)


class TranscriptTrainJobConfig(TranscriptTrainConfig):
    """Training, then (not stopped; a Tinker adapter when its base model is on this machine) the
    held-out evaluation in the same run."""

    model_config = ConfigDict(extra="forbid")

    evaluate: bool = True
    classifier_method: str = "auto"


def transcripts_train_job(config: TranscriptTrainJobConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    train_cfg = TranscriptTrainConfig(
        **config.model_dump(exclude={"evaluate", "classifier_method"})
    )
    adapter = train_on_transcripts(train_cfg, ctx.reporter, ctx.stop_requested)
    result: dict[str, Any] = {
        "adapter": str(adapter),
        "artifacts": [{"path": str(adapter), "type": "adapter"}],
    }
    blocker = None
    if config.evaluate and config.backend == "tinker" and not ctx.stop_requested():
        blocker = local_evaluation_blocker(train_cfg.resolved_output_dir())
        if blocker:
            as_progress(ctx.reporter).log(f"held-out evaluation skipped: {blocker}")
            result["evaluation_skipped"] = blocker
    if config.evaluate and not blocker and not ctx.stop_requested():
        report = evaluate_transcript_adapter(
            TranscriptEvalConfig(
                run_dir=train_cfg.resolved_output_dir(),
                max_length=config.max_length,
                classifier_method=config.classifier_method,  # type: ignore[arg-type]
            ),
            ctx.reporter,
        )
        result["perplexity"] = report["perplexity"]
        result["classifier"] = report.get("classifier")
        result["artifacts"].append(
            {
                "path": str(train_cfg.resolved_output_dir() / "transcript_eval.json"),
                "type": "eval_report",
            }
        )
    return result


def experience_job(config: ExperienceConfig, ctx: JobContext) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if config.output_path is None:
        updates["output_path"] = ctx.run_dir / "output" / "experience.jsonl"
    if ctx.resume:
        updates["resume"] = True
    if updates:
        config = config.model_copy(update=updates)
    path = generate_experiences(config, ctx.reporter)
    stats = load_experience_stats(path)
    return {
        "output": str(path),
        "counts": stats.counts(),
        "artifacts": [
            {"path": str(path), "type": "dataset"},
            {"path": str(path.with_suffix(".stats.json")), "type": "file"},
        ],
    }


def augment_job(config: AugmentConfig, ctx: JobContext) -> dict[str, Any]:
    variants = augment_card(config, ctx.reporter)
    from character.constitution import resolve_constitution
    from character.sources.augment import augmented_cards_path

    out = config.output_path or augmented_cards_path(resolve_constitution(config.persona).name)
    return {
        "variants": len(variants),
        "from_model": sum(v.origin == "model" for v in variants),
        "artifacts": [{"path": str(out), "type": "file"}],
    }
