"""Structured progress events: the one way long work reports what it is doing.

Library functions take an optional `reporter`; the CLI renders events as progress bars, the job
worker writes them to the run folder (status.json / metrics.jsonl) for the studio to poll.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field


class ProgressEvent(BaseModel):
    """One update. `kind` is `stage` (a new stage starts), `progress` (step/total moved),
    `metrics` (a row of numbers for metrics.jsonl), `log` (a line of text), `artifact`
    (a file or folder was produced) or `overall` (a multi-stage run's position, in metrics)."""

    kind: str
    stage: str | None = None
    step: int | None = None
    total: int | None = None
    metrics: dict[str, float | int | str | None] = Field(default_factory=dict)
    message: str | None = None
    path: str | None = None
    time: float = Field(default_factory=time.time)


Reporter = Callable[[ProgressEvent], None]


class Progress:
    """A thin helper around a reporter with convenience methods and ETA bookkeeping."""

    def __init__(self, reporter: Reporter | None = None) -> None:
        self.reporter = reporter
        self.stage: str | None = None

    def emit(self, event: ProgressEvent) -> None:
        if self.reporter is not None:
            self.reporter(event)

    def start_stage(self, stage: str, total: int | None = None, message: str | None = None) -> None:
        self.stage = stage
        self.emit(ProgressEvent(kind="stage", stage=stage, total=total, step=0, message=message))

    def advance(self, step: int, total: int | None, **metrics: Any) -> None:
        self.emit(
            ProgressEvent(
                kind="progress", stage=self.stage, step=step, total=total, metrics=metrics
            )
        )

    def metrics(self, step: int | None = None, **metrics: Any) -> None:
        self.emit(ProgressEvent(kind="metrics", stage=self.stage, step=step, metrics=metrics))

    def log(self, message: str) -> None:
        self.emit(ProgressEvent(kind="log", stage=self.stage, message=message))

    def overall(self, position: dict[str, Any]) -> None:
        """Where a multi-stage run stands (stage k of n, estimates); see stage_estimates."""
        self.emit(ProgressEvent(kind="overall", stage=self.stage, metrics=position))

    def artifact(self, path: str, message: str | None = None) -> None:
        self.emit(ProgressEvent(kind="artifact", stage=self.stage, path=path, message=message))


def as_progress(reporter: Reporter | Progress | None) -> Progress:
    if isinstance(reporter, Progress):
        return reporter
    return Progress(reporter)


class RichBarReporter:
    """Renders events as rich progress bars with ETA on a terminal (the CLI's default)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._started = False

    def __call__(self, event: ProgressEvent) -> None:
        if not self._started:
            self._bar.start()
            self._started = True
        stage = event.stage or "work"
        if event.kind in ("stage", "progress"):
            if stage not in self._tasks:
                self._tasks[stage] = self._bar.add_task(stage, total=event.total, info="")
            info = " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in list(event.metrics.items())[:4]
            )
            self._bar.update(
                self._tasks[stage], completed=event.step or 0, total=event.total, info=info
            )
        elif event.kind == "log" and event.message:
            self._bar.console.print(event.message, highlight=False, markup=False)
        elif event.kind == "artifact" and event.path:
            self._bar.console.print(f"wrote {event.path}", highlight=False, markup=False)

    def close(self) -> None:
        if self._started:
            self._bar.stop()
            self._started = False


def print_reporter(event: ProgressEvent) -> None:
    """Plain-text reporter for logs and non-interactive output."""
    if event.kind == "progress":
        print(f"[{event.stage}] {event.step}/{event.total} {event.metrics}", file=sys.stderr)
    elif event.kind in ("stage", "log", "artifact"):
        print(f"[{event.stage}] {event.message or event.path or ''}", file=sys.stderr)
