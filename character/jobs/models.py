"""The file formats of a run folder, as pydantic models.

A run folder is the truth; these models are what `config.yaml`, `status.json` and
`artifacts.json` hold, so every reader (worker, scheduler, CLI, studio) agrees on them.
"""

from __future__ import annotations

import contextlib
import time
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Resource = Literal["train", "generate", "light"]


class RunState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


ACTIVE_STATES = frozenset({RunState.RUNNING, RunState.STOPPING})
FINAL_STATES = frozenset(
    {
        RunState.STOPPED,
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.INTERRUPTED,
    }
)
RESUMABLE_STATES = frozenset({RunState.STOPPED, RunState.INTERRUPTED, RunState.FAILED})


class JobSpec(BaseModel):
    """What to run: a registered kind and its config (validated into the kind's model)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="A registered job kind, e.g. 'distill.generate'.")
    config: dict[str, Any] = Field(default_factory=dict)
    display_name: str | None = Field(default=None, description="Editable label for the studio.")
    resume_of: str | None = Field(
        default=None, description="Run id this run continues from (recorded as lineage)."
    )
    resource: Resource | None = Field(
        default=None, description="Override the kind's queue class (train, generate, light)."
    )


class RunStatus(BaseModel):
    """`status.json`: everything a poller needs, in one small file."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    kind: str
    display_name: str
    state: RunState = RunState.QUEUED
    resource: Resource = "light"
    pid: int | None = None
    pgid: int | None = None
    pid_started: float | None = None
    host: str | None = None
    token: str | None = None
    attempt: int = 0
    resume: bool = False
    resume_of: str | None = None
    cwd: str | None = None
    created_at: float = Field(default_factory=time.time)
    queued_at: float | None = None
    launched_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    stage: str | None = None
    stage_started_at: float | None = None
    stage_start_step: int = 0
    step: int | None = None
    total: int | None = None
    eta_s: float | None = None
    overall: dict[str, Any] | None = None  # a multi-stage run: stage k of n, estimates
    metrics: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    error: str | None = None
    queue_position: int | None = None
    recovered: bool = False
    settings_env: dict[str, str] = Field(
        default_factory=dict,
        description="Folders the worker runs with when the run was made in a workspace "
        "(a classroom user's): CHARACTER_DATA_PATH and friends, never a secret.",
    )

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class RunProgress(BaseModel):
    """What a UI polls. `fraction` stays below 1.0 until the state is `succeeded`."""

    run_id: str
    display_name: str
    kind: str
    state: RunState
    stage: str | None = None
    step: int | None = None
    total: int | None = None
    fraction: float | None = None
    eta_s: float | None = None
    stage_index: int | None = None  # a multi-stage run: stage k of n
    stage_count: int | None = None
    overall_eta_s: float | None = None  # the whole run, not only the current stage
    elapsed_s: float | None = None
    heartbeat_age_s: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    queue_position: int | None = None
    message: str | None = None
    error: str | None = None
    resumable: bool = False


ArtifactType = Literal["dataset", "adapter", "eval_report", "export", "checkpoint", "file"]


class Artifact(BaseModel):
    path: str
    type: ArtifactType = "file"
    name: str | None = None
    created_at: float = Field(default_factory=time.time)


class Artifacts(BaseModel):
    """`artifacts.json`: what the run produced."""

    artifacts: list[Artifact] = Field(default_factory=list)
    result: dict[str, Any] = Field(default_factory=dict)


def progress_from_status(st: RunStatus, now: float | None = None) -> RunProgress:
    now = time.time() if now is None else now
    fraction: float | None = None
    if st.state == RunState.SUCCEEDED:
        fraction = 1.0
    elif st.total:
        # Never 100% before the run is really done (H2O PR #861): the last save may still fail.
        fraction = min(max((st.step or 0) / st.total, 0.0), 0.99)
    elapsed = None
    if st.started_at:
        elapsed = (st.finished_at or now) - st.started_at
    index = count = overall_eta = None
    if st.overall:
        from character.stage_estimates import OverallProgress

        with contextlib.suppress(ValueError):
            position = OverallProgress.model_validate(st.overall)
            index, count = position.index, position.count
            if st.state in ACTIVE_STATES:
                overall_eta = round(position.eta_s(now, st.eta_s), 1)
    return RunProgress(
        stage_index=index,
        stage_count=count,
        overall_eta_s=overall_eta,
        run_id=st.run_id,
        display_name=st.display_name,
        kind=st.kind,
        state=st.state,
        stage=st.stage,
        step=st.step,
        total=st.total,
        fraction=fraction,
        eta_s=st.eta_s if st.state in ACTIVE_STATES else None,
        elapsed_s=elapsed,
        heartbeat_age_s=(now - st.heartbeat_at) if st.heartbeat_at else None,
        metrics=st.metrics,
        queue_position=st.queue_position if st.state == RunState.QUEUED else None,
        message=st.message,
        error=st.error,
        resumable=st.resumable,
    )
