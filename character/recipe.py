"""The recipe's typed config: every stage's settings as nested fields, and the presets as
instances of it.

`RecipeConfig` holds one section per stage (`generation`, `dpo`, `introspection`, `sft`,
`eval`). Each section is the stage's own config (`GenerationConfig`, `TrainingConfig`,
`IntrospectionGenerationConfig`, `SftTrainingConfig`, the quick evaluation's settings) without
the fields the recipe decides per run (persona, models, seed, paths, resume): same names, types,
limits and descriptions, so `{"dpo": {"lora_rank": 8}}` in a YAML/JSON file or `--dpo.lora-rank
8` reaches the DPO stage as `TrainingConfig.lora_rank`. `RECIPE_PRESETS` are the presets of
`character.presets` in this shape; `PipelineConfig` (in `character.pipeline`) is a recipe config
plus the run's persona and models, filled from a preset and then the user's values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from character.distillation.generate import GenerationConfig
from character.distillation.train import TrainingConfig
from character.eval.voice_judge import VoiceJudgeConfig
from character.introspection.configs import IntrospectionGenerationConfig, SftTrainingConfig
from character.presets import PRESETS, Scale, ScalePreset

_RUN_FIELDS = {"persona", "seed", "resume", "overwrite", "allow_outside_data_dir"}
"""Fields every stage gets from the run, never from the recipe's sections."""

RUN_OWNED: dict[str, set[str]] = {
    "generation": _RUN_FIELDS | {"teacher_model", "student_model", "pair_count", "output_path"},
    "dpo": _RUN_FIELDS | {"dataset_path", "model", "save_name", "output_dir"},
    "introspection": _RUN_FIELDS | {"teacher_model", "output_path"},
    "sft": _RUN_FIELDS | {"dataset_path", "model", "save_name", "output_dir", "merged_dir"},
}
"""Per stage, the fields of its config that the recipe sets per run (paths, models, seed)."""


def stage_section(config: type[BaseModel], stage: str) -> type[BaseModel]:
    """`config` without the fields the recipe owns: the same fields (types, limits, defaults,
    descriptions), so a section's values go into the stage config unchanged."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in config.model_fields.items()
        if name not in RUN_OWNED[stage]
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{config.__name__}Section",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The recipe's {stage} stage: `{config.__name__}` without the fields each run "
        "sets (persona, models, seed, paths).",
        **fields,
    )


GenerationSection = stage_section(GenerationConfig, "generation")
DpoSection = stage_section(TrainingConfig, "dpo")
IntrospectionSection = stage_section(IntrospectionGenerationConfig, "introspection")
SftSection = stage_section(SftTrainingConfig, "sft")


class QuickEvalSection(BaseModel):
    """The quick evaluation at the end of the recipe (base, DPO, DPO+SFT on held-out prompts)."""

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(default=12, ge=1, description="Held-out prompts each model answers.")
    max_new_tokens: int = Field(default=64, ge=1, description="Longest evaluated reply.")
    voice: VoiceJudgeConfig = Field(
        default_factory=VoiceJudgeConfig, description="The voice judge that scores the replies."
    )


class RecipeConfig(BaseModel):
    """Sizes and settings of every stage of the recipe; the presets are instances of it."""

    model_config = ConfigDict(extra="forbid")

    pairs: int = Field(ge=1, description="DPO pairs to train on (held-out pairs come on top).")
    heldout: int = Field(ge=0, description="Pairs held out (whole prompts) for the evaluation.")
    generation: GenerationSection = Field(  # type: ignore[valid-type]
        description="Teacher/student pair generation (GenerationConfig)."
    )
    dpo: DpoSection = Field(description="DPO training (TrainingConfig).")  # type: ignore[valid-type]
    introspection: IntrospectionSection = Field(  # type: ignore[valid-type]
        description="Self-reflection and self-interaction data (IntrospectionGenerationConfig)."
    )
    sft: SftSection = Field(description="SFT on introspection (SftTrainingConfig).")  # type: ignore[valid-type]
    sft_with_chosen: bool = Field(
        default=False,
        description="Also train SFT on the training pairs' chosen (in-voice) replies, with no "
        "system prompt, so the model speaks in voice unprompted.",
    )
    eval: QuickEvalSection = Field(description="The quick evaluation.")

    def as_preset(self) -> ScalePreset:
        """The flat sizes (`ScalePreset`) of this recipe, for estimates and older readers."""
        values: dict[str, Any] = {}
        for flat, paths in FLAT_FIELDS.items():
            section, _, name = paths[0].rpartition(".")
            holder: Any = getattr(self, section) if section else self
            values[flat] = getattr(holder, name)
        return ScalePreset(**values)

    def recipe(self) -> RecipeConfig:
        """Only the recipe's own fields (a subclass adds the run's)."""
        return RecipeConfig.model_validate(
            {name: getattr(self, name) for name in RecipeConfig.model_fields}
        )


FLAT_FIELDS: dict[str, tuple[str, ...]] = {
    "pairs": ("pairs",),
    "heldout": ("heldout",),
    "pair_max_new_tokens": ("generation.max_new_tokens",),
    "pair_allow_cut_off": ("generation.allow_cut_off",),
    "samples_per_prompt": ("generation.samples_per_prompt",),
    "best_of": ("generation.best_of",),
    "breaking_share": ("generation.breaking_share",),
    "dpo_steps": ("dpo.max_steps",),
    "dpo_epochs": ("dpo.epochs",),
    "dpo_batch": ("dpo.batch_size",),
    "dpo_rank": ("dpo.lora_rank",),
    "dpo_lr": ("dpo.learning_rate",),
    "dpo_max_length": ("dpo.max_length", "generation.max_length"),
    "reflections": ("introspection.examples",),
    "interactions": ("introspection.interactions",),
    "turns": ("introspection.turns",),
    "reflection_max_new_tokens": ("introspection.max_new_tokens",),
    "turn_max_new_tokens": ("introspection.turn_max_new_tokens",),
    "truncation": ("introspection.truncation",),
    "sft_steps": ("sft.max_steps",),
    "sft_epochs": ("sft.epochs",),
    "sft_batch": ("sft.batch_size",),
    "sft_rank": ("sft.lora_rank",),
    "sft_lr": ("sft.learning_rate",),
    "sft_max_length": ("sft.max_length",),
    "sft_with_chosen": ("sft_with_chosen",),
    "eval_samples": ("eval.samples",),
    "eval_max_new_tokens": ("eval.max_new_tokens",),
}
"""Each flat preset field (`ScalePreset`, the old `overrides` keys) and the nested fields it
sets; the first one is where it is read back from."""


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    section, _, name = path.rpartition(".")
    (data.setdefault(section, {}) if section else data)[name] = value


def apply_flat(data: dict[str, Any], flat: dict[str, Any]) -> dict[str, Any]:
    """`data` (a recipe as nested dicts) with flat preset fields set where they belong; an
    unknown name is an error that lists the known ones."""
    unknown = sorted(set(flat) - set(FLAT_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown preset field(s) {unknown} in overrides; known: {sorted(FLAT_FIELDS)}"
        )
    for key, value in flat.items():
        for path in FLAT_FIELDS[key]:
            _set_path(data, path, value)
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` with `update`'s values; nested dicts merge key by key (a partial section keeps
    the rest of the preset's section)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def recipe_from_preset(preset: ScalePreset) -> RecipeConfig:
    """A preset's flat sizes as a recipe config; every other field keeps its stage default."""
    data: dict[str, Any] = {
        "generation": {},
        "dpo": {},
        "introspection": {},
        "sft": {},
        "eval": {},
    }
    return RecipeConfig.model_validate(apply_flat(data, preset.model_dump()))


RECIPE_PRESETS: dict[Scale, RecipeConfig] = {
    name: recipe_from_preset(preset)  # type: ignore[misc]
    for name, preset in PRESETS.items()
}
"""The presets as recipe configs, built from the one preset table."""


def recipe_data(scale: Scale, values: dict[str, Any]) -> dict[str, Any]:
    """A recipe config's input: the preset of `scale`, then the flat `overrides` in `values`,
    then every nested section value in `values` (those win)."""
    base = RECIPE_PRESETS[scale].model_dump()
    flat = values.get("overrides") or {}
    if flat:
        base = apply_flat(base, dict(flat))
    nested = {k: v for k, v in values.items() if k in RecipeConfig.model_fields}
    return deep_merge(base, nested)
