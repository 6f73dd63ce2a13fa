"""Stage 1 training: LoRA DPO on the generated pairs with TRL's DPOTrainer.

The recipe's loss is sigmoid DPO plus 0.1 × mean NLL of the chosen reply; TRL expresses the
NLL term as the `sft` loss type with a weight. CPU runs use fp32 and no gradient checkpointing
(see `character.training`), which is what makes a step fast on the embedded model.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from character.output_paths import SafeName, allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings
from character.training_guards import (
    Epochs,
    LearningRate,
    LoraAlpha,
    LoraRank,
    NonNegativeFinite,
    PositiveFinite,
)


def _default_model() -> str:
    return get_settings().student_model


class TrainingConfig(BaseModel):
    """LoRA DPO settings. Defaults follow the seed README (rank 32, lr 1e-4) and the recipe
    (beta 0.1, NLL 0.1, max length 1024, cosine to 0.1·lr, Adam betas 0.9/0.98)."""

    model_config = ConfigDict(extra="forbid")

    dataset_path: Path = Field(description="DPO pairs JSONL (prompt, chosen, rejected).")
    persona: str | None = Field(
        default=None, description="Persona name; names the output folder (<persona>-dpo)."
    )
    model: str = Field(default_factory=_default_model, description="Base model or adapter ref.")
    save_name: SafeName | None = Field(default=None, description="Folder name under checkpoints/.")
    output_dir: Path | None = Field(default=None, description="Overrides checkpoints/save_name.")
    allow_outside_data_dir: bool = allow_outside_field()
    lora_rank: LoraRank = Field(default=32, description="LoRA rank (adapter size).")
    lora_alpha: LoraAlpha | None = Field(default=None, description="Default 2 × rank.")
    lora_dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="LoRA dropout.")
    target_modules: str | list[str] = Field(
        default="all-linear",
        description="Layers LoRA adapts: 'all-linear' or names of linear layers (q_proj, ...).",
    )
    learning_rate: LearningRate = Field(default=1e-4, description="Peak learning rate.")
    beta: PositiveFinite = Field(
        default=0.1, le=100, description="DPO beta: how far the policy may move from the base."
    )
    nll_weight: NonNegativeFinite = Field(
        default=0.1, le=100, description="NLL on chosen; 0 turns it off."
    )
    epochs: Epochs = Field(default=1.0, description="Passes over the data.")
    batch_size: int = Field(default=4, ge=1, description="Pairs per step.")
    gradient_accumulation_steps: int = Field(
        default=1, ge=1, description="Steps per optimizer update."
    )
    max_length: int = Field(default=1024, ge=16, description="Max tokens per pair.")
    long_pairs: Literal["drop", "truncate"] = Field(
        default="drop", description="Pairs longer than max_length: drop them, or truncate."
    )
    max_steps: int | None = Field(default=None, ge=1, description="Stop after N steps.")
    warmup_ratio: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Share of steps spent warming up."
    )
    min_lr_ratio: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Cosine schedule ends at this share of the lr."
    )
    weight_decay: NonNegativeFinite = Field(default=0.0, le=10, description="AdamW decay.")
    max_grad_norm: PositiveFinite = Field(default=1.0, description="Gradient clipping norm.")
    seed: int = Field(default=123456, description="Training seed.")
    save_steps: int = Field(default=50, ge=1, description="Checkpoint every N steps.")
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept on disk.")
    resume: bool = Field(default=False, description="Continue from the last checkpoint.")
    load_in_4bit: bool = Field(default=False, description="QLoRA: nf4 + double quant, CUDA only.")
    gradient_checkpointing: bool | None = Field(
        default=None,
        description="Trade compute for memory; default: on only for models over 1B on a GPU.",
    )
    skip_bad_lines: bool = Field(
        default=False, description="Skip corrupt dataset lines instead of stopping."
    )

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return Path(self.output_dir)
        name = self.save_name or f"{self.persona or Path(self.dataset_path).stem}-dpo"
        return get_settings().checkpoints / name


class PreparedData(BaseModel):
    rows: list[dict[str, Any]]
    total: int
    too_long: int
    dropped: int
    truncated: int
    bad_lines: list[str] = Field(default_factory=list)
    constitutions: dict[str, int] = Field(default_factory=dict)
    teachers: list[str] = Field(default_factory=list)
    students: list[str] = Field(default_factory=list)


def _conv_len(tok: Any, messages: list[dict[str, str]]) -> int:
    ids = tok.apply_chat_template(messages, tokenize=True)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


def prepare_dataset(config: TrainingConfig, tokenizer: Any) -> PreparedData:
    """Load pairs (bad lines named, or skipped by flag) and drop or count the ones longer than
    `max_length` tokens, so nobody trains on silently truncated replies."""
    from character.distillation.dataset import load_examples

    problems: list[str] = []
    examples = load_examples(config.dataset_path, skip_bad=config.skip_bad_lines, problems=problems)
    if not examples:
        raise ValueError(f"{config.dataset_path}: no preference pairs to train on")
    rows, too_long = [], 0
    for ex in examples:
        row = ex.to_row()
        longest = max(
            _conv_len(tokenizer, row["prompt"] + row["chosen"]),
            _conv_len(tokenizer, row["prompt"] + row["rejected"]),
        )
        if longest > config.max_length:
            too_long += 1
            if config.long_pairs == "drop":
                continue
        rows.append({k: row[k] for k in ("prompt", "chosen", "rejected")})
    if not rows:
        raise ValueError(
            f"{config.dataset_path}: all {len(examples)} pairs are longer than max_length "
            f"{config.max_length} tokens; raise max_length or use long_pairs='truncate'"
        )
    dropped = too_long if config.long_pairs == "drop" else 0
    return PreparedData(
        rows=rows,
        total=len(examples),
        too_long=too_long,
        dropped=dropped,
        truncated=too_long - dropped,
        bad_lines=problems,
        constitutions=dict(
            Counter(
                f"{ex.constitution}@{getattr(ex, 'constitution_hash', None) or '?'}"
                for ex in examples
            )
        ),
        teachers=sorted({ex.teacher_model for ex in examples}),
        students=sorted({ex.student_model for ex in examples}),
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_dpo_config(config: TrainingConfig, out: Path, grad_ckpt: bool) -> Any:
    from trl import DPOConfig

    from character.training import precision_kwargs

    loss_type, loss_weights = ["sigmoid"], None
    if config.nll_weight > 0:
        loss_type, loss_weights = ["sigmoid", "sft"], [1.0, config.nll_weight]
    return DPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        beta=config.beta,
        loss_type=loss_type,
        loss_weights=loss_weights,
        max_length=config.max_length,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": config.min_lr_ratio},
        warmup_steps=config.warmup_ratio,
        adam_beta1=0.9,
        adam_beta2=0.98,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        disable_tqdm=True,
        gradient_checkpointing=grad_ckpt,
        dataloader_num_workers=0,
        **precision_kwargs(),
    )


def run_dpo_training(
    config: TrainingConfig,
    reporter: Reporter | Progress | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> Path:
    """Train and return the output folder (a PEFT adapter plus metrics and provenance).

    With `resume`, training continues from the newest `checkpoint-N` in the output folder. A
    stop request finishes the current step, saves a checkpoint and returns early (the root
    adapter is only written when training completes)."""
    from datasets import Dataset
    from trl import DPOTrainer

    from character.training import (
        MetricsCallback,
        build_lora_config,
        finalize_adapter,
        last_checkpoint,
        load_model_for_training,
        use_gradient_checkpointing,
        write_run_files,
    )
    from character.training.compact_lm_head import compact_lm_head_on_cpu
    from character.training.setup import check_checkpoint_base, run_output_dir

    progress = as_progress(reporter)
    check_config_outputs(config, claim=False)  # before anything is loaded or written
    out = config.resolved_output_dir()
    if not Path(config.dataset_path).exists():
        raise FileNotFoundError(f"dataset {config.dataset_path} does not exist")
    resume_from = last_checkpoint(out) if config.resume else None
    if not config.resume and (out / "metrics.jsonl").exists():
        raise FileExistsError(
            f"{out} already holds a training run. Pass resume=True (--resume) to continue it, "
            "or choose another save_name/output_dir."
        )
    progress.start_stage("load", message=f"loading {config.model}")
    model, tok, base, start_adapter = load_model_for_training(
        config.model, load_in_4bit=config.load_in_4bit
    )
    if resume_from is not None:
        check_checkpoint_base(resume_from, base)
    data = prepare_dataset(config, tok)
    if data.too_long:
        verb = "dropped" if config.long_pairs == "drop" else "will be truncated"
        progress.log(
            f"{data.too_long} of {data.total} pairs are longer than {config.max_length} "
            f"tokens and {verb}"
        )
    for p in data.bad_lines:
        progress.log(f"skipped bad line {p}")
    is_peft = hasattr(model, "peft_config")
    lora = None
    if not is_peft:
        lora = build_lora_config(
            model,
            rank=config.lora_rank,
            alpha=config.lora_alpha,
            dropout=config.lora_dropout,
            target_modules=config.target_modules,
        )
    grad_ckpt = use_gradient_checkpointing(model, config.gradient_checkpointing)
    args = build_dpo_config(config, out, grad_ckpt)
    with run_output_dir(out):  # a failed run leaves no empty adapter folder behind
        check_config_outputs(config)  # refuses a folder that is not ours, marks it ours
        callback = MetricsCallback(out, progress, stop_requested, stage="dpo: train")
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(data.rows),
            processing_class=tok,
            peft_config=lora,
            callbacks=[callback],
        )
        provenance: dict[str, Any] = {
            "kind": "dpo",
            "base_model": base,
            "model_ref": config.model,
            "start_adapter": str(start_adapter) if start_adapter else None,
            "dataset": str(config.dataset_path),
            "dataset_sha256": _sha256(Path(config.dataset_path)),
            "pairs_total": data.total,
            "pairs_used": len(data.rows),
            "pairs_too_long": data.too_long,
            "pairs_dropped_too_long": data.dropped,
            "pairs_truncated": data.truncated,
            "bad_lines_skipped": len(data.bad_lines),
            "constitutions": data.constitutions,
            "teacher_models": data.teachers,
            "student_models": data.students,
            "target_modules": list(lora.target_modules) if lora else None,
            "gradient_checkpointing": grad_ckpt,
            "resumed_from": str(resume_from) if resume_from else None,
            "finished": False,
        }
        write_run_files(out, config, provenance)
        started = time.time()
        with compact_lm_head_on_cpu():
            result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        provenance.update(
            train_runtime_s=round(time.time() - started, 2),
            global_step=trainer.state.global_step,
            max_steps=trainer.state.max_steps,
            training_loss=getattr(result, "training_loss", None),
            last_metrics=callback.last_row,
            stopped=callback.stopped,
            checkpoint=str(last_checkpoint(out)) if last_checkpoint(out) else None,
        )
        if callback.stopped:
            write_run_files(out, config, provenance)
            progress.log(f"stopped at step {trainer.state.global_step}; resume continues it")
            return out
        finalize_adapter(trainer, tok, out, base)
        provenance["finished"] = True
        write_run_files(out, config, provenance)
        progress.artifact(str(out), message="PEFT adapter")
        return out
