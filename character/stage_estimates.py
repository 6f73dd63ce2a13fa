"""How long each stage of the recipe should take, so a run can say "stage 3 of 6, about
4 minutes left" before the later stages have started.

The first guesses come from the preset's sizes and rates measured on a 2-core CPU with the
embedded model (batched sampling ~60 tok/s, a DPO step ~81 tokens/s through policy and
reference, SFT ~150 tok/s). Once stages finish, the remaining guesses are scaled by how far the
finished ones were off on this machine, so the estimate follows the hardware it runs on.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from character.presets import ScalePreset

GEN_TOK_S = 60.0
DPO_TOK_S = 81.0
SFT_TOK_S = 150.0


def _steps(explicit: int | None, rows: int, batch: int, epochs: float) -> int:
    return explicit if explicit is not None else max(1, math.ceil(rows / batch * epochs))


def stage_estimates(p: ScalePreset) -> dict[str, float]:
    """Seconds per stage at these sizes on the reference machine."""
    pairs = p.pairs + p.heldout
    dpo_steps = _steps(p.dpo_steps, p.pairs, p.dpo_batch, p.dpo_epochs)
    sft_rows = p.reflections + p.interactions + (p.pairs if p.sft_with_chosen else 0)
    sft_steps = _steps(p.sft_steps, sft_rows, p.sft_batch, p.sft_epochs)
    models = 5  # base, base + prompt, DPO, DPO + SFT, adapter + prompt
    return {
        "prompts": 1.0,
        # every kept pair costs best_of teacher samples and one student sample; ~20% dropped
        "pairs": 1.2 * pairs * (p.best_of + 1) * p.pair_max_new_tokens / GEN_TOK_S,
        "dpo": dpo_steps * p.dpo_batch * p.dpo_max_length / DPO_TOK_S,
        "introspection": (
            p.reflections * p.reflection_max_new_tokens
            + p.interactions * p.turns * p.turn_max_new_tokens
        )
        / GEN_TOK_S
        + 15.0,  # merging the DPO adapter into its base
        "sft": sft_steps * p.sft_batch * p.sft_max_length / 2 / SFT_TOK_S,
        "eval": models * p.eval_samples * p.eval_max_new_tokens / GEN_TOK_S + 20.0,
    }


class OverallProgress(BaseModel):
    """Where a multi-stage run is: stage `index` of `count`, and what is left after it."""

    index: int
    count: int
    stage: str
    stage_estimate_s: float
    remaining_after_s: float
    stage_started_at: float

    def eta_s(self, now: float, stage_eta_s: float | None = None) -> float:
        """Seconds left in the whole run: the stage's own ETA when it has one (measured from
        its progress), else what its estimate leaves, plus the stages after it."""
        if stage_eta_s is None:
            stage_eta_s = max(0.0, self.stage_estimate_s - (now - self.stage_started_at))
        return stage_eta_s + self.remaining_after_s


def plan_stage(
    stages: list[str],
    stage: str,
    estimates: dict[str, float],
    measured: dict[str, float],
    skipped: set[str],
    now: float,
) -> OverallProgress:
    """The overall position at the start of `stage`, with estimates scaled by the finished
    stages' measured/estimated ratio."""
    done = [s for s in measured if estimates.get(s, 0) > 5.0]
    scale = sum(measured[s] for s in done) / sum(estimates[s] for s in done) if done else 1.0
    active = [s for s in stages if s not in skipped]
    after = active[active.index(stage) + 1 :] if stage in active else []
    return OverallProgress(
        index=(active.index(stage) + 1) if stage in active else 0,
        count=len(active),
        stage=stage,
        stage_estimate_s=round(estimates.get(stage, 0.0) * scale, 1),
        remaining_after_s=round(sum(estimates.get(s, 0.0) for s in after) * scale, 1),
        stage_started_at=now,
    )
