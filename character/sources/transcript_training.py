"""Train a LoRA on one speaker's transcript lines, and measure whether it learned the voice.

Training reuses the introspection SFT trainer (loss on every assistant turn, the same mask), so a
transcript adapter is an ordinary adapter for every other page. Evaluation asks two questions on
scenes the adapter never saw: are the speaker's real lines more probable under the adapter than
under the base model (held-out perplexity with a paired bootstrap CI over examples), and can a
classifier tell the speaker's lines from the other speakers' (how distinctive the voice is).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from character.io import DataFileError, atomic_write_json, iter_jsonl
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress
from character.settings import get_settings
from character.sources.transcripts import (
    Corpus,
    TranscriptDatasetConfig,
    TranscriptError,
    TranscriptImportConfig,
    build_transcript_dataset,
    load_transcripts,
    normalise_speaker,
    write_speaker_texts,
)
from character.training_guards import Epochs, LearningRate, LoraRank

DATA_DIR = "data"
EVAL_FILE = "transcript_eval.json"
OTHER = "other"


class TranscriptTrainConfig(BaseModel):
    """The seed's training options (model, device, batch size, max length, accumulation, epochs,
    data folder, format, extensions) plus the target speaker and the split."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="The speaker whose lines become the assistant turns.")
    model: str = Field(
        default_factory=lambda: get_settings().student_model,
        description="Base model (registry name or local folder); a Tinker model name with "
        "backend 'tinker'.",
    )
    backend: Literal["local", "tinker"] = "local"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data_folder: Path = Path("./data")
    format: Literal["jsonl", "raw"] = "jsonl"
    extensions: list[str] = Field(default_factory=lambda: [".jsonl", ".txt"])
    min_parsed_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Raw format: a file parsing below this share of lines is refused.",
    )
    context_window: int = Field(default=4, ge=1)
    max_assistant_turns: int = Field(default=6, ge=1)
    holdout_share: float = Field(default=0.2, ge=0, lt=1)
    split_by: Literal["scene", "file"] = "scene"
    min_target_lines: int = Field(default=20, ge=1)
    batch_size: int = Field(default=4, ge=1, description="Rows per device step.")
    gradient_accumulation: int = Field(default=1, ge=1)
    max_length: int = Field(default=512, ge=16)
    epochs: Epochs = 3.0
    max_steps: int | None = Field(default=None, ge=1)
    learning_rate: LearningRate = Field(
        default=2e-4, description="Higher than the recipe's 5e-5: transcripts are small."
    )
    lora_rank: LoraRank = 16
    save_steps: int = Field(default=50, ge=1)
    seed: int = 0
    resume: bool = True
    output_dir: Path | None = Field(default=None, description="Default checkpoints/<target>-...")
    allow_outside_data_dir: bool = allow_outside_field()

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return Path(self.output_dir)
        slug = normalise_speaker(self.target).lower().replace(" ", "-")
        return get_settings().checkpoints / f"{slug}-transcripts"


def _check_device(device: str) -> None:
    """The trainer picks the device from the hardware; refuse a request it cannot honour."""
    if device == "auto":
        return
    from character.hardware import detect

    hw = detect()
    if device == "cuda" and not hw.cuda:
        raise ValueError("--device cuda asked for, but no CUDA GPU is visible; use cpu or auto")
    if device == "cpu" and hw.cuda:
        raise ValueError(
            "--device cpu on a CUDA machine: hide the GPU with CUDA_VISIBLE_DEVICES='' (the "
            "trainer uses the GPU it sees)"
        )


def prepare_transcript_data(
    config: TranscriptTrainConfig, out_dir: Path
) -> tuple[Corpus, dict[str, Any]]:
    """Import the folder and write `train.jsonl`, `holdout.jsonl`, the speaker texts for the
    classifier and `summary.json` under `<out_dir>/data`."""
    corpus = load_transcripts(
        TranscriptImportConfig(
            data_folder=config.data_folder,
            format=config.format,
            extensions=config.extensions,
            min_parsed_share=config.min_parsed_share,
        )
    )
    data_dir = out_dir / DATA_DIR
    summary = build_transcript_dataset(
        corpus,
        TranscriptDatasetConfig(
            target=config.target,
            context_window=config.context_window,
            max_assistant_turns=config.max_assistant_turns,
            holdout_share=config.holdout_share,
            split_by=config.split_by,
            min_target_lines=config.min_target_lines,
            seed=config.seed,
            output_dir=data_dir,
        ),
    )
    write_speaker_texts(
        corpus, str(summary["target"]), set(summary["holdout_groups"]), config.split_by, data_dir
    )
    return corpus, summary


def train_on_transcripts(
    config: TranscriptTrainConfig,
    reporter: Reporter | Progress | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> Path:
    """Import, build the dataset and train; returns the adapter folder (local) or the Tinker
    output folder. Everything lands under one output folder, so evaluation finds the holdout."""
    progress = as_progress(reporter)
    check_config_outputs(config)  # creates the folder and marks it ours
    out_dir = config.resolved_output_dir()
    progress.start_stage("transcripts: import", message=str(config.data_folder))
    from character.training.setup import run_output_dir

    with run_output_dir(out_dir):  # bad input (no such speaker) leaves no empty folder
        _, summary = prepare_transcript_data(config, out_dir)
    progress.log(
        f"transcripts: {summary['target']} has {summary['target_lines']} lines; "
        f"{summary['train_examples']} train / {summary['holdout_examples']} holdout examples"
    )
    atomic_write_json(
        out_dir / "transcript_config.json",
        {"config": config.model_dump(mode="json"), "summary": summary},
    )
    train_path = out_dir / DATA_DIR / "train.jsonl"
    if config.backend == "tinker":
        from character.tinker.train import TinkerTrainingConfig, run_tinker_training

        result = run_tinker_training(
            TinkerTrainingConfig(
                kind="sft",
                dataset_path=train_path,
                base_model=config.model,
                lora_rank=config.lora_rank,
                learning_rate=config.learning_rate,
                epochs=max(1, math.ceil(config.epochs)),
                batch_size=config.batch_size * config.gradient_accumulation,
                max_steps=config.max_steps,
                max_length=config.max_length,
                output_dir=out_dir / "tinker",
                allow_outside_data_dir=config.allow_outside_data_dir,
                save_every=config.save_steps,
                seed=config.seed,
                resume=config.resume,
            ),
            reporter=progress,
            stop_requested=stop_requested,
        )
        return Path(result.adapter_dir or result.output_dir)

    from character.introspection.pipeline import SftTrainingConfig, run_sft_training

    _check_device(config.device)
    return run_sft_training(
        SftTrainingConfig(
            dataset_path=train_path,
            persona=str(summary["target"]).lower(),
            model=config.model,
            epochs=config.epochs,
            max_steps=config.max_steps,
            batch_size=config.batch_size * config.gradient_accumulation,
            micro_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            lora_rank=config.lora_rank,
            max_length=config.max_length,
            save_steps=config.save_steps,
            seed=config.seed,
            resume=config.resume,
            output_dir=out_dir,
            allow_outside_data_dir=config.allow_outside_data_dir,
        ),
        progress,
        stop_requested,
    )


# --------------------------------------------------------------------------------------------
# Held-out perplexity


def assistant_nll(
    model: Any, tokenizer: Any, rows: list[list[dict[str, Any]]], max_length: int
) -> list[tuple[float, int]]:
    """`(summed NLL in nats, scored tokens)` per conversation, over the assistant tokens only,
    with the SFT trainer's own mask (so training and evaluation score the same tokens)."""
    import torch

    from character.introspection.sft import IGNORE, tokenize_conversation

    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    with torch.no_grad():
        for messages in rows:
            rec = tokenize_conversation(tokenizer, messages, max_length)
            ids = torch.tensor([rec["input_ids"]], device=device)
            labels = torch.tensor([rec["labels"]], device=device)
            logits = model(input_ids=ids).logits.float()
            shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
            mask = shift_labels != IGNORE
            if not bool(mask.any()):
                out.append((0.0, 0))
                continue
            logp = torch.log_softmax(shift_logits, dim=-1)
            picked = logp.gather(-1, shift_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            out.append((float(-(picked * mask).sum()), int(mask.sum())))
    return out


def paired_bootstrap_ppl(
    base: list[tuple[float, int]],
    adapter: list[tuple[float, int]],
    rounds: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Corpus perplexities (token-weighted) and a 95% CI for each and for their ratio, by
    resampling examples (the same resample for both models, so the comparison is paired)."""
    pairs = [(b, a) for b, a in zip(base, adapter, strict=True) if b[1] > 0]
    if not pairs:
        raise ValueError("no assistant tokens to score in the holdout")

    def ppl(items: list[tuple[float, int]]) -> float:
        return math.exp(sum(n for n, _ in items) / sum(t for _, t in items))

    def stats(idx: list[int]) -> tuple[float, float, float]:
        b = ppl([pairs[i][0] for i in idx])
        a = ppl([pairs[i][1] for i in idx])
        return b, a, a / b

    point = stats(list(range(len(pairs))))
    rng = random.Random(seed)
    samples = [stats([rng.randrange(len(pairs)) for _ in pairs]) for _ in range(rounds)]

    def interval(k: int) -> dict[str, float]:
        vals = sorted(s[k] for s in samples)
        lo, hi = vals[int(0.025 * (rounds - 1))], vals[int(0.975 * (rounds - 1))]
        return {"estimate": point[k], "lower": lo, "upper": hi}

    ratio = interval(2)
    return {
        "examples": len(pairs),
        "tokens": sum(b[1] for b, _ in pairs),
        "base_ppl": interval(0),
        "adapter_ppl": interval(1),
        "ratio_adapter_over_base": ratio,
        "adapter_better": ratio["upper"] < 1.0,
        "adapter_better_share": sum(s[2] < 1.0 for s in samples) / rounds,
        "bootstrap_rounds": rounds,
    }


def _read_messages(path: Path) -> list[list[dict[str, Any]]]:
    rows = []
    for line, obj in iter_jsonl(path):
        msgs = obj.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise DataFileError(path, line, "field 'messages': expected a message list")
        rows.append(msgs)
    if not rows:
        raise DataFileError(path, None, "no holdout examples")
    return rows


def holdout_perplexity(
    adapter_dir: Path | str,
    holdout_path: Path | str,
    *,
    max_length: int = 512,
    rounds: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Perplexity of the held-out assistant lines under the adapter's base model and under the
    adapter, one model load (the base is the adapter with its layers switched off)."""
    from character.models.loading import load_causal_lm
    from character.models.registry import local_paths, resolve

    base_dir, adapter = local_paths(resolve(str(adapter_dir)))
    if adapter is None:
        raise ValueError(f"{adapter_dir} is not an adapter; perplexity compares base vs adapter")
    rows = _read_messages(Path(holdout_path))
    model, tokenizer = load_causal_lm(base_dir, adapter=adapter)
    tuned = assistant_nll(model, tokenizer, rows, max_length)
    with model.disable_adapter():
        base = assistant_nll(model, tokenizer, rows, max_length)
    result = paired_bootstrap_ppl(base, tuned, rounds=rounds, seed=seed)
    result.update({"base_model": str(base_dir), "adapter": str(adapter)})
    return result


# --------------------------------------------------------------------------------------------
# Evaluation report


class TranscriptEvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path = Field(description="The output folder of train_on_transcripts.")
    adapter: Path | None = Field(default=None, description="Default: the adapter in run_dir.")
    max_length: int = Field(default=512, ge=16)
    bootstrap_rounds: int = Field(default=2000, ge=100)
    classifier: bool = True
    classifier_method: Literal["auto", "embedding", "tfidf"] = "auto"
    seed: int = 0
    output_path: Path | None = Field(default=None, description="Default <run_dir>/" + EVAL_FILE)


def _find_adapter(run_dir: Path) -> Path:
    """The shared trainer saves the adapter at the output root (older runs: `adapter/`)."""
    for candidate in (run_dir, run_dir / "adapter", run_dir / "tinker" / "adapter"):
        if (candidate / "adapter_config.json").exists():
            return candidate
    raise TranscriptError(f"no adapter in {run_dir}: train with train_on_transcripts first")


def local_evaluation_blocker(run_dir: Path) -> str | None:
    """Why the held-out evaluation cannot run on this machine (None when it can).

    A Tinker run downloads its adapter as a PEFT folder; it is evaluated like a local one when
    its base model is here too (the embedded model is), otherwise evaluation is skipped with
    this reason instead of failing the run."""
    from character.models.registry import UnknownModelError, local_paths, resolve

    try:
        local_paths(resolve(str(_find_adapter(Path(run_dir)))))
    except (TranscriptError, UnknownModelError) as exc:
        return str(exc)
    return None


def evaluate_transcript_adapter(
    config: TranscriptEvalConfig, reporter: Reporter | Progress | None = None
) -> dict[str, Any]:
    """Held-out perplexity (base vs adapter) and the speaker classifier; writes a JSON report."""
    progress = as_progress(reporter)
    run_dir = Path(config.run_dir)
    data_dir = run_dir / DATA_DIR
    holdout = data_dir / "holdout.jsonl"
    if not holdout.exists():
        raise TranscriptError(f"{holdout} is missing: train with train_on_transcripts first")
    adapter = Path(config.adapter) if config.adapter else _find_adapter(run_dir)
    summary = json.loads((data_dir / "summary.json").read_text(encoding="utf-8"))
    report: dict[str, Any] = {"target": summary["target"], "run_dir": str(run_dir)}
    progress.start_stage("transcripts: perplexity", message=str(adapter))
    report["perplexity"] = holdout_perplexity(
        adapter,
        holdout,
        max_length=config.max_length,
        rounds=config.bootstrap_rounds,
        seed=config.seed,
    )
    if config.classifier:
        progress.start_stage("transcripts: classifier")
        from character.eval.persona_classifier import ClassifierConfig, train_classifier

        cls = train_classifier(
            ClassifierConfig(
                train_path=data_dir / "speakers_train.jsonl",
                eval_path=data_dir / "speakers_holdout.jsonl",
                method=config.classifier_method,
                seed=config.seed,
            ),
            progress,
        )
        report["classifier"] = {
            "method": cls.method,
            "labels": cls.labels,
            "n_train": cls.n_train,
            "n_test": cls.n_test,
            "accuracy": cls.accuracy.model_dump(),
            "macro_f1": cls.macro_f1,
            "majority_baseline": cls.majority_baseline,
            "per_class": {k: v.model_dump() for k, v in cls.per_class.items()},
        }
    out = Path(config.output_path) if config.output_path else run_dir / EVAL_FILE
    atomic_write_json(out, report)
    progress.artifact(str(out), "transcript evaluation")
    return report
