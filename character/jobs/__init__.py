"""Jobs: every long action runs as a run folder plus a detached worker.

Importing this package never imports torch; job kinds import their modules only when used.
"""

from character.jobs.api import (
    RunNotFoundError,
    cancel,
    follow_log,
    get_run,
    get_spec,
    list_runs,
    read_metrics,
    read_progress,
    rename,
    request_stop,
    resume,
    run_dir,
    run_foreground,
    submit,
    tail_log,
    validate,
)
from character.jobs.errors import (
    JobConfigError,
    JobError,
    JobKindUnavailableError,
    JobStopped,
    UnknownJobKindError,
)
from character.jobs.index import lineage, list_artifacts, rebuild_index, runs_using
from character.jobs.models import JobSpec, RunProgress, RunState, RunStatus
from character.jobs.registry import JobContext, list_job_kinds, register_job_kind
from character.jobs.scheduler import reconcile, schedule

__all__ = [
    "JobConfigError",
    "JobContext",
    "JobError",
    "JobKindUnavailableError",
    "JobSpec",
    "JobStopped",
    "RunNotFoundError",
    "RunProgress",
    "RunState",
    "RunStatus",
    "UnknownJobKindError",
    "cancel",
    "follow_log",
    "get_run",
    "get_spec",
    "lineage",
    "list_artifacts",
    "list_job_kinds",
    "list_runs",
    "read_metrics",
    "read_progress",
    "rebuild_index",
    "reconcile",
    "register_job_kind",
    "rename",
    "request_stop",
    "resume",
    "run_dir",
    "run_foreground",
    "runs_using",
    "schedule",
    "submit",
    "tail_log",
    "validate",
]
