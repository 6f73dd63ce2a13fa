"""One preset table: every launcher's sizes come from `character.presets.PRESETS`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.unit
@pytest.mark.parametrize("name", ["demo", "small", "paper"])
def test_step_and_tinker_presets_are_the_recipes_sizes(name: str) -> None:
    from character.launch_presets import STEP_PRESETS
    from character.pipeline import PipelineConfig
    from character.presets import PRESETS
    from character.tinker.launcher import TINKER_PRESETS

    p = PRESETS[name]
    assert PipelineConfig(persona="pirate", scale=name).preset() == p
    gen = STEP_PRESETS["distill.generate"][name]
    assert (gen["pair_count"], gen["max_new_tokens"], gen["best_of"]) == (
        p.pairs,
        p.pair_max_new_tokens,
        p.best_of,
    )
    for knobs in (STEP_PRESETS["distill.train"][name], TINKER_PRESETS[name]):
        assert (knobs["lora_rank"], knobs["learning_rate"], knobs["batch_size"]) == (
            p.dpo_rank,
            p.dpo_lr,
            p.dpo_batch,
        )
        assert knobs.get("max_steps") == p.dpo_steps


@pytest.mark.unit
def test_no_other_module_defines_preset_sizes() -> None:
    """A second table of sizes (as four once disagreed: 9150 vs 1500 pairs at 'paper') fails."""
    table = re.compile(r"""["']paper["']\s*:\s*(\{|ScalePreset\()""")
    offenders = []
    for path in [*(REPO / "character").rglob("*.py"), *(REPO / "studio").rglob("*.py")]:
        rel = path.relative_to(REPO).as_posix()
        for m in table.finditer(path.read_text(encoding="utf-8")):
            line = path.read_text(encoding="utf-8")[: m.start()].count("\n") + 1
            offenders.append(f"{rel}:{line}")
    # The table itself, and the job runner's smoke-test counter (no sizes of the recipe).
    files = sorted(o.split(":")[0] for o in offenders)
    assert files == ["character/launch_presets.py", "character/presets.py"], offenders
