"""The job runner's Python API: what the CLI and the studio call.

Every function works on run folders under `<data_path>/runs/`; none keeps state in memory, so
the studio can be restarted at any time and re-attach to runs by reading their folders.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from character.io import atomic_write_json, disk_full_error, iter_jsonl
from character.jobs.errors import JobError
from character.jobs.index import index_run
from character.jobs.models import (
    ACTIVE_STATES,
    JobSpec,
    RunProgress,
    RunState,
    RunStatus,
    progress_from_status,
)
from character.jobs.provenance import build_provenance
from character.jobs.registry import kind_resource, validate_spec
from character.jobs.store import (
    ARTIFACTS,
    HOST,
    LOG,
    METRICS,
    PROVENANCE,
    RUN_ID_PATTERN,
    STATUS,
    STOP_FLAG,
    RunNotFoundError,
    append_log,
    edit_status,
    list_run_dirs,
    read_end_reason,
    read_spec_file,
    read_status,
    redact,
    run_path,
    runs_root,
    write_spec,
    write_status,
)
from character.progress import Reporter
from character.redaction import redact_secrets
from character.settings import get_settings, settings_overridden, workspace_env


def _as_spec(spec: JobSpec | dict[str, Any] | str | Path) -> JobSpec:
    if isinstance(spec, JobSpec):
        return spec
    if isinstance(spec, dict):
        return JobSpec.model_validate(spec)
    return read_spec_file(Path(spec))


def _hint(spec: JobSpec, config: BaseModel) -> str | None:
    if spec.display_name:
        return spec.display_name
    for key in ("persona", "constitution", "name", "save_name"):
        value = getattr(config, key, None)
        if isinstance(value, str) and value:
            return Path(value).stem
    return None


def _create_run(spec: JobSpec, config: BaseModel, **initial: Any) -> tuple[Path, RunStatus]:
    """Write a complete run folder under a hidden name, then rename it into place, so no
    reader (another studio, the scheduler) ever sees a half-written run."""
    root = runs_root()
    run_id = None
    for _ in range(5):
        candidate = _new_id(spec, config)
        if not (root / candidate).exists():
            run_id = candidate
            break
    if run_id is None:
        raise JobError("could not find a unique run id")
    staging = root / f".creating-{run_id}"
    try:
        return _fill_run_folder(staging, root / run_id, run_id, spec, config, initial)
    except OSError as exc:  # a full disk: no half-made folder stays behind
        shutil.rmtree(staging, ignore_errors=True)
        err = disk_full_error(exc.filename or staging, exc)
        if err is exc:
            raise
        raise err from exc


def _fill_run_folder(
    staging: Path,
    run_dir: Path,
    run_id: str,
    spec: JobSpec,
    config: BaseModel,
    initial: dict[str, Any],
) -> tuple[Path, RunStatus]:
    staging.mkdir(parents=True)
    full = spec.model_copy(update={"config": config.model_dump(mode="json")})
    write_spec(staging, full)
    config_json = redact(full.config)
    atomic_write_json(staging / PROVENANCE, build_provenance(spec.kind, config_json, run_id))
    atomic_write_json(staging / ARTIFACTS, {"artifacts": [], "result": {}})
    now = time.time()
    fields: dict[str, Any] = {
        "run_id": run_id,
        "kind": spec.kind,
        "display_name": spec.display_name or run_id,
        "state": RunState.QUEUED,
        "resource": spec.resource or kind_resource(spec.kind),
        "resume_of": spec.resume_of,
        "cwd": os.getcwd(),
        "created_at": now,
        "queued_at": now,
    }
    if settings_overridden():
        # made in a workspace (a classroom user's): the worker gets its folders, and runs in
        # it, so relative outputs land in the workspace and not next to other users' ones
        workspace = get_settings()
        fields["settings_env"] = workspace_env(workspace)
        fields["cwd"] = str(Path(workspace.data_path).resolve())
    fields.update(initial)
    st = RunStatus(**fields)
    write_status(staging, st)
    append_log(staging, f"created {spec.kind} run {run_id}")
    os.rename(staging, run_dir)
    return run_dir, st


def _new_id(spec: JobSpec, config: BaseModel) -> str:
    from character.jobs.store import new_run_id

    return new_run_id(spec.kind, _hint(spec, config))


def validate(spec: JobSpec | dict[str, Any] | str | Path) -> BaseModel:
    """Check a job spec without starting anything; `JobConfigError` lists every problem."""
    parsed = _as_spec(spec)
    return validate_spec(parsed, str(spec) if isinstance(spec, (str, Path)) else "config")


def submit(spec: JobSpec | dict[str, Any] | str | Path, *, start: bool = True) -> str:
    """Validate, write the run folder, queue it and start it if a slot is free."""
    parsed = _as_spec(spec)
    config = validate_spec(parsed, str(spec) if isinstance(spec, (str, Path)) else "config")
    run_dir, _ = _create_run(parsed, config)
    with contextlib.suppress(Exception):
        index_run(run_dir)
    if start:
        from character.jobs.scheduler import schedule

        # The run is saved and queued; if the queue cannot be updated now (a full disk), the
        # next submit, poll or `jobs list` starts it.
        with contextlib.suppress(OSError):
            schedule()
    return run_dir.name


def run_foreground(
    spec: JobSpec | dict[str, Any] | str | Path, *, reporter: Reporter | None = None
) -> RunStatus:
    """Run a job in this process (the CLI's `jobs run`), still recording a full run folder.

    It does not wait for a queue slot: the user asked for it now, in this terminal.
    """
    import psutil

    from character.jobs.worker import execute

    parsed = _as_spec(spec)
    config = validate_spec(parsed, str(spec) if isinstance(spec, (str, Path)) else "config")
    token = secrets.token_hex(8)
    now = time.time()
    run_dir, _ = _create_run(
        parsed,
        config,
        state=RunState.RUNNING,
        token=token,
        attempt=1,
        pid=os.getpid(),
        pgid=None,  # the terminal's process group is not ours to kill
        pid_started=psutil.Process().create_time(),
        host=HOST,
        launched_at=now,
        started_at=now,
        heartbeat_at=now,
    )
    with contextlib.suppress(Exception):
        index_run(run_dir)
    try:
        final = execute(run_dir, token, tee=reporter)
    finally:
        from character.jobs.scheduler import schedule

        with contextlib.suppress(Exception):
            schedule()  # this run held a slot; queued runs may start now
    st = read_status(run_dir)
    if st.state in ACTIVE_STATES:  # its end could not be saved (a full disk); say how it ended
        st.state = final if final not in ACTIVE_STATES else RunState.FAILED
        st.error = read_end_reason(run_dir) or "the run ended but status.json could not be saved"
        st.finished_at = time.time()
    return st


def list_runs(
    *, state: RunState | str | None = None, kind: str | None = None, limit: int | None = None
) -> list[RunStatus]:
    """Runs, newest first, read from their folders (never raises for a bad folder)."""
    out: list[RunStatus] = []
    for run_dir in list_run_dirs():
        try:
            st = _as_it_ended(run_dir, read_status(run_dir))
        except Exception:  # a folder we cannot read at all is skipped, not fatal
            continue
        if state is not None and st.state != RunState(state):
            continue
        if kind is not None and not (st.kind == kind or st.kind.startswith(kind + ".")):
            continue
        out.append(st)
    out.sort(key=lambda s: s.created_at, reverse=True)
    return out[:limit] if limit else out


def _as_it_ended(run_dir: Path, st: RunStatus) -> RunStatus:
    """An active status whose worker is gone but left an end reason (it could not write
    status.json, e.g. on a full disk) reads as failed with that reason, never as running."""
    if st.state not in ACTIVE_STATES or not read_end_reason(run_dir):
        return st
    from character.jobs.scheduler import end_dead_run, process_alive

    if not process_alive(st):
        end_dead_run(run_dir, st)
    return st


def get_run(run_id: str) -> RunStatus:
    path = run_path(run_id)
    return _as_it_ended(path, read_status(path))


def run_dir(run_id: str) -> Path:
    return run_path(run_id)


def get_spec(run_id: str) -> JobSpec:
    """The run's full job spec (for "clone run" or showing the CLI command)."""
    return read_spec_file(run_path(run_id) / "config.yaml")


def read_progress(run_id: str) -> RunProgress:
    """Cheap enough to poll every second: reads status.json and nothing else."""
    if not RUN_ID_PATTERN.match(run_id):
        raise RunNotFoundError(run_id)
    path = runs_root() / run_id / STATUS
    try:
        st = _as_it_ended(path.parent, RunStatus.model_validate_json(path.read_bytes()))
    except (OSError, ValueError):
        st = read_status(run_path(run_id))
    progress = progress_from_status(st)
    # what the studio shows: a status.json from before redaction may still quote a key
    progress.message = redact_secrets(progress.message or "") or progress.message
    progress.error = redact_secrets(progress.error or "") or progress.error
    return progress


def read_metrics(run_id: str, *, since_line: int = 0) -> list[dict[str, Any]]:
    """Rows of metrics.jsonl (a torn last line is skipped, never fatal)."""
    path = run_path(run_id) / METRICS
    if not path.exists():
        return []
    return [row for n, row in iter_jsonl(path, skip_bad=True) if n > since_line]


def tail_log(run_id: str, lines: int = 200) -> str:
    path = run_path(run_id) / LOG
    if not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 256 * 1024))
        data = fh.read().decode("utf-8", errors="replace")
    # log.txt is written redacted; this also covers logs written before that, and other hands
    return redact_secrets("\n".join(data.splitlines()[-lines:]))


def follow_log(run_id: str, poll_s: float = 0.5) -> Iterator[str]:
    """Yield new log text until the run reaches a final state."""
    path = run_path(run_id) / LOG
    pos = 0
    while True:
        if path.exists():
            with open(path, "rb") as fh:
                fh.seek(pos)
                chunk = fh.read()
                pos = fh.tell()
            if chunk:
                yield redact_secrets(chunk.decode("utf-8", errors="replace"))
        st = read_status(path.parent)
        if st.state not in ACTIVE_STATES and st.state != RunState.QUEUED:
            break
        time.sleep(poll_s)


def cancel(run_id: str, *, grace_s: float | None = None) -> RunStatus:
    """Discard a queued or running run: kill its whole process group (no orphans)."""
    from character.jobs.scheduler import job_settings, kill_group, schedule

    path = run_path(run_id)
    with edit_status(path) as st:
        previous = st.state
        pid, pgid, host = st.pid, st.pgid, st.host
        if st.state in ACTIVE_STATES and host not in (None, HOST):
            raise JobError(f"run {run_id} runs on {host}; cancel it from that machine")
        if st.state == RunState.QUEUED or st.state in ACTIVE_STATES:
            st.state = RunState.CANCELLED
            st.finished_at = time.time()
            st.queue_position = None
            st.eta_s = None
            st.message = "cancelled"
    if previous in ACTIVE_STATES:
        grace = job_settings().cancel_grace_s if grace_s is None else grace_s
        if not kill_group(pgid, pid, grace):
            append_log(path, f"cancel: processes of group {pgid} survived SIGKILL")
    if previous != RunState.CANCELLED:
        append_log(path, f"cancelled (was {previous.value})")
    with contextlib.suppress(OSError):
        (path / STOP_FLAG).unlink()
    with contextlib.suppress(Exception):
        index_run(path)
    schedule()
    return read_status(path)


def request_stop(run_id: str) -> RunStatus:
    """Stop-and-save: the job finishes its step, saves, and ends as `stopped` (resumable)."""
    path = run_path(run_id)
    with edit_status(path) as st:
        if st.state in ACTIVE_STATES:
            (path / STOP_FLAG).write_text(str(time.time()), encoding="utf-8")
            st.state = RunState.STOPPING
            st.message = "stopping after the current step"
        elif st.state == RunState.QUEUED:
            st.state = RunState.STOPPED
            st.queue_position = None
            st.message = "stopped before it started; resume to queue it again"
    append_log(path, "stop requested")
    return read_status(path)


def resume(run_id: str, *, start: bool = True) -> RunStatus:
    """Queue a new attempt in the same folder with `resume=True` (last checkpoint/row)."""
    from character.jobs.scheduler import reconcile, schedule

    reconcile(start_queued=False)
    path = run_path(run_id)
    with edit_status(path) as st:
        if not st.resumable:
            raise JobError(
                f"run {run_id} is {st.state.value}; only stopped, interrupted or failed runs "
                "can be resumed"
            )
        now = time.time()
        st.state = RunState.QUEUED
        st.resume = True
        st.queued_at = now
        st.finished_at = None
        st.error = None
        st.token = None
        st.pid = st.pgid = None
        st.eta_s = None
        st.recovered = False
        st.message = "queued to resume"
    with contextlib.suppress(OSError):
        (path / STOP_FLAG).unlink()
    append_log(path, "queued to resume")
    if start:
        schedule()
    return read_status(path)


def wait(run_id: str, timeout_s: float | None = None, poll_s: float = 0.25) -> RunStatus:
    """Block until the run is no longer queued or running (scripts, tests, notebooks)."""
    from character.jobs.scheduler import schedule

    deadline = None if timeout_s is None else time.time() + timeout_s
    last_schedule = 0.0
    while True:
        st = get_run(run_id)
        if st.state not in ACTIVE_STATES and st.state != RunState.QUEUED:
            return st
        if deadline is not None and time.time() > deadline:
            raise TimeoutError(f"run {run_id} is still {st.state.value} after {timeout_s}s")
        if time.time() - last_schedule > 5:  # nobody else may be scheduling (no daemon)
            schedule()
            last_schedule = time.time()
        time.sleep(poll_s)


def delete_run(run_id: str) -> None:
    """Remove a finished run's folder and its index rows; refuses queued or active runs."""
    import shutil

    from character.jobs.index import connect

    path = run_path(run_id)
    with edit_status(path) as st:
        if st.state in ACTIVE_STATES or st.state == RunState.QUEUED:
            raise JobError(f"run {run_id} is {st.state.value}; cancel it before deleting it")
        st.state = RunState.CANCELLED  # a half-deleted folder never looks resumable
        st.message = "being deleted"
    trash = path.with_name(f".deleted-{run_id}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)
    with contextlib.suppress(Exception), connect() as conn:
        for table in ("runs", "artifacts", "inputs"):
            conn.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))


def rename(run_id: str, display_name: str) -> RunStatus:
    """Change the editable display name (the run id never changes)."""
    name = display_name.strip()
    if not name:
        raise JobError("a display name cannot be empty")
    path = run_path(run_id)
    with edit_status(path) as st:
        st.display_name = name
    with contextlib.suppress(Exception):
        spec = read_spec_file(path / "config.yaml")
        write_spec(path, spec.model_copy(update={"display_name": name}))
    with contextlib.suppress(Exception):
        index_run(path)
    return read_status(path)


__all__ = [
    "RunNotFoundError",
    "cancel",
    "delete_run",
    "follow_log",
    "get_run",
    "get_spec",
    "list_runs",
    "read_metrics",
    "read_progress",
    "rename",
    "request_stop",
    "resume",
    "run_dir",
    "run_foreground",
    "submit",
    "tail_log",
    "validate",
    "wait",
]
