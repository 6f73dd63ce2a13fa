"""Help and defaults read from the typed configs (`character.config_fields`), and the studio's
training launcher showing them on every advanced knob instead of a second hand-written table."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

LAUNCHER_KINDS = ("pipeline", "distill.generate", "distill.train", "demo.count")
"""What the training page's "What to run" offers."""


def test_field_help_and_default_follow_nested_paths() -> None:
    from character.config_fields import field_default, field_help
    from character.distillation.train import TrainingConfig
    from character.recipe import RecipeConfig
    from character.settings import get_settings

    description = TrainingConfig.model_fields["lora_rank"].description
    assert description and field_help(RecipeConfig, "dpo.lora_rank") == description
    assert field_default(TrainingConfig, "beta") == 0.1
    assert field_default(TrainingConfig, "model") == get_settings().student_model  # a factory
    assert field_default(TrainingConfig, "dataset_path") is None  # required: no default
    with pytest.raises(KeyError, match="no field 'dpo.no_such'"):
        field_help(RecipeConfig, "dpo.no_such")
    with pytest.raises(KeyError, match="not a section"):
        field_help(RecipeConfig, "pairs.x")


@pytest.mark.parametrize("kind", LAUNCHER_KINDS)
def test_every_launcher_knob_has_its_fields_description_as_help(kind: str) -> None:
    from character.config_fields import field_info
    from character.launch_presets import (
        PRESETS,
        knob_config,
        knob_field,
        knob_help,
        launcher_knobs,
    )

    model = knob_config(kind)
    for preset in PRESETS:
        knobs = launcher_knobs(kind, preset)
        assert knobs or kind == "demo.count"
        for knob in knobs:
            text = knob_help(kind, knob)
            assert text, f"{kind} knob {knob} ({knob_field(kind, knob)}) has no help"
            assert text == (field_info(model, knob_field(kind, knob)).description or "").strip()


def test_tuned_knobs_start_at_the_configs_default() -> None:
    from character.distillation.generate import GenerationConfig
    from character.distillation.train import TrainingConfig
    from character.launch_presets import launcher_knobs

    train = launcher_knobs("distill.train", "paper")
    assert train["beta"] == TrainingConfig.model_fields["beta"].default
    generate = launcher_knobs("distill.generate", "demo")
    assert generate["temperature"] == GenerationConfig.model_fields["temperature"].default
    assert launcher_knobs("pipeline", "demo")["dpo_rank"] == 16  # the preset's own value


def test_the_training_page_shows_help_on_every_knob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_pages import open_page, use_constitutions

    from character.launch_presets import knob_help

    use_constitutions(tmp_path / "constitutions", monkeypatch)
    at = open_page("studio/views/training.py")
    labels = {
        "pipeline": "Whole recipe: pairs → DPO → introspection → SFT",
        "distill.generate": "Step 1 · generate teacher/student pairs",
        "distill.train": "Step 2 · train the student on the pairs (DPO)",
        "demo.count": "Smoke test of the job runner (no model)",
    }
    for kind, label in labels.items():
        at.radio(key="tl_kind").set_value(label).run()
        assert not at.exception, at.exception
        prefix = f"tl_{kind}_demo_"
        knobs = [
            w
            for w in [*at.number_input, *at.checkbox]
            if isinstance(w.key, str) and w.key.startswith(prefix)
        ]
        assert knobs, kind
        for widget in knobs:
            knob = widget.key.removeprefix(prefix)
            help_text, _, job_file = widget.help.partition("\n\nIn the job file:")
            assert help_text.strip() and help_text == knob_help(kind, knob), (kind, knob)
            assert f"`{knob}`" in job_file


def test_every_tinker_launcher_knob_has_its_fields_description_as_help() -> None:
    from character.config_fields import field_help
    from character.tinker.launcher import TINKER_PRESETS
    from character.tinker.train import TinkerTrainingConfig

    for preset, knobs in TINKER_PRESETS.items():
        for knob in knobs:
            assert field_help(TinkerTrainingConfig, knob), f"Tinker {preset} knob {knob}"
