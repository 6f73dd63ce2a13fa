"""Launch presets (demo / small / paper) and the job spec + CLI command they turn into.

The studio's training launcher and any script build the same `JobSpec` from here, so what the
page shows as "the equivalent CLI command" is exactly what it submits.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel

from character.jobs.models import JobSpec
from character.presets import PRESETS as SCALES
from character.presets import ScalePreset

Preset = Literal["demo", "small", "paper"]
PRESETS: tuple[Preset, ...] = ("demo", "small", "paper")

PRESET_HELP: dict[str, str] = {
    "demo": "Minutes on a laptop CPU: a handful of pairs and training steps. Shows every stage "
    "working; the persona will barely change.",
    "small": "An hour or so on a CPU, minutes on a GPU: a few hundred pairs. The persona starts "
    "to show.",
    "paper": "The published recipe's sizes (9,150 pairs before filtering, length 1024). Needs "
    "a GPU or Tinker.",
}


def _generate_knobs(p: ScalePreset) -> dict[str, Any]:
    """The pairs stage of the recipe at a preset, as `distill.generate` knobs."""
    return {
        "pair_count": p.pairs,
        "max_new_tokens": p.pair_max_new_tokens,
        "samples_per_prompt": p.samples_per_prompt,
        "best_of": p.best_of,
        "breaking_share": p.breaking_share,
        "max_length": p.dpo_max_length,
        "allow_cut_off": p.pair_allow_cut_off,
    }


def _train_knobs(p: ScalePreset) -> dict[str, Any]:
    """The DPO stage of the recipe at a preset, as `distill.train` knobs."""
    knobs: dict[str, Any] = {
        "epochs": p.dpo_epochs,
        "batch_size": p.dpo_batch,
        "max_length": p.dpo_max_length,
        "lora_rank": p.dpo_rank,
        "learning_rate": p.dpo_lr,
    }
    if p.dpo_steps is not None:
        knobs["max_steps"] = p.dpo_steps
    return knobs


# Step-only settings that are not sizes (the sizes all come from `character.pipeline.PRESETS`,
# the one preset table): a demo saves often so a stop loses little.
_STEP_EXTRAS: dict[str, dict[str, dict[str, Any]]] = {
    "distill.generate": {"demo": {"template_count": 20, "save_interval": 8}},
    "distill.train": {"demo": {"save_steps": 4}},
}

STEP_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "distill.generate": {
        name: {**_generate_knobs(p), **_STEP_EXTRAS["distill.generate"].get(name, {})}
        for name, p in SCALES.items()
    },
    "distill.train": {
        name: {**_train_knobs(p), **_STEP_EXTRAS["distill.train"].get(name, {})}
        for name, p in SCALES.items()
    },
    "demo.count": {
        "demo": {"n": 30, "sleep_s": 0.2, "save_interval": 5},
        "small": {"n": 300, "sleep_s": 0.2, "save_interval": 10},
        "paper": {"n": 3000, "sleep_s": 0.2, "save_interval": 50},
    },
}
"""Knob values per job kind and preset, derived from the recipe's one preset table."""

KNOB_LABELS: dict[str, str] = {
    "pair_count": "Answer pairs to generate",
    "max_new_tokens": "Longest answer (tokens)",
    "samples_per_prompt": "Answers per prompt",
    "temperature": "Variety of the answers (temperature)",
    "teacher_model": "Teacher model (answers with the persona)",
    "student_model": "Model to train",
    "model": "Model to train",
    "persona": "Persona",
    "dataset_path": "Pairs file",
    "epochs": "Passes over the data",
    "max_steps": "Stop after this many steps",
    "batch_size": "Pairs per step",
    "learning_rate": "Learning speed",
    "beta": "How far it may move from the original",
    "lora_rank": "Size of the add-on",
    "max_length": "Longest conversation (tokens)",
    "save_steps": "Save every this many steps",
    "save_every": "Save every this many steps",
    "pairs": "Answer pairs to generate",
    "dpo_steps": "Preference training: steps",
    "dpo_batch": "Preference training: pairs per step",
    "dpo_rank": "Preference training: size of the add-on",
    "dpo_lr": "Preference training: learning speed",
    "dpo_max_length": "Preference training: longest conversation (tokens)",
    "reflections": "Self-reflections to write",
    "interactions": "Conversations with itself",
    "sft_steps": "Self-study training: steps",
    "sft_rank": "Self-study training: size of the add-on",
    "n": "Count to",
    "sleep_s": "Seconds per step",
    "save_interval": "Rows saved at a time",
    "template_count": "Extra generated prompts",
    "allow_cut_off": "Keep answers cut off at the length limit",
    "scale": "Preset",
    "overrides": "Advanced settings",
}
"""Plain-words labels of the launcher's knobs (the config names stay in the job file)."""


def knob_label(knob: str) -> str:
    return KNOB_LABELS.get(knob, knob.replace("_", " ").capitalize())


def knob_config(kind: str) -> type[BaseModel]:
    """The typed config of a job kind, from the one job-kind table (an import error of the
    kind's module surfaces here, loudly)."""
    from character.jobs.registry import get_job_kind

    return get_job_kind(kind).config_model


def knob_field(kind: str, knob: str) -> str:
    """The config field a launcher knob sets: itself, or for the whole recipe the nested field
    its flat preset name stands for (`dpo_rank` -> `dpo.lora_rank`)."""
    if kind == "pipeline":
        from character.recipe import FLAT_FIELDS

        if knob in FLAT_FIELDS:
            return FLAT_FIELDS[knob][0]
    return knob


def knob_help(kind: str, knob: str) -> str:
    """A knob's help: the description of the config field it sets (no second table)."""
    from character.config_fields import field_help

    return field_help(knob_config(kind), knob_field(kind, knob))


def launcher_knobs(kind: str, preset: Preset) -> dict[str, Any]:
    """The advanced settings the launcher shows for a job kind at a preset, with their values:
    the preset's sizes, plus the few settings people tune most at the config's own default."""
    from character.config_fields import field_default

    if kind == "pipeline":
        return {k: v for k, v in pipeline_preset_values(preset).items() if v is not None}
    knobs = dict(STEP_PRESETS.get(kind, {}).get(preset, {}))
    for extra in _TUNED.get(kind, ()):
        knobs.setdefault(extra, field_default(knob_config(kind), extra))
    return knobs


_TUNED: dict[str, tuple[str, ...]] = {
    "distill.train": ("learning_rate", "beta"),
    "distill.generate": ("temperature",),
}
"""Settings the launcher shows although no preset sets them."""


def plain_config_problems(exc: Exception) -> list[str]:
    """A refused job config in the launcher's words: "Pairs file is missing" rather than
    "config.dataset_path: Field required"."""
    from pydantic import ValidationError

    from character.plain_errors import plain_problems

    cause = exc.__cause__
    if not isinstance(cause, ValidationError):
        return list(getattr(exc, "problems", None) or [str(exc)])
    labels = dict(KNOB_LABELS)
    labels.update({f"overrides.{k}": v for k, v in KNOB_LABELS.items()})
    return plain_problems(cause, labels)


def pipeline_config_fields() -> set[str]:
    """Fields of the whole-recipe config (an import error of the pipeline surfaces here)."""
    from character.pipeline import PipelineConfig

    return set(PipelineConfig.model_fields)


PIPELINE_KNOBS = (
    "pairs",
    "dpo_steps",
    "dpo_batch",
    "dpo_rank",
    "dpo_lr",
    "dpo_max_length",
    "reflections",
    "interactions",
    "sft_steps",
    "sft_rank",
)


def pipeline_preset_values(preset: Preset) -> dict[str, Any]:
    """The whole recipe's main knobs at a preset."""
    values = SCALES[preset].model_dump()
    return {k: values[k] for k in PIPELINE_KNOBS if k in values}


def preset_config(
    kind: str, preset: Preset, persona: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The config dict for a job kind at a preset; `overrides` (non-None) win."""
    config: dict[str, Any] = {}
    if kind == "pipeline":
        fields = pipeline_config_fields() or set()
        if "scale" in fields:
            config["scale"] = preset
        elif "preset" in fields:
            config["preset"] = preset
    else:
        config.update(STEP_PRESETS.get(kind, {}).get(preset, {}))
    if persona is not None and kind != "demo.count":
        config["persona"] = persona
    if kind == "pipeline":
        # Knob changes go into the pipeline's `overrides`; only values that differ are kept.
        base = pipeline_preset_values(preset)
        changed = {k: overrides.pop(k) for k in list(overrides) if k in base}
        changed = {k: v for k, v in changed.items() if v is not None and v != base[k]}
        if changed:
            config["overrides"] = changed
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def build_spec(
    kind: str,
    preset: Preset,
    persona: str | None = None,
    display_name: str | None = None,
    **overrides: Any,
) -> JobSpec:
    config = preset_config(kind, preset, persona, **overrides)
    name = display_name or " ".join(x for x in (persona, kind, preset) if x)
    return JobSpec(kind=kind, config=config, display_name=name)


def spec_yaml(spec: JobSpec) -> str:
    """The job file `character jobs submit` reads."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def cli_command(spec: JobSpec, filename: str = "job.yaml") -> str:
    """Shell lines that submit the same job from a terminal."""
    body = spec_yaml(spec).rstrip("\n")
    return f"cat > {filename} <<'EOF'\n{body}\nEOF\ncharacter jobs submit {filename}"
