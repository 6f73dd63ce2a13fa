"""The `tinker.train` job function (a row of `character.jobs.registry.BUILTIN_KINDS`), so
Tinker runs are long-lived, resumable jobs."""

from __future__ import annotations

from typing import Any

from character.jobs.registry import JobContext
from character.tinker.train import TinkerTrainingConfig, run_tinker_training


def tinker_train_job(config: TinkerTrainingConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    result = run_tinker_training(config, reporter=ctx.reporter, stop_requested=ctx.stop_requested)
    data = result.model_dump(mode="json")
    # Typed, so the Runs page and lineage list the metrics files as files, not as adapters.
    data["artifacts"] = [
        {"path": a, "type": "adapter" if a == result.adapter_dir else "file"}
        for a in result.artifacts
    ]
    return data
