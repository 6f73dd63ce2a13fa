"""Whole-run progress: stage k of n and a time left that follows the machine's real pace."""

from __future__ import annotations

import pytest

from character.presets import PRESETS
from character.stage_estimates import plan_stage, stage_estimates

STAGES = ["prompts", "pairs", "dpo", "introspection", "sft", "eval"]


@pytest.mark.unit
def test_estimates_grow_with_the_preset_and_scale_by_measured_pace() -> None:
    demo, small = stage_estimates(PRESETS["demo"]), stage_estimates(PRESETS["small"])
    assert all(small[s] >= demo[s] for s in STAGES)
    assert 60 < sum(demo.values()) < 1800  # a demo is minutes, not seconds or hours

    first = plan_stage(STAGES, "pairs", demo, {"prompts": 0.1}, set(), now=100.0)
    assert (first.index, first.count) == (2, 6)
    assert first.remaining_after_s == pytest.approx(sum(demo[s] for s in STAGES[2:]), rel=0.01)
    # The pairs stage took twice its estimate here: later stages are expected to as well.
    slow = plan_stage(STAGES, "dpo", demo, {"pairs": 2 * demo["pairs"]}, set(), now=200.0)
    assert slow.stage_estimate_s == pytest.approx(2 * demo["dpo"], rel=0.01)
    skipped = plan_stage(STAGES, "dpo", demo, {}, {"introspection", "sft"}, now=0.0)
    assert (skipped.index, skipped.count) == (3, 4)
    assert skipped.remaining_after_s == pytest.approx(demo["eval"], rel=0.01)
    # Time left: the stage's own measured ETA when it has one, else what its estimate leaves.
    assert skipped.eta_s(now=10.0, stage_eta_s=5.0) == pytest.approx(5.0 + demo["eval"], 0.01)
    assert skipped.eta_s(now=1e9) == pytest.approx(demo["eval"], rel=0.01)


@pytest.mark.unit
def test_status_of_a_recipe_says_stage_k_of_n_and_time_left() -> None:
    from character.jobs.models import RunState, RunStatus, progress_from_status

    position = plan_stage(STAGES, "dpo", stage_estimates(PRESETS["demo"]), {}, set(), now=0.0)
    st = RunStatus(
        run_id="r",
        kind="pipeline",
        display_name="r",
        state=RunState.RUNNING,
        eta_s=30.0,
        overall=position.model_dump(),
    )
    p = progress_from_status(st, now=10.0)
    assert (p.stage_index, p.stage_count) == (3, 6)
    assert p.overall_eta_s == pytest.approx(30.0 + position.remaining_after_s, abs=0.2)
    done = progress_from_status(st.model_copy(update={"state": RunState.SUCCEEDED}), now=10.0)
    assert done.overall_eta_s is None
