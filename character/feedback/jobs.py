"""Feedback job kinds: `feedback.round` (train round N+1) and `feedback.report` (did it help?)."""

from __future__ import annotations

from typing import Any

from character.feedback.report import RoundReportConfig, round_report
from character.feedback.rounds import RoundConfig, train_round
from character.jobs.registry import JobContext


def feedback_round_job(config: RoundConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    adapter = train_round(config, reporter=ctx.reporter, stop_requested=ctx.stop_requested)
    out: dict[str, Any] = {
        "output": str(adapter),
        "artifacts": [{"path": str(adapter), "type": "adapter"}],
    }
    if ctx.stop_requested():
        out["stopped"] = True
    return out


def feedback_report_job(config: RoundReportConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    path = round_report(config, reporter=ctx.reporter)
    return {"output": str(path), "artifacts": [{"path": str(path), "type": "round_report"}]}
