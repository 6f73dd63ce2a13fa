"""`confined_workspace`: a classroom student's job config may not turn on
`allow_outside_data_dir`, at any depth; the instructor's (the process's) may."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from character.classroom import (
    ClassroomStartConfig,
    SignIn,
    session_settings,
    sign_in,
    start_classroom,
)
from character.jobs import validate
from character.jobs.errors import JobConfigError
from character.output_paths import OutputPathError, check_location
from character.settings import get_settings, use_settings, workspace_env

pytestmark = pytest.mark.unit


@pytest.fixture
def student_settings(tmp_path: Path):  # noqa: ANN201
    class_dir = start_classroom(
        ClassroomStartConfig(
            data_path=tmp_path / "data", class_code="CONF1N", instructor_code=SecretStr("X" * 10)
        )
    ).class_dir
    ada = sign_in(class_dir, SignIn(code=SecretStr("CONF1N"), name="Ada", pin=SecretStr("1234")))
    return session_settings(class_dir, ada)


def outside_spec(tmp_path: Path) -> dict:
    return {
        "kind": "distill.train",
        "config": {
            "dataset_path": "pairs.jsonl",
            "output_dir": str(tmp_path / "elsewhere"),
            "allow_outside_data_dir": True,
        },
    }


def test_a_student_cannot_turn_on_outputs_outside_the_workspace(
    student_settings, tmp_path: Path
) -> None:
    spec = outside_spec(tmp_path)
    assert validate(spec)  # the instructor (process settings) may write elsewhere
    assert student_settings.confined_workspace
    assert workspace_env(student_settings)["CHARACTER_CONFINED_WORKSPACE"] == "1"
    with use_settings(student_settings):
        with pytest.raises(JobConfigError, match="class workspace stay inside your own") as info:
            validate(spec)
        assert info.value.problems[0].startswith("config.allow_outside_data_dir:")
        # nested anywhere: a stage's config, or a list of configs
        nested = {
            "kind": "pipeline",
            "config": {"persona": "pirate", "dpo": {"allow_outside_data_dir": "true"}},
        }
        with pytest.raises(JobConfigError) as info:
            validate(nested)
        assert info.value.problems == [
            "config.dpo.allow_outside_data_dir: outputs in a class workspace stay inside your "
            "own folder, so 'allow outside data folder' cannot be turned on; remove this "
            "setting."
        ]
        listed = {"kind": "pipeline", "config": {"x": [{"y": {"allow_outside_data_dir": 1}}]}}
        with pytest.raises(JobConfigError, match=r"config\.x\.1\.y\.allow_outside_data_dir"):
            validate(listed)
        # set to false (or left out) is fine
        inside = {
            **spec,
            "config": {"dataset_path": "pairs.jsonl", "allow_outside_data_dir": False},
        }
        assert validate(inside)
        # and code that asks for it directly is refused too
        with pytest.raises(OutputPathError, match="class workspace"):
            check_location(tmp_path / "elsewhere", "output_dir", allow_outside=True)


def test_the_environment_variable_confines_a_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHARACTER_CONFINED_WORKSPACE", "1")
    get_settings.cache_clear()
    with pytest.raises(JobConfigError, match="allow_outside_data_dir"):
        validate(outside_spec(tmp_path))
