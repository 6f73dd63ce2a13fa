"""Experience upload with an OpenAI-compatible teacher, through the real `openai` client.

Two endpoints on loopback: the scripted server of `chat_stub` (a teacher that answers like a chat
model does: preambles, markdown, refusals, duplicates, empty replies, other people's scripts, a
crash mid-run), and a real `transformers serve` on the embedded model (fully offline).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_stub import start_chat_stub
from transformers_serve import transformers_serve
from typer.testing import CliRunner

from character.backends.base import BackendError
from character.sources.experience import (
    ExperienceConfig,
    generate_experiences,
    load_experience_rows,
    load_experience_stats,
)

PROFILE = (
    "Margaret Pell kept the Skerry Point lighthouse for forty-one winters. "
    "She lost her husband to a storm in her second year and stayed on alone. "
    "She trained three apprentices and rescued the crew of the Dunlin in a gale. "
    "She distrusts the harbour board and loves strong tea and bad puns."
)
SCENE_LIST = (
    "Sure! Here are five scenes from Margaret Pell's life:\n\n"
    "1. **Margaret rows out to the Dunlin in a gale** with Tommy at the oars.\n"
    "2. Margaret teaches Tommy to trim the wick at dusk in the lamp room.\n"
    "3. margaret teaches Tommy to trim the wick at dusk, in the lamp room!\n"
    "4. The harbour board inspects the lamp room while she is away.\n"
    "5. Margaret drinks strong tea alone on the gallery at midnight.\n\n"
    "I hope these scenes help you write your story!"
)
DUNLIN_SCRIPT = (
    "**Scene:** The Skerry Point landing, night, a gale.\n"
    "**TOMMY:** The Dunlin's on the rocks, Mrs Pell!\n"
    "**Margaret Pell (thinking):** Not again. Not another husband for the sea.\n"
    "**MARGARET (speaking):** Get the oars, sprat. Salt and patience.\n"
    "TOMMY: Aye!\n"
)


class Teacher:
    """The scripted model: answers by what each request asks; records the requests."""

    def __init__(self, scene_list: str = SCENE_LIST, crash_on: str | None = None) -> None:
        self.scene_list = scene_list
        self.crash_on = crash_on
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, messages: list[dict]) -> str:
        first, last = messages[0]["content"], messages[-1]["content"]
        with self.lock:
            self.asked.append(last)
        if self.crash_on and last.startswith("Scene:") and self.crash_on in last:
            raise ConnectionAbortedError("teacher crashed")  # the stub drops the connection
        if last.startswith("Profile of") and "List" in last:
            # A second round (shown the ideas so far) gets nothing new: the asking stops there.
            return "" if "already listed" in last else self.scene_list
        if first.startswith("You are a screenwriter"):
            if "at a moment described in the profile" in last:
                return "I remember that winter well. The lamp never went out, not once."
            if "Dunlin" in last:
                return DUNLIN_SCRIPT
            if "wick" in last:
                return "I'm sorry, but I can't write a scene about real people."
            if "harbour board" in last:
                return "CLERK: The glass is filthy.\nBOARD CHAIR: Write it down."
            return ""
        if "smartphones" in last:
            return "Smart phones? I have never heard of such a thing. Ask me about the lamp."
        if "internet" in last:
            return "As an AI language model, I can tell you the internet is a global network."
        return "Social media lets people share short posts with their friends online."


@pytest.fixture
def teacher_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Teacher]]:
    """A fresh scripted endpoint; the settings point `openai:` references at it."""
    from character.models.registry import clear_backend_cache
    from character.settings import get_settings

    teacher = Teacher()
    holder = {"t": teacher}
    server, url = start_chat_stub(lambda msgs: holder["t"](msgs))
    server.handle_error = lambda *args: None  # type: ignore[method-assign] - a crash is on purpose
    monkeypatch.setenv("LLM_BASE_URL", url)
    monkeypatch.setenv("CHARACTER_REQUEST_TIMEOUT", "3")
    get_settings.cache_clear()
    clear_backend_cache()  # a cached openai backend would still point at an older endpoint

    def use(t: Teacher) -> Teacher:
        holder["t"] = t
        return t

    try:
        yield url, use  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()
        clear_backend_cache()


def _config(out: Path, **kw: object) -> ExperienceConfig:
    values: dict[str, object] = dict(
        character="Margaret Pell",
        profile=PROFILE,
        teacher_model="openai:teacher",
        scenes=6,
        protective_scenes=3,
        max_new_tokens=64,
        output_path=out,
    )
    values.update(kw)
    return ExperienceConfig(**values)


@pytest.mark.unit
def test_openai_teacher_replies_are_parsed_filtered_and_reported(teacher_url, tmp_path) -> None:
    _, use = teacher_url
    teacher = use(Teacher())
    out = generate_experiences(_config(tmp_path / "exp.jsonl"))
    rows = load_experience_rows(out)
    stats = load_experience_stats(out)

    # Preamble and closing line are not scenes; the duplicate idea is dropped, 2 profile moments
    # top the plan up to 6.
    plan = json.loads(out.with_suffix(".scenes.json").read_text())["scenes"]
    assert [o for _, o in plan] == ["model"] * 4 + ["profile"] * 2
    assert plan[0][0] == "Margaret rows out to the Dunlin in a gale with Tommy at the oars."
    assert stats.duplicate_scene_ideas == 1
    assert (stats.scenes_from_model, stats.scenes_from_profile) == (4, 2)

    by_kind: dict[str, list] = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(r)
    assert {k: len(v) for k, v in by_kind.items()} == {
        "experience": 1,
        "experience_monologue": 2,
        "protective": 2,
    }
    exp = by_kind["experience"][0]
    assert [m["role"] for m in exp.messages] == ["user", "assistant"]
    assert exp.messages[0]["content"].startswith("(Scene: Margaret rows out")
    assert "TOMMY: The Dunlin's on the rocks" in exp.messages[0]["content"]
    assert exp.messages[1]["content"].startswith("(thinking) Not again.")
    assert "Get the oars, sprat." in exp.messages[1]["content"]
    assert "**" not in json.dumps(exp.messages)
    assert exp.messages[-1]["role"] == "assistant"  # the trailing TOMMY line is not a target
    assert exp.teacher_model == "openai:teacher" and exp.scene_origin == "model"
    for r in by_kind["experience_monologue"]:
        assert r.scene_origin == "profile" and r.messages[0]["content"].startswith("(Scene: ")
        assert r.messages[1]["content"].startswith("I remember that winter")

    prot = {r.topic: r for r in by_kind["protective"]}
    assert set(prot) == {"smartphones", "social media"}
    assert prot["smartphones"].deflects is True and prot["social media"].deflects is False

    # Every reply that could not become training data is counted and quoted with its reason.
    assert stats.dropped_out_of_character == 2  # the refusal and the "As an AI" answer
    assert stats.dropped_no_character_lines == 1  # a script with only other people in it
    assert stats.dropped_empty == 1
    assert stats.protective_not_deflecting == 1
    reasons = {(p.key.split(":")[0], p.reason) for p in stats.problems}
    assert reasons == {
        ("scene", "out_of_character"),
        ("scene", "no_character_lines"),
        ("scene", "empty"),
        ("protective", "out_of_character"),
    }
    assert any("I'm sorry, but I can't" in p.reply for p in stats.problems)
    rounds = [a for a in teacher.asked if a.startswith("Profile of")]
    assert len(rounds) == 2 and "List 6 different" in rounds[0] and "List 2 different" in rounds[1]
    assert "- Margaret rows out to the Dunlin" in rounds[1]

    # A stricter run keeps only protective replies that deflect.
    strict = generate_experiences(_config(tmp_path / "strict.jsonl", require_deflection=True))
    kept = [r.topic for r in load_experience_rows(strict) if r.kind == "protective"]
    assert kept == ["smartphones"]
    assert load_experience_stats(strict).dropped_not_deflecting == 1


@pytest.mark.unit
def test_experience_rows_train_with_the_sft_trainer(
    teacher_url, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The rows feed the same SFT trainer as introspection data, thoughts and all."""
    from character.introspection.pipeline import SftTrainingConfig, run_sft_training

    out = generate_experiences(_config(tmp_path / "exp.jsonl", protective_scenes=1))
    adapter = run_sft_training(
        SftTrainingConfig(
            dataset_path=out,
            persona="margaret-pell",
            model=str(tiny_model_dir),
            max_steps=1,
            batch_size=2,
            lora_rank=4,
            max_length=96,
            output_dir=tmp_path / "sft",
        )
    )
    assert (Path(adapter) / "adapter_config.json").exists()


@pytest.mark.unit
def test_a_teacher_that_dies_mid_run_is_an_error_and_resume_keeps_the_plan(
    teacher_url, tmp_path
) -> None:
    _, use = teacher_url
    use(Teacher(crash_on="inspects the lamp room"))
    out = tmp_path / "exp.jsonl"
    started = time.monotonic()
    with pytest.raises(BackendError, match="Could not reach|No answer"):
        generate_experiences(_config(out))
    assert time.monotonic() - started < 20
    plan = json.loads(out.with_suffix(".scenes.json").read_text())["scenes"]
    assert len(plan) == 6

    # The endpoint comes back with different ideas: the resumed run completes the saved plan.
    teacher = use(Teacher(scene_list="1. Margaret paints the tower red and white in May."))
    generate_experiences(_config(out, resume=True))
    rows = load_experience_rows(out)
    scenes = {r.scene for r in rows if r.scene}
    assert scenes <= {s for s, _ in plan} and not any("paints" in s for s in scenes)
    assert not any(a.startswith("Profile of") for a in teacher.asked)
    assert len(rows) == 5 and len({r.key for r in rows}) == 5
    # Resuming a finished file asks for nothing more.
    before = len(teacher.asked)
    generate_experiences(_config(out, resume=True))
    assert len(teacher.asked) == before and len(load_experience_rows(out)) == 5


@pytest.mark.unit
def test_experience_job_with_an_openai_teacher(teacher_url) -> None:
    from character.jobs import run_dir, run_foreground

    config = {
        "character": "Margaret Pell",
        "profile": PROFILE,
        "teacher_model": "openai:teacher",
        "scenes": 6,
        "protective_scenes": 3,
    }
    status = run_foreground({"kind": "sources.experience", "config": config})
    assert status.state == "succeeded", status.error
    recorded = json.loads((run_dir(status.run_id) / "artifacts.json").read_text())
    result = recorded["result"]
    out = Path(result["output"])
    assert out.parent == run_dir(status.run_id) / "output"
    assert len(load_experience_rows(out)) == 5
    assert result["counts"]["experience"] == 1 and result["counts"]["dropped_empty"] == 1
    assert {a["type"] for a in recorded["artifacts"]} >= {"dataset", "file"}


@pytest.mark.unit
def test_cli_experience_with_an_openai_teacher(teacher_url, tmp_path, monkeypatch) -> None:
    from character.settings import get_settings
    from character.sources.cli import app

    runner = CliRunner()
    out = tmp_path / "cli.jsonl"
    args = ["experience", "Margaret Pell", "--profile", PROFILE, "--output", str(out)]
    args += ["--teacher-model", "openai:teacher", "--scenes", "6", "--protective-scenes", "3"]
    res = runner.invoke(app, args, catch_exceptions=False)
    text = " ".join(res.output.split())
    assert res.exit_code == 0, text
    assert "experience 1" in text and "protective 2" in text
    assert "out of character 2" in text and "no character lines 1" in text
    assert len(load_experience_rows(out)) == 5

    # A dead endpoint is a one-line error, not a traceback.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("LLM_BASE_URL", f"http://127.0.0.1:{dead}/v1")
    get_settings.cache_clear()
    from character.models.registry import clear_backend_cache

    clear_backend_cache()
    res = runner.invoke(app, [*args[:5], str(tmp_path / "dead.jsonl"), *args[6:]])
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "Could not reach" in text and "--resume" in text
    assert "Traceback" not in text


# ----- a real `transformers serve` on the embedded model as the teacher -----


@pytest.fixture
def served_teacher(
    embedded_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    from character.models.registry import clear_backend_cache
    from character.settings import get_settings

    with transformers_serve(embedded_model_dir, tmp_path) as url:
        monkeypatch.setenv("LLM_BASE_URL", url)
        monkeypatch.setenv("CHARACTER_REQUEST_TIMEOUT", "120")
        get_settings.cache_clear()
        clear_backend_cache()
        try:
            yield f"openai:{embedded_model_dir}"
        finally:
            clear_backend_cache()


@pytest.mark.integration
def test_experience_upload_with_transformers_serve_as_teacher(
    served_teacher: str, tmp_path: Path
) -> None:
    out = generate_experiences(
        ExperienceConfig(
            character="Margaret Pell",
            profile=PROFILE,
            teacher_model=served_teacher,
            scenes=1,
            protective_scenes=1,
            max_new_tokens=24,
            era_hint="after 1900",
            output_path=tmp_path / "served.jsonl",
        )
    )
    rows = load_experience_rows(out)
    stats = load_experience_stats(out)
    kept = stats.experience + stats.experience_monologue + stats.protective
    dropped = stats.dropped_empty + stats.dropped_out_of_character
    dropped += stats.dropped_no_character_lines
    assert kept == len(rows) and kept + dropped == 2  # every reply is either kept or explained
    assert any(r.kind.startswith("experience") for r in rows)
    for r in rows:
        assert r.messages[0]["role"] == "user" and r.messages[-1]["role"] == "assistant"
        assert r.messages[-1]["content"].strip()
        assert r.teacher_model == served_teacher
