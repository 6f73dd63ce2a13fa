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
    assert PRESETS["demo"].sft_with_chosen and not PRESETS["paper"].sft_with_chosen


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
