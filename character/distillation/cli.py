"""`character distill generate|train` (also `python -m character.distillation.pipeline`).

The commands only build a config and call the library; torch is imported inside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from character.cli_config import config_command
from character.cli_support import AllowOutsideData, error_text, fail
from character.distillation.generate import GenerationConfig

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


def _generate(config: GenerationConfig) -> None:
    from character.distillation.generate import generate_dpo_pairs

    path = _run(generate_dpo_pairs, config)
    console.print(f"Pairs saved to {path}", highlight=False)


GENERATE_ALIASES: dict[str, tuple[str, ...]] = {
    "pair_count": ("--pairs",),
    "output_path": ("--output", "-o"),
    "voice.method": ("--voice-judge",),
    "voice.judge_model": ("--judge-model",),
    "allow_outside_data_dir": ("--allow-outside-data",),
}
"""The option names this command had before its options were generated from the config."""

generate = config_command(
    GenerationConfig,
    _generate,  # type: ignore[arg-type]
    doc="Generate DPO pairs: teacher in character (chosen) vs student without it (rejected).\n\n"
    "Every option is a field of GenerationConfig; one left out keeps the config's default.",
    aliases=GENERATE_ALIASES,
    required=("persona",),
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("generate")(generate)


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
