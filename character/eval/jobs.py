"""Evaluation job kinds for the job runner (imported by `character.jobs.registry` on demand)."""

from __future__ import annotations

from typing import Any

from character.eval.report import EvalConfig, run_evaluation
from character.eval.revealed_preferences import RevealedConfig, run_revealed_preferences
from character.jobs.registry import JobContext, register_job_kind


def _evaluate(config: EvalConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    path = run_evaluation(config, reporter=ctx.reporter)
    return {"output": str(path), "artifacts": [{"path": str(path.parent), "type": "eval_report"}]}


def _revealed(config: RevealedConfig, ctx: JobContext) -> dict[str, Any]:
    if config.output_path is None:
        config = config.model_copy(update={"output_path": ctx.run_dir / "revealed.jsonl"})
    rep = run_revealed_preferences(config, reporter=ctx.reporter)
    out = rep.model_dump(mode="json")
    out["artifacts"] = [{"path": str(config.output_path), "type": "eval_report"}]
    return out


register_job_kind(
    "eval.report",
    EvalConfig,
    _evaluate,
    resource="generate",
    description="Evaluation report: classifier, robustness, revealed preferences, judges, arena",
)
register_job_kind(
    "eval.revealed",
    RevealedConfig,
    _revealed,
    resource="generate",
    description="Revealed trait preferences with Bradley–Terry ratings",
)
