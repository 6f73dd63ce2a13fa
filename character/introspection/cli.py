"""`character introspect generate|train` (also `python -m character.introspection.pipeline`).

Only builds configs and calls `character.introspection.pipeline`; torch is imported there,
lazily, so `--help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from character.cli_support import AllowOutsideData, error_text, fail, progress_reporter

app = typer.Typer(
    help="Introspection: self-reflection and self-interaction data, then SFT on top of DPO.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def generate(
    persona: Annotated[str, typer.Option(help="Persona name or constitution file.")],
    teacher_model: Annotated[
        str | None,
        typer.Option(help="The introspecting model: DPO adapter, folder or registry name."),
    ] = None,
    examples: Annotated[int, typer.Option(help="Self-reflection samples in total.")] = 500,
    interactions: Annotated[
        int | None, typer.Option(help="Self-interaction conversations per variant.")
    ] = None,
    turns: Annotated[int, typer.Option(help="Turns per self-interaction.")] = 10,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per reflection.")] = 512,
    turn_max_new_tokens: Annotated[int, typer.Option(help="Tokens per conversation turn.")] = 256,
    output: Annotated[Path | None, typer.Option(help="Output JSONL.")] = None,
    resume: Annotated[bool, typer.Option(help="Keep rows already written; skip them.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Start an existing output over.")] = False,
    save_interval: Annotated[int, typer.Option(help="Rows per fsync'd flush.")] = 16,
    truncation: Annotated[str, typer.Option(help="Cut-off samples: drop or trim.")] = "drop",
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 123456,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """Generate introspection data with the constitution in context (not in the stored rows)."""
    from pydantic import ValidationError

    from character.constitution import ConstitutionError
    from character.introspection.pipeline import (
        IntrospectionGenerationConfig,
        generate_introspection,
        report_path,
    )
    from character.io import DataFileError
    from character.models.loading import AdapterMismatchError
    from character.models.registry import UnknownModelError

    reporter = progress_reporter()
    try:
        cfg = IntrospectionGenerationConfig(
            persona=persona,
            teacher_model=teacher_model,
            examples=examples,
            interactions=interactions,
            turns=turns,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            turn_max_new_tokens=turn_max_new_tokens,
            output_path=output,
            resume=resume,
            overwrite=overwrite,
            save_interval=save_interval,
            truncation=truncation,  # type: ignore[arg-type]
            seed=seed,
            allow_outside_data_dir=allow_outside_data,
        )
        path = generate_introspection(cfg, reporter)
    except (
        ValidationError,
        ConstitutionError,
        DataFileError,
        AdapterMismatchError,
        UnknownModelError,
        FileExistsError,
        ValueError,
    ) as exc:
        fail(error_text(exc))
        return
    finally:
        if hasattr(reporter, "close"):
            reporter.close()
    typer.echo(f"Wrote {path} (report: {report_path(path)})")


@app.command()
def train(
    dataset: Annotated[Path, typer.Option(help="Introspection JSONL (TRL messages rows).")],
    persona: Annotated[str | None, typer.Option(help="Persona name (names the output).")] = None,
    model: Annotated[
        str | None, typer.Option(help="DPO adapter to stack on, or a model folder/name.")
    ] = None,
    epochs: Annotated[float, typer.Option(help="Epochs.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Effective batch size.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = 5e-5,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 64,
    max_length: Annotated[int, typer.Option(help="Longest tokenized row.")] = 1024,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    save_name: Annotated[str | None, typer.Option(help="Output name under checkpoints.")] = None,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 50,
    load_in_4bit: Annotated[bool, typer.Option(help="QLoRA (CUDA only).")] = False,
    allow_outside_data: AllowOutsideData = False,
) -> None:
    """SFT a LoRA adapter with the loss on every assistant turn, stacked on the merged DPO
    model; resumes from the last checkpoint of the same output folder."""
    from pydantic import ValidationError

    from character.introspection.pipeline import SftTrainingConfig, run_sft_training
    from character.io import DataFileError
    from character.models.loading import AdapterMismatchError
    from character.models.registry import UnknownModelError

    reporter = progress_reporter()
    try:
        cfg = SftTrainingConfig(
            dataset_path=dataset,
            persona=persona,
            model=model,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            lora_rank=lora_rank,
            max_length=max_length,
            max_steps=max_steps,
            save_name=save_name,
            save_steps=save_steps,
            load_in_4bit=load_in_4bit,
            allow_outside_data_dir=allow_outside_data,
        )
        path = run_sft_training(cfg, reporter)
    except (
        ValidationError,
        DataFileError,
        AdapterMismatchError,
        UnknownModelError,
        ValueError,
        RuntimeError,
    ) as exc:
        fail(error_text(exc))
        return
    finally:
        if hasattr(reporter, "close"):
            reporter.close()
    typer.echo(f"Adapter saved: {path}")
