"""The one preset table: every size of every stage at demo, small and paper scale.

The whole recipe (`character.pipeline`), the single-step launchers (`character.launch_presets`)
and the Tinker launcher all read their sizes from here, so "demo" means one thing everywhere.
`paper` follows the published recipe (shared/reference/recipe.md); `demo` fits minutes on two
CPU cores with the embedded model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Scale = Literal["demo", "small", "paper"]


class ScalePreset(BaseModel):
    """Sizes of every stage. `paper` follows recipe.md; `demo` fits minutes on 2 CPU cores.

    `sft_with_chosen` adds the DPO pairs' chosen (teacher, in-voice) replies to the SFT data as
    plain prompt → reply rows with no system prompt. A 135M model gets only ~20 pairs at demo
    size, and learning the chosen replies directly (context distillation) was expected to make
    it speak in voice without a persona prompt. The published recipe
    (paper) trains SFT on introspection only. Off by default: measured on pirate at the demo
    preset it did not help (DPO+SFT in voice unprompted 0.58 vs 0.67 without it; pooled
    adversarial retention 0.58 vs 0.71, bench/character_quality.py, 12 held-out prompts).

    Demo DPO learning rate 5e-4 (was 2e-4): on the same 24 pirate pairs, 16 steps, the DPO
    adapter alone was in voice unprompted on 24 held-out prompts 0.96 [0.80,0.99] vs 0.46
    [0.28,0.65] at 2e-4 (classifier; NLL weight 1.0 did not help: 0.54; 32 steps: 0.71).
    Whole recipe at 5e-4 (bench/character_quality.py, pirate, 20 held-out prompts, 9 suffixes +
    prefill): the final DPO+SFT model with no system prompt is in voice 0.95 [0.76,0.99] and keeps
    the voice under attack 0.94 [0.89,0.97] pooled, against 0.80 [0.73,0.85] for the base model
    prompted with the persona (paired difference +0.14 [+0.07,+0.21]).
    """

    pairs: int
    heldout: int
    pair_max_new_tokens: int
    pair_allow_cut_off: bool
    samples_per_prompt: int
    best_of: int = 1
    breaking_share: float = 0.0
    sft_with_chosen: bool = False
    dpo_steps: int | None
    dpo_epochs: float
    dpo_batch: int
    dpo_rank: int
    dpo_lr: float
    dpo_max_length: int
    reflections: int
    interactions: int
    turns: int
    reflection_max_new_tokens: int
    turn_max_new_tokens: int
    sft_steps: int | None
    sft_epochs: float
    sft_batch: int
    sft_rank: int
    sft_lr: float
    sft_max_length: int
    truncation: Literal["drop", "trim"]
    eval_samples: int
    eval_max_new_tokens: int


PRESETS: dict[str, ScalePreset] = {
    "demo": ScalePreset(
        pairs=24, heldout=4, pair_max_new_tokens=80, pair_allow_cut_off=True, samples_per_prompt=1,
        best_of=3, breaking_share=0.2,
        dpo_steps=16, dpo_epochs=1, dpo_batch=2, dpo_rank=16, dpo_lr=5e-4, dpo_max_length=320,
        reflections=12, interactions=2, turns=4, reflection_max_new_tokens=96,
        turn_max_new_tokens=64, sft_steps=10, sft_epochs=1, sft_batch=4, sft_rank=16,
        sft_lr=2e-4, sft_max_length=384, truncation="trim", eval_samples=12,
        eval_max_new_tokens=64,
    ),
    "small": ScalePreset(
        pairs=200, heldout=16, pair_max_new_tokens=192, pair_allow_cut_off=False,
        samples_per_prompt=2, best_of=4, breaking_share=0.2,
        dpo_steps=None, dpo_epochs=1, dpo_batch=8, dpo_rank=32, dpo_lr=1e-4, dpo_max_length=768,
        reflections=200, interactions=20, turns=10, reflection_max_new_tokens=256,
        turn_max_new_tokens=128, sft_steps=None, sft_epochs=1, sft_batch=8, sft_rank=64,
        sft_lr=1e-4, sft_max_length=1536, truncation="trim", eval_samples=24,
        eval_max_new_tokens=128,
    ),
    "paper": ScalePreset(
        pairs=9150, heldout=100, pair_max_new_tokens=1024, pair_allow_cut_off=False,
        samples_per_prompt=5, best_of=2,
        dpo_steps=None, dpo_epochs=1, dpo_batch=32, dpo_rank=64, dpo_lr=5e-5,
        dpo_max_length=1024, reflections=10000, interactions=1000, turns=10,
        reflection_max_new_tokens=2048, turn_max_new_tokens=1024, sft_steps=None,
        sft_epochs=1, sft_batch=32, sft_rank=64, sft_lr=5e-5, sft_max_length=3072,
        truncation="drop", eval_samples=100, eval_max_new_tokens=256,
    ),
}  # fmt: skip
