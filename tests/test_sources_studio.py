"""The Sources studio page: upload validation, speaker table, launches, card editing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from studio_pages import open_page, use_constitutions

from character.sources.transcripts import TranscriptError, save_uploaded_transcripts

REPO = Path(__file__).resolve().parent.parent
LIGHTHOUSE = REPO / "examples" / "transcripts" / "lighthouse"
PERSONA = {
    "name": "beekeeper",
    "description": "A patient beekeeper.",
    "traits": [{"trait": "I am patient and calm", "questions": ["How do I stay calm?"]}],
}

pytestmark = pytest.mark.unit


@pytest.fixture
def constitutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_constitutions(tmp_path / "constitutions", monkeypatch, PERSONA, subfolder="")


def _page() -> AppTest:
    return open_page("studio/views/sources.py", timeout=90)


def test_upload_is_validated_and_stored_in_the_data_folder() -> None:
    good = (LIGHTHOUSE / "act1.txt").read_bytes()
    with pytest.raises(TranscriptError, match="letters, digits"):
        save_uploaded_transcripts("../escape", [("a.txt", good)])
    with pytest.raises(TranscriptError, match="only .txt, .jsonl"):
        save_uploaded_transcripts("play", [("evil.py", b"print(1)")])
    with pytest.raises(TranscriptError, match="limit per file"):
        save_uploaded_transcripts("play", [("big.txt", b"A: x\n" * 600_000)])
    folder = save_uploaded_transcripts("play", [("../../act1.txt", good)])
    assert folder.parent.name == "transcripts" and (folder / "act1.txt").read_bytes() == good
    with pytest.raises(TranscriptError, match="already exists"):
        save_uploaded_transcripts("play", [("act1.txt", good)])


def test_sources_page_lists_speakers_and_launches_jobs(constitutions: Path) -> None:
    from character.jobs import cancel, get_spec, list_runs

    save_uploaded_transcripts(
        "lighthouse", [(p.name, p.read_bytes()) for p in sorted(LIGHTHOUSE.glob("*.txt"))]
    )
    at = _page()
    assert at.selectbox(key="src_folder").value == "lighthouse"
    assert at.radio(key="src_fmt_lighthouse").value == "raw"
    table = at.dataframe[0].value
    assert list(table["speaker"])[0] == "MARGARET" and set(table["speaker"]) == {
        "MARGARET",
        "TOMMY",
        "ELLIS",
    }
    assert int(table["lines"][0]) == 30 and "Salt and patience" in table["sample lines"][0]
    at.selectbox(key="src_target").set_value("TOMMY").run()
    assert any("at least 20 are needed" in w.value for w in at.warning)
    at.selectbox(key="src_target").set_value("MARGARET").run()
    at.button(key="src_t_launch").click().run()
    assert not at.exception, at.exception
    runs = list_runs()
    assert len(runs) == 1 and runs[0].kind == "sources.transcripts.train"
    cancel(runs[0].run_id)
    cfg = get_spec(runs[0].run_id).config
    assert cfg["target"] == "MARGARET" and cfg["format"] == "raw"

    # Profile: a missing name is refused before anything is submitted.
    at.button(key="src_p_launch").click().run()
    assert any("character's name" in e.value for e in at.error)
    assert len(list_runs()) == 1

    # Card: attributes/behaviors are saved into the persona's own file.
    at.text_input(key="src_c_identity_beekeeper").set_value("A beekeeper in Devon").run()
    at.text_area(key="src_c_interests_beekeeper").set_value("bees\nhoney").run()
    at.text_area(key="src_c_linguistic_features_beekeeper").set_value("slow, warm").run()
    at.button(key="src_c_save").click().run()
    assert not at.exception, at.exception
    saved = json.loads((constitutions / "beekeeper.json").read_text())
    assert saved["attributes"]["identity"] == "A beekeeper in Devon"
    assert saved["attributes"]["interests"] == ["bees", "honey"]
    assert saved["behaviors"]["linguistic_features"] == ["slow, warm"]
    assert saved["traits"][0]["trait"] == "I am patient and calm"


def test_profile_tab_takes_an_openai_teacher_and_tinker_needs_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The teacher for experience upload can be any OpenAI-compatible endpoint from the settings;
    Tinker training of a transcript adapter is refused without a key (nothing is submitted)."""
    from character.jobs import cancel, get_spec, list_runs
    from character.settings import get_settings

    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")  # loopback; nothing listens
    get_settings.cache_clear()
    save_uploaded_transcripts(
        "lighthouse", [(p.name, p.read_bytes()) for p in sorted(LIGHTHOUSE.glob("*.txt"))]
    )
    at = _page()
    at.radio(key="src_t_backend").set_value("tinker").run()
    assert any("TINKER_API_KEY" in w.value for w in at.warning)
    at.button(key="src_t_launch").click().run()
    assert any("Tinker needs TINKER_API_KEY" in e.value for e in at.error)
    assert list_runs() == []

    picker = at.selectbox(key="src_p_teacher")
    endpoint = next(o for o in picker.options if o.startswith("openai:"))
    picker.set_value(endpoint).run()
    at.text_input(key="src_p_teacher_name").set_value("gpt-teacher").run()
    at.text_input(key="src_p_name").set_value("Margaret Pell").run()
    at.text_area(key="src_p_profile").set_value("Margaret Pell kept a lighthouse for years.").run()
    at.checkbox(key="src_p_strict").check().run()
    at.button(key="src_p_launch").click().run()
    assert not at.exception, at.exception
    runs = list_runs()
    assert len(runs) == 1 and runs[0].kind == "sources.experience"
    cancel(runs[0].run_id)
    cfg = get_spec(runs[0].run_id).config
    assert cfg["teacher_model"] == "openai:gpt-teacher" and cfg["require_deflection"] is True
    assert cfg["character"] == "Margaret Pell"


def test_experience_data_trains_from_the_profile_tab() -> None:
    from character.jobs import cancel, get_spec, list_runs
    from character.settings import get_settings

    out = get_settings().data_path / "sources" / "margaret-pell_experience.jsonl"
    out.parent.mkdir(parents=True)
    row = {
        "key": "scene:0:x",
        "kind": "experience",
        "character": "Margaret Pell",
        "messages": [
            {"role": "user", "content": "(Scene: a gale)"},
            {"role": "assistant", "content": "Salt and patience."},
        ],
    }
    out.write_text(json.dumps(row) + "\n")
    out.with_suffix(".stats.json").write_text(json.dumps({"experience": 1, "dropped_empty": 2}))
    at = _page()
    assert any("dropped empty: 2" in c.value for c in at.caption)
    at.button(key="src_p_train").click().run()
    assert not at.exception, at.exception
    runs = list_runs()
    assert len(runs) == 1 and runs[0].kind == "introspect.train"
    cancel(runs[0].run_id)
    cfg = get_spec(runs[0].run_id).config
    assert cfg["dataset_path"] == str(out) and cfg["persona"] == "margaret-pell"


def test_raw_threshold_slider_reads_a_play_with_front_matter(constitutions: Path) -> None:
    """A play with a long cast list fails the default share of parsed lines; lowering the
    slider reads it (the 'Ham.' layout), and the launched job carries the threshold."""
    from character.jobs import cancel, get_spec, list_runs

    cast = "".join(f"Person {i} of the play, a courtier of Denmark\n" for i in range(150))
    scenes = "".join(
        f"SCENE {n}. A room.\n\nHor.\nMy lord, question {n}-{i}?\n\nHam.\nAnswer {n}-{i}.\n\n"
        for n in range(1, 5)
        for i in range(6)
    )
    save_uploaded_transcripts("hamlet", [("hamlet.txt", (cast + scenes).encode())])
    at = _page()
    assert at.radio(key="src_fmt_hamlet").value == "raw"
    assert any("does not look like a screenplay" in e.value for e in at.error)
    at.slider(key="src_share_hamlet").set_value(0.3).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["speaker"]) == {"HAM", "HOR"} and int(table["lines"][0]) == 24
    at.selectbox(key="src_target").set_value("HAM").run()
    at.button(key="src_t_launch").click().run()
    runs = list_runs()
    assert len(runs) == 1
    cancel(runs[0].run_id)
    assert get_spec(runs[0].run_id).config["min_parsed_share"] == 0.3
