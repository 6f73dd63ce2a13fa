"""The worker: `python -m character.jobs.worker <run_dir> <token>` runs one attempt of a run.

It is started detached (own session and process group, output to log.txt), so it survives the
studio or the CLI that submitted it. It writes a heartbeat into status.json, records the final
state, and on exit calls `schedule()` so the next queued run starts without any daemon.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from character.io import DiskFullError, disk_full_error
from character.jobs.errors import JobStopped
from character.jobs.index import artifact_type_of, default_artifact_type, index_run
from character.jobs.models import ACTIVE_STATES, Artifact, RunState
from character.jobs.registry import JobContext, get_job_kind, validate_spec
from character.jobs.reporter import RunReporter
from character.jobs.store import (
    CONFIG,
    HOST,
    STOP_FLAG,
    add_artifacts,
    append_log,
    edit_status,
    read_spec_file,
    read_status,
    record_end_reason,
    reserve_end_reason,
)
from character.progress import Reporter


class Heartbeat:
    """Refreshes `heartbeat_at` while the job runs, so a frozen or vanished worker shows."""

    def __init__(self, run_dir: Path, token: str | None, interval_s: float) -> None:
        self.run_dir, self.token, self.interval_s = run_dir, token, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception), edit_status(self.run_dir) as st:
                if st.token == self.token and st.state in ACTIVE_STATES:
                    st.heartbeat_at = time.time()


def _artifacts_from_result(result: dict[str, Any], default_type: str) -> list[Artifact]:
    items: list[Artifact] = []
    for raw in result.get("artifacts") or []:
        if isinstance(raw, (str, Path)):
            kind = artifact_type_of(raw, default_type)
            items.append(Artifact(path=str(raw), type=kind))  # type: ignore[arg-type]
        elif isinstance(raw, dict) and raw.get("path"):
            data = {"type": artifact_type_of(raw["path"], default_type), **raw}
            data["path"] = str(raw["path"])
            with contextlib.suppress(ValueError):
                items.append(Artifact.model_validate(data))
    return items


def execute(run_dir: Path, token: str | None, *, tee: Reporter | None = None) -> RunState:
    """Run the job of a run folder in this process and record how it ended."""
    from character.jobs.scheduler import job_settings

    status = read_status(run_dir)
    reserve_end_reason(run_dir)
    stop_flag = run_dir / STOP_FLAG
    final, error, result = RunState.FAILED, None, {}
    heartbeat = Heartbeat(run_dir, token, job_settings().heartbeat_s)
    reporter: RunReporter | None = None
    try:
        spec = read_spec_file(run_dir / CONFIG)
        entry = get_job_kind(spec.kind)
        config = validate_spec(spec, str(run_dir / CONFIG))
        reporter = RunReporter(
            run_dir,
            stop_requested=stop_flag.exists,
            raise_on_stop=not entry.cooperative_stop,
            tee=tee,
            default_artifact_type=default_artifact_type(spec.kind),
        )
        ctx = JobContext(
            run_dir=run_dir,
            reporter=reporter,
            stop_requested=stop_flag.exists,
            resume=status.resume,
            run_id=status.run_id,
            resume_of=status.resume_of,
        )
        append_log(
            run_dir,
            f"attempt {status.attempt} of {spec.kind} started, pid {os.getpid()} on {HOST}"
            + (" (resuming)" if status.resume else ""),
        )
        heartbeat.start()
        result = entry.fn(config, ctx) or {}
        final = RunState.STOPPED if result.get("stopped") else RunState.SUCCEEDED
    except JobStopped:
        final = RunState.STOPPED
    except DiskFullError as exc:
        error = str(exc)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            error = str(disk_full_error(exc.filename or run_dir, exc))
        with contextlib.suppress(Exception):
            append_log(run_dir, "job failed:\n" + traceback.format_exc())
    except SystemExit as exc:
        error = f"the job called exit({exc.code})"
    except KeyboardInterrupt:
        error = "interrupted from the keyboard"
        final = RunState.INTERRUPTED
    finally:
        if heartbeat._thread.is_alive():
            heartbeat.stop()
    try:
        if reporter is not None:
            reporter.flush()
        items = _artifacts_from_result(result, default_artifact_type(status.kind))
        if items or result:
            summary = {k: v for k, v in result.items() if k != "artifacts"}
            add_artifacts(run_dir, items, summary)
    except DiskFullError as exc:
        final, error = RunState.FAILED, str(exc)
    except Exception as exc:
        final, error = RunState.FAILED, f"recording results failed: {exc}"
    with contextlib.suppress(Exception):
        index_run(run_dir)  # artifacts are queryable before the state says succeeded
    try:
        with edit_status(run_dir) as st:
            if st.token == token and st.state in ACTIVE_STATES:
                st.state = final
                st.finished_at = time.time()
                st.error = error
                st.eta_s = None
                if final == RunState.SUCCEEDED:
                    if st.total is not None:
                        st.step = st.total
                    st.message = "done"
                elif final == RunState.STOPPED:
                    st.message = "stopped and saved; resume to continue"
            final = st.state
    except OSError as exc:  # status.json cannot be written: leave the true reason instead
        problem = disk_full_error(run_dir / "status.json", exc)
        record_end_reason(
            run_dir,
            f"{error or f'the attempt ended {final.value}'}; its end could not be saved: {problem}",
        )
        final = RunState.FAILED
    with contextlib.suppress(OSError):
        stop_flag.unlink()
    with contextlib.suppress(Exception):
        append_log(run_dir, f"attempt ended: {final.value}" + (f" ({error})" if error else ""))
    with contextlib.suppress(Exception):
        index_run(run_dir)
    return final


def run_worker(run_dir: Path, token: str | None) -> int:
    import psutil

    with edit_status(run_dir) as st:
        ours = token is None or st.token == token
        mine = st.state == RunState.RUNNING and ours
        if st.state == RunState.STOPPING and ours and st.pid is None:
            # Stop was pressed between launch and this worker starting: nothing ran, so the
            # run is simply stopped (resumable) instead of waiting forever in "stopping".
            st.state = RunState.STOPPED
            st.finished_at = time.time()
            st.message = "stopped before it started; resume to run it"
        if mine:
            now = time.time()
            st.pid, st.pgid = os.getpid(), os.getpgrp()
            st.pid_started = psutil.Process().create_time()
            st.host, st.started_at, st.heartbeat_at = HOST, now, now
            st.message = "running"
    if not mine:
        print(f"run {run_dir.name} is not waiting for this worker; exiting", flush=True)
        return 0
    final = RunState.FAILED
    try:
        final = execute(run_dir, token)
    finally:
        from character.jobs.scheduler import schedule

        try:
            schedule()
        except Exception:  # the next poll or submit schedules instead
            traceback.print_exc()
    return 0 if final in (RunState.SUCCEEDED, RunState.STOPPED) else 1


def main(argv: list[str] | None = None) -> int:
    from character.redaction import redact_std_streams

    redact_std_streams()  # our stdout/stderr is log.txt: tracebacks and prints are redacted too
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m character.jobs.worker <run_dir> [token]", file=sys.stderr)
        return 2
    return run_worker(Path(args[0]).resolve(), args[1] if len(args) > 1 else None)


if __name__ == "__main__":
    sys.exit(main())
