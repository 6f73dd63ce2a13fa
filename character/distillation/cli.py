"""`character distill generate|train` (also `python -m character.distillation.pipeline`).

The commands only build a config and call the library; torch is imported inside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from character.cli_support import AllowOutsideData, error_text, fail

app = typer.Typer(
    help="Stage 1: teacher/student DPO pairs and LoRA DPO training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def _run(fn, config):  # noqa: ANN001, ANN202
    """Run a library call with progress bars; known input errors become one clear line."""
    from character.constitution import ConstitutionError
    from character.io import DataFileError
    from character.models.loading import AdapterMismatchError
    from character.models.registry import UnknownModelError
    from character.progress import RichBarReporter

    bars = RichBarReporter()
    try:
        return fn(config, reporter=bars)
    except (
        ConstitutionError,
        DataFileError,
        AdapterMismatchError,
        UnknownModelError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
        RuntimeError,
    ) as exc:
        bars.close()
        fail(error_text(exc))
    finally:
        bars.close()


@app.command()
def generate(
    persona: Annotated[str, typer.Option(help="Persona name or constitution file.")],
    teacher_model: Annotated[
        str | None, typer.Option(help="Teacher (answers with the constitution).")
    ] = None,
    student_model: Annotated[str | None, typer.Option(help="Student (answers without).")] = None,
    pairs: Annotated[int, typer.Option(help="Pairs to keep after filtering.")] = 500,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 0.95,
    repetition_penalty: Annotated[float, typer.Option(help="Penalty on repeats.")] = 1.1,
    max_new_tokens: Annotated[int, typer.Option(help="Longest reply in tokens.")] = 256,
    max_length: Annotated[int, typer.Option(help="Token limit per conversation.")] = 1024,
    seed: Annotated[int, typer.Option(help="Seed for prompts and sampling.")] = 123456,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output JSONL.")] = None,
    resume: Annotated[bool, typer.Option(help="Append to the output, skipping done prompts.")] = (
        False
    ),
    overwrite: Annotated[bool, typer.Option(help="Start the output file over.")] = False,
    save_interval: Annotated[int, typer.Option(help="Flush to disk every N pairs.")] = 16,
    allow_cut_off: Annotated[
        bool, typer.Option(help="Keep replies cut off at max-new-tokens.")
    ] = False,
    best_of: Annotated[
        int, typer.Option(help="Teacher samples per prompt; the most in-voice one is chosen.")
    ] = 1,
    voice_judge: Annotated[
        str,
        typer.Option(
            help="Judge of the persona's voice: embedding (offline), llm (needs --judge-model) "
            "or off."
        ),
    ] = "embedding",
    judge_model: Annotated[
        str | None, typer.Option(help="Model for --voice-judge llm, e.g. openai:MODEL.")
    ] = None,
    breaking_share: Annotated[
        float, typer.Option(help="Share of prompts that ask the persona to drop its act.")
    ] = 0.0,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """Generate DPO pairs: teacher in character (chosen) vs student without it (rejected)."""
    from character.distillation.generate import GenerationConfig, generate_dpo_pairs

    kwargs = {
        "persona": persona,
        "pair_count": pairs,
        "temperature": temperature,
        "top_p": top_p,
        "repetition_penalty": repetition_penalty,
        "max_new_tokens": max_new_tokens,
        "max_length": max_length,
        "seed": seed,
        "output_path": output,
        "resume": resume,
        "overwrite": overwrite,
        "save_interval": save_interval,
        "allow_cut_off": allow_cut_off,
        "allow_outside_data_dir": allow_outside_data,
        "best_of": best_of,
        "voice": {"method": voice_judge, "judge_model": judge_model},
        "breaking_share": breaking_share,
    }
    if teacher_model:
        kwargs["teacher_model"] = teacher_model
    if student_model:
        kwargs["student_model"] = student_model
    try:
        config = GenerationConfig(**kwargs)
    except ValueError as exc:
        fail(error_text(exc))
        return
    path = _run(generate_dpo_pairs, config)
    console.print(f"Pairs saved to {path}", highlight=False)


@app.command()
def train(
    dataset: Annotated[Path, typer.Option(help="DPO pairs JSONL.")],
    persona: Annotated[str | None, typer.Option(help="Persona name (names the output).")] = None,
    model: Annotated[str | None, typer.Option(help="Base model or adapter to train.")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 4,
    gradient_accumulation: Annotated[int, typer.Option(help="Steps per optimizer update.")] = 1,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-4,
    beta: Annotated[float, typer.Option(help="DPO beta.")] = 0.1,
    nll_weight: Annotated[float, typer.Option(help="NLL on chosen (0 = off).")] = 0.1,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 32,
    lora_alpha: Annotated[int | None, typer.Option(help="LoRA alpha (default 2×rank).")] = None,
    max_length: Annotated[int, typer.Option(help="Max tokens per pair.")] = 1024,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N steps.")] = None,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 50,
    save_name: Annotated[str | None, typer.Option(help="Folder under checkpoints/.")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Exact output folder.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    qlora: Annotated[bool, typer.Option(help="4-bit QLoRA (CUDA only).")] = False,
    skip_bad_lines: Annotated[bool, typer.Option(help="Skip corrupt dataset lines.")] = False,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 123456,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """Train a LoRA adapter with DPO on generated pairs."""
    from character.distillation.train import TrainingConfig, run_dpo_training

    kwargs = {
        "dataset_path": dataset,
        "persona": persona,
        "epochs": epochs,
        "batch_size": batch_size,
        "gradient_accumulation_steps": gradient_accumulation,
        "learning_rate": learning_rate,
        "beta": beta,
        "nll_weight": nll_weight,
        "lora_rank": lora_rank,
        "lora_alpha": lora_alpha,
        "max_length": max_length,
        "max_steps": max_steps,
        "save_steps": save_steps,
        "save_name": save_name,
        "output_dir": output_dir,
        "resume": resume,
        "load_in_4bit": qlora,
        "skip_bad_lines": skip_bad_lines,
        "seed": seed,
        "allow_outside_data_dir": allow_outside_data,
    }
    if model:
        kwargs["model"] = model
    try:
        config = TrainingConfig(**kwargs)
    except ValueError as exc:
        fail(error_text(exc))
        return
    out = _run(run_dpo_training, config)
    console.print(f"Adapter saved to {out}", highlight=False)


def main() -> None:
    app(prog_name="python -m character.distillation.pipeline")
