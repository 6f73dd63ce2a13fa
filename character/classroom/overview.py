"""What the instructor sees: every student's runs, and one run's numbers for the projector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from character.classroom.errors import ClassroomError
from character.classroom.store import load_roster
from character.classroom.workspace import open_workspace, workspace_settings
from character.jobs.models import RunProgress, RunStatus
from character.settings import use_settings


class StudentRuns(BaseModel):
    """One row of the class overview."""

    user: str
    display_name: str
    joined_at: float
    last_seen_at: float
    runs: list[RunStatus] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for run in self.runs:
            out[run.state.value] = out.get(run.state.value, 0) + 1
        return out


def class_overview(class_dir: Path, *, runs_per_student: int = 50) -> list[StudentRuns]:
    """Every student on the roster with their newest runs, read from their workspaces."""
    from character.jobs import list_runs

    out = []
    for record in sorted(load_roster(class_dir).students.values(), key=lambda r: r.name):
        ws = open_workspace(class_dir, record.name)
        with use_settings(workspace_settings(ws)):
            runs = list_runs(limit=runs_per_student)
        out.append(
            StudentRuns(
                user=record.name,
                display_name=record.display_name,
                joined_at=record.joined_at,
                last_seen_at=record.last_seen_at,
                runs=runs,
            )
        )
    return out


class StudentRunView(BaseModel):
    """A run as the projector shows it: whose, its progress and its metric rows."""

    user: str
    display_name: str
    progress: RunProgress
    metrics: list[dict[str, Any]]


def read_student_run(class_dir: Path, user: str, run_id: str) -> StudentRunView:
    """One student's run, for the instructor (the caller checked the session's role)."""
    from character.jobs import read_metrics, read_progress
    from character.jobs.store import RunNotFoundError

    roster = load_roster(class_dir)
    record = roster.students.get(user)
    if record is None:
        raise ClassroomError(f"No student {user!r} in this class.")
    with use_settings(workspace_settings(open_workspace(class_dir, user))):
        try:
            progress = read_progress(run_id)
            metrics = read_metrics(run_id)
        except RunNotFoundError as exc:
            raise ClassroomError(f"{record.display_name} has no run {run_id!r}.") from exc
    return StudentRunView(
        user=user, display_name=record.display_name, progress=progress, metrics=metrics
    )
