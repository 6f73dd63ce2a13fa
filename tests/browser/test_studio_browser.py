"""The studio in a real browser: headless Debian chromium driven by Selenium against
`streamlit run` on loopback with its own data folder.

Walks the newcomer's path: design a persona, preview teacher/student pairs from the embedded
model, launch a run through the job runner, watch its progress advance, and see the finished
run with its charts; then train the whole demo recipe from the launcher and chat with the
finished persona. Screenshots of every page go to `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PERSONA = {
    "name": "beekeeper",
    "display_name": "Bea the Beekeeper",
    "description": "A patient beekeeper who explains things with bee metaphors.",
    "traits": [
        {"trait": "I am patient and calm", "questions": ["How do I stay calm under stress?"]},
        {"trait": "I love bees and talk about them", "questions": ["What is your hobby?"]},
    ],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The server shares the CPU with this test, chromium and short job workers: one torch
    # thread keeps their OpenMP barriers from oversubscribing two busy cores.
    yield from _launch_studio(tmp_path_factory, torch_threads=1)


@pytest.fixture(scope="module")
def training_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The whole recipe wants both cores for its worker; passive OpenMP waits (our default)
    # keep the studio responsive next to it.
    yield from _launch_studio(tmp_path_factory, torch_threads=None)


def _launch_studio(
    tmp_path_factory: pytest.TempPathFactory, torch_threads: int | None
) -> Iterator[str]:
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromedriver are not installed (make browser-deps)")
    root = tmp_path_factory.mktemp("studio")
    (root / "constitutions" / "hand-written").mkdir(parents=True)
    (root / "constitutions" / "hand-written" / "beekeeper.json").write_text(
        json.dumps(PERSONA), encoding="utf-8"
    )
    # A shipped persona for the whole-recipe run (its example exchanges keep the demo short).
    # copy2 keeps its older time: the beekeeper is the persona being worked on, the pickers'
    # default.
    shutil.copy2(
        REPO / "constitutions" / "hand-written" / "pirate.json",
        root / "constitutions" / "hand-written" / "pirate.json",
    )
    port = _free_port()
    env = {
        **os.environ,
        "CHARACTER_DATA_PATH": str(root / "data"),
        "CHARACTER_CONSTITUTION_PATH": str(root / "constitutions"),
        # A demo persona installed in this machine's model cache (make demo-persona) would add
        # a picker entry: the test sees the same studio on every machine.
        "CHARACTER_DEMO_PERSONAS_DIR": str(root / "demo-personas"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    if torch_threads is not None:
        env["CHARACTER_TORCH_THREADS"] = str(torch_threads)
    for var in ("OPENAI_API_KEY", "LLM_API_KEY", "TINKER_API_KEY"):
        env.pop(var, None)
    log = open(root / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(REPO / "studio_app.py"),
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
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
                raise RuntimeError((root / "streamlit.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        _stop_leftover_runs(env)


def _stop_leftover_runs(env: dict[str, str]) -> None:
    """Cancel runs the test started so no worker outlives it (best effort)."""
    code = (
        "from character.jobs import cancel, list_runs\n"
        "for r in list_runs():\n"
        "    if r.state.value in ('queued', 'running', 'stopping'):\n"
        "        cancel(r.run_id)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser saves downloads (no dialog), so a test can open what a student gets."""
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[object]:
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromedriver are not installed (make browser-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"studio-chrome-{os.getpid()}"
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1800",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
        },
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ------------------------------------------------------------------------------- helpers


def _body(driver) -> str:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _wait_text(driver, pattern: str, timeout: float = 60) -> str:  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            text = _body(driver)
        except Exception:  # noqa: BLE001 - the DOM is being replaced
            text = ""
        m = re.search(pattern, text)
        if m:
            return m.group(0)
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not on the page after {timeout}s:\n{_body(driver)[-2000:]}")


def _idle(driver, timeout: float = 60) -> None:  # noqa: ANN001
    """Wait until Streamlit finished the current rerun (its status widget says Running)."""
    script = (
        "const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        "return w ? w.innerText : '';"
    )
    deadline = time.time() + timeout
    time.sleep(0.3)
    while time.time() < deadline:
        if "Running" not in (driver.execute_script(script) or ""):
            return
        time.sleep(0.2)


def _shot(driver, name: str) -> None:  # noqa: ANN001
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _open(driver, url: str, page: str, title: str) -> None:  # noqa: ANN001
    driver.get(f"{url}/{page}")
    _wait_text(driver, title)
    _idle(driver)


def _visible(driver, by: str, selector: str, what: str, timeout: float = 20.0):  # noqa: ANN001, ANN202
    """The first visible match, waiting while Streamlit is still rendering the page."""
    deadline = time.monotonic() + timeout
    while True:
        shown = [e for e in driver.find_elements(by, selector) if e.is_displayed()]
        if shown:
            return shown[0]
        if time.monotonic() > deadline:
            _shot(driver, "failure_" + re.sub(r"\W+", "_", what))
            raise AssertionError(f"no visible {what} after {timeout:.0f} s")
        time.sleep(0.3)


def _input(driver, label: str):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By

    return _visible(driver, By.CSS_SELECTOR, f'input[aria-label="{label}"]', f"input {label!r}")


def _textarea(driver, label: str):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By

    return _visible(
        driver, By.CSS_SELECTOR, f'textarea[aria-label="{label}"]', f"textarea {label!r}"
    )


def _type(element, text: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.keys import Keys

    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text)
    element.send_keys(Keys.TAB)  # commit the value (Streamlit sends it on blur)


def _button(driver, label: str, timeout: float = 20):  # noqa: ANN001, ANN202
    """The visible button labelled `label`, waiting for a rerun still drawing the page (a
    sidebar link shows the page's title before the page itself is drawn)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while True:
        try:
            for b in driver.find_elements(By.CSS_SELECTOR, "button"):
                if b.text.strip().endswith(label) and b.is_displayed():
                    return b
        except StaleElementReferenceException:
            pass  # the DOM was replaced while we looked: look again
        if time.time() > deadline:
            raise AssertionError(f"no button {label!r} after {timeout} s")
        time.sleep(0.3)


def _slider_to_min(driver, label: str) -> None:  # noqa: ANN001
    """Move a Streamlit slider to its minimum with the keyboard, as a user could."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSlider"]'):
        if box.is_displayed() and box.text.startswith(label):
            thumb = box.find_element(By.CSS_SELECTOR, 'input[type="range"]')
            driver.execute_script("arguments[0].focus();", thumb)
            ActionChains(driver).send_keys(Keys.HOME).perform()
            _idle(driver)
            return
    raise AssertionError(f"no slider {label!r}")


def _expand(driver, label: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    for summary in driver.find_elements(By.CSS_SELECTOR, "summary"):
        if summary.is_displayed() and summary.text.strip().endswith(label):
            _click(driver, summary)
            time.sleep(0.3)
            return
    raise AssertionError(f"no expander {label!r}")


def _select(driver, label: str, option: str) -> None:  # noqa: ANN001
    """Open the visible selectbox labelled `label` and pick the first option containing `option`."""
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]'):
        if box.is_displayed() and box.text.startswith(label):
            _click(driver, box.find_element(By.CSS_SELECTOR, '[role="combobox"], input'))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                for li in driver.find_elements(By.CSS_SELECTOR, '[role="option"]'):
                    if option in li.text and li.is_displayed():
                        _click(driver, li)
                        _idle(driver)
                        return
                time.sleep(0.3)
            _shot(driver, "failure_select_" + re.sub(r"\W+", "_", label))
            raise AssertionError(f"no option {option!r} in {label!r}")
    raise AssertionError(f"no selectbox {label!r}")


def _select_value(driver, label: str) -> str:  # noqa: ANN001
    """What the visible selectbox labelled `label` shows (its value is not part of the text)."""
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]'):
        if box.is_displayed() and box.text.startswith(label):
            shown = [box.text]
            for el in box.find_elements(By.CSS_SELECTOR, "input, [role='combobox']"):
                shown += [el.get_attribute("value") or "", el.get_attribute("aria-label") or ""]
            shown.append(box.get_attribute("innerText") or "")
            return " | ".join(x for x in shown if x)
    raise AssertionError(f"no selectbox {label!r}")


def _progress_text(driver) -> str:  # noqa: ANN001
    """The live run's progress bar text (stage and step), as the Runs page shows it."""
    from selenium.webdriver.common.by import By

    try:
        bars = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stProgress"]')
        return " | ".join(b.text.strip() for b in bars if b.text.strip())
    except Exception:  # noqa: BLE001 - the fragment is replacing the element
        return ""


def _nav(driver, title: str, ready: str) -> None:  # noqa: ANN001
    """Open another page from the sidebar, as a student does: unlike a fresh page load, the
    session (and with it what the student just made and picked) stays."""
    from selenium.webdriver.common.by import By

    for link in driver.find_elements(By.CSS_SELECTOR, 'a[data-testid="stSidebarNavLink"]'):
        if link.is_displayed() and link.text.strip().endswith(title):
            _click(driver, link)
            _wait_text(driver, ready)
            _idle(driver)
            return
    raise AssertionError(f"no sidebar link {title!r}")


def _download(driver, label: str, folder: Path, name: str, timeout: float = 180) -> Path:  # noqa: ANN001
    """Press the download button whose text contains `label` and wait for the browser to
    finish saving `name` into `folder`."""
    from selenium.webdriver.common.by import By

    buttons = [
        b
        for b in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDownloadButton"] button')
        if label in b.text and b.is_displayed()
    ]
    assert buttons, f"no download button {label!r}"
    _click(driver, buttons[0])
    target = folder / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partial = list(folder.glob("*.crdownload"))
        if target.is_file() and not partial:
            return target
        time.sleep(0.5)
    raise AssertionError(f"{name} not downloaded after {timeout:.0f} s: {sorted(folder.iterdir())}")


def _click(driver, element) -> None:  # noqa: ANN001
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


# --------------------------------------------------------------------------------- test


def test_newcomer_designs_previews_trains_and_sees_the_result(studio: str, browser) -> None:  # noqa: ANN001
    d = browser
    from selenium.webdriver.common.by import By

    # Home: the steps and the status, keys only as set / not set.
    _open(d, studio, "", "Five steps")
    assert "Embedded model" in _body(d)
    _shot(d, "01_home")

    # Design a persona: rename, add a trait with a question, save as a new file.
    _open(d, studio, "constitutions", "Constitution editor")
    _wait_text(d, r"Valid: 2 traits")
    _type(_input(d, "Persona id"), "Gardener Bad")
    _wait_text(d, r"Persona id must be")
    _shot(d, "02_editor_validation")
    _type(_input(d, "Persona id"), "gardener")
    _wait_text(d, r"Valid: 2 traits")
    _click(d, _button(d, "Add trait"))
    _wait_text(d, r"Trait 3")
    _idle(d)
    _type(_input(d, "Trait 3"), "I find joy in growing things")
    _type(_textarea(d, "Questions for trait 3"), "What should I plant this spring?")
    _wait_text(d, r"Valid: 3 traits, 3 questions")
    _click(d, _button(d, "Save"))
    _wait_text(d, r"Saved gardener\.json")
    _shot(d, "03_editor_saved")

    # Preview data: teacher with the constitution vs student without, from the embedded model.
    _open(d, studio, "data_preview", "Data preview")
    _wait_text(d, r"Prompt mix available|Persona")
    # No picker touched: the preview opens on the persona just saved (a fresh page load).
    assert "gardener" in _select_value(d, "Persona"), _select_value(d, "Persona")
    _slider_to_min(d, "How many prompts")
    # No sampling knobs here: the preview samples and judges exactly as the chosen recipe size.
    assert "demo" in _select_value(d, "Recipe size"), _select_value(d, "Recipe size")
    _click(d, _button(d, "Generate pairs"))
    _wait_text(d, r"Chosen — teacher with constitution", timeout=300)
    _wait_text(d, r"Rejected — student without it")
    _wait_text(d, r"A run would (keep|drop) this pair")
    _idle(d, 30)
    _shot(d, "04_data_preview")

    # Launch a run through the job runner (the smoke job runs in seconds on any machine).
    _open(d, studio, "training", "Training launcher")
    if "Whole recipe" in _body(d):  # the recipe asks for a persona: it is the one just saved
        assert "gardener" in _select_value(d, "Persona"), _select_value(d, "Persona")
    smoke = d.find_element(By.XPATH, "//*[contains(text(), 'Smoke test of the job runner')]")
    _click(d, smoke)
    _wait_text(d, r"kind: demo\.count")
    _idle(d)
    _expand(d, "Advanced settings")
    _type(_input(d, "Seconds per step"), "1")  # ~30 s: long enough to watch it move on a busy CPU
    _wait_text(d, r"sleep_s: 1\.0")
    _idle(d)
    _shot(d, "05_launcher")
    _click(d, _button(d, "Launch"))
    _wait_text(d, r"Started run .?demo-count")

    # Watch progress advance on the Runs page, which refreshes by itself.
    _open(d, studio, "runs", "Runs")
    first = int(_wait_text(d, r"count (\d+)/30", timeout=60).split()[1].split("/")[0])
    _shot(d, "06_run_live")
    deadline = time.time() + 60
    later = first
    while later <= first and time.time() < deadline:
        m = re.search(r"count (\d+)/30", _body(d))
        later = int(m.group(1)) if m else later
        time.sleep(0.5)
    assert later > first, "the progress bar did not advance without a reload"
    _wait_text(d, r"succeeded", timeout=90)
    _idle(d)
    deadline = time.time() + 30
    charts = []
    while not charts and time.time() < deadline:  # the page reruns once the run has ended
        charts = d.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')
        time.sleep(0.5)
    assert charts, "the finished run should show its metrics charts"
    _idle(d)
    _shot(d, "07_run_finished")

    # A reload re-attaches to the same run (it is in the URL and read from the run folder).
    d.refresh()
    _wait_text(d, r"succeeded")
    assert "run=demo-count" in d.current_url

    for page, title, shot in (
        ("models", "Models", "08_models"),
        ("evaluation", "Start the evaluation", "09_evaluation"),
        ("arena", "Arena", "10_arena"),
    ):
        _open(d, studio, page, title)
        assert "Traceback" not in _body(d)
        _shot(d, shot)

    # Arena: a blind battle between the base model with and without the persona, then a vote.
    _expand(d, "Sampling settings")
    _slider_to_min(d, "Longest reply (tokens)")
    _click(d, _button(d, "New battle"))
    _wait_text(d, r"A is better", timeout=180)
    _idle(d)
    _click(d, _button(d, "A is better"))
    _wait_text(d, r"Vote saved\. A was")
    _shot(d, "11_arena_voted")


@pytest.mark.skipif(
    os.environ.get("CHARACTER_BROWSER_PIPELINE") == "0",
    reason="CHARACTER_BROWSER_PIPELINE=0 skips the whole-recipe browser test (~10 min)",
)
@pytest.mark.timeout(2400)  # the demo recipe takes ~9 min on 2 quiet cores, 20+ when busy
def test_newcomer_trains_the_demo_pipeline_and_sees_the_persona(
    training_studio: str,
    browser,  # noqa: ANN001
    downloads: Path,
) -> None:
    """The whole recipe from the launcher with the demo preset: watch it, keep using the studio
    while it trains, read its result, talk to the finished character, then open the Arena and
    Export from the sidebar (every picker already on the new persona) and download it."""
    d, studio = browser, training_studio
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(d, studio, "training", "Training launcher")
    _wait_text(d, r"Whole recipe", timeout=30)
    whole = d.find_element(By.XPATH, "//*[contains(text(), 'Whole recipe: pairs')]")
    _click(d, whole)
    _wait_text(d, r"kind: pipeline")
    _idle(d)
    demo = d.find_element(
        By.XPATH, "//*[@data-testid='stRadio']//label[.//*[normalize-space(text())='demo']]"
    )
    _click(d, demo)
    _idle(d)
    _select(d, "Persona", "pirate")
    _wait_text(d, r"persona: pirate")
    _wait_text(d, r"scale: demo")
    _idle(d)
    assert "Config:" not in _body(d), "the launcher reports a config problem"
    _shot(d, "20_pipeline_launcher")
    _click(d, _button(d, "Launch"))
    run_id = _wait_text(d, r"Started run \S+", timeout=60).split()[-1].strip("`.")
    assert run_id.startswith("pipeline"), run_id

    # The Runs page follows it by itself: the stage/step line moves without a reload.
    started = time.monotonic()
    _open(d, studio, f"runs?run={run_id}", "Runs")
    _wait_text(d, r"pipeline: \w+", timeout=300)
    first = ""
    while not first and time.monotonic() - started < 300:
        first = _progress_text(d)
        time.sleep(0.5)
    _shot(d, "21_pipeline_running")
    later = first
    deadline = time.monotonic() + 600
    while later in ("", first) and time.monotonic() < deadline:
        time.sleep(1)
        later = _progress_text(d) or later
    assert later != first, f"the progress stayed at {first!r} for 10 minutes without a reload"

    # The studio stays usable while it trains: other pages render within seconds.
    t0 = time.monotonic()
    _open(d, studio, "", "Five steps")
    home_s = time.monotonic() - t0
    _shot(d, "22_home_while_training")
    t0 = time.monotonic()
    _open(d, studio, f"runs?run={run_id}", "Runs")
    _wait_text(d, r"pipeline: \w+|succeeded", timeout=60)
    runs_s = time.monotonic() - t0
    print(f"while training: home rendered in {home_s:.1f}s, runs page in {runs_s:.1f}s")
    assert home_s < 15 and runs_s < 20, (home_s, runs_s)

    state = _wait_text(d, r"\b(succeeded|failed|interrupted|cancelled)\b", timeout=1500)
    _idle(d)
    if state != "succeeded":
        _shot(d, "failure_pipeline_run")
        raise AssertionError(f"the pipeline run {state}:\n{_body(d)[-3000:]}")
    print(f"demo pipeline took {time.monotonic() - started:.0f}s from launch to succeeded")

    # The result: each stage, the quick evaluation of base / DPO / DPO+SFT, the adapters.
    _wait_text(d, r"Quick evaluation", timeout=60)
    body = _body(d)
    for name in ("prompts", "pairs", "dpo", "introspection", "sft", "eval"):
        assert re.search(rf"\b{name}\b", body), f"stage {name} missing from the result"
    assert "dpo+sft" in body, "the quick evaluation should score the finished model"
    assert re.search(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]", body), "in-voice share with interval"
    assert "Trained adapters" in body
    _shot(d, "23_pipeline_result")

    # "Chat with the trained model" opens Models on the finished (SFT) adapter: no picker
    # is touched; chat with it without a system prompt.
    link = d.find_element(By.XPATH, "//a[.//*[contains(text(), 'Chat with the trained model')]]")
    assert "model=" in (link.get_attribute("href") or "")
    _click(d, link)
    _wait_text(d, r"Lineage of adapter")
    _idle(d)
    assert "/sft" in _select_value(d, "Lineage of adapter"), _select_value(d, "Lineage of adapter")
    _wait_text(d, rf"{re.escape(run_id)} · pipeline · succeeded")
    _shot(d, "24_models_with_adapter")
    assert "/sft on" in _select_value(d, "Model"), _select_value(d, "Model")
    assert "no system prompt" in _select_value(d, "System prompt")
    box = _visible(d, By.CSS_SELECTOR, "textarea[data-testid='stChatInputTextArea']", "chat box")
    box.click()
    box.send_keys("Who are you and what do you love?")
    box.send_keys(Keys.ENTER)
    deadline = time.monotonic() + 180
    reply = ""
    while not reply and time.monotonic() < deadline:
        msgs = d.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')
        if len(msgs) >= 2:
            reply = msgs[-1].text.strip()
        time.sleep(0.5)
    _idle(d, 60)
    _shot(d, "25_chat_with_trained_persona")
    assert reply, "the trained model gave no reply"
    assert "Could not" not in _body(d), _body(d)[-2000:]
    print(f"trained pirate says: {reply[:200]!r}")

    # Arena and Export from the sidebar, no picker touched: both open on the final (SFT)
    # adapter of the run just made; the arena pits it against the base prompted as the pirate.
    _nav(d, "Arena", r"System 1 prompt")
    assert "/sft on" in _select_value(d, "System 1"), _select_value(d, "System 1")
    assert "no system prompt" in _select_value(d, "System 1 prompt")
    assert "smollm2-135m" in _select_value(d, "System 2"), _select_value(d, "System 2")
    assert "pirate" in _select_value(d, "System 2 prompt"), _select_value(d, "System 2 prompt")
    _shot(d, "26_arena_on_the_new_persona")
    _nav(d, "Export & serve", r"Download this adapter")
    adapter = _select_value(d, "Adapter")
    assert f"{run_id}/sft" in adapter, adapter

    # Download the adapter as a zip, as a student takes it home, and open what arrived.
    import zipfile

    assert not list(downloads.iterdir()), "the download folder should start empty"
    _shot(d, "27_export_on_the_new_persona")
    got = _download(d, "Download this adapter", downloads, f"{run_id}-sft-adapter.zip")
    assert zipfile.is_zipfile(got), got
    with zipfile.ZipFile(got) as zf:
        names = zf.namelist()
        assert zf.testzip() is None, "a file in the downloaded zip is corrupt"
        config = json.loads(zf.read("sft/adapter_config.json"))
    assert "sft/adapter_model.safetensors" in names, names
    assert config["peft_type"] == "LORA", config
    print(f"downloaded {got.name}: {got.stat().st_size / 1e6:.1f} MB, {len(names)} files")
