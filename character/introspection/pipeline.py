"""Introspection stage of the recipe: generate self-reflection and self-interaction data with the
DPO-trained model, then SFT a new adapter on top of the exactly merged DPO model.

`generate_introspection(IntrospectionGenerationConfig) -> Path` and
`run_sft_training(SftTrainingConfig) -> Path` are the seed API; `python -m
character.introspection.pipeline generate|train` and `character introspect generate|train` are
thin wrappers over them. The configs live in `character.introspection.configs` and are
re-exported here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from character.backends.base import GenerationBackend, SamplingParams
from character.constitution import Constitution, resolve_constitution
from character.eval.voice_judge import build_voice_judge
from character.introspection.configs import IntrospectionGenerationConfig, SftTrainingConfig
from character.introspection.dataset import (
    IntrospectionExample,
    default_output_path,
    load_examples,
    save_examples,
)
from character.introspection.filters import FilterReport
from character.introspection.generate import (
    InteractionStats,
    dialogue_rows,
    fill_reflections,
    generate_reflections,
    plan_dialogues,
    run_dialogues,
)
from character.io import atomic_write_json
from character.output_paths import check_config_outputs
from character.progress import Reporter, as_progress
from character.settings import get_settings

__all__ = [
    "IntrospectionGenerationConfig",
    "SftTrainingConfig",
    "generate_introspection",
    "run_sft_training",
    "load_introspection_backend",
    "report_path",
]


def report_path(output_path: Path) -> Path:
    return output_path.with_suffix(".report.json")


# --------------------------------------------------------------------------------------------
# Generation


def load_introspection_backend(model_ref: str, batch_size: int = 16) -> GenerationBackend:
    """A backend for the introspecting model. Local adapters are checked against their base
    module by module first, so an adapter of another base model fails with a clear message."""
    from character.models.registry import build_backend, local_paths, resolve

    spec = resolve(model_ref)
    if spec.kind != "local" or spec.adapter is None:
        kwargs: dict[str, Any] = {"batch_size": batch_size} if spec.kind == "local" else {}
        return build_backend(spec, **kwargs)
    from peft import PeftModel

    from character.backends.local import LocalBackend
    from character.models.loading import load_causal_lm
    from character.models.merge import check_adapter_fits

    base_dir, adapter = local_paths(spec)
    model, tokenizer = load_causal_lm(base_dir)
    check_adapter_fits(adapter, model, base_label=str(base_dir))
    model = PeftModel.from_pretrained(model, str(adapter))
    model = model.merge_and_unload()  # same weights, faster sampling
    model.eval()
    return LocalBackend(
        model_ref, base_dir, adapter=adapter, model=model, tokenizer=tokenizer,
        batch_size=batch_size,
    )  # fmt: skip


def _existing_keys(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {ex.key() for ex in load_examples(path, skip_bad=True)}


def generate_introspection(
    config: IntrospectionGenerationConfig,
    reporter: Reporter | None = None,
    *,
    constitution: Constitution | None = None,
    backend: GenerationBackend | None = None,
) -> Path:
    """Write self-reflection and self-interaction rows to a JSONL file and return its path.

    Rows are appended (fsync'd) every `save_interval` samples; with `resume`, rows already in
    the file are kept and their prompts skipped. Filter counts go to `<output>.report.json`.
    """
    check_config_outputs(config)
    progress = as_progress(reporter)
    const = constitution or resolve_constitution(config.persona)
    model_ref = config.teacher_model or get_settings().student_model
    out = Path(config.output_path or default_output_path(const.name))
    if out.exists() and out.stat().st_size and not config.resume:
        if not config.overwrite:
            raise FileExistsError(
                f"{out} already exists. Pass resume=True (--resume) to continue it, or "
                "overwrite=True (--overwrite) to start over."
            )
        out.unlink()
    done = _existing_keys(out) if config.resume else set()

    own_backend = backend is None
    progress.start_stage("introspection: load model", message=f"loading {model_ref}")
    backend = backend or load_introspection_backend(model_ref, config.batch_size)
    started = time.perf_counter()
    report = FilterReport()
    stats = InteractionStats()
    written = 0

    def flush(rows: list[IntrospectionExample]) -> None:
        nonlocal written
        if rows:
            save_examples(rows, out, append=True)
            written += len(rows)

    from character.models.registry import prefers_compact_prompt

    compact = prefers_compact_prompt(
        model_ref, config.prompt_style, has_examples=bool(const.examples)
    )
    try:
        refl_params = SamplingParams(
            temperature=config.temperature,
            top_p=config.top_p,
            repetition_penalty=config.repetition_penalty,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
        )
        if config.examples:
            progress.start_stage("self-reflection", total=config.examples)
            generate_reflections(
                backend,
                const,
                total=config.examples,
                params=refl_params,
                assistant_name=config.assistant_name,
                teacher_model=model_ref,
                skip_keys=done,
                chunk_size=config.save_interval,
                policy=config.truncation,
                report=report,
                on_rows=flush,
                on_step=lambda d, t: progress.advance(d, t, kept=report.kept),
                compact=compact,
                reflection_tokens=config.reflection_max_new_tokens,
                voice_judge=build_voice_judge(const, config.voice),
                min_in_voice=config.voice.min_in_voice,
            )
        per_variant = config.conversations_per_variant()
        if per_variant and config.variants:
            turn_params = refl_params.model_copy(
                update={"max_new_tokens": config.turn_max_new_tokens}
            )
            dialogues = plan_dialogues(
                const,
                per_variant=per_variant,
                variants=config.variants,
                seed=config.seed,
                assistant_name=config.assistant_name,
                compact=compact,
            )
            todo = [
                d
                for d in dialogues
                if f"interaction:{d.variant}:{d.index}:0" not in done
                and f"interaction:{d.variant}:{d.index}:1" not in done
            ]
            chunk = max(config.save_interval, config.batch_size)
            n_steps = -(-len(todo) // chunk) * config.turns
            progress.start_stage("self-interaction", total=n_steps)
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                offset = (start // chunk) * config.turns
                run_dialogues(
                    backend,
                    part,
                    const,
                    turns=config.turns,
                    params=turn_params,
                    max_context_chars=config.max_context_chars,
                    policy="trim",
                    on_step=lambda t, _n, o=offset: progress.advance(o + t, n_steps),
                )
                rows = dialogue_rows(
                    part,
                    const,
                    teacher_model=model_ref,
                    params=turn_params,
                    min_turns=config.min_turns,
                    assistant_name=config.assistant_name,
                    stats=stats,
                )
                fill_reflections(
                    backend,
                    rows,
                    const,
                    params=turn_params.model_copy(
                        update={"max_new_tokens": config.reflection_max_new_tokens}
                    ),
                    assistant_name=config.assistant_name,
                    compact=compact,
                    report=report,
                )
                flush(rows)
    finally:
        if own_backend:
            backend.close()

    summary = {
        "persona": const.name,
        "constitution_hash": const.content_hash(),
        "model": model_ref,
        "output": str(out),
        "rows_written": written,
        "rows_total": len(load_examples(out, skip_bad=True)) if out.exists() else 0,
        "reflection_filter": report.as_dict(),
        "self_interaction": stats.as_dict(),
        "seconds": round(time.perf_counter() - started, 2),
        "config": config.model_dump(mode="json"),
    }
    atomic_write_json(report_path(out), summary)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    progress.log(
        f"introspection: {written} rows written; reflections kept {report.kept}/{report.total} "
        f"(dropped {dict(report.dropped)}); conversations kept {stats.kept}/"
        f"{stats.conversations}"
    )
    progress.artifact(str(out), "introspection data")
    return out


# --------------------------------------------------------------------------------------------
# SFT


def prepare_sft_base(config: SftTrainingConfig, out_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The model folder SFT trains on, and its lineage. A DPO adapter is merged exactly first;
    a non-local model is refused (SFT needs the weights on disk)."""
    from character.models.registry import local_paths, resolve

    ref = config.model or get_settings().student_model
    spec = resolve(ref)
    if spec.kind != "local":
        raise ValueError(
            f"SFT trains locally and needs model weights on disk; {ref!r} is a {spec.kind} "
            "model. Use the Tinker training path for remote models."
        )
    base_dir, adapter = local_paths(spec)
    lineage: dict[str, Any] = {"model_ref": ref, "original_base": str(base_dir)}
    if adapter is None:
        return base_dir, lineage
    from character.models.merge import merge_adapter_exact

    merged_dir = Path(config.merged_dir) if config.merged_dir else out_dir / "merged-base"
    result = merge_adapter_exact(base_dir, adapter, merged_dir, tolerance=config.merge_tolerance)
    lineage.update(
        {
            "stacked_on_adapter": str(adapter),
            "merged_model": str(result.path),
            "merge_max_abs_logit_diff": result.max_abs_logit_diff,
            "merge_reused": result.reused,
            "merge_method": "exact: peft merge_and_unload in fp32, logits verified",
        }
    )
    return result.path, lineage


def run_sft_training(
    config: SftTrainingConfig,
    reporter: Reporter | None = None,
    stop_requested: Any = None,
) -> Path:
    """Train a LoRA adapter with the loss on every assistant turn; returns the adapter folder.

    The output folder follows the shared training contract (`character.training`): the PEFT
    adapter at its root (plus `character_adapter.json` and `character_lineage.json`),
    `metrics.jsonl`, `training_config.json`, `provenance.json`, `data_report.json`, the merged
    DPO base in `merged-base/` (unless `merged_dir` says elsewhere) and `checkpoint-N/` folders
    that a rerun resumes from.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from character.training.setup import run_output_dir

    check_config_outputs(config, claim=False)  # before any folder is made
    with run_output_dir(config.resolved_output_dir()) as out_dir:
        check_config_outputs(config)  # refuses folders that are not ours, marks them ours
        return _train_sft(config, out_dir, as_progress(reporter), stop_requested)


def _train_sft(
    config: SftTrainingConfig, out_dir: Path, progress: Any, stop_requested: Any
) -> Path:
    progress.start_stage("sft: prepare", message="preparing base model")
    train_base, lineage = prepare_sft_base(config, out_dir)

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from character.hardware import detect, torch_dtype
    from character.introspection.sft import build_sft_records
    from character.models.loading import load_tokenizer
    from character.models.merge import LINEAGE_FILE
    from character.training import (
        MetricsCallback,
        build_lora_config,
        finalize_adapter,
        last_checkpoint,
        precision_kwargs,
        use_gradient_checkpointing,
        write_run_files,
    )
    from character.training.compact_lm_head import compact_lm_head_on_cpu
    from character.training.setup import check_checkpoint_base

    tokenizer = load_tokenizer(train_base)
    records, data_report = build_sft_records(config.dataset_path, tokenizer, config.max_length)
    atomic_write_json(out_dir / "data_report.json", data_report.as_dict())
    if data_report.skipped:
        progress.log(
            f"sft: skipped {len(data_report.skipped)} rows: {data_report.as_dict()['skipped']}"
        )
    if data_report.truncated:
        progress.log(
            f"sft: {data_report.truncated} of {data_report.used} training examples are longer "
            f"than max_length={config.max_length} tokens and were truncated (their ends are not "
            "trained on); raise max_length to keep them whole"
        )

    hw = detect()
    if hw.device == "cpu":
        torch.set_num_threads(max(1, hw.cpu_count))
    kwargs: dict[str, Any] = {"dtype": torch_dtype(config.dtype)}
    if config.load_in_4bit:
        from character.hardware import quantization_available

        if not quantization_available():
            raise RuntimeError("4-bit (QLoRA) needs a CUDA GPU and bitsandbytes; turn 4-bit off.")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype("auto"),
        )
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(str(train_base), **kwargs)
    if config.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    peft_config = build_lora_config(
        model,
        rank=config.lora_rank,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        target_modules=config.target_modules or "all-linear",
    )
    micro = min(config.micro_batch_size or min(config.batch_size, 4), config.batch_size)
    accum = max(1, config.batch_size // micro)
    args = SFTConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": config.min_lr_rate},
        warmup_steps=config.warmup_ratio,
        adam_beta1=0.9,
        adam_beta2=0.98,
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        max_length=config.max_length,
        packing=False,
        gradient_checkpointing=use_gradient_checkpointing(model),
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=True,
        **precision_kwargs(),
    )
    callback = MetricsCallback(out_dir, progress, stop_requested, stage="sft: train")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback],
    )
    resume_from = last_checkpoint(out_dir) if config.resume else None
    if resume_from:
        check_checkpoint_base(resume_from, str(train_base))
        progress.log(f"sft: resuming from {resume_from}")
    started = time.perf_counter()
    with compact_lm_head_on_cpu():
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - started
    targets = sorted(peft_config.target_modules)
    lineage.update(
        {
            "stage": "sft",
            "trained_on": str(train_base),
            "dataset": str(config.dataset_path),
            "steps": trainer.state.global_step,
            "resumed_from": str(resume_from) if resume_from else None,
            "stopped_early": callback.stopped,
        }
    )
    provenance = {
        "stage": "introspection-sft",
        "lineage": lineage,
        "lora_targets": targets,
        "micro_batch_size": micro,
        "gradient_accumulation_steps": accum,
        "train_loss": float(result.training_loss),
        "train_seconds": round(seconds, 2),
        "data": data_report.as_dict(),
    }
    if callback.stopped:
        # A stop keeps the checkpoint for resuming; the root adapter is only a finished run.
        write_run_files(out_dir, config, provenance)
        progress.log(f"sft: stopped at step {trainer.state.global_step}; rerun to resume")
        return out_dir
    adapter_dir = finalize_adapter(trainer, tokenizer, out_dir, str(train_base))
    atomic_write_json(adapter_dir / LINEAGE_FILE, lineage)
    write_run_files(out_dir, config, provenance)
    progress.artifact(str(adapter_dir), "SFT adapter")
    return adapter_dir


if __name__ == "__main__":  # pragma: no cover - exercised through the CLI tests
    # Only when run as a script: the library module never imports its CLI.
    from character.introspection.cli import app

    app(prog_name="python -m character.introspection.pipeline")
