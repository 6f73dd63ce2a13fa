"""Outputs stay in the data folder, never replace a folder that is not ours, and names stay names.

The three probe findings, through the real CLI and the real job runner: `distill train
--output-dir` into a user's model folder, `--save-name ../../x`, and a job YAML whose
`output_path` points at /etc/cron.d.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from character.output_paths import (
    MARKER,
    OutputPathError,
    check_config_outputs,
    check_name,
    check_output_dir,
    claim_output_dir,
)
from character.settings import get_settings

pytestmark = pytest.mark.unit


def _app():  # noqa: ANN202
    from character.cli import _register_subcommands, app

    _register_subcommands()
    return app


def _pairs(path: Path) -> Path:
    row = {
        "prompt": [{"role": "user", "content": "Hi"}],
        "chosen": [{"role": "assistant", "content": "Ahoy"}],
        "rejected": [{"role": "assistant", "content": "Hello"}],
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


def test_train_refuses_a_users_folder_and_leaves_it_untouched(tmp_path: Path) -> None:
    data = get_settings().data_path
    user = data / "my-model"
    user.mkdir(parents=True)
    (user / "README.md").write_text("my notes", encoding="utf-8")
    (user / "tokenizer.json").write_text("{}", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in user.iterdir()}
    dataset = _pairs(tmp_path / "pairs.jsonl")
    res = CliRunner().invoke(
        _app(), ["distill", "train", "--dataset", str(dataset), "--output-dir", str(user)]
    )
    assert res.exit_code != 0
    assert "output_dir" in res.output and str(user.resolve()) in res.output
    assert "README.md" in res.output and "Adapter saved" not in res.output
    assert {p.name: p.read_bytes() for p in user.iterdir()} == before


def test_train_save_name_cannot_escape_checkpoints(tmp_path: Path) -> None:
    dataset = _pairs(tmp_path / "pairs.jsonl")
    res = CliRunner().invoke(
        _app(), ["distill", "train", "--dataset", str(dataset), "--save-name", "../../x"]
    )
    assert res.exit_code != 0 and "save_name" in res.output
    assert "plain folder name" in res.output
    assert not (get_settings().checkpoints / "../../x").exists()


def test_generate_output_outside_the_data_folder_is_refused(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        _app(),
        ["distill", "generate", "--persona", "pirate", "--output", "/etc/cron.d/character"],
    )
    assert res.exit_code != 0
    assert "output_path" in res.output and "outside the data folder" in res.output
    assert "--allow-outside-data" in res.output


def test_job_yaml_output_outside_the_data_folder_never_starts(tmp_path: Path) -> None:
    from character.jobs import JobConfigError, list_runs, submit

    job = tmp_path / "job.yaml"
    job.write_text(
        "kind: distill.generate\n"
        "config:\n"
        "  persona: pirate\n"
        "  output_path: /etc/cron.d/character-pairs.jsonl\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(_app(), ["jobs", "submit", str(job)])
    assert res.exit_code != 0
    assert "config.output_path: /etc/cron.d/character-pairs.jsonl" in res.output
    with pytest.raises(JobConfigError, match="outside the data folder"):
        submit(job)
    with pytest.raises(JobConfigError, match="config.save_name"):
        submit({"kind": "distill.train", "config": {"dataset_path": "x", "save_name": ".."}})
    assert list_runs() == []
    assert not list((get_settings().data_path / "runs").glob(".creating-*"))


def test_names_are_one_plain_component() -> None:
    for good in ("pirate-dpo", "pirate_v2.1", "a"):
        assert check_name(good) == good
    for bad in ("", ".", "..", "../x", "a/b", "a\\b", ".hidden", "-rf", "~root", "a\0b"):
        with pytest.raises(OutputPathError, match="save_name"):
            check_name(bad)


def test_our_folders_are_reused_and_the_flag_allows_outside(tmp_path: Path) -> None:
    inside = get_settings().data_path / "runs" / "x" / "output"
    claimed = claim_output_dir(inside, "output_dir", kind="test")
    assert (claimed / MARKER).exists()
    (claimed / "adapter_model.safetensors").write_bytes(b"0")
    assert check_output_dir(inside, "output_dir") == claimed  # ours: a rerun may write there
    legacy = get_settings().checkpoints / "old-run"
    (legacy / "checkpoint-4").mkdir(parents=True)
    (legacy / "checkpoint-4" / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert check_output_dir(legacy, "output_dir") == legacy.resolve()  # a crashed run of ours

    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    with pytest.raises(OutputPathError, match="outside the data folder"):
        check_output_dir(elsewhere, "output_dir")
    assert check_output_dir(elsewhere, "output_dir", allow_outside=True) == elsewhere.resolve()

    from character.distillation.train import TrainingConfig

    cfg = TrainingConfig(dataset_path=tmp_path / "d.jsonl", output_dir=elsewhere)
    with pytest.raises(OutputPathError, match="output_dir"):
        check_config_outputs(cfg, claim=False)
    ok = cfg.model_copy(update={"allow_outside_data_dir": True})
    assert check_config_outputs(ok) == [elsewhere.resolve()] and (elsewhere / MARKER).exists()


def test_symlink_out_of_the_data_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-target"
    outside.mkdir()
    link = get_settings().data_path / "sneaky"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    with pytest.raises(OutputPathError, match="outside the data folder"):
        check_output_dir(link / "adapter", "output_dir")


def test_a_process_started_in_the_root_folder_does_not_open_the_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir("/")
    with pytest.raises(OutputPathError, match="outside the data folder"):
        check_output_dir("/etc/cron.d/x", "output_dir")


def test_tinker_download_checks_its_folder_before_any_network() -> None:
    from character.tinker.weights import download_adapter

    path = "tinker://run-1/external_weights/final"
    with pytest.raises(OutputPathError, match="out_dir: /etc/character-adapter is outside"):
        download_adapter(path, "/etc/character-adapter")
    user = get_settings().data_path / "users-folder"
    user.mkdir(parents=True)
    (user / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputPathError, match="no run of ours wrote"):
        download_adapter(path, user, overwrite=True)
    assert (user / "notes.txt").read_text("utf-8") == "mine"
