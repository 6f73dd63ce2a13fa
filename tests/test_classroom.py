"""Classroom mode in the library: names, starting a class, sign-in, workspace isolation,
run access and the gallery, on real files in a temporary data folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from character.classroom import (
    ClassroomError,
    ClassroomStartConfig,
    RunAccessError,
    SignIn,
    SignInError,
    check_run_access,
    class_overview,
    list_gallery,
    publish_persona,
    publish_run,
    run_owner,
    safe_name,
    session_settings,
    sign_in,
    start_classroom,
    unpublish,
)
from character.classroom.names import is_safe_name
from character.classroom.workspace import workspace_path
from character.settings import get_settings, process_settings, use_settings

pytestmark = pytest.mark.unit
INSTRUCTOR = "TEACH-ME-PLEASE-42"


@pytest.fixture
def classroom(tmp_path: Path):
    started = start_classroom(
        ClassroomStartConfig(
            data_path=tmp_path / "data",
            class_code="pirate7",
            instructor_code=SecretStr(INSTRUCTOR),
        )
    )
    return started.class_dir


def student(class_dir: Path, name: str, pin: str = "1234"):
    return sign_in(class_dir, SignIn(code=SecretStr("PIRATE7"), name=name, pin=SecretStr(pin)))


def finished_run(class_dir: Path, session) -> str:  # noqa: ANN001
    """A real finished `demo.count` run in the session's workspace, run in this process."""
    from character.jobs import run_foreground

    with use_settings(session_settings(class_dir, session)):
        st = run_foreground({"kind": "demo.count", "config": {"n": 3, "sleep_s": 0}})
    assert st.state.value == "succeeded"
    return st.run_id


@pytest.mark.parametrize(
    "raw",
    ["../bob", "a/../../etc", "/etc/passwd", "C:\\Users\\x", "bob\0evil", "~root", "Zoë",
     "李雷", "x" * 300, " .hidden", "-rf"],
)  # fmt: skip
def test_names_become_plain_folders_under_users(classroom: Path, raw: str) -> None:
    name = safe_name(raw)
    assert is_safe_name(name), name
    path = workspace_path(classroom, name)
    assert path.parent == (classroom / "users").resolve()


def test_unusable_names_are_refused_plainly() -> None:
    for raw in ("", "   ", "../..", "instructor"):
        with pytest.raises(SignInError, match="name"):
            safe_name(raw)
    with pytest.raises(ClassroomError):
        workspace_path(Path("/tmp/x"), "../escape")


def test_start_keeps_codes_and_stores_only_a_hash(tmp_path: Path, classroom: Path) -> None:
    saved = (classroom / "class.json").read_text()
    assert "PIRATE7" in saved and INSTRUCTOR not in saved and "TEACHMEPLEASE42" not in saved
    assert (classroom / "class.json").stat().st_mode & 0o077 == 0
    again = start_classroom(ClassroomStartConfig(data_path=tmp_path / "data"))
    assert again.class_code == "PIRATE7" and again.instructor_code is None and not again.created
    fresh = start_classroom(ClassroomStartConfig(data_path=tmp_path / "other"))
    assert fresh.created and fresh.instructor_code is not None
    code = fresh.instructor_code.get_secret_value()
    assert sign_in(fresh.class_dir, SignIn(code=SecretStr(code))).is_instructor


def test_sign_in_codes_names_and_pins(classroom: Path) -> None:
    boss = sign_in(classroom, SignIn(code=SecretStr("teach me please 42")))
    assert boss.is_instructor and boss.user is None
    with pytest.raises(SignInError, match="class code is not right"):
        sign_in(classroom, SignIn(code=SecretStr("WRONG1"), name="Ada", pin=SecretStr("1234")))
    with pytest.raises(SignInError, match="PIN"):
        sign_in(classroom, SignIn(code=SecretStr("pirate7"), name="Ada", pin=SecretStr("1")))
    ada = student(classroom, "Ada L.")
    assert (ada.role, ada.user, ada.display_name) == ("student", "ada-l", "Ada L.")
    # the workspace starts with the class's persona templates
    personas = classroom / "users" / "ada-l" / "constitutions" / "hand-written"
    assert (personas / "pirate.json").exists()
    with pytest.raises(SignInError, match="another PIN"):
        student(classroom, "ada l", pin="9999")
    assert student(classroom, "ADA  L.").user == "ada-l"
    roster = json.loads((classroom / "roster.json").read_text())
    assert list(roster["students"]) == ["ada-l"] and "1234" not in json.dumps(roster)


def test_workspaces_are_separate_and_runs_refused_across(classroom: Path) -> None:
    from character.constitution import list_constitutions
    from character.jobs import list_runs

    ada, bob = student(classroom, "Ada"), student(classroom, "Bob")
    run_a = finished_run(classroom, ada)
    with use_settings(session_settings(classroom, ada)):
        assert [r.run_id for r in list_runs()] == [run_a]
        assert get_settings().data_path == classroom / "users" / "ada"
    with use_settings(session_settings(classroom, bob)):
        assert list_runs() == []
        (get_settings().constitution_path / "hand-written" / "bobs.json").write_text("{}")
        assert "bobs" in list_constitutions()
    with use_settings(session_settings(classroom, ada)):
        assert "bobs" not in list_constitutions()
    assert get_settings() is process_settings()  # nothing leaks out of the blocks
    assert run_owner(classroom, run_a) == "ada"
    assert check_run_access(classroom, ada, run_a).is_dir()
    for bad in (run_a, "no-such-run", "../ada/runs/" + run_a):
        with pytest.raises(RunAccessError, match="not in your workspace") as info:
            check_run_access(classroom, bob, bad)
        assert "ada" not in str(info.value).replace(bad, "")  # never names the owner
    boss = sign_in(classroom, SignIn(code=SecretStr(INSTRUCTOR)))
    assert check_run_access(classroom, boss, run_a).parent.parent.name == "ada"
    rows = {s.user: [r.run_id for r in s.runs] for s in class_overview(classroom)}
    assert rows == {"ada": [run_a], "bob": []}


def test_settings_override_is_per_thread(classroom: Path) -> None:
    ada = student(classroom, "Ada")
    seen: dict[str, Path] = {}

    def as_ada() -> None:
        with use_settings(session_settings(classroom, ada)):
            seen["ada"] = get_settings().data_path
            barrier.wait(5)
            barrier.wait(5)

    def plain() -> None:
        barrier.wait(5)
        seen["plain"] = get_settings().data_path
        barrier.wait(5)

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=as_ada), threading.Thread(target=plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["ada"].name == "ada"
    assert seen["plain"] == process_settings().data_path


def test_gallery_publishes_copies_and_only_authors_remove(classroom: Path) -> None:
    ada, bob = student(classroom, "Ada"), student(classroom, "Bob")
    boss = sign_in(classroom, SignIn(code=SecretStr(INSTRUCTOR)))
    run_a = finished_run(classroom, ada)
    persona = publish_persona(classroom, ada, "pirate", note="arr")
    run_entry = publish_run(classroom, ada, run_a)
    assert [e.entry_id for e in list_gallery(classroom)] == [
        run_entry.entry_id,
        persona.entry_id,
    ]
    copy = classroom / "gallery" / run_entry.entry_id
    assert {"status.json", "metrics.jsonl"} <= {p.name for p in copy.iterdir()}
    assert run_entry.summary["state"] == "succeeded"
    with pytest.raises(RunAccessError):
        publish_run(classroom, bob, run_a)  # not Bob's to publish
    with pytest.raises(ClassroomError, match="no persona"):
        publish_persona(classroom, bob, "../ada/constitutions/hand-written/pirate")
    with pytest.raises(ClassroomError, match="only what you published"):
        unpublish(classroom, bob, persona.entry_id)
    unpublish(classroom, ada, persona.entry_id)
    unpublish(classroom, boss, run_entry.entry_id)
    assert list_gallery(classroom) == [] and not copy.exists()


def test_a_workspace_writes_only_inside_itself(classroom: Path, tmp_path: Path) -> None:
    from character.output_paths import OutputPathError, check_location

    ada, bob = student(classroom, "Ada"), student(classroom, "Bob")
    inside_cwd = tmp_path / "data" / "classroom" / "users" / "ada" / "x"
    assert check_location(inside_cwd, "output_dir") == inside_cwd  # the process may
    with use_settings(session_settings(classroom, bob)):
        with pytest.raises(OutputPathError, match="outside the data folder"):
            check_location(inside_cwd, "output_dir")  # Bob may not write into Ada's
        mine = get_settings().data_path / "exports" / "x"
        assert check_location(mine, "output_dir") == mine.resolve()
    assert ada.user == "ada"


def test_links_into_another_workspace_are_not_allowed(classroom: Path) -> None:
    from character.classroom.access import path_allowed

    ada, bob = student(classroom, "Ada"), student(classroom, "Bob")
    boss = sign_in(classroom, SignIn(code=SecretStr(INSTRUCTOR)))
    adas = str(classroom / "users" / "ada" / "checkpoints" / "pirate-dpo")
    assert path_allowed(classroom, ada, adas)
    assert not path_allowed(classroom, bob, adas)
    assert not path_allowed(classroom, bob, str(classroom / "users" / "bob" / ".." / "ada"))
    assert path_allowed(classroom, bob, "smollm2-135m")
    assert path_allowed(classroom, bob, "openai:gpt-4o-mini")
    assert path_allowed(classroom, boss, adas)


def test_studio_command_refuses_the_network_without_classroom() -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "character", "studio", "--host", "0.0.0.0"],
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "needs --classroom" in result.stderr


def test_wrong_pins_lock_a_name_and_the_instructor_resets_it(classroom: Path) -> None:
    from character.classroom import reset_pin

    ada = student(classroom, "Ada")
    for _ in range(5):
        with pytest.raises(SignInError, match="another PIN"):
            student(classroom, "Ada", pin="0000")
    with pytest.raises(SignInError, match="Too many wrong PINs"):
        student(classroom, "Ada")  # even the right PIN waits now
    with pytest.raises(SignInError, match="Only the instructor"):
        reset_pin(classroom, ada, "ada")
    boss = sign_in(classroom, SignIn(code=SecretStr(INSTRUCTOR)))
    reset_pin(classroom, boss, "ada")
    assert student(classroom, "Ada", pin="new-pin").user == "ada"  # sets the new PIN
    with pytest.raises(SignInError, match="another PIN"):
        student(classroom, "Ada", pin="1234")
