"""Starting detached workers, FIFO with per-class limits, without an always-on daemon.

Every submit, every worker exit and every studio poll calls `schedule()`. It takes an fcntl
lock on the data folder, marks runs whose process is gone as interrupted, and starts queued
runs while their class (train / generate / light) has a free slot. The lock makes two app
instances on one data folder safe: a run moves from queued to running exactly once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from character.io import disk_full_error
from character.jobs.models import ACTIVE_STATES, RunState, RunStatus
from character.jobs.store import (
    HOST,
    LOG,
    append_log,
    edit_status,
    file_lock,
    list_run_dirs,
    read_end_reason,
    read_status,
    reserve_end_reason,
    runs_root,
)
from character.settings import REPO_ROOT, WORKSPACE_ENV

LAUNCH_GRACE_S = 30.0


class JobSettings(BaseSettings):
    """Queue limits and timings (environment or `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    max_training_jobs: int = Field(default=1, ge=1, alias="CHARACTER_MAX_TRAINING_JOBS")
    max_generation_jobs: int = Field(default=1, ge=1, alias="CHARACTER_MAX_GENERATION_JOBS")
    max_light_jobs: int = Field(default=2, ge=1, alias="CHARACTER_MAX_LIGHT_JOBS")
    heartbeat_s: float = Field(default=2.0, gt=0, alias="CHARACTER_JOB_HEARTBEAT_S")
    stale_s: float = Field(default=120.0, gt=0, alias="CHARACTER_JOB_STALE_S")
    cancel_grace_s: float = Field(default=5.0, ge=0, alias="CHARACTER_JOB_CANCEL_GRACE_S")
    max_jobs_per_user: int | None = Field(
        default=None,
        ge=1,
        alias="CHARACTER_MAX_JOBS_PER_USER",
        description="Active runs one user (workspace) may have at once; more wait queued in "
        "order while other users' runs start. None: no per-user limit.",
    )
    queue_group: Path | None = Field(
        default=None,
        alias="CHARACTER_JOB_QUEUE_GROUP",
        description="A folder of user workspaces (`<group>/<user>/runs/`) that share one "
        "queue: the class limits and the per-user limit count across all of them.",
    )

    def limits(self) -> dict[str, int]:
        return {
            "train": self.max_training_jobs,
            "generate": self.max_generation_jobs,
            "light": self.max_light_jobs,
        }


def job_settings() -> JobSettings:
    return JobSettings()


# Workers this process started: polled so they never linger as zombies (a zombie's pid still
# answers kill(pid, 0), which would make a finished run look alive).
_CHILDREN: dict[int, subprocess.Popen] = {}


def reap_children() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)


def process_alive(st: RunStatus, stale_s: float | None = None) -> bool:
    """Is the worker of an active run still there? Same host: by pid (and its start time, so a
    reused pid does not count); another host sharing the folder: by heartbeat age."""
    reap_children()
    now = time.time()
    if st.host and st.host != HOST:
        stale = stale_s or job_settings().stale_s
        return st.heartbeat_at is not None and now - st.heartbeat_at < stale
    if st.pid is None:
        return st.launched_at is not None and now - st.launched_at < LAUNCH_GRACE_S
    try:
        proc = psutil.Process(st.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not (st.pid_started and abs(proc.create_time() - st.pid_started) > 1.0)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the process group?"""
    reap_children()
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getpgid(proc.info["pid"]) == pgid:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


def kill_group(pgid: int | None, pid: int | None, grace_s: float) -> bool:
    """SIGTERM the whole group, SIGKILL what is left after `grace_s`. True when none is left."""
    if pgid is None and pid is None:
        return True
    if pgid is not None and pgid == os.getpgrp():
        pgid = None  # never signal our own group (a foreground run shares the terminal's)

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pgid is not None:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)  # type: ignore[arg-type]

    def alive() -> bool:
        if pgid is not None:
            return group_alive(pgid)
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # type: ignore[arg-type]
        except psutil.Error:
            return False

    send(signal.SIGTERM)
    deadline = time.time() + grace_s
    while time.time() < deadline:
        if not alive():
            return True
        time.sleep(0.05)
    send(signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if not alive():
            return True
        time.sleep(0.05)
    return not alive()


DISK_FULL_FREE_BYTES = 1 << 20


def _disk_free(run_dir: Path) -> int | None:
    try:
        return shutil.disk_usage(run_dir).free
    except OSError:
        return None


def end_dead_run(run_dir: Path, st: RunStatus) -> None:
    """Record why an active run's worker is gone, as truly as the folder can tell."""
    st.finished_at = time.time()
    st.eta_s = None
    reason = read_end_reason(run_dir)
    free = _disk_free(run_dir)
    if reason:  # the worker could not write status.json, but left this
        st.state = RunState.FAILED
        st.error = reason
    elif free is not None and free < DISK_FULL_FREE_BYTES:
        st.state = RunState.INTERRUPTED
        st.error = (
            f"The worker (pid {st.pid}) is gone and the disk holding {run_dir} is full "
            f"({free} bytes free): it most likely stopped with 'No space left on device'. "
            "Free some space and resume the run."
        )
    elif st.started_at is None or (st.launched_at and st.started_at < st.launched_at):
        st.state = RunState.INTERRUPTED
        st.error = (
            f"The worker (pid {st.pid}) exited before the job started; log.txt says "
            "why. Resume the run to try again."
        )
    else:
        st.state = RunState.INTERRUPTED
        st.error = (
            f"The worker (pid {st.pid} on {st.host}) is gone: it was killed or the "
            "machine restarted. Resume the run to continue from its last save."
        )


def _mark_interrupted_if_dead(run_dir: Path, stale_s: float) -> RunStatus:
    with edit_status(run_dir) as st:
        if st.state in ACTIVE_STATES and not process_alive(st, stale_s):
            end_dead_run(run_dir, st)
            with contextlib.suppress(OSError):
                append_log(run_dir, f"worker process is gone: marked {st.state.value}")
        return st


def reconcile_dirs(run_dirs: list[Path], stale_s: float) -> list[RunStatus]:
    """Current statuses, with dead workers' runs ended. When the ending cannot be saved (a full
    disk), the status is still reported as it is, not as running."""
    out = []
    for run_dir in run_dirs:
        st = read_status(run_dir)
        if st.state in ACTIVE_STATES and not process_alive(st, stale_s):
            try:
                st = _mark_interrupted_if_dead(run_dir, stale_s)
            except OSError:
                end_dead_run(run_dir, st)
        out.append(st)
    return out


def reconcile(*, start_queued: bool = True) -> list[str]:
    """Mark runs whose worker is gone as interrupted (returns their ids), then start queued
    runs whose slot that freed: call it at app start and on the studio's polls."""
    cfg = job_settings()
    with file_lock(runs_root() / ".scheduler.lock"):
        before = {d.name: read_status(d).state for d in list_run_dirs()}
        after = reconcile_dirs(list_run_dirs(), cfg.stale_s)
    if start_queued:
        schedule()
    return [
        s.run_id
        for s in after
        if s.state == RunState.INTERRUPTED and before.get(s.run_id) in ACTIVE_STATES
    ]


def queue_lock(cfg: JobSettings) -> Path:
    """One lock per queue: the queue group's when users share one, else the data folder's."""
    if cfg.queue_group is not None:
        group = Path(cfg.queue_group).expanduser().resolve()
        group.mkdir(parents=True, exist_ok=True)
        return group / ".scheduler.lock"
    return runs_root() / ".scheduler.lock"


def queue_members(cfg: JobSettings) -> list[tuple[str, Path]]:
    """Every (user, run folder) in this queue: the current data folder's runs (user ""), and,
    with a queue group, each workspace's runs in it (user = the workspace's folder name)."""
    if cfg.queue_group is None:
        return [("", d) for d in list_run_dirs()]
    group = Path(cfg.queue_group).expanduser().resolve()
    members: dict[Path, str] = {}
    for user_dir in sorted(p for p in group.iterdir() if p.is_dir()):
        if (user_dir / "runs").is_dir():
            for d in list_run_dirs(user_dir):
                members[d] = user_dir.name
    for d in list_run_dirs():  # the current folder, when it is not one of the group's
        members.setdefault(d, "")
    return [(user, d) for d, user in members.items()]


def schedule() -> list[str]:
    """Start queued runs while slots are free (FIFO per class, at most
    `max_jobs_per_user` active per user); returns the ids started."""
    cfg = job_settings()
    limits = cfg.limits()
    per_user = cfg.max_jobs_per_user
    started: list[str] = []
    reap_children()
    with file_lock(queue_lock(cfg)):
        members = queue_members(cfg)
        dirs = [d for _, d in members]
        owner_of = {d: user for user, d in members}
        statuses = reconcile_dirs(dirs, cfg.stale_s)
        entries = list(zip(dirs, statuses, strict=True))
        active = [(d, s) for d, s in entries if s.state in ACTIVE_STATES]
        running = Counter(s.resource for _, s in active)
        by_user = Counter(owner_of[d] for d, _ in active)
        queued = sorted(
            ((d, s) for d, s in entries if s.state == RunState.QUEUED),
            key=lambda e: (e[1].queued_at or e[1].created_at, e[1].run_id),
        )
        position = 0
        for run_dir, st in queued:
            user = owner_of[run_dir]
            try:
                if (
                    running[st.resource] < limits.get(st.resource, 1)
                    and (per_user is None or by_user[user] < per_user)
                    and launch(run_dir)
                ):
                    running[st.resource] += 1
                    by_user[user] += 1
                    started.append(st.run_id)
                    continue
            except OSError as exc:  # a full disk: the run stays queued; say why in the log
                with contextlib.suppress(OSError):
                    append_log(run_dir, f"could not start: {disk_full_error(run_dir, exc)}")
            position += 1
            if st.queue_position != position:
                with contextlib.suppress(OSError), edit_status(run_dir) as fresh:
                    if fresh.state == RunState.QUEUED:
                        fresh.queue_position = position
    return started


def launch(run_dir: Path) -> bool:
    """Move a queued run to running and start its detached worker (caller holds the lock)."""
    token = secrets.token_hex(8)
    with edit_status(run_dir) as st:
        if st.state != RunState.QUEUED:
            return False
        st.state = RunState.RUNNING
        st.token = token
        st.launched_at = time.time()
        st.host = HOST
        st.pid = st.pgid = st.pid_started = None
        st.queue_position = None
        st.attempt += 1
        st.error = None
        st.finished_at = None
        st.heartbeat_at = None
        st.message = "starting"
        cwd = st.cwd
        workspace = {k: v for k, v in st.settings_env.items() if k in WORKSPACE_ENV}
    env = os.environ.copy()
    env.update(workspace)  # a workspace's run sees that workspace's folders
    env["PYTHONUNBUFFERED"] = "1"
    env["CHARACTER_DATA_PATH"] = str(run_dir.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if not cwd or not Path(cwd).is_dir():
        cwd = str(run_dir)
    reserve_end_reason(run_dir)  # a reason left by an earlier attempt is not this one's
    try:
        with open(run_dir / LOG, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "character.jobs.worker", str(run_dir), token],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                close_fds=True,
            )
    except OSError as exc:
        with edit_status(run_dir) as st:
            if st.token == token:
                st.state = RunState.FAILED
                st.finished_at = time.time()
                st.error = f"could not start the worker: {exc}"
        return False
    _CHILDREN[proc.pid] = proc
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = None
    with edit_status(run_dir) as st:
        if st.token == token and st.pid is None:
            st.pid, st.pgid, st.pid_started = proc.pid, proc.pid, created
    return True
