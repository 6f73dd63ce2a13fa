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
    variants: tuple[str, ...] = ("free", "leading")
    turns: int = Field(default=10, ge=1, le=64, description="Generated turns per conversation.")
    temperature: float = Field(default=0.7, ge=0.0, le=5.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.1, ge=0.5, le=3.0)
    max_new_tokens: int = Field(default=512, ge=8, description="Per self-reflection.")
    turn_max_new_tokens: int = Field(default=256, ge=8, description="Per self-interaction turn.")
    reflection_max_new_tokens: int = Field(
        default=96, ge=8, description="Per row's private reflection (the `reflection` field)."
    )
    max_context_chars: int = Field(default=6000, ge=500)
    seed: int = 123456
    output_path: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()
    resume: bool = False
    overwrite: bool = Field(default=False, description="Start an existing output file over.")
    save_interval: int = Field(default=16, ge=1, description="Rows per fsync'd flush.")
    batch_size: int = Field(default=16, ge=1, description="Local backend batch size.")
    truncation: Literal["drop", "trim"] = Field(
        default="drop", description="Cut-off samples: drop them, or trim to the last sentence."
    )
    min_turns: int = Field(default=2, ge=1, description="Fewest kept turns of a conversation.")
    assistant_name: str | None = None
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

    dataset_path: Path
    persona: str | None = None
    model: str | None = Field(
        default=None,
        description="DPO adapter (merged exactly before training), a merged model folder, or a "
        "base model (default: CHARACTER_STUDENT_MODEL).",
    )
    epochs: Epochs = 1.0
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=16, ge=1, description="Effective batch (accumulated).")
    micro_batch_size: int | None = Field(default=None, ge=1)
    learning_rate: LearningRate = 5e-5
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    min_lr_rate: float = Field(default=0.1, ge=0, le=1)
    lora_rank: LoraRank = 64
    lora_alpha: LoraAlpha | None = Field(default=None, description="Default 2 × rank.")
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] | None = Field(default=None, description="Default: all linear.")
    max_length: int = Field(default=1024, ge=16)
    seed: int = 123456
    save_steps: int = Field(default=50, ge=1)
    logging_steps: int = Field(default=1, ge=1)
    resume: bool = True
    save_name: SafeName | None = None
    output_dir: Path | None = None
    merged_dir: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()
    merge_tolerance: PositiveFinite = 1e-3
    dtype: str = "auto"
    load_in_4bit: bool = False

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return Path(self.output_dir)
        name = self.save_name or f"{self.persona or Path(self.dataset_path).stem}-sft"
        return get_settings().checkpoints / name
