"""Typed configs of the introspection stage: what to generate (`IntrospectionGenerationConfig`)
and how to fine-tune on it (`SftTrainingConfig`). Kept apart from the actions in
`character.introspection.pipeline` so the recipe, the CLI and the studio can build them without
importing the generation and training code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from character.eval.voice_judge import VoiceJudgeConfig
from character.output_paths import SafeName, allow_outside_field
from character.settings import get_settings
from character.training_guards import Epochs, LearningRate, LoraAlpha, LoraRank, PositiveFinite

__all__ = ["IntrospectionGenerationConfig", "SftTrainingConfig"]


class IntrospectionGenerationConfig(BaseModel):
    """What to generate, with which model, and how to sample. Defaults follow the recipe."""

    model_config = ConfigDict(extra="forbid")

    persona: str = Field(description="Persona name or constitution file.")
    teacher_model: str | None = Field(
        default=None,
        description="The model that introspects: the DPO adapter or merged model (default: "
        "CHARACTER_STUDENT_MODEL).",
    )
    examples: int = Field(default=500, ge=0, description="Self-reflection samples in total.")
    interactions: int | None = Field(
        default=None,
        ge=0,
        description="Self-interaction conversations per variant (default examples // 10).",
    )
    turns: int = Field(default=10, ge=1, le=64, description="Generated turns per conversation.")
    variants: tuple[str, ...] = Field(
        default=("free", "leading"),
        description="Self-interaction variants: 'free' (open talk) and 'leading' (the persona "
        "steers the talk to its traits).",
    )
    temperature: float = Field(default=0.7, ge=0.0, le=5.0, description="Sampling temperature.")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    repetition_penalty: float = Field(
        default=1.1, ge=0.5, le=3.0, description="Penalty on repeated tokens (1 = off)."
    )
    max_new_tokens: int = Field(default=512, ge=8, description="Per self-reflection.")
    turn_max_new_tokens: int = Field(default=256, ge=8, description="Per self-interaction turn.")
    reflection_max_new_tokens: int = Field(
        default=96, ge=8, description="Per row's private reflection (the `reflection` field)."
    )
    max_context_chars: int = Field(
        default=6000, ge=500, description="Longest conversation kept in the prompt (characters)."
    )
    seed: int = Field(default=123456, description="Sampling seed.")
    output_path: Path | None = Field(
        default=None, description="Output JSONL (default: under the data folder, by persona)."
    )
    allow_outside_data_dir: bool = allow_outside_field()
    resume: bool = Field(default=False, description="Keep rows already written; skip them.")
    overwrite: bool = Field(default=False, description="Start an existing output file over.")
    save_interval: int = Field(default=16, ge=1, description="Rows per fsync'd flush.")
    batch_size: int = Field(default=16, ge=1, description="Local backend batch size.")
    truncation: Literal["drop", "trim"] = Field(
        default="drop", description="Cut-off samples: drop them, or trim to the last sentence."
    )
    min_turns: int = Field(default=2, ge=1, description="Fewest kept turns of a conversation.")
    assistant_name: str | None = Field(
        default=None, description="Name the persona is called by (default: its title)."
    )
    prompt_style: Literal["auto", "full", "compact"] = Field(
        default="auto",
        description="Persona prompt while generating: full constitution, its voice and traits "
        "only (compact), or auto: compact plus example exchanges for small local models.",
    )

    voice: VoiceJudgeConfig = Field(
        default_factory=VoiceJudgeConfig,
        description="Self-reflections the voice judge scores below its threshold are dropped.",
    )

    def conversations_per_variant(self) -> int:
        return self.interactions if self.interactions is not None else self.examples // 10


class SftTrainingConfig(BaseModel):
    """SFT with LoRA on chat data. Defaults follow the recipe (r 64, α 128, lr 5e-5, cosine to
    0.1·lr, warmup 0.1, betas 0.9/0.98, 1 epoch)."""

    model_config = ConfigDict(extra="forbid")

    dataset_path: Path = Field(description="Introspection JSONL (TRL messages rows).")
    persona: str | None = Field(
        default=None, description="Persona name; names the output folder (<persona>-sft)."
    )
    model: str | None = Field(
        default=None,
        description="DPO adapter (merged exactly before training), a merged model folder, or a "
        "base model (default: CHARACTER_STUDENT_MODEL).",
    )
    epochs: Epochs = Field(default=1.0, description="Passes over the data.")
    max_steps: int | None = Field(default=None, ge=1, description="Stop after N steps.")
    batch_size: int = Field(default=16, ge=1, description="Effective batch (accumulated).")
    micro_batch_size: int | None = Field(
        default=None, ge=1, description="Rows per forward pass (default: min(batch_size, 4))."
    )
    learning_rate: LearningRate = Field(default=5e-5, description="Peak learning rate.")
    warmup_ratio: float = Field(
        default=0.1, ge=0, lt=1, description="Share of steps spent warming up."
    )
    min_lr_rate: float = Field(
        default=0.1, ge=0, le=1, description="Cosine schedule ends at this share of the lr."
    )
    lora_rank: LoraRank = Field(default=64, description="LoRA rank (adapter size).")
    lora_alpha: LoraAlpha | None = Field(default=None, description="Default 2 × rank.")
    lora_dropout: float = Field(default=0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | None = Field(default=None, description="Default: all linear.")
    max_length: int = Field(default=1024, ge=16, description="Longest tokenized row.")
    seed: int = Field(default=123456, description="Training seed.")
    save_steps: int = Field(default=50, ge=1, description="Checkpoint every N steps.")
    logging_steps: int = Field(default=1, ge=1, description="Log the loss every N steps.")
    resume: bool = Field(
        default=True, description="Continue from the last checkpoint of the output folder."
    )
    save_name: SafeName | None = Field(default=None, description="Folder name under checkpoints/.")
    output_dir: Path | None = Field(default=None, description="Overrides checkpoints/save_name.")
    merged_dir: Path | None = Field(
        default=None,
        description="Where the DPO adapter merged into its base is kept (default: "
        "<output>/merged-base).",
    )
    allow_outside_data_dir: bool = allow_outside_field()
    merge_tolerance: PositiveFinite = Field(
        default=1e-3, description="Largest logit difference the verified merge accepts."
    )
    dtype: str = Field(
        default="auto",
        description="Weights dtype: auto (the hardware's choice), float32, bfloat16, float16.",
    )
    load_in_4bit: bool = Field(default=False, description="QLoRA: 4-bit base, CUDA only.")

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return Path(self.output_dir)
        name = self.save_name or f"{self.persona or Path(self.dataset_path).stem}-sft"
        return get_settings().checkpoints / name
