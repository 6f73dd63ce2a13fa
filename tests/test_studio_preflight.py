"""The library side of the launcher: preflight checks and presets → job specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.launch_presets import build_spec, cli_command, preset_config, spec_yaml
from character.preflight_checks import (
    MIN_PAIRS,
    MemoryEstimate,
    check_dataset_size,
    check_memory,
    check_tokenizer,
    count_rows,
    estimate_training_memory,
)


def _model_dir(tmp_path: Path, **tok: object) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    (d / "tokenizer_config.json").write_text(json.dumps(tok), encoding="utf-8")
    (d / "config.json").write_text(
        json.dumps(
            {
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "vocab_size": 1000,
                "intermediate_size": 128,
            }
        ),
        encoding="utf-8",
    )
    return d


@pytest.mark.unit
def test_tokenizer_checks_flag_missing_template_and_pad_equal_to_eos(tmp_path: Path) -> None:
    d = _model_dir(tmp_path, eos_token="</s>", pad_token="</s>")
    by_name = {c.name: c for c in check_tokenizer(d)}
    assert by_name["chat template"].level == "error"
    assert by_name["pad token"].level == "warn"
    assert "equals EOS" in by_name["pad token"].message


@pytest.mark.unit
def test_tokenizer_checks_pass_on_the_embedded_model(embedded_model_dir: Path) -> None:
    assert [c.level for c in check_tokenizer(embedded_model_dir)] == ["ok", "ok"]


@pytest.mark.unit
def test_memory_estimate_grows_with_batch_and_blocks_when_too_big(tmp_path: Path) -> None:
    d = _model_dir(tmp_path, chat_template="x")
    small = estimate_training_memory(d, batch_size=1, max_length=128, lora_rank=8)
    big = estimate_training_memory(d, batch_size=8, max_length=1024, lora_rank=8)
    assert big.total_gb > small.total_gb > 0
    assert check_memory(small.model_copy(update={"available_gb": 64.0})).level == "ok"
    tight = MemoryEstimate(**{**small.model_dump(), "total_gb": 10.0, "available_gb": 4.0})
    blocked = check_memory(tight)
    assert blocked.level == "error" and "lower the batch size" in blocked.message


@pytest.mark.unit
def test_dataset_size_warnings(tmp_path: Path) -> None:
    assert check_dataset_size(0).level == "error"
    assert check_dataset_size(MIN_PAIRS - 1).level == "warn"
    assert check_dataset_size(500).level == "ok"
    assert check_dataset_size(100_000, device="cpu").level == "warn"
    assert check_dataset_size(100_000, device="cuda").level == "ok"
    f = tmp_path / "d.jsonl"
    f.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert count_rows(f) == 2


@pytest.mark.unit
def test_presets_build_valid_job_specs_and_cli_text() -> None:
    from character.jobs import validate

    spec = build_spec("distill.generate", "demo", "pirate", temperature=0.5)
    cfg = validate(spec)
    assert (
        cfg.persona == "pirate" and cfg.temperature == 0.5 and cfg.pair_count == 24
    )  # the recipe's demo size
    text = cli_command(spec)
    assert "character jobs submit job.yaml" in text and "kind: distill.generate" in text
    assert "persona" not in preset_config("demo.count", "demo", "pirate")
    import yaml

    assert yaml.safe_load(spec_yaml(spec))["config"]["pair_count"] == 24
