"""Fault suite: a writer SIGKILLed mid-row, and a disk that fills up under JSONL appends and
under the job runner. The full disk is a real tmpfs of a few hundred KiB where `mount` works
(root in a container); elsewhere ENOSPC is simulated at the write calls the project uses."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from character.io import DataFileError, DiskFullError, append_jsonl, read_jsonl

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.unit

# A child that appends big rows through the project's append helper and resumes like the
# generators do: rows already on disk (torn ones skipped) are not written again.
APPENDER = """
import sys
from pathlib import Path
from character.io import append_jsonl, iter_jsonl
path, n, size = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
done = {r["i"] for _, r in iter_jsonl(path, skip_bad=True)} if path.exists() else set()
for i in range(n):
    if i not in done:
        append_jsonl(path, [{"i": i, "pad": str(i % 10) * size}])
"""


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _kill_mid_row(path: Path, n: int, size: int, after_bytes: int) -> None:
    """Start the appender and SIGKILL it while the file ends inside a row."""
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(path), str(n), str(size)], env=_child_env()
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(FileNotFoundError):
                end = path.stat().st_size
                if end > after_bytes:
                    with open(path, "rb") as fh:
                        fh.seek(end - 1)
                        if fh.read(1) != b"\n":
                            proc.kill()
                            break
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_sigkill_mid_row_then_resume_keeps_every_row_and_loads(tmp_path: Path) -> None:
    """A killed writer leaves half a row (the kernel stops a big write at a page boundary);
    resuming appends after cutting that tail, so the file loads whole, and no complete row
    written before the kill is lost or written twice."""
    path, n, size = tmp_path / "rows.jsonl", 12, 4 << 20
    for _ in range(5):  # the kill lands inside a row nearly always; retry the rare miss
        path.unlink(missing_ok=True)
        _kill_mid_row(path, n, size, after_bytes=2 * size)
        if not path.read_bytes().endswith(b"\n"):
            break
    raw = path.read_bytes()
    assert not raw.endswith(b"\n"), "the writer was never caught mid-row"
    with pytest.raises(DataFileError):
        read_jsonl(path)  # torn as it is
    before = read_jsonl(path, skip_bad=True)
    assert 0 < len(before) < n
    done = subprocess.run(
        [sys.executable, "-c", APPENDER, str(path), str(n), str(size)],
        env=_child_env(),
        timeout=120,
    )
    assert done.returncode == 0
    rows = read_jsonl(path)  # no bad line anywhere: the torn tail is gone
    assert [r["i"] for r in rows] == list(range(n))
    assert rows[: len(before)] == before
    assert all(r["pad"] == str(r["i"] % 10) * size for r in rows)
    torn = tmp_path / "rows.jsonl.torn"
    assert torn.exists() and 0 < torn.stat().st_size < size + 100  # kept aside, not lost


CONCURRENT = """
import sys
from pathlib import Path
from character.io import append_jsonl
path, who, n, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    append_jsonl(path, [{"who": who, "i": i, "pad": "y" * size}], fsync=False)
"""


def test_concurrent_appenders_never_cut_each_others_rows(tmp_path: Path) -> None:
    """Cutting a torn tail must not cut a row another live process is still writing: the
    appenders take a lock, so every row of both survives."""
    path, n, size = tmp_path / "shared.jsonl", 30, 1 << 20
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(path), who, str(n), str(size)],
            env=_child_env(),
        )
        for who in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    rows = read_jsonl(path)
    assert sorted((r["who"], r["i"]) for r in rows) == [(w, i) for w in "ab" for i in range(n)]
    assert not (tmp_path / "shared.jsonl.torn").exists()


# ---------------------------------------------------------------------------------------------
# A full disk


def _try_mount_tmpfs(where: Path, size_kib: int) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


class Disk:
    """A small real disk (tmpfs) that `fill()` fills to the last byte; `free()` gives it back.
    Without `mount`, `fill()` makes the project's writes fail with ENOSPC instead."""

    def __init__(self, root: Path, real: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.real, self._mp = root, real, monkeypatch
        self._filler = root / "filler.bin"

    def fill(self) -> None:
        if not self.real:
            self._simulate()
            return
        with open(self._filler, "ab", buffering=0) as fh:
            chunk = b"\0" * 4096
            with contextlib.suppress(OSError):
                while True:
                    fh.write(chunk)
        with open(self._filler, "ab", buffering=0) as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0")  # the last bytes of the last page
        probe = self.root / "probe"
        with pytest.raises(OSError) as info, open(probe, "wb") as fh:
            fh.write(b"x" * 8192)
            fh.flush()
        assert info.value.errno == errno.ENOSPC
        probe.unlink(missing_ok=True)

    def leave(self, nbytes: int) -> None:
        """Free about `nbytes` of a filled disk."""
        size = self._filler.stat().st_size
        os.truncate(self._filler, max(0, size - nbytes))

    def free(self) -> None:
        if self.real:
            self._filler.unlink(missing_ok=True)
        else:
            self._mp.undo()

    def _simulate(self) -> None:
        import builtins

        import character.io as cio
        import character.jobs.store as store

        def enospc(*_: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def full_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
            # new data needs new blocks; overwriting bytes in place ("r+") needs none
            if any(c in mode for c in "wax") and str(file).startswith(str(self.root)):
                enospc()
            return builtins.open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

        self._mp.setattr(os, "fsync", enospc)
        self._mp.setattr(cio, "open", full_open, raising=False)
        self._mp.setattr(store, "open", full_open, raising=False)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    root = tmp_path / "disk"
    real = _try_mount_tmpfs(root, 1024)
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield Disk(root, real, monkeypatch)
    finally:
        monkeypatch.undo()
        if real:
            subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30)


def test_full_disk_jsonl_append_keeps_rows_and_resumes_clean(small_disk: Disk) -> None:
    path = small_disk.root / "pairs.jsonl"
    append_jsonl(path, [{"i": i, "text": "ahoy " * 50} for i in range(20)])
    before = path.read_bytes()
    small_disk.fill()
    with pytest.raises(DiskFullError) as info:
        append_jsonl(path, [{"i": i, "text": "ahoy " * 50} for i in range(20, 60)])
    assert f"No space left on device while writing {path}" in str(info.value)
    assert path.read_bytes() == before  # no half row of the failed append
    small_disk.free()
    append_jsonl(path, [{"i": i, "text": "ahoy " * 50} for i in range(20, 60)])
    assert [r["i"] for r in read_jsonl(path)] == list(range(60))


def test_full_disk_torn_row_from_another_writer_is_cut_on_resume(small_disk: Disk) -> None:
    """A writer that is not ours (or an older version) ran out of space mid-row."""
    if not small_disk.real:
        pytest.skip("needs a real small disk to tear a row")
    path = small_disk.root / "rows.jsonl"
    append_jsonl(path, [{"i": 0}, {"i": 1}])
    small_disk.fill()
    small_disk.leave(8192)  # room for part of the next row only
    with pytest.raises(OSError), open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"i": 2, "text": "x" * 100_000}) + "\n")
    assert not path.read_bytes().endswith(b"\n")
    small_disk.free()
    append_jsonl(path, [{"i": 2, "text": "short"}])
    assert [r["i"] for r in read_jsonl(path)] == [0, 1, 2]


# --- the job runner on a full disk


@pytest.fixture
def jobs_on(small_disk: Disk, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    from character.jobs.store import runs_root
    from character.settings import get_settings

    monkeypatch.setenv("CHARACTER_DATA_PATH", str(small_disk.root / "data"))
    monkeypatch.setenv("CHARACTER_JOB_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    get_settings.cache_clear()
    runs_root()
    try:
        yield small_disk
    finally:
        from character.jobs import list_runs
        from character.jobs.models import ACTIVE_STATES
        from character.jobs.scheduler import kill_group

        with contextlib.suppress(Exception):
            for st in list_runs():
                if st.state in ACTIVE_STATES and st.pgid:
                    kill_group(st.pgid, st.pid, 0.5)
        get_settings.cache_clear()


def _cli():  # noqa: ANN202
    from typer.testing import CliRunner

    from character.cli import _register_subcommands, app

    _register_subcommands()
    return CliRunner(), app


def test_full_disk_submit_and_list_say_so_and_leave_nothing_half_made(
    jobs_on: Disk, tmp_path: Path
) -> None:
    from character.jobs import list_runs
    from character.jobs.store import runs_root

    job = tmp_path / "job.yaml"
    job.write_text("kind: demo.count\nconfig: {n: 3, sleep_s: 0}\n", encoding="utf-8")
    runner, app = _cli()
    jobs_on.fill()
    res = runner.invoke(app, ["jobs", "submit", str(job)])
    assert res.exit_code == 1
    assert "No space left on device while writing" in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    assert [p.name for p in runs_root().iterdir() if p.name.startswith(".creating-")] == []
    res = runner.invoke(app, ["jobs", "run", str(job)])
    assert res.exit_code == 1 and "No space left on device while writing" in res.output
    res = runner.invoke(app, ["jobs", "list", "--json"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert [p.name for p in runs_root().iterdir() if p.name.startswith(".creating-")] == []
    jobs_on.free()
    res = runner.invoke(app, ["jobs", "run", str(job)])
    assert res.exit_code == 0, res.output
    (run,) = list_runs()
    jobs_on.fill()
    for args in (["rename", run.run_id, "new name"], ["stop", run.run_id]):
        res = runner.invoke(app, ["jobs", *args])
        assert res.exit_code == 1, res.output
        assert "Traceback" not in res.output and "Error:" in res.output, res.output
    jobs_on.free()


def test_full_disk_mid_run_records_the_true_reason(jobs_on: Disk) -> None:
    """The disk fills while a detached worker appends rows: the run ends failed with ENOSPC
    named (not "running", not "killed or the machine restarted"), and resumes cleanly once
    there is space again."""
    if not jobs_on.real:
        pytest.skip("a detached worker needs a real full disk")
    from character.jobs import get_run, list_runs, read_progress, resume, run_dir, submit

    run_id = submit({"kind": "demo.count", "config": {"n": 400, "sleep_s": 0.01}})
    out = run_dir(run_id) / "counts.jsonl"
    deadline = time.monotonic() + 60
    while not (out.exists() and len(read_jsonl(out, skip_bad=True)) >= 10):
        assert time.monotonic() < deadline, (run_dir(run_id) / "log.txt").read_text()
        time.sleep(0.05)
    jobs_on.fill()
    pid = get_run(run_id).pid
    deadline = time.monotonic() + 60
    while pid and _alive(pid):
        assert time.monotonic() < deadline, "the worker did not stop on a full disk"
        time.sleep(0.05)
    runner, app = _cli()
    res = runner.invoke(app, ["jobs", "list", "--json"])
    assert res.exit_code == 0, res.output
    (st,) = list_runs()
    assert st.state.value == "failed", st
    assert "No space left on device while writing" in (st.error or "")
    assert "killed or the machine restarted" not in (st.error or "")
    shown = read_progress(run_id)  # what the studio polls
    assert shown.state.value == "failed" and "No space left" in (shown.error or "")
    jobs_on.free()
    assert runner.invoke(app, ["jobs", "list"]).exit_code == 0  # saves it now there is room
    saved = json.loads((run_dir(run_id) / "status.json").read_text(encoding="utf-8"))
    assert saved["state"] == "failed" and "No space left" in saved["error"]
    resume(run_id)
    deadline = time.monotonic() + 120
    while get_run(run_id).state.value in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert get_run(run_id).state.value == "succeeded", get_run(run_id).error
    assert [r["i"] for r in read_jsonl(out)] == list(range(400))


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_foreground_run_on_a_full_disk_reports_the_reason(jobs_on: Disk) -> None:
    from pydantic import BaseModel

    from character.jobs import register_job_kind, run_foreground

    class Cfg(BaseModel):
        rows: int = 50

    def fill_then_write(config: Cfg, ctx) -> dict:  # noqa: ANN001
        jobs_on.fill()
        append_jsonl(ctx.run_dir / "rows.jsonl", [{"i": i} for i in range(config.rows)])
        return {}

    register_job_kind("test.fills-disk", Cfg, fill_then_write)
    st = run_foreground({"kind": "test.fills-disk"})
    assert st.state.value == "failed"
    assert "No space left on device while writing" in (st.error or "")
    jobs_on.free()
