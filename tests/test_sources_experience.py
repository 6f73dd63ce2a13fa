"""Experience upload: parsing, and scenes + protective scenes from a profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.sources.experience import (
    ExperienceConfig,
    generate_experiences,
    parse_scene_ideas,
    parse_script,
)

PROFILE = (
    "Margaret Pell kept the Skerry Point lighthouse for forty-one winters. "
    "She lost her husband to a storm in her second year and stayed on alone. "
    "She trained three apprentices and rescued the crew of the Dunlin in a gale. "
    "She distrusts the harbour board and loves strong tea and bad puns."
)


@pytest.mark.unit
def test_script_parsing_gives_the_character_the_assistant_turns() -> None:
    text = (
        "TOMMY: The lamp is out!\n"
        "Margaret (thinking): Not again, not tonight.\n"
        "Margaret (speaking): Fetch the matches, sprat.\n"
        "Some stage direction without a name\n"
        "TOMMY: Here they are."
    )
    turns = parse_script(text, "Margaret Pell")
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"].startswith("(thinking) Not again")
    assert "Fetch the matches" in turns[1]["content"]
    ideas = parse_scene_ideas(
        "1. The lighthouse in a winter gale with Tommy\n2. short\n- Tea with the doctor at dawn today"
    )
    assert ideas == [
        "The lighthouse in a winter gale with Tommy",
        "Tea with the doctor at dawn today",
    ]


@pytest.mark.unit
def test_experience_upload_runs_on_a_local_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp.jsonl"
    config = ExperienceConfig(
        character="Margaret Pell",
        profile=PROFILE,
        teacher_model=str(tiny_model_dir),
        scenes=3,
        protective_scenes=2,
        max_new_tokens=12,
        output_path=out,
    )
    path = generate_experiences(config)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    kinds = [r["kind"] for r in rows]
    assert kinds.count("protective") == 2
    assert sum(k.startswith("experience") for k in kinds) == 3
    for r in rows:
        assert r["messages"][0]["role"] == "user" and r["messages"][-1]["role"] == "assistant"
        assert r["teacher_model"] == str(tiny_model_dir)
    with pytest.raises(FileExistsError):
        generate_experiences(config)
    # Resume skips what is done: nothing new is appended.
    generate_experiences(config.model_copy(update={"resume": True}))
    assert len(path.read_text().splitlines()) == len(rows)


@pytest.mark.integration
def test_experience_upload_on_the_embedded_model(embedded_model_dir: Path, tmp_path: Path) -> None:
    path = generate_experiences(
        ExperienceConfig(
            character="Margaret Pell",
            profile=PROFILE,
            scenes=2,
            protective_scenes=1,
            max_new_tokens=48,
            era_hint="after 1900",
            output_path=tmp_path / "exp.jsonl",
        )
    )
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(rows) == 3
    assert all(r["messages"][-1]["content"].strip() for r in rows)
