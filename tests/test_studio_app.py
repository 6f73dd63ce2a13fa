"""AppTest checks of the studio pages: they render, show their widgets, and never raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "studio_app.py")


def _page(path: str | None = None, timeout: float = 30) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if path:
        at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.unit
def test_home_shows_steps_and_key_booleans_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from character.settings import get_settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
    get_settings.cache_clear()
    at = _page()
    assert at.title[0].value.endswith("Open Character Studio")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["OpenAI-compatible key"] == "set"
    assert metrics["Tinker key"] == "not set"
    everything = " ".join(str(e.value) for e in at.markdown) + " ".join(
        str(m.value) for m in at.metric
    )
    assert "sk-test-secret-value" not in everything


@pytest.mark.integration
def test_constitution_page_samples_one_reply(embedded_model_dir: Path) -> None:
    at = _page("studio/views/constitutions.py")
    assert at.button(key="try_go").label == "Sample a reply"
    at.text_input(key="try_prompt").set_value("Hi")
    at.slider(key="try_tokens").set_value(16)
    at.button(key="try_go").click().run(timeout=120)
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["try_reply"].strip()
