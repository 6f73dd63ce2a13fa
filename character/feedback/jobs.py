"""Feedback job kinds: `feedback.round` (train round N+1) and `feedback.report` (did it help?)."""

from __future__ import annotations

from typing import Any

from character.feedback.report import RoundReportConfig, round_report
from character.feedback.rounds import RoundConfig, train_round
from character.jobs.registry import JobContext, register_job_kind


def _round(config: RoundConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    adapter = train_round(config, reporter=ctx.reporter, stop_requested=ctx.stop_requested)
    out: dict[str, Any] = {
        "output": str(adapter),
        "artifacts": [{"path": str(adapter), "type": "adapter"}],
    }
    if ctx.stop_requested():
        out["stopped"] = True
    return out


def _report(config: RoundReportConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    path = round_report(config, reporter=ctx.reporter)
    return {"output": str(path), "artifacts": [{"path": str(path), "type": "round_report"}]}


register_job_kind(
    "feedback.round",
    RoundConfig,
    _round,
    resource="train",
    description="Feedback round: continue the previous adapter on feedback-derived DPO pairs",
    cooperative_stop=True,
)
register_job_kind(
    "feedback.report",
    RoundReportConfig,
    _report,
    resource="generate",
    description="Round-over-round report: arena (Bradley–Terry), retention, fixed prompts",
)
