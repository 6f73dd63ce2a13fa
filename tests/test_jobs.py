"""The job runner, end to end with real detached workers running the `demo.count` kind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from character.io import DiskFullError, read_jsonl

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _fast_jobs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHARACTER_JOB_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("CHARACTER_JOB_CANCEL_GRACE_S", "2")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    yield
    # never leave a worker behind, whatever the test did
    from character.jobs import list_runs
    from character.jobs.models import ACTIVE_STATES
    from character.jobs.scheduler import kill_group

    for st in list_runs():
        if st.state in ACTIVE_STATES and st.pgid:
            kill_group(st.pgid, st.pid, 0.5)


def wait_for(pred, timeout: float = 30.0, every: float = 0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def count_spec(**config) -> dict:
    return {"kind": "demo.count", "config": {"sleep_s": 0.02, **config}}


def rows_of(run_id: str) -> list[int]:
    from character.jobs import run_dir

    path = run_dir(run_id) / "counts.jsonl"
    return [r["i"] for r in read_jsonl(path, skip_bad=True)] if path.exists() else []


def state_of(run_id: str) -> str:
    from character.jobs import get_run

    return get_run(run_id).state.value


def test_run_folder_and_progress_never_100_before_done():
    from character.jobs import RunState, get_run, read_metrics, read_progress, submit, wait
    from character.jobs.models import RunStatus, progress_from_status

    run_id = submit(count_spec(n=12, save_interval=4) | {"display_name": "My Count"})
    assert run_id.startswith("demo-count-my-count-")
    assert wait(run_id, timeout_s=60).state == RunState.SUCCEEDED
    from character.jobs import run_dir

    folder = run_dir(run_id)
    for name in ("config.yaml", "status.json", "metrics.jsonl", "log.txt", "artifacts.json"):
        assert (folder / name).exists(), name
    prov = json.loads((folder / "provenance.json").read_text())
    assert {"torch", "transformers", "trl", "peft"} <= set(prov["packages"])
    arts = json.loads((folder / "artifacts.json").read_text())["artifacts"]
    assert arts[0]["type"] == "dataset" and arts[0]["path"].endswith("counts.jsonl")
    assert rows_of(run_id) == list(range(12))
    metrics = read_metrics(run_id)
    assert [m["rows"] for m in metrics] == [4, 8, 12]
    assert all(m["total_steps"] == 12 and m["elapsed_s"] >= 0 for m in metrics)
    p = read_progress(run_id)
    assert p.fraction == 1.0 and p.step == 12 and p.total == 12
    st = get_run(run_id)
    assert st.display_name == "My Count" and st.pid and st.heartbeat_at
    running = RunStatus(**{**st.model_dump(), "state": RunState.RUNNING})
    assert progress_from_status(running).fraction == 0.99


def test_invalid_config_refused_with_every_error(tmp_path: Path):
    from typer.testing import CliRunner

    from character.cli import _register_subcommands, app
    from character.jobs import JobConfigError, list_runs, submit

    bad = {"kind": "demo.count", "config": {"n": 0, "sleep_s": "slow", "bogus": 1}}
    with pytest.raises(JobConfigError) as info:
        submit(bad)
    text = str(info.value)
    assert "config.n" in text and "config.sleep_s" in text and "config.bogus" in text
    assert len(info.value.problems) == 3
    with pytest.raises(JobConfigError, match="unknown job kind 'nope'"):
        submit({"kind": "nope"})
    assert list_runs() == []

    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text("kind: demo.count\nconfig:\n  n: -3\n  save_interval: 0\n")
    _register_subcommands()
    res = CliRunner().invoke(app, ["jobs", "submit", str(yaml_file)])
    assert res.exit_code == 1
    assert "config.n" in res.output and "config.save_interval" in res.output
    assert list_runs() == []


def test_cli_run_list_show_logs(tmp_path: Path):
    from typer.testing import CliRunner

    from character.cli import _register_subcommands, app
    from character.jobs import list_runs

    job = tmp_path / "job.yaml"
    job.write_text("kind: demo.count\ndisplay_name: cli smoke\nconfig: {n: 4, sleep_s: 0}\n")
    _register_subcommands()
    runner = CliRunner()
    res = runner.invoke(app, ["jobs", "run", str(job)])
    assert res.exit_code == 0, res.output
    (st,) = list_runs()
    assert st.state.value == "succeeded" and st.pgid is None
    assert runner.invoke(app, ["jobs", "list"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["jobs", "list", "--json"]).output)
    assert [r["run_id"] for r in listed] == [st.run_id]
    assert "counts.jsonl" in runner.invoke(app, ["jobs", "show", st.run_id]).output
    assert "attempt ended: succeeded" in runner.invoke(app, ["jobs", "logs", st.run_id]).output
    # the run's own config.yaml re-runs from the CLI
    res = runner.invoke(app, ["jobs", "run", f"data/runs/{st.run_id}/config.yaml"])
    assert res.exit_code == 0, res.output


def test_sigkill_mid_run_then_resume_loses_at_most_save_interval():
    from character.jobs import get_run, read_progress, reconcile, resume, submit

    run_id = submit(count_spec(n=60, save_interval=5))
    wait_for(lambda: len(rows_of(run_id)) >= 12)
    st = get_run(run_id)
    os.killpg(st.pgid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(st.pid) or _zombie(st.pid))
    reported = read_progress(run_id).step or 0
    written = rows_of(run_id)
    assert reported - len(written) <= 5  # at most save_interval rows lost
    assert reconcile() == [run_id]
    after = get_run(run_id)
    assert after.state.value == "interrupted" and after.resumable and "gone" in after.error
    resume(run_id)
    wait_for(lambda: state_of(run_id) == "succeeded")
    assert rows_of(run_id) == list(range(60))  # nothing missing, nothing duplicated
    assert get_run(run_id).attempt == 2


def _zombie(pid: int) -> bool:
    from character.jobs.scheduler import reap_children

    reap_children()
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_and_save_then_resume():
    from character.jobs import get_run, request_stop, resume, submit

    run_id = submit(count_spec(n=200, save_interval=50, sleep_s=0.01))
    wait_for(lambda: (get_run(run_id).step or 0) >= 20)
    request_stop(run_id)
    wait_for(lambda: state_of(run_id) == "stopped")
    rows = rows_of(run_id)
    assert 20 <= len(rows) < 200 and rows == list(range(len(rows)))  # the buffer was saved
    assert get_run(run_id).resumable
    resume(run_id)
    wait_for(lambda: state_of(run_id) == "succeeded")
    assert rows_of(run_id) == list(range(200))


def test_queue_limit_one_second_waits(monkeypatch: pytest.MonkeyPatch):
    from character.jobs import get_run, read_progress, submit

    monkeypatch.setenv("CHARACTER_MAX_TRAINING_JOBS", "1")
    first = submit(count_spec(n=25) | {"resource": "train"})
    second = submit(count_spec(n=5) | {"resource": "train"})
    assert state_of(first) == "running"
    p = read_progress(second)
    assert p.state.value == "queued" and p.queue_position == 1
    wait_for(lambda: state_of(second) == "succeeded", timeout=40)
    a, b = get_run(first), get_run(second)
    assert a.state.value == "succeeded"
    assert b.started_at >= a.finished_at  # started only when the first ended


def test_cancel_leaves_no_process_of_the_group():
    from character.jobs import cancel, get_run, submit

    run_id = submit(count_spec(n=100000, sleep_s=0.05, helpers=2))
    wait_for(lambda: (get_run(run_id).step or 0) >= 2)
    st = get_run(run_id)
    members = [p for p in psutil.process_iter() if _pgid(p.pid) == st.pgid]
    assert len(members) >= 3  # the worker and its two helpers
    after = cancel(run_id, grace_s=2)
    assert after.state.value == "cancelled"
    alive = [p for p in members if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    from character.jobs.scheduler import group_alive

    assert not group_alive(st.pgid)

    def group_gone() -> bool:  # zombies of the helpers are reaped by init shortly after
        try:
            os.killpg(st.pgid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(group_gone, timeout=10)
    time.sleep(1.0)  # the cancelled worker must not come back and overwrite the state
    assert state_of(run_id) == "cancelled"


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_worker_survives_the_submitting_process_exiting():
    from character.jobs import get_run

    code = (
        "from character.jobs import submit\n"
        "print(submit({'kind': 'demo.count', 'config': {'n': 30, 'sleep_s': 0.05}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    run_id = out.stdout.strip().splitlines()[-1]
    st = get_run(run_id)
    assert st.state.value == "running"
    assert psutil.pid_exists(st.pid)  # the submitter is gone, the worker is not
    wait_for(lambda: state_of(run_id) == "succeeded", timeout=40)
    assert rows_of(run_id) == list(range(30))


def test_two_schedulers_start_a_job_once():
    from character.jobs import get_run, run_dir, submit

    run_id = submit(count_spec(n=3), start=False)
    assert state_of(run_id) == "queued"
    code = "from character.jobs import schedule; schedule()"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    wait_for(lambda: state_of(run_id) == "succeeded")
    log = (run_dir(run_id) / "log.txt").read_text()
    assert log.count("attempt 1 of demo.count started") == 1
    assert get_run(run_id).attempt == 1


def test_read_progress_from_another_process_is_cheap():
    from character.jobs import submit

    run_id = submit(count_spec(n=200, sleep_s=0.01))
    code = (
        "import time, json, sys\n"
        "from character.jobs import read_progress\n"
        "read_progress(sys.argv[1])\n"
        "ts = []\n"
        "for _ in range(30):\n"
        "    t = time.perf_counter(); read_progress(sys.argv[1]); ts.append(time.perf_counter() - t)\n"
        "print(json.dumps(sorted(ts)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, run_id], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    times = json.loads(out.stdout)
    assert times[len(times) // 2] < 0.05  # median well under 50 ms, even on a busy CPU


def test_corrupt_status_is_recovered_not_fatal():
    from character.jobs import get_run, list_runs, resume, run_foreground

    st = run_foreground(count_spec(n=6, save_interval=2, sleep_s=0))
    path = Path("data/runs") / st.run_id / "status.json"
    path.write_text('{"run_id": "oops", "state": ')
    (listed,) = list_runs()
    assert listed.state.value == "interrupted" and listed.recovered
    assert listed.kind == "demo.count" and listed.step == 6
    assert "status.json was unreadable" in listed.error
    json.loads(path.read_text())  # rewritten as valid JSON
    resume(st.run_id)
    wait_for(lambda: state_of(st.run_id) == "succeeded")
    assert rows_of(st.run_id) == list(range(6))
    assert get_run(st.run_id).recovered is False


def test_corrupt_status_of_a_running_job_reattaches_to_its_worker():
    from character.jobs import get_run, list_runs, run_dir, submit

    run_id = submit(count_spec(n=60, sleep_s=0.03))
    wait_for(lambda: (get_run(run_id).step or 0) >= 3)
    pid = get_run(run_id).pid
    (run_dir(run_id) / "status.json").write_bytes(b"\x00garbage")
    (listed,) = list_runs()
    assert listed.state.value == "running" and listed.pid == pid and listed.recovered
    wait_for(lambda: state_of(run_id) == "succeeded")
    assert rows_of(run_id) == list(range(60))


def test_delete_run_refuses_queued_and_cleans_the_index():
    from character.jobs import (
        JobError,
        delete_run,
        list_artifacts,
        list_runs,
        run_foreground,
        submit,
    )

    done = run_foreground(count_spec(n=2, sleep_s=0))
    queued = submit(count_spec(n=2), start=False)
    with pytest.raises(JobError, match="cancel it before deleting"):
        delete_run(queued)
    assert list_artifacts("dataset")
    delete_run(done.run_id)
    assert [r.run_id for r in list_runs()] == [queued]
    assert list_artifacts("dataset") == []
    assert not (Path("data/runs") / done.run_id).exists()


def test_reconcile_uses_heartbeat_for_runs_on_another_host():
    from character.jobs import RunNotFoundError, RunState, get_run, read_progress, reconcile, submit
    from character.jobs.store import edit_status, run_path

    fresh = submit(count_spec(n=2), start=False)
    stale = submit(count_spec(n=2), start=False)
    for run_id, age in ((fresh, 1.0), (stale, 3600.0)):
        with edit_status(run_path(run_id)) as st:
            st.state, st.host, st.pid = RunState.RUNNING, "another-machine", 1
            st.started_at = st.heartbeat_at = time.time() - age
    waiting = submit(count_spec(n=2, sleep_s=0), start=False)
    assert reconcile() == [stale]
    assert get_run(fresh).state.value == "running"  # its heartbeat is recent: leave it
    wait_for(lambda: state_of(waiting) == "succeeded")  # reconcile also starts queued runs
    assert "gone" in get_run(stale).error
    with pytest.raises(RunNotFoundError):
        read_progress("../../etc")


def test_disk_full_surfaces_in_status():
    from pydantic import BaseModel

    from character.jobs import register_job_kind, run_foreground

    class Cfg(BaseModel):
        rows: int = 1

    def fill(config: Cfg, ctx) -> dict:
        import errno

        raise DiskFullError(errno.ENOSPC, "No space left on the disk while writing x.jsonl")

    register_job_kind("test.diskfull", Cfg, fill)
    st = run_foreground({"kind": "test.diskfull"})
    assert st.state.value == "failed"
    assert "No space left" in st.error


def test_index_lineage_and_rebuild():
    from pydantic import BaseModel

    from character.jobs import (
        lineage,
        list_artifacts,
        rebuild_index,
        register_job_kind,
        run_foreground,
        runs_using,
    )
    from character.jobs.index import index_path

    gen = run_foreground(count_spec(n=3, sleep_s=0))
    dataset = Path("data/runs") / gen.run_id / "counts.jsonl"

    class TrainCfg(BaseModel):
        dataset: str

    def train(config: TrainCfg, ctx) -> dict:
        out = ctx.run_dir / "adapter"
        out.mkdir()
        (out / "adapter_config.json").write_text("{}")
        return {"artifacts": [str(out)]}

    register_job_kind("test.train", TrainCfg, train, resource="train")
    tr = run_foreground({"kind": "test.train", "config": {"dataset": str(dataset)}})
    assert tr.state.value == "succeeded"
    # test.train is not a built-in name, so its artifacts are plain files
    assert [a["run_id"] for a in list_artifacts("dataset")] == [gen.run_id]
    adapter = Path("data/runs") / tr.run_id / "adapter"
    chain = lineage(adapter)
    assert [c["run_id"] for c in chain] == [tr.run_id, gen.run_id]
    assert chain[0]["inputs"][0]["field"] == "dataset"
    assert runs_using(dataset) == [tr.run_id]

    index_path().write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(index_path()) + suffix).unlink(missing_ok=True)
    assert [a["run_id"] for a in list_artifacts("dataset")] == [gen.run_id]  # rebuilt itself
    index_path().unlink()
    assert rebuild_index() == 2
    assert [c["run_id"] for c in lineage(adapter)] == [tr.run_id, gen.run_id]


def test_every_kind_resolves_to_its_exact_module():
    """Registration names modules, configs and functions exactly: every listed kind loads,
    and the one table lists every area's job module."""
    from pydantic import BaseModel

    from character.jobs import list_job_kinds
    from character.jobs.registry import BUILTIN_KINDS, get_job_kind

    kinds = list_job_kinds()
    for kind in ("distill.generate", "introspect.train", "pipeline", "export", "eval.report"):
        assert kind in kinds
    assert {e.kind for e in BUILTIN_KINDS} <= set(kinds)
    modules = {e.module for e in BUILTIN_KINDS}
    for area in ("eval", "feedback", "sources", "tinker"):
        assert f"character.{area}.jobs" in modules
    for kind in kinds:
        entry = get_job_kind(kind)
        assert entry.kind == kind and issubclass(entry.config_model, BaseModel)
    assert get_job_kind("tinker.train").cooperative_stop
    assert get_job_kind("distill.train").cooperative_stop  # adapted: takes stop_requested


def test_import_errors_of_job_modules_surface(tmp_path: Path, monkeypatch):
    """A kind whose module fails to import raises a loud error naming the kind and the
    module, chained to the real ImportError: a missing dependency is never turned into
    "not available" or an unknown kind, and listing kinds still works."""
    import character.jobs.registry as registry
    from character.jobs import JobKindImportError, list_job_kinds

    (tmp_path / "broken_job_area.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "renamed_job_area.py").write_text("class Cfg:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry._LAZY, "broken.kind", registry.KindEntry(
        "broken.kind", "broken_job_area", "Cfg", "run", "light", "", job_fn=True)
    )  # fmt: skip
    with pytest.raises(JobKindImportError) as caught:
        registry.get_job_kind("broken.kind")
    message = str(caught.value)
    assert "'broken.kind'" in message and "broken_job_area" in message
    assert "no_such_dependency_xyz" in message
    assert caught.value.name == "broken_job_area"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)
    assert isinstance(caught.value, ImportError)
    assert "broken.kind" in list_job_kinds()  # listing imports nothing
    monkeypatch.setitem(registry._LAZY, "renamed.kind", registry.KindEntry(
        "renamed.kind", "renamed_job_area", "Cfg", "run", "light", "")
    )  # fmt: skip
    with pytest.raises(JobKindImportError, match=r"renamed_job_area has no run"):
        registry.get_job_kind("renamed.kind")
    spec = {"kind": "broken.kind", "config": {}}
    from character.jobs import validate

    with pytest.raises(JobKindImportError, match="broken_job_area"):
        validate(spec)


def test_listing_kinds_does_not_import_torch():
    code = (
        "import sys\n"
        "from character.jobs import list_job_kinds, list_runs\n"
        "list_job_kinds(); list_runs()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_real_distill_generate_sigkill_and_resume(tiny_model_dir: Path):
    """The real `distill.generate` kind on the tiny model in a detached worker: SIGKILL it
    after its first save, resume, and no pair is lost twice or written twice."""
    import importlib.util

    if importlib.util.find_spec("character.distillation.generate") is None:
        pytest.skip("character.distillation has not landed")
    from character.jobs import get_run, list_artifacts, reconcile, resume, run_dir, submit

    pairs, interval = 12, 2
    spec = {
        "kind": "distill.generate",
        "config": {
            "persona": "pirate",
            "teacher_model": str(tiny_model_dir),
            "student_model": str(tiny_model_dir),
            "pair_count": pairs,
            "save_interval": interval,
            "max_new_tokens": 4,
            "allow_cut_off": True,
            "include_bank": False,
            "template_count": 0,
        },
    }
    run_id = submit(spec)
    assert run_id.startswith("distill-generate-pirate-")
    out = run_dir(run_id) / "pirate_dpo.jsonl"

    def log() -> str:
        return (run_dir(run_id) / "log.txt").read_text()

    wait_for(
        lambda: (out.exists() and out.stat().st_size) or state_of(run_id) not in ("running",),
        timeout=300,
        every=0.02,
    )
    st = get_run(run_id)
    assert st.state.value == "running", (st.error, log())
    os.killpg(st.pgid, signal.SIGKILL)
    wait_for(lambda: _zombie(st.pid))
    before = read_jsonl(out, skip_bad=True)
    assert 0 < len(before) < pairs
    assert reconcile() == [run_id]
    resume(run_id)
    wait_for(lambda: state_of(run_id) not in ("queued", "running"), timeout=300, every=0.2)
    st = get_run(run_id)
    assert st.state.value == "succeeded", (st.error, log())
    rows = read_jsonl(out)
    ids = [r["pair_id"] for r in rows]
    assert len(ids) == len(set(ids)) and 0 < len(rows) <= pairs  # none duplicated
    assert rows[: len(before)] == before  # nothing written before the kill was lost
    assert rows[0]["prompt"][0]["role"] == "user"  # TRL conversational format
    assert "(resuming)" in log()
    arts = list_artifacts("dataset")
    assert [a["run_id"] for a in arts] == [run_id]
    prov = json.loads((run_dir(run_id) / "provenance.json").read_text())
    assert prov["constitution"]["name"] == "pirate" and len(prov["constitution"]["hash"]) == 16


@pytest.mark.unit
def test_stop_between_launch_and_worker_start_ends_stopped(tmp_path) -> None:
    """Stop pressed after the scheduler launched a run but before its worker claimed it."""
    from character.jobs import submit
    from character.jobs.models import RunState
    from character.jobs.store import edit_status, read_status, run_path
    from character.jobs.worker import run_worker

    run_id = submit({"kind": "demo.count", "config": {"n": 3}}, start=False)
    path = run_path(run_id)
    with edit_status(path) as st:  # what the scheduler does right before spawning the worker
        st.state = RunState.STOPPING
        st.token = "t1"
        st.pid = None
    assert run_worker(path, "t1") == 0
    st = read_status(path)
    assert st.state == RunState.STOPPED and st.resumable
