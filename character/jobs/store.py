"""Run folders on disk: ids, locks, and atomic reads/writes of the files in a run folder.

Several processes touch one `status.json` (the worker's reporter and heartbeat, the scheduler,
cancel/rename from the studio), so every change is a read-modify-write under an fcntl lock on
the run folder; readers never lock because writes are atomic renames.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from character.io import append_jsonl, atomic_write_json, atomic_write_text, iter_jsonl
from character.jobs.models import Artifact, Artifacts, JobSpec, RunState, RunStatus
from character.redaction import SECRET_NAME, redact_data, redact_secrets
from character.settings import get_settings

RUN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,150}$")
STATUS = "status.json"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
LOG = "log.txt"
ARTIFACTS = "artifacts.json"
PROVENANCE = "provenance.json"
STOP_FLAG = "stop.flag"
SECRET_KEY = SECRET_NAME

HOST = socket.gethostname()


class RunNotFoundError(KeyError):
    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"no run named {self.run_id!r} (see `character jobs list`)"


def data_root() -> Path:
    return Path(get_settings().data_path).expanduser().resolve()


def runs_root(data_path: Path | None = None) -> Path:
    root = (Path(data_path).resolve() if data_path else data_root()) / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_path(run_id: str, data_path: Path | None = None) -> Path:
    """The folder of a run; refuses ids that could escape the runs folder."""
    if not RUN_ID_PATTERN.match(run_id):
        raise RunNotFoundError(run_id)
    path = runs_root(data_path) / run_id
    if not (path / CONFIG).exists() and not (path / STATUS).exists():
        raise RunNotFoundError(run_id)
    return path


def slugify(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "run"


def new_run_id(kind: str, hint: str | None = None, now: float | None = None) -> str:
    """`distill-train-pirate-20261123-112233-ab12`: readable, sortable, unique."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    parts = [slugify(kind)]
    if hint:
        parts.append(slugify(hint, 24))
    return f"{'-'.join(parts)}-{stamp}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (fcntl), released when the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def run_lock(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    return file_lock(run_dir / ".lock")


def redact(value: Any) -> Any:
    """Drop anything that looks like a secret before it reaches disk: values of key-like
    fields, and configured secret values wherever they appear in a string."""
    if isinstance(value, dict):
        return {
            k: ("<redacted>" if SECRET_KEY.search(str(k)) and v else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_secrets(value)
    return value


def write_spec(run_dir: Path, spec: JobSpec) -> None:
    data = spec.model_dump(mode="json", exclude_none=True)
    data["config"] = redact(data.get("config", {}))
    header = (
        "# A job config: run it again with `character jobs submit <this file>`\n"
        "# (or `character jobs run` to run it in the foreground).\n"
    )
    atomic_write_text(
        run_dir / CONFIG, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )


def read_spec_file(path: Path) -> JobSpec:
    """Load a job YAML; errors name the file and, for YAML syntax, the line."""
    from character.jobs.errors import JobConfigError

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobConfigError(str(path), ["file does not exist"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise JobConfigError(str(path), [f"{where}invalid YAML ({exc})"]) from exc
    if not isinstance(raw, dict):
        raise JobConfigError(str(path), ["expected a mapping with 'kind' and 'config'"])
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as exc:
        raise JobConfigError(str(path), format_validation_errors(exc)) from exc


def format_validation_errors(exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "") or "(config)"
        out.append(f"{loc}: {e['msg']}")
    return out


def read_status_raw(run_dir: Path) -> RunStatus:
    """Parse status.json; raises on a missing or corrupt file (callers decide what to do)."""
    text = (run_dir / STATUS).read_text(encoding="utf-8")
    return RunStatus.model_validate_json(text)


def write_status(run_dir: Path, status: RunStatus) -> None:
    """Messages and errors often quote exceptions, which may quote a key a server echoed."""
    atomic_write_json(run_dir / STATUS, redact_data(status.model_dump(mode="json")))


def read_status(run_dir: Path) -> RunStatus:
    """Never raises for a run folder: a corrupt status is rebuilt and marked interrupted."""
    try:
        return read_status_raw(run_dir)
    except (OSError, ValueError):
        with run_lock(run_dir):
            try:  # someone may have repaired it while we waited for the lock
                return read_status_raw(run_dir)
            except (OSError, ValueError) as exc:
                status = recover_status(run_dir, exc)
                with contextlib.suppress(OSError):
                    write_status(run_dir, status)
                return status


def find_worker(run_dir: Path) -> tuple[int, float, str | None] | None:
    """A live worker process of this run folder, found by its command line:
    `(pid, create_time, token)`. Used when status.json cannot tell us."""
    import psutil

    target = str(run_dir.resolve())
    for proc in psutil.process_iter(["pid", "cmdline", "status", "create_time"]):
        try:
            cmd = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or "character.jobs.worker" not in cmd:
                continue
            i = cmd.index("character.jobs.worker")
            if len(cmd) > i + 1 and cmd[i + 1] == target:
                token = cmd[i + 2] if len(cmd) > i + 2 else None
                return proc.info["pid"], proc.info["create_time"], token
        except (psutil.Error, ValueError):
            continue
    return None


def recover_status(run_dir: Path, problem: Exception) -> RunStatus:
    """Rebuild a status from what the folder still holds: config, metrics, log, and a worker
    process that is still running (then the run stays running instead of interrupted)."""
    kind, display = "unknown", run_dir.name
    with contextlib.suppress(Exception):
        spec = JobSpec.model_validate(yaml.safe_load((run_dir / CONFIG).read_text("utf-8")))
        kind, display = spec.kind, spec.display_name or run_dir.name
    step = total = None
    metrics: dict[str, Any] = {}
    if (run_dir / METRICS).exists():
        with contextlib.suppress(Exception):
            for _, row in iter_jsonl(run_dir / METRICS, skip_bad=True):
                step = row.get("step", step)
                total = row.get("total", total)
                metrics = {k: v for k, v in row.items() if k not in ("step", "total", "time")}
    created = run_dir.stat().st_mtime
    with contextlib.suppress(OSError):
        created = (run_dir / CONFIG).stat().st_mtime
    reason = type(problem).__name__
    status = RunStatus(
        run_id=run_dir.name,
        kind=kind,
        display_name=display,
        state=RunState.INTERRUPTED,
        created_at=created,
        step=step,
        total=total,
        metrics=metrics,
        recovered=True,
        error=(
            f"status.json was unreadable ({reason}); the state was rebuilt from config.yaml, "
            "metrics.jsonl and log.txt. Resume the run to continue it."
        ),
    )
    worker = find_worker(run_dir)
    if worker is not None:
        pid, started, token = worker
        now = time.time()
        with contextlib.suppress(OSError):
            status.pgid = os.getpgid(pid)
        status.state, status.pid, status.pid_started, status.token = (
            RunState.RUNNING,
            pid,
            started,
            token,
        )
        status.host, status.started_at, status.heartbeat_at = HOST, started, now
        status.error = None
        status.message = f"status.json was unreadable ({reason}); re-attached to worker {pid}"
    return status


@contextlib.contextmanager
def edit_status(run_dir: Path) -> Iterator[RunStatus]:
    """Lock, read, let the caller change the status, write it back atomically."""
    with run_lock(run_dir):
        try:
            status = read_status_raw(run_dir)
        except (OSError, ValueError) as exc:
            status = recover_status(run_dir, exc)
        yield status
        write_status(run_dir, status)


def read_artifacts(run_dir: Path) -> Artifacts:
    try:
        return Artifacts.model_validate_json((run_dir / ARTIFACTS).read_text("utf-8"))
    except (OSError, ValueError):
        return Artifacts()


def add_artifacts(
    run_dir: Path, items: list[Artifact], result: dict[str, Any] | None = None
) -> Artifacts:
    with file_lock(run_dir / ".artifacts.lock"):
        current = read_artifacts(run_dir)
        known = {(a.path, a.type) for a in current.artifacts}
        for item in items:
            if (item.path, item.type) not in known:
                current.artifacts.append(item)
                known.add((item.path, item.type))
        if result:
            current.result.update(json.loads(json.dumps(redact(result), default=str)))
        atomic_write_json(run_dir / ARTIFACTS, current.model_dump(mode="json"))
        return current


def append_log(run_dir: Path, message: str) -> None:
    """A timestamped line in log.txt (the worker's stdout/stderr land there too)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with open(run_dir / LOG, "a", encoding="utf-8") as fh:
        fh.write(f"[{stamp}] {redact_secrets(message)}\n")


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    append_jsonl(run_dir / METRICS, [redact_data(row)])


def list_run_dirs(data_path: Path | None = None) -> list[Path]:
    """Job folders only: other folders under runs/ (the whole recipe's own output folder, named
    in its job's artifacts) are not jobs and must not be rebuilt as interrupted ones."""
    root = runs_root(data_path)
    return sorted(
        (
            p
            for p in root.iterdir()
            if p.is_dir()
            and RUN_ID_PATTERN.match(p.name)
            and ((p / STATUS).exists() or (p / CONFIG).exists())
        ),
        key=lambda p: p.name,
    )


# A worker that cannot write status.json (the disk is full) must still leave the true reason.
# The file is filled with blanks while there is space, at the start of each attempt; the reason
# is later written over those blanks, which needs no new disk blocks.
END_REASON = "end_reason.txt"
END_REASON_BYTES = 1024


def reserve_end_reason(run_dir: Path) -> None:
    """Blank `end_reason.txt` for a new attempt (best effort)."""
    with contextlib.suppress(OSError), open(run_dir / END_REASON, "wb") as fh:
        fh.write(b" " * END_REASON_BYTES)
        fh.flush()
        os.fsync(fh.fileno())


def record_end_reason(run_dir: Path, reason: str) -> bool:
    """Write the reason over the reserved blanks; False when even that failed."""
    data = reason.encode("utf-8")[: END_REASON_BYTES - 1].ljust(END_REASON_BYTES - 1) + b"\n"
    try:
        with open(run_dir / END_REASON, "r+b") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        return False


def read_end_reason(run_dir: Path) -> str | None:
    """The reason a worker recorded when it could not write its status, else None."""
    try:
        text = (run_dir / END_REASON).read_bytes().decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text or None
