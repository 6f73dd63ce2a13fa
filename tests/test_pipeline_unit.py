"""The one-command pipeline: presets, held-out split, stage markers, skipping and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.pipeline import (
    PRESETS,
    PipelineConfig,
    run_pipeline,
    sft_mix_with_chosen,
    split_heldout,
)

pytestmark = pytest.mark.unit


def test_presets_follow_the_recipe_and_demo_is_small() -> None:
    paper, demo = PRESETS["paper"], PRESETS["demo"]
    assert paper.pairs == 9150 and paper.reflections == 10000 and paper.interactions == 1000
    assert paper.turns == 10 and paper.sft_rank == 64 and paper.sft_lr == 5e-5
    assert demo.pairs <= 32 and demo.reflections <= 16 and demo.dpo_steps <= 48
    # Enough evaluation prompts for an in-voice interval narrower than [0, 1]-ish.
    assert demo.eval_samples >= 12 and PRESETS["small"].eval_samples >= 24
    cfg = PipelineConfig(persona="pirate", overrides={"pairs": 8})
    assert cfg.preset().pairs == 8 and PRESETS["demo"].pairs == demo.pairs


def test_sft_mix_adds_training_chosen_replies_without_system_prompt(tmp_path: Path) -> None:
    from character.introspection.sft import row_messages

    intro = tmp_path / "intro.jsonl"
    intro.write_text(json.dumps({"prompt": "Who are you?", "answer": "Arr, a pirate."}) + "\n")
    train = tmp_path / "train.jsonl"
    rows = [
        {
            "prompt": [
                {"role": "system", "content": "You are a pirate."},
                {"role": "user", "content": "Hi\nBe yourself here, not that character."},
            ],
            "chosen": [{"role": "assistant", "content": "Ahoy, matey!"}],
            "rejected": [{"role": "assistant", "content": "Hello."}],
        },
        {"prompt": "Bad row", "chosen": [], "rejected": []},
    ]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, added = sft_mix_with_chosen(intro, train, tmp_path / "mix.jsonl")
    mixed = [json.loads(line) for line in out.read_text().splitlines()]
    assert added == 1 and len(mixed) == 2
    msgs = row_messages(mixed[1])
    assert [m["role"] for m in msgs] == ["user", "assistant"]  # no system prompt learned
    assert msgs[-1]["content"] == "Ahoy, matey!"
    assert not PRESETS["paper"].sft_with_chosen


def test_heldout_split_keeps_whole_prompts_apart(tmp_path: Path) -> None:
    rows = []
    for p in range(5):
        for k in range(2):
            rows.append(
                {
                    "prompt": [{"role": "user", "content": f"prompt {p}"}],
                    "chosen": [{"role": "assistant", "content": f"yes {p}.{k}"}],
                    "rejected": [{"role": "assistant", "content": f"no {p}.{k}"}],
                }
            )
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    n_train, n_held = split_heldout(src, tmp_path / "train.jsonl", tmp_path / "held.jsonl", 2)
    assert (n_train, n_held) == (6, 4)
    train = {json.loads(x)["prompt"][0]["content"] for x in (tmp_path / "train.jsonl").open()}
    held = {json.loads(x)["prompt"][0]["content"] for x in (tmp_path / "held.jsonl").open()}
    assert not train & held and held == {"prompt 3", "prompt 4"}


def test_stages_are_marked_skipped_and_resumed(tmp_path: Path) -> None:
    later = ["pairs", "dpo", "introspection", "sft", "eval"]
    cfg = PipelineConfig(persona="pirate", run_id="r1", skip=later)
    folder = run_pipeline(cfg)
    assert folder.name == "r1" and folder.parent.name == "runs"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["stages"]["prompts"]["status"] == "done"
    assert summary["stages"]["prompts"]["count"] > 0
    assert all(summary["stages"][s]["status"] == "skipped" for s in later)
    assert (folder / "stages" / "prompts.json").exists()
    assert (folder / "prompts" / "prompts.json").exists()
    again = json.loads((run_pipeline(cfg) / "summary.json").read_text())
    assert again["stages"]["prompts"]["status"] == "done (resumed)"
    # DPO without the pairs stage's data is a clear error, recorded in the summary
    from character.pipeline import PipelineError

    with pytest.raises(PipelineError, match="pairs"):
        run_pipeline(cfg.model_copy(update={"skip": ["pairs"]}))
    failed = json.loads((folder / "summary.json").read_text())
    assert failed["stages"]["dpo"]["status"] == "failed"
    with pytest.raises(ValueError, match="unknown stages"):
        run_pipeline(PipelineConfig(persona="pirate", skip=["nope"]))


@pytest.mark.unit
def test_a_recipe_job_has_one_id_and_one_folder() -> None:
    from character.jobs.api import run_dir, run_foreground
    from character.jobs.models import JobSpec, RunState
    from character.settings import get_settings

    later = ["pairs", "dpo", "introspection", "sft", "eval"]
    spec = JobSpec(kind="pipeline", config={"persona": "pirate", "skip": later})
    st = run_foreground(spec)
    assert st.state == RunState.SUCCEEDED, st.error
    folder = run_dir(st.run_id)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["run_id"] == st.run_id
    assert (folder / "stages" / "prompts.json").exists() and (folder / "status.json").exists()
    runs = [p.name for p in (get_settings().data_path / "runs").iterdir() if p.is_dir()]
    assert runs == [st.run_id], runs
    # Whole-run progress: the recipe said where it was (1 of 1 stages not skipped).
    status = json.loads((folder / "status.json").read_text())
    assert status["overall"]["index"] == 1 and status["overall"]["count"] == 1


def test_presets_are_recipe_configs_and_nested_fields_start_from_them() -> None:
    """The presets are instances of the recipe config, built from the one preset table; a
    run's config starts from its preset, then the old flat overrides, then nested values."""
    from pydantic import ValidationError

    from character.presets import PRESETS
    from character.recipe import RECIPE_PRESETS, RecipeConfig

    for name, flat in PRESETS.items():
        recipe = RECIPE_PRESETS[name]  # type: ignore[index]
        assert isinstance(recipe, RecipeConfig) and recipe.as_preset() == flat
        cfg = PipelineConfig(persona="pirate", scale=name)
        assert isinstance(cfg, RecipeConfig) and cfg.recipe() == recipe
    demo = RECIPE_PRESETS["demo"]
    cfg = PipelineConfig.model_validate(
        {
            "persona": "pirate",
            "overrides": {"dpo_rank": 4, "pairs": 8},
            "dpo": {"lora_rank": 8, "beta": 0.2},
            "introspection": {"voice": {"min_in_voice": 0.3}},
        }
    )
    assert cfg.dpo.lora_rank == 8 and cfg.dpo.beta == 0.2 and cfg.pairs == 8  # nested wins
    assert cfg.dpo.learning_rate == demo.dpo.learning_rate  # the rest of the preset's section
    assert cfg.introspection.voice.min_in_voice == 0.3
    assert cfg.introspection.examples == demo.introspection.examples
    assert cfg.preset().dpo_rank == 8 and cfg.preset().pairs == 8
    assert PipelineConfig.model_validate(cfg.model_dump(mode="json")) == cfg  # a saved run
    with pytest.raises(ValidationError, match=r"dpo\.lora_rnk"):
        PipelineConfig.model_validate({"persona": "pirate", "dpo": {"lora_rnk": 8}})
    with pytest.raises(ValidationError, match="unknown preset field"):
        PipelineConfig(persona="pirate", overrides={"pairz": 8})
    with pytest.raises(ValidationError, match="output_dir"):  # the run decides its paths
        PipelineConfig.model_validate({"persona": "pirate", "dpo": {"output_dir": "x"}})


def test_a_nested_override_reaches_the_stage_the_run_uses(tiny_model_dir: Path) -> None:
    """A recipe job file (JSON) with nested DPO fields: the DPO stage of the real run trains
    with them (the adapter's LoRA rank and the run's recorded training config say so)."""
    from character.settings import get_settings

    folder = get_settings().data_path / "runs" / "nested"
    (folder / "pairs").mkdir(parents=True)
    from character.distillation.dataset import DpoExample, save_examples

    rows = [
        DpoExample(
            prompt=f"Tell me about the number {i}.",
            chosen=f"Arr matey, number {i} be a fine treasure on the open sea!",
            rejected=f"The number {i} is an integer.",
            teacher_model="teacher",
            student_model="student",
            constitution="pirate",
            constitution_hash="h1",
        )
        for i in range(4)
    ]
    save_examples(rows, folder / "pairs" / "dpo_train.jsonl")
    config_file = folder.parent / "nested.json"
    config_file.write_text(
        json.dumps(
            {
                "persona": "pirate",
                "run_id": "nested",
                "student_model": str(tiny_model_dir),
                "skip": ["prompts", "pairs", "introspection", "sft", "eval"],
                "dpo": {"lora_rank": 4, "lora_alpha": 12, "max_steps": 1, "batch_size": 2},
            }
        )
    )
    cfg = PipelineConfig.model_validate_json(config_file.read_text())
    run_pipeline(cfg)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["stages"]["dpo"]["status"] == "done", summary["stages"]["dpo"]
    adapter = Path(summary["stages"]["dpo"]["adapter"])
    lora = json.loads((adapter / "adapter_config.json").read_text())
    assert (lora["r"], lora["lora_alpha"]) == (4, 12)
    assert summary["config"]["dpo"]["lora_rank"] == 4 and summary["preset"]["dpo_rank"] == 4
