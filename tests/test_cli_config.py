"""CLI options generated from a config's fields (`character distill generate`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

pytestmark = pytest.mark.unit


def _field_paths(model: type, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    out: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _field_paths(ann, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_generation_config_field_has_an_option_with_its_description() -> None:
    from character.distillation.cli import app, generate
    from character.distillation.generate import GenerationConfig

    command = typer.main.get_command(app).commands["generate"]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    options = {o.path: o for o in generate.options}
    assert set(options) == _field_paths(GenerationConfig)
    for path, opt in options.items():
        assert opt.param in params, path
        section, _, name = path.rpartition(".")
        model = GenerationConfig.model_fields[section].annotation if section else GenerationConfig
        info = model.model_fields[name]
        assert info.description, f"GenerationConfig.{path} has no description for its help"
        assert params[opt.param].help.startswith(info.description.strip())
    # The names the command had before its options were generated still work.
    flags = {f for p in command.params for f in (*p.opts, *p.secondary_opts)}
    for old in ("--pairs", "-o", "--output", "--voice-judge", "--judge-model"):
        assert old in flags
    assert "--allow-outside-data" in flags and "--voice-min-in-voice" in flags


def test_options_build_the_config_and_bad_values_are_one_clear_line(tmp_path: Path) -> None:
    from character.cli_config import config_from_options
    from character.distillation.cli import app, generate
    from character.distillation.generate import GenerationConfig

    values = {
        "persona": "pirate",
        "pair_count": 3,
        "voice__min_in_voice": 0.3,
        "include_bank": False,
        "output_path": tmp_path / "p.jsonl",
    }
    config = config_from_options(GenerationConfig, generate.options, values)
    assert isinstance(config, GenerationConfig)
    assert (config.pair_count, config.voice.min_in_voice, config.include_bank) == (3, 0.3, False)
    assert config.temperature == GenerationConfig.model_fields["temperature"].default
    assert "pair_count" in config.model_fields_set and "temperature" not in config.model_fields_set

    out = CliRunner().invoke(app, ["generate", "--persona", "pirate", "--pairs", "-2"])
    assert out.exit_code == 1 and "pair_count" in out.output, out.output
    assert "Traceback" not in out.output
    out = CliRunner().invoke(app, ["generate", "--persona", "pirate", "--voice-judge", "nope"])
    assert out.exit_code == 1 and "voice.method" in out.output, out.output
