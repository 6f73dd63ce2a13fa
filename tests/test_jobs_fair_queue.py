"""The shared queue of a class: every workspace's runs in one FIFO, at most N active per user,
with real detached `demo.count` workers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from character.settings import Settings, use_settings

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.unit


@pytest.fixture
def group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    users = tmp_path / "class" / "users"
    monkeypatch.setenv("CHARACTER_JOB_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("CHARACTER_JOB_CANCEL_GRACE_S", "2")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("CHARACTER_JOB_QUEUE_GROUP", str(users))
    monkeypatch.setenv("CHARACTER_MAX_JOBS_PER_USER", "1")
    monkeypatch.setenv("CHARACTER_MAX_LIGHT_JOBS", "4")
    yield users
    from character.jobs import list_runs
    from character.jobs.models import ACTIVE_STATES
    from character.jobs.scheduler import kill_group

    for user in ("ada", "bob"):
        with use_settings(workspace(users, user)):
            for st in list_runs():
                if st.state in ACTIVE_STATES and st.pgid:
                    kill_group(st.pgid, st.pid, 0.5)


def workspace(users: Path, user: str) -> Settings:
    root = users / user
    return Settings(data_path=root, constitution_path=root / "constitutions")


def submit_as(users: Path, user: str, n: int) -> str:
    from character.jobs import submit

    with use_settings(workspace(users, user)):
        return submit({"kind": "demo.count", "config": {"n": n, "sleep_s": 0.05}})


def status_of(users: Path, user: str, run_id: str):  # noqa: ANN201
    from character.jobs import get_run

    with use_settings(workspace(users, user)):
        return get_run(run_id)


def wait_done(users: Path, user: str, run_id: str, timeout: float = 60):  # noqa: ANN201
    from character.jobs import wait

    with use_settings(workspace(users, user)):
        return wait(run_id, timeout_s=timeout)


def test_one_active_run_per_user_and_others_go_ahead(group: Path) -> None:
    a1 = submit_as(group, "ada", 60)
    a2 = submit_as(group, "ada", 4)
    b1 = submit_as(group, "bob", 4)  # queued after Ada's second run
    assert status_of(group, "ada", a1).state.value == "running"
    second = status_of(group, "ada", a2)
    assert second.state.value == "queued" and second.queue_position == 1
    assert status_of(group, "bob", b1).state.value in ("running", "succeeded")
    assert wait_done(group, "bob", b1).state.value == "succeeded"
    first = wait_done(group, "ada", a1)
    done = wait_done(group, "ada", a2)
    assert first.state.value == done.state.value == "succeeded"
    assert done.started_at >= first.finished_at  # Ada's second waited for her first
    assert status_of(group, "bob", b1).finished_at < first.finished_at  # Bob did not wait
    # each worker ran in its user's folder, with that folder's settings
    ada_root = (group / "ada").resolve()
    assert first.cwd == str(ada_root)
    assert first.settings_env["CHARACTER_DATA_PATH"] == str(ada_root)
    assert (ada_root / "runs" / a1 / "counts.jsonl").exists()
    assert not (group / "bob" / "runs" / a1).exists()


def test_without_a_per_user_limit_a_users_runs_start_together(
    group: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHARACTER_MAX_JOBS_PER_USER")
    a1 = submit_as(group, "ada", 60)
    a2 = submit_as(group, "ada", 4)
    assert status_of(group, "ada", a2).state.value in ("running", "succeeded")
    wait_done(group, "ada", a2)
    assert status_of(group, "ada", a2).started_at < (
        status_of(group, "ada", a1).finished_at or time.time()
    )
    wait_done(group, "ada", a1)
