"""Training kinds type their outputs by what they are: only a PEFT folder is an adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from character.jobs.index import artifact_type_of
from character.jobs.worker import _artifacts_from_result

pytestmark = pytest.mark.unit


def test_training_outputs_are_typed_by_path(tmp_path: Path) -> None:
    adapter = tmp_path / "dpo"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert artifact_type_of(adapter, "adapter") == "adapter"
    assert artifact_type_of(tmp_path / "pairs.jsonl", "adapter") == "dataset"
    assert artifact_type_of(tmp_path / "summary.json", "adapter") == "file"
    assert artifact_type_of(tmp_path, "adapter") == "file"  # a run folder
    # Other kinds keep what their naming convention says.
    assert artifact_type_of(tmp_path / "report.json", "eval_report") == "eval_report"


def test_a_returned_run_folder_is_not_listed_as_an_adapter(tmp_path: Path) -> None:
    adapter = tmp_path / "sft"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    arts = _artifacts_from_result(
        {"artifacts": [str(tmp_path), {"path": adapter, "name": "SFT adapter"}]}, "adapter"
    )
    assert [(a.type, a.name) for a in arts] == [("file", None), ("adapter", "SFT adapter")]
