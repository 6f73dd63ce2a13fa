"""Evaluation job functions, named in `character.jobs.registry.BUILTIN_KINDS` (imported on
demand)."""

from __future__ import annotations

from typing import Any

from character.eval.report import EvalConfig, run_evaluation
from character.eval.revealed_preferences import RevealedConfig, run_revealed_preferences
from character.jobs.registry import JobContext


def eval_report_job(config: EvalConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    path = run_evaluation(config, reporter=ctx.reporter)
    return {"output": str(path), "artifacts": [{"path": str(path.parent), "type": "eval_report"}]}


def revealed_preferences_job(config: RevealedConfig, ctx: JobContext) -> dict[str, Any]:
    if config.output_path is None:
        config = config.model_copy(update={"output_path": ctx.run_dir / "revealed.jsonl"})
    rep = run_revealed_preferences(config, reporter=ctx.reporter)
    out = rep.model_dump(mode="json")
    out["artifacts"] = [{"path": str(config.output_path), "type": "eval_report"}]
    return out
