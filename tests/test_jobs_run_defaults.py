"""JobContext.with_run_defaults: what job functions do to a config before running it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from character.jobs.registry import JobContext

pytestmark = pytest.mark.unit


class _Resumable(BaseModel):
    output_dir: Path | None = None
    resume: bool = False


class _Report(BaseModel):
    output_dir: Path | None = None


def _ctx(tmp_path: Path, resume: bool) -> JobContext:
    return JobContext(
        run_dir=tmp_path, reporter=lambda e: None, stop_requested=lambda: False, resume=resume
    )


def test_unset_output_goes_into_the_run_folder_and_resume_follows_the_run(tmp_path: Path) -> None:
    fresh = _ctx(tmp_path, resume=False).with_run_defaults(_Resumable())
    assert fresh == _Resumable(output_dir=tmp_path / "output", resume=False)
    again = _ctx(tmp_path, resume=True).with_run_defaults(_Resumable())
    assert again == _Resumable(output_dir=tmp_path / "output", resume=True)


def test_a_chosen_output_is_kept_and_configs_without_resume_are_left_alone(
    tmp_path: Path,
) -> None:
    chosen = _Resumable(output_dir=Path("/somewhere/else"))
    assert _ctx(tmp_path, resume=False).with_run_defaults(chosen) is chosen
    report = _ctx(tmp_path, resume=True).with_run_defaults(_Report())
    assert report == _Report(output_dir=tmp_path / "output")
