"""The reporter a job writes its progress through: status.json (throttled) and metrics.jsonl.

Status writes are throttled because a poller only needs a few updates a second, while a job
may report every token; stage changes, metrics rows and artifacts are written at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from character.jobs.errors import JobStopped
from character.jobs.index import artifact_type_of
from character.jobs.models import Artifact, RunStatus
from character.jobs.store import add_artifacts, append_log, append_metrics, edit_status
from character.progress import ProgressEvent, Reporter


class RunReporter:
    """A `character.progress.Reporter` bound to a run folder."""

    def __init__(
        self,
        run_dir: Path,
        *,
        interval_s: float = 0.5,
        stop_requested: Callable[[], bool] | None = None,
        raise_on_stop: bool = False,
        tee: Reporter | None = None,
        default_artifact_type: str = "file",
    ) -> None:
        self.run_dir = run_dir
        self.interval_s = interval_s
        self.stop_requested = stop_requested
        self.raise_on_stop = raise_on_stop
        self.tee = tee
        self.default_artifact_type = default_artifact_type
        self._pending: dict[str, Any] = {}
        self._last_write = 0.0
        self._stage_started = time.time()
        self._stage_start_step = 0
        self._stage: str | None = None
        self._started = time.time()
        self._last_total: int | None = None
        self._last_eta: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.tee is not None:
            self.tee(event)
        now = time.time()
        urgent = False
        if event.kind == "stage":
            self._stage = event.stage
            self._stage_started = now
            self._stage_start_step = event.step or 0
            self._pending.update(
                stage=event.stage,
                step=event.step or 0,
                total=event.total,
                eta_s=None,
                stage_started_at=now,
                stage_start_step=self._stage_start_step,
                message=event.message,
            )
            if event.message:
                append_log(self.run_dir, f"[{event.stage}] {event.message}")
            urgent = True
        elif event.kind == "progress":
            if event.stage and event.stage != self._stage:
                self._stage, self._stage_started = event.stage, now
                self._stage_start_step = 0
                self._pending.update(stage=event.stage, stage_started_at=now, stage_start_step=0)
            self._last_eta = self._eta(event, now)
            self._last_total = event.total
            self._pending.update(step=event.step, total=event.total, eta_s=self._last_eta)
            if event.metrics:
                self._pending.setdefault("metrics", {}).update(event.metrics)
        elif event.kind == "metrics":
            row: dict[str, Any] = {"time": event.time, "stage": event.stage or self._stage}
            if event.step is not None:
                row["step"] = event.step
            row["elapsed_s"] = round(now - self._started, 3)
            if self._last_total is not None:
                row["total_steps"] = self._last_total
            if self._last_eta is not None:
                row["eta_s"] = round(self._last_eta, 1)
            row.update(event.metrics)
            append_metrics(self.run_dir, row)
            self._pending.setdefault("metrics", {}).update(event.metrics)
            urgent = True
        elif event.kind == "overall":
            self._pending["overall"] = dict(event.metrics)
            urgent = True
        elif event.kind == "log" and event.message:
            append_log(self.run_dir, f"[{event.stage or self._stage or 'job'}] {event.message}")
            self._pending["message"] = event.message
        elif event.kind == "artifact" and event.path:
            add_artifacts(
                self.run_dir,
                [Artifact(path=event.path, type=self._artifact_type(event), name=event.message)],
            )
            append_log(self.run_dir, f"wrote {event.path}")
            urgent = True
        if self._pending and (urgent or now - self._last_write >= self.interval_s):
            self.flush()
        if self.raise_on_stop and self.stop_requested and self.stop_requested():
            self.flush()
            raise JobStopped("stop requested")

    def _artifact_type(self, event: ProgressEvent) -> Any:
        t = (event.metrics or {}).get("type")
        valid = ("dataset", "adapter", "eval_report", "export", "checkpoint", "file")
        if t in valid:
            return t
        return artifact_type_of(event.path or "", self.default_artifact_type)

    def _eta(self, event: ProgressEvent, now: float) -> float | None:
        if not event.total or event.step is None:
            return None
        done = event.step - self._stage_start_step
        if done <= 0:
            return None
        rate = (now - self._stage_started) / done
        return max(0.0, rate * (event.total - event.step))

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        metrics = pending.pop("metrics", None)
        with edit_status(self.run_dir) as st:
            apply_changes(st, pending)
            if metrics:
                st.metrics = {**st.metrics, **metrics}
        self._last_write = time.time()


def apply_changes(status: RunStatus, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(status, key, value)
