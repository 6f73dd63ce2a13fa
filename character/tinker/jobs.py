"""Registers the `tinker.train` job kind so Tinker runs are long-lived, resumable jobs."""

from __future__ import annotations

from typing import Any

from character.jobs.registry import JobContext, register_job_kind
from character.tinker.train import TinkerTrainingConfig, run_tinker_training


def _run(config: TinkerTrainingConfig, ctx: JobContext) -> dict[str, Any]:
    config = ctx.with_run_defaults(config)
    result = run_tinker_training(config, reporter=ctx.reporter, stop_requested=ctx.stop_requested)
    data = result.model_dump(mode="json")
    # Typed, so the Runs page and lineage list the metrics files as files, not as adapters.
    data["artifacts"] = [
        {"path": a, "type": "adapter" if a == result.adapter_dir else "file"}
        for a in result.artifacts
    ]
    return data


register_job_kind(
    "tinker.train",
    TinkerTrainingConfig,
    _run,
    resource="light",
    description="LoRA DPO/SFT on Tinker (remote); resumable",
    cooperative_stop=True,
)
