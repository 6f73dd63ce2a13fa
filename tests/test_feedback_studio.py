"""AppTest checks of the Feedback and Export pages (real library calls, no mocks)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from studio_pages import APP, open_page, use_constitutions

pytestmark = pytest.mark.unit


@pytest.fixture
def constitutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_constitutions(tmp_path / "constitutions", monkeypatch)


def test_questionnaire_saves_suggestions_are_decided_and_report_shows_verdict(
    constitutions: Path, tmp_path: Path
) -> None:
    from character.feedback.store import load_feedback

    at = open_page("studio/views/feedback.py")
    at.text_area(key="fb_pasted").set_value("As an AI, I cannot keep bees.").run()
    assert any("As an AI" in m.value for m in at.markdown)
    # A correction identical to the response is refused with the reason; nothing is stored.
    at.text_area(key="fb_q_correction").set_value("As an AI, I cannot keep bees.")
    at.button(key="fb_q_save").click().run()
    assert any("identical to the response" in e.value for e in at.error)
    assert load_feedback() == []

    at.slider(key="fb_q_rating").set_value(1)
    at.multiselect(key="fb_q_missing").set_value(["I love bees"])
    at.multiselect(key="fb_q_tags").set_value(["sounds_like_assistant", "knows_too_much"])
    at.text_area(key="fb_q_correction").set_value("Bees? Oh, my girls hum all summer long.")
    at.button(key="fb_q_save").click().run()
    assert not at.exception, at.exception
    [rec] = load_feedback()
    assert rec.rating == 1 and rec.traits_missing == ["I love bees"]
    assert rec.correction.startswith("Bees?") and rec.persona == "beekeeper"
    assert rec.conversation[-1]["role"] == "user" and rec.model == "smollm2-135m"

    at.run()
    assert {m.label: m.value for m in at.metric}["Feedback records"] == "1"
    at.button(key="fb_export").click().run()
    from character.settings import get_settings

    assert (get_settings().data_path / "feedback" / "feedback_export.jsonl").exists()
    accept = [b for b in at.button if b.key and b.key.startswith("fb_accept_")]
    assert len(accept) == 2  # one trait question, one protective scene
    from character.feedback.training_data import refresh_suggestions

    trait_q = next(s for s in refresh_suggestions() if s.kind == "trait_question")
    at.button(key=f"fb_accept_{trait_q.id}").click().run()
    assert not at.exception, at.exception
    saved = json.loads((constitutions / "hand-written" / "beekeeper.json").read_text())
    bees = next(t for t in saved["traits"] if t["trait"] == "I love bees")
    assert "What would you do with a free afternoon?" in bees["questions"]
    assert f"fb_accept_{trait_q.id}" not in [b.key for b in at.button]

    # A round report written by the library is listed with its plain verdict.
    from character.eval.arena import Battle, record_vote
    from character.feedback.report import RoundReportConfig, round_report

    votes = tmp_path / "votes.jsonl"
    for i in range(5):
        b = Battle(
            battle_id=f"b{i}",
            created_at="2026-01-01T00:00:00+00:00",
            prompt=f"p{i}",
            model_a="round2",
            model_b="round1",
            response_a="buzz",
            response_b="hello",
            swapped=False,
        )
        record_vote(b, "A" if i < 3 else "B", path=votes)
    round_report(
        RoundReportConfig(
            persona="beekeeper",
            new_model="round2",
            previous_model="round1",
            votes_path=votes,
            bootstrap_rounds=100,
            output_dir=get_settings().data_path / "feedback" / "reports" / "r2",
        )
    )
    at.run()
    assert any("Verdict:** not significant (n=5" in i.value for i in at.info)
    assert at.get("plotly_chart")


def test_export_page_launches_the_export_job_and_shows_serving(constitutions: Path) -> None:
    from character.export.pipeline import export_adapter_package
    from character.jobs import cancel, get_run, list_runs
    from character.jobs.models import FINAL_STATES
    from character.settings import get_settings

    adapter = get_settings().checkpoints / "beekeeper-dpo"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": "smollm2-135m"})
    )
    (adapter / "adapter_model.safetensors").write_bytes(b"0")
    export_adapter_package(adapter, get_settings().data_path / "exports" / "beekeeper" / "adapter")

    at = open_page("studio/views/export.py")
    assert any(e.label.startswith("adapter:") for e in at.expander)
    at.selectbox(key="ex_serve_ref").set_value("beekeeper-dpo").run()
    assert f"character serve {adapter} --port 8000" in at.code[0].value
    assert any("Open WebUI" in m.value for m in at.markdown)
    assert "base_url=" in at.code[1].value

    at.multiselect(key="ex_formats").set_value(["adapter"])
    at.button(key="ex_launch").click().run()
    assert not at.exception, at.exception
    [run] = list_runs()
    assert run.kind == "export"
    from character.jobs import get_spec

    spec = get_spec(run.run_id)
    assert spec.config["formats"] == ["adapter"] and spec.config["model"] == str(adapter)

    # The Feedback page launches a round from the same adapter (config validated on submit).
    at.switch_page("studio/views/feedback.py").run()
    at.selectbox(key="fb_r_prev").set_value("beekeeper-dpo")
    at.number_input(key="fb_r_steps").set_value(3)
    at.button(key="fb_r_launch").click().run()
    assert not at.exception, at.exception
    rounds = [r for r in list_runs() if r.kind == "feedback.round"]
    assert len(rounds) == 1
    cfg = get_spec(rounds[0].run_id).config
    assert cfg["previous_adapter"] == str(adapter) and cfg["max_steps"] == 3
    for r in list_runs():
        if get_run(r.run_id).state not in FINAL_STATES:
            cancel(r.run_id)
    deadline = time.time() + 60
    while any(get_run(r.run_id).state not in FINAL_STATES for r in list_runs()):
        assert time.time() < deadline
        time.sleep(0.2)


def test_arena_response_has_a_feedback_questionnaire(constitutions: Path) -> None:
    from character.eval.arena import Battle
    from character.feedback.store import load_feedback

    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("studio/views/arena.py")
    at.session_state["ar_battle"] = Battle(
        battle_id="b1",
        created_at="2026-01-01T00:00:00+00:00",
        prompt="Any plans today?",
        model_a="smollm2-135m|system:beekeeper",
        model_b="smollm2-135m",
        response_a="Off to the hives!",
        response_b="I am an AI assistant.",
        swapped=False,
    )
    at.session_state["ar_voted"] = "voted"
    at.run()
    assert not at.exception, at.exception
    at.slider(key="ar_fb_a_rating").set_value(5)
    at.multiselect(key="ar_fb_a_shown").set_value(["I love bees"])
    at.button(key="ar_fb_a_save").click().run()
    assert not at.exception, at.exception
    [rec] = load_feedback()
    assert rec.source == "arena" and rec.rating == 5 and rec.response == "Off to the hives!"
    assert rec.persona == "beekeeper" and rec.model == "smollm2-135m"
