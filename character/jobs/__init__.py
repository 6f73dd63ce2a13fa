"""Jobs: every long action runs as a run folder plus a detached worker.

Importing this package never imports torch; job kinds import their modules only when used.

Typical use (the studio and the CLI do exactly this)::

    from character.jobs import submit, read_progress, schedule, reconcile
    reconcile()                                   # once at app start: dead workers -> interrupted
    run_id = submit({"kind": "distill.generate", "config": {"persona": "pirate"}})
    p = read_progress(run_id)                     # cheap: reads status.json only
    p.state, p.stage, p.step, p.total, p.fraction, p.eta_s, p.metrics, p.queue_position
    schedule()                                    # call on each poll too: no daemon needed
    request_stop(run_id); resume(run_id); cancel(run_id)

A run lives in `<data_path>/runs/<run_id>/`: config.yaml (re-run it with
`character jobs submit`), status.json, metrics.jsonl, log.txt, artifacts.json, provenance.json.
New built-in kinds: a row in `registry.BUILTIN_KINDS` naming the module, config and function
(`fn(config, ctx) -> dict` in a `character/<area>/jobs.py`, or a library function); imported on
demand, and an import error names the kind and the module. `register_job_kind(kind,
ConfigModel, fn)` adds a kind at run time (tests, an application's own kinds).
"""

from character.jobs.api import (
    RunNotFoundError,
    cancel,
    delete_run,
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
    wait,
)
from character.jobs.errors import (
    JobConfigError,
    JobError,
    JobKindImportError,
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
    "JobKindImportError",
    "JobKindUnavailableError",
    "JobSpec",
    "JobStopped",
    "RunNotFoundError",
    "RunProgress",
    "RunState",
    "RunStatus",
    "UnknownJobKindError",
    "cancel",
    "delete_run",
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
    "wait",
]
