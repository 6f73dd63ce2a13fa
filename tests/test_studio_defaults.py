"""Every picker defaults to what the user just made: the persona they edited and the final
adapter of their newest run. Real run folders made by the real job runner (a job kind that
writes two adapter folders, like the whole recipe's DPO then SFT), real AppTest pages."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from studio_pages import open_page, use_constitutions

pytestmark = pytest.mark.unit

GARDENER: dict[str, Any] = {
    "name": "gardener",
    "description": "A calm gardener.",
    "traits": [{"trait": "I love my roses", "questions": ["What do you grow?"]}],
}


class TwoAdaptersConfig(BaseModel):
    persona: str
    output_dir: Path | None = None


def _two_adapters(config: TwoAdaptersConfig, ctx: Any) -> dict[str, Any]:
    """Like the whole recipe: a DPO adapter, then the SFT adapter trained on top of it."""
    made = []
    for stage in ("dpo", "sft"):
        folder = ctx.run_dir / stage
        folder.mkdir()
        (folder / "adapter_config.json").write_text(
            json.dumps({"peft_type": "LORA", "base_model_name_or_path": "smollm2-135m"})
        )
        made.append({"path": str(folder), "name": f"{stage.upper()} adapter"})
    return {"artifacts": made}


def _train(persona: str) -> str:
    from character.jobs import register_job_kind, run_foreground

    register_job_kind("test.train", TwoAdaptersConfig, _two_adapters, resource="light")
    status = run_foreground({"kind": "test.train", "config": {"persona": persona}})
    assert status.state.value == "succeeded", status.error
    return status.run_id


@pytest.fixture
def two_personas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = use_constitutions(tmp_path / "constitutions", monkeypatch)
    gardener = root / "hand-written" / "gardener.json"
    gardener.write_text(json.dumps(GARDENER))
    os.utime(gardener, (1_000_000, 1_000_000))  # saved long ago: the beekeeper is newer
    return root


def test_latest_adapter_is_the_final_one_of_the_newest_run_for_the_persona(
    two_personas: Path,
) -> None:
    from character.jobs.latest import latest_adapter
    from character.jobs.store import run_path

    assert latest_adapter("gardener") is None
    run_id = _train("gardener")
    found = latest_adapter("gardener")
    assert found is not None and found.run_id == run_id
    assert found.path == run_path(run_id) / "sft" and found.name == "SFT adapter"
    assert latest_adapter("beekeeper") is None  # another persona's run is never offered
    assert latest_adapter(None).path == found.path


def test_pickers_follow_the_persona_just_edited_and_the_adapter_just_trained(
    two_personas: Path,
) -> None:
    from character.jobs.store import run_path

    run_id = _train("gardener")
    sft = str(run_path(run_id) / "sft")

    at = open_page("studio/views/constitutions.py")
    assert at.selectbox(key="ed_open").value == "beekeeper"  # the one saved last
    at.selectbox(key="ed_open").set_value("gardener").run()
    assert at.query_params["persona"] in ("gardener", ["gardener"])  # a reload keeps it

    at.switch_page("studio/views/data_preview.py").run()
    assert at.selectbox(key="dp_persona").value == "gardener"
    at.switch_page("studio/views/training.py").run()
    assert at.selectbox(key="tl_persona").value == "gardener"

    at.switch_page("studio/views/models.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="mdl_chat_model").value == sft  # the SFT, not the DPO adapter
    assert at.selectbox(key="mdl_right").value == sft
    assert at.selectbox(key="mdl_left").value == "smollm2-135m"
    assert at.selectbox(key="mdl_lineage").value == f"{run_id}/sft"

    at.switch_page("studio/views/arena.py").run()
    assert at.selectbox(key="ar_m1").value == sft
    assert at.selectbox(key="ar_p1").value == "(no system prompt)"
    assert at.selectbox(key="ar_p2").value == "gardener"  # prompted base, same persona

    at.switch_page("studio/views/export.py").run()
    assert at.selectbox(key="ex_adapter").value == f"{run_id}/sft"
    assert at.selectbox(key="ex_serve_ref").value == f"{run_id}/sft"

    # Back in the editor, it opens the persona worked on, not the first one.
    at.switch_page("studio/views/constitutions.py").run()
    assert at.selectbox(key="ed_open").value == "gardener"
    assert at.text_input(key="ed_name").value == "gardener"


def test_a_link_carries_its_target_and_a_pick_on_the_page_wins(two_personas: Path) -> None:
    from streamlit.testing.v1 import AppTest
    from studio_pages import APP

    from character.jobs.store import run_path

    run_id = _train("gardener")
    dpo = str(run_path(run_id) / "dpo")
    # What "Chat with the trained model" on the Runs page does: open Models with ?model=.
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["persona"] = "gardener"
    at.query_params["model"] = dpo
    at.run()
    at.switch_page("studio/views/models.py").run()
    assert at.selectbox(key="mdl_chat_model").value == dpo

    # The Runs page offers those links for a finished run, carrying its final adapter.
    at.switch_page("studio/views/runs.py").run()
    assert not at.exception, at.exception
    assert any("Next:" in m.value and "sft" in m.value for m in at.markdown)
    labels = [b.label for b in at.get("download_button")]
    for what in ("DPO adapter", "SFT adapter"):  # each adapter the run made, as a zip
        assert any(label.startswith(f"Download {what} (.zip, ") for label in labels), labels

    # A pick on a page becomes the default of the next page.
    at.switch_page("studio/views/data_preview.py").run()
    at.selectbox(key="dp_persona").set_value("beekeeper").run()
    at.switch_page("studio/views/training.py").run()
    assert at.selectbox(key="tl_persona").value == "beekeeper"


def test_the_editor_keeps_unsaved_edits_across_pages(two_personas: Path) -> None:
    at = open_page("studio/views/constitutions.py")
    at.text_area(key="ed_desc").set_value("A beekeeper who hums.").run()
    at.switch_page("studio/views/data_preview.py").run()
    at.selectbox(key="dp_persona").set_value("gardener").run()
    at.switch_page("studio/views/constitutions.py").run()
    # The unsaved edit is still there, and the editor says why it did not open the gardener.
    assert at.text_area(key="ed_desc").value == "A beekeeper who hums."
    assert at.selectbox(key="ed_open").value == "beekeeper"
    assert any("unsaved changes to **beekeeper**" in i.value for i in at.info)


def test_a_fresh_session_opens_on_the_persona_saved_last(two_personas: Path) -> None:
    at = open_page("studio/views/constitutions.py")
    at.selectbox(key="ed_open").set_value("gardener").run()
    at.text_area(key="ed_desc").set_value("A calm gardener who hums.").run()
    at.checkbox(key="ed_overwrite").check()
    at.button(key="ed_save").click().run()
    assert any("Saved gardener.json" in s.value for s in at.success)
    # A reload starts a new session: the pickers still open on the persona just saved.
    fresh = open_page("studio/views/data_preview.py")
    assert fresh.selectbox(key="dp_persona").value == "gardener"
    fresh.switch_page("studio/views/constitutions.py").run()
    assert fresh.text_area(key="ed_desc").value == "A calm gardener who hums."
