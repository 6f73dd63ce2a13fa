"""Classroom mode in a real browser: `character studio --classroom` on loopback, two students
signing in one after the other, and the instructor's overview and projector.

Alice's finished run is written through the library (a `demo.count` job run in her
workspace), not by training. Bob must see a workspace of his own and must be refused when he
opens Alice's run by link (`/runs?run=...`) or by typing its id. Screenshots go to
`test-artifacts/screenshots/classroom_*.png`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_studio_browser import (
    CHROMIUM,
    DRIVER,
    PERSONA,
    REPO,
    _body,
    _button,
    _click,
    _free_port,
    _idle,
    _input,
    _shot,
    _stop_leftover_runs,
    _type,
    _wait_text,
    browser,  # noqa: F401 - the shared headless Chromium fixture
    downloads,  # noqa: F401 - the download folder the browser fixture needs
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CLASS_CODE = "BEES42"
INSTRUCTOR = "HIVE-QUEEN-2026"
REFUSED = r"is not in your workspace"


@pytest.fixture(scope="module")
def classroom_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromedriver are not installed (make browser-deps)")
    root = tmp_path_factory.mktemp("classroom")
    templates = root / "constitutions" / "hand-written"
    templates.mkdir(parents=True)
    (templates / "beekeeper.json").write_text(json.dumps(PERSONA), encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "CHARACTER_DATA_PATH": str(root / "data"),
        "CHARACTER_CONSTITUTION_PATH": str(root / "constitutions"),
        "CHARACTER_INSTRUCTOR_SECRET": INSTRUCTOR,
        "CHARACTER_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    for var in ("OPENAI_API_KEY", "LLM_API_KEY", "TINKER_API_KEY"):
        env.pop(var, None)
    log = open(root / "studio.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "character", "studio", "--classroom", "--host", "127.0.0.1",
            "--port", str(port), "--class-code", CLASS_CODE, "--class-name", "Bee class",
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError((root / "studio.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield url, root
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        printed = (root / "studio.log").read_text(errors="replace")
        assert f"class code  {CLASS_CODE}" in printed
        assert INSTRUCTOR not in printed  # the given instructor code is never echoed
        for user in ("alice", "bob"):
            ws = root / "data" / "classroom" / "users" / user
            _stop_leftover_runs({**env, "CHARACTER_DATA_PATH": str(ws)})


def _sign_in(driver, code: str, name: str = "", pin: str = "") -> None:  # noqa: ANN001
    _wait_text(driver, "Sign in to Bee class")
    _type(_input(driver, "Class code"), code)
    if name:
        _type(_input(driver, "Your name"), name)
        _type(_input(driver, "Your PIN"), pin)
    _click(driver, _button(driver, "Sign in"))
    _wait_text(driver, "Signed in as")
    _idle(driver)


def _sign_out(driver) -> None:  # noqa: ANN001
    _click(driver, _button(driver, "Sign out"))
    _wait_text(driver, "Sign in to Bee class")


def _nav(driver, title: str) -> None:  # noqa: ANN001
    """Follow a sidebar link, as a user does (the browser session, and sign-in, stay)."""
    from selenium.webdriver.common.by import By

    for link in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]'):
        if link.text.strip().splitlines()[-1:] == [title] and link.is_displayed():
            _click(driver, link)
            _wait_text(driver, title)
            _idle(driver)
            return
    raise AssertionError(f"no sidebar link {title!r}: {_body(driver)[:500]}")


def _visible_text(driver, text: str, timeout: float = 20):  # noqa: ANN001, ANN202
    """An element showing exactly `text`, once the rerun that draws it has drawn it."""
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        for el in driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']"):
            if el.is_displayed():
                return el
        time.sleep(0.3)
    raise AssertionError(f"no visible {text!r} after {timeout} s")


def _seed_finished_run(data_path: Path, title: str) -> str:
    """A finished `demo.count` run in the data folder `data_path`, written by the library."""
    from character.jobs import run_foreground
    from character.settings import Settings, use_settings

    spec = {"kind": "demo.count", "display_name": title, "config": {"n": 6, "sleep_s": 0}}
    with use_settings(Settings(data_path=data_path, constitution_path=data_path / "c")):
        st = run_foreground(spec)
    assert st.state.value == "succeeded"
    return st.run_id


def test_two_students_have_separate_workspaces_and_cannot_open_each_others_runs(
    classroom_studio: tuple[str, Path],
    browser,  # noqa: ANN001, F811
) -> None:
    url, root = classroom_studio
    class_dir = root / "data" / "classroom"
    driver = browser
    driver.delete_all_cookies()

    # Nothing but the sign-in form before signing in; a wrong code is refused plainly.
    driver.get(url)
    _wait_text(driver, "Sign in to Bee class")
    assert "Training launcher" not in _body(driver)
    _type(_input(driver, "Class code"), "WRONG1")
    _type(_input(driver, "Your name"), "Alice")
    _type(_input(driver, "Your PIN"), "4321")
    _click(driver, _button(driver, "Sign in"))
    _wait_text(driver, "class code is not right")
    _shot(driver, "classroom_01_sign_in_refused")

    # Alice signs in; her finished run (written by the library) is on her Runs page.
    driver.get(url)
    _sign_in(driver, CLASS_CODE, "Alice", "4321")
    run_a = _seed_finished_run(class_dir / "users" / "alice", "Alice counts bees")
    # and one in the instructor's own folder, which no student page may list either
    run_base = _seed_finished_run(root / "data", "Instructor demo")
    _nav(driver, "Runs")
    _wait_text(driver, run_a)
    _wait_text(driver, "succeeded")
    time.sleep(7)  # after the list's own refreshes, still hers only
    _idle(driver)
    assert run_a in _body(driver) and run_base not in _body(driver)
    _shot(driver, "classroom_02_alice_runs")
    # she shares it with the class (a copy in the gallery)
    _nav(driver, "Class gallery")
    _click(driver, _button(driver, "Publish run"))
    _wait_text(driver, "Published run 'Alice counts bees'")
    _click(driver, _button(driver, "Publish persona"))  # her beekeeper, for the class arena
    _wait_text(driver, "Published persona 'beekeeper'")
    _nav(driver, "Home")
    _wait_text(driver, "classroom/users/alice")
    _sign_out(driver)

    # Bob, in a fresh session, has a workspace of his own: no runs, Alice's not listed.
    driver.delete_all_cookies()
    driver.get(url)
    _sign_in(driver, CLASS_CODE, "Bob", "8765")
    _wait_text(driver, "classroom/users/bob")
    # a reload keeps him signed in: a signed, expiring token rides in the address
    assert "s=" in driver.current_url
    driver.refresh()
    _wait_text(driver, "Signed in as")
    _wait_text(driver, "classroom/users/bob")
    _nav(driver, "Runs")
    _wait_text(driver, "No runs yet")
    # the run list refreshes itself every 3 s in a fresh server thread: it must still read
    # Bob's workspace then, not the instructor's folder
    time.sleep(7)
    _idle(driver)
    assert "No runs yet" in _body(driver)
    assert run_a not in _body(driver) and run_base not in _body(driver)
    _shot(driver, "classroom_03_bob_runs_empty")

    # By id: Bob pastes Alice's run id; refused, and nothing of her run is shown.
    _type(_input(driver, "Open a run by its id"), run_a)
    _idle(driver)
    _wait_text(driver, REFUSED)
    assert "Alice counts bees" not in _body(driver)
    _shot(driver, "classroom_04_bob_refused_by_id")

    # By link: a new browser session opening Alice's run's link; after Bob signs in, the
    # Runs page refuses it.
    driver.delete_all_cookies()
    driver.get(f"{url}/runs?run={run_a}")
    _sign_in(driver, CLASS_CODE, "Bob", "8765")
    _wait_text(driver, REFUSED)
    assert "Alice counts bees" not in _body(driver)
    _shot(driver, "classroom_05_bob_refused_by_link")

    # What Alice published is in the gallery for Bob
    _nav(driver, "Class gallery")
    _wait_text(driver, "Alice counts bees · run by Alice")
    _shot(driver, "classroom_06_bob_sees_the_gallery")
    _click(driver, _button(driver, "Publish persona"))
    _wait_text(driver, "Published persona 'beekeeper'")
    run_b = _seed_finished_run(class_dir / "users" / "bob", "Bob counts ants")

    # Class arena: two anonymous replies from the class's personas; Bob votes once, then
    # sees who was who and the standings.
    _nav(driver, "Class arena")
    _wait_text(driver, "2 systems from the class gallery")
    _click(driver, _button(driver, "New battle"))
    _wait_text(driver, "A is better", timeout=240)
    _idle(driver)
    _shot(driver, "classroom_07_class_arena_battle")
    _click(driver, _button(driver, "A is better"))
    _wait_text(driver, r"Vote saved \(A is better\)\. A was .+ B was ", timeout=60)
    _wait_text(driver, "Class standings")
    _wait_text(driver, r"Class arena: 1 vote from 1 person", timeout=60)  # the chart's title
    assert "Alice's beekeeper" in _body(driver) and "Bob's beekeeper" in _body(driver)
    assert not _button(driver, "B is better").is_enabled()  # one vote per battle
    _shot(driver, "classroom_08_class_arena_voted")
    driver.refresh()  # still Bob, still on the class arena, after a reload
    _wait_text(driver, r"Signed in as\s+Bob")
    _wait_text(driver, "2 systems from the class gallery")
    votes = list((class_dir / "arena" / "votes").glob("*.jsonl"))
    assert len(votes) == 1 and "bob" not in votes[0].name

    # Bob cannot take Alice's name either: her PIN guards her workspace.
    driver.delete_all_cookies()
    driver.get(url)
    _wait_text(driver, "Sign in to Bee class")
    _type(_input(driver, "Class code"), CLASS_CODE)
    _type(_input(driver, "Your name"), "alice")
    _type(_input(driver, "Your PIN"), "0000")
    _click(driver, _button(driver, "Sign in"))
    _wait_text(driver, "another PIN")

    # The instructor sees both students and shows Alice's run on the projector.
    driver.delete_all_cookies()
    driver.get(url)
    _sign_in(driver, INSTRUCTOR)
    _nav(driver, "Class overview")
    _wait_text(driver, "Alice: 1 run")
    _wait_text(driver, "Bob: 1 run")
    _shot(driver, "classroom_09_instructor_overview")
    _nav(driver, "Projector")
    _wait_text(driver, "Alice: Alice counts bees")
    _wait_text(driver, "succeeded")
    _idle(driver)
    _shot(driver, "classroom_10_projector")
    _click(driver, _visible_text(driver, "Side by side with another run"))
    _wait_text(driver, "Bob: Bob counts ants")
    assert "Alice: Alice counts bees" in _body(driver)
    _shot(driver, "classroom_11_projector_side_by_side")
    assert run_b
    # and the class arena's standings, in large type, for the whole room
    _click(driver, _visible_text(driver, "Class arena standings"))
    _wait_text(driver, "People who voted")
    _wait_text(driver, r"Class arena: 1 vote from 1 person", timeout=60)
    _idle(driver)
    _shot(driver, "classroom_12_projector_standings")
