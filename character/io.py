"""Safe file I/O: atomic writes, fsync'd appends and JSONL reads that name the bad line.

Everything the studio writes goes through here so that a crash, a full disk or a kill never
leaves a half-written file behind and never drops rows already written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


class DataFileError(ValueError):
    """A data file is malformed; the message names the file and the line."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class DiskFullError(OSError):
    """Raised instead of a bare ENOSPC so callers can tell users what to do."""


def disk_full_error(path: Path | str, exc: OSError) -> OSError:
    """`DiskFullError` naming the file for an ENOSPC (or EDQUOT), else the error unchanged."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(exc, DiskFullError):
        return DiskFullError(
            errno.ENOSPC,
            f"No space left on device while writing {path}. Free some space, then retry or "
            "resume: what was already saved is kept.",
        )
    return exc


def _raise_disk_full(path: Path, exc: OSError) -> None:
    err = disk_full_error(path, exc)
    if err is exc:
        raise exc
    raise err from exc


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write via a temp file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _raise_disk_full(path, exc)


def atomic_write_json(path: Path | str, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _to_jsonable(row: Any) -> Any:
    if isinstance(row, BaseModel):
        return row.model_dump(mode="json")
    return row


TORN_SUFFIX = ".torn"


def _complete_row(tail: bytes) -> bool:
    try:
        return isinstance(json.loads(tail.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def _cut_torn_tail(fh: Any, path: Path) -> int:
    """`truncate_torn_tail` on an open, locked, read-write binary file."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return 0
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return 0
    # Walk back to the last newline; rows are small, so a few blocks at most.
    start, block = size, 65536
    while start > 0:
        lo = max(0, start - block)
        fh.seek(lo)
        cut = fh.read(start - lo).rfind(b"\n")
        if cut >= 0:
            start = lo + cut + 1
            break
        start = lo
    fh.seek(start)
    tail = fh.read(size - start)
    if _complete_row(tail):
        return 0
    with contextlib.suppress(OSError), open(f"{path}{TORN_SUFFIX}", "ab") as side:
        side.write(tail + b"\n")
    os.ftruncate(fh.fileno(), start)
    os.fsync(fh.fileno())
    return len(tail)


@contextlib.contextmanager
def _locked_for_append(path: Path) -> Iterator[Any]:
    """The file opened unbuffered for appending under an exclusive advisory lock: appenders
    through here never see each other's rows half-written, so a tail without a newline is
    truly torn (its writer died), never a row still being written."""
    # Unbuffered, so a failed write leaves nothing in a buffer to be flushed on close.
    with open(path, "a+b", buffering=0) as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def truncate_torn_tail(path: Path | str) -> int:
    """Cut an unfinished last line (no newline, not a JSON object) off a JSONL file; returns
    the bytes removed.

    A writer killed mid-row, or stopped by a full disk, leaves such a tail; appending after it
    would bury a broken row in the middle of the file, which then no longer loads. The cut
    bytes are kept next to the file in `<name>.torn` (best effort) so nothing vanishes unseen.
    A complete last row that merely lacks its newline is kept.
    """
    path = Path(path)
    if not path.exists():
        return 0
    with _locked_for_append(path) as fh:
        return _cut_torn_tail(fh, path)


def append_jsonl(path: Path | str, rows: Iterable[Any], fsync: bool = True) -> int:
    """Append rows as JSON lines and fsync. Returns how many rows were written.

    Every JSONL append and resume goes through here, so this is where a torn tail left by a
    killed writer or a full disk is cut off (`truncate_torn_tail`) before new rows follow it.
    If this write itself fails (e.g. the disk fills), the file is cut back to where it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(_to_jsonable(r), ensure_ascii=False, default=str) for r in rows]
    if not lines:
        return 0
    payload = "\n".join(lines) + "\n"
    try:
        with _locked_for_append(path) as fh:
            _cut_torn_tail(fh, path)
            end = fh.seek(0, os.SEEK_END)
            try:
                if end > 0:
                    fh.seek(end - 1)
                    if fh.read(1) != b"\n":
                        payload = "\n" + payload  # a complete last row without its newline
                data = memoryview(payload.encode("utf-8"))
                while data:
                    written = fh.write(data)
                    if not written:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                    data = data[written:]
                if fsync:
                    os.fsync(fh.fileno())
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fh.fileno(), end)  # no half row of ours left behind
                raise
    except OSError as exc:
        _raise_disk_full(path, exc)
    return len(lines)


@dataclass
class JsonlProblem:
    line: int
    problem: str


def iter_jsonl(
    path: Path | str, *, skip_bad: bool = False, problems: list[JsonlProblem] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield `(line_number, object)`; a bad line raises `DataFileError` unless `skip_bad`.

    Skipped lines are recorded in `problems` so callers can report them. The file is never
    modified.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, None, "file does not exist")
    # Binary lines, decoded one by one: a text-mode reader decodes ahead in chunks and would
    # blame the wrong line for bad UTF-8.
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                msg = f"not valid UTF-8 ({exc.reason})"
                if skip_bad:
                    if problems is not None:
                        problems.append(JsonlProblem(lineno, msg))
                    continue
                raise DataFileError(path, lineno, msg) from exc
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                msg = f"invalid JSON ({exc.msg} at column {exc.colno})"
                if skip_bad:
                    if problems is not None:
                        problems.append(JsonlProblem(lineno, msg))
                    continue
                raise DataFileError(path, lineno, msg) from exc
            if not isinstance(obj, dict):
                msg = f"expected a JSON object, got {type(obj).__name__}"
                if skip_bad:
                    if problems is not None:
                        problems.append(JsonlProblem(lineno, msg))
                    continue
                raise DataFileError(path, lineno, msg)
            yield lineno, obj


def read_jsonl(path: Path | str, *, skip_bad: bool = False) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path, skip_bad=skip_bad)]


def load_models_jsonl(path: Path | str, model: type[T], *, skip_bad: bool = False) -> list[T]:
    """Read a JSONL file into pydantic models; validation errors name the line and field."""
    from pydantic import ValidationError

    out: list[T] = []
    for lineno, obj in iter_jsonl(path, skip_bad=skip_bad):
        try:
            out.append(model.model_validate(obj))
        except ValidationError as exc:
            if skip_bad:
                continue
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(row)"
            raise DataFileError(Path(path), lineno, f"field '{field}': {first['msg']}") from exc
    return out
