"""`character pipeline --persona pirate --scale demo`: the whole recipe in one command."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from character.cli_support import fail, progress_reporter


def pipeline(
    persona: Annotated[str, typer.Option(help="Persona name or constitution file.")],
    scale: Annotated[str, typer.Option(help="demo, small or paper.")] = "demo",
    run_id: Annotated[
        str | None, typer.Option(help="Run folder name under <data>/runs; reuse it to resume.")
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(help="Stage to skip (repeatable): prompts pairs dpo introspection sft eval."),
    ] = None,
    teacher_model: Annotated[str | None, typer.Option(help="Teacher model reference.")] = None,
    student_model: Annotated[str | None, typer.Option(help="Student/base model reference.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for every stage.")] = 123456,
) -> None:
    """Run the whole recipe: prompts → pairs → DPO → introspection → SFT → quick evaluation.

    Every stage writes into one run folder with markers; rerun with --run-id to resume."""
    from pydantic import ValidationError

    from character.constitution import ConstitutionError
    from character.introspection.quick_eval import QuickEvalResult, format_share
    from character.io import DataFileError
    from character.pipeline import PipelineConfig, PipelineError, run_pipeline

    reporter = progress_reporter()
    try:
        cfg = PipelineConfig(
            persona=persona,
            scale=scale,  # type: ignore[arg-type]
            run_id=run_id,
            skip=skip or [],
            teacher_model=teacher_model,
            student_model=student_model,
            seed=seed,
        )
        folder = run_pipeline(cfg, reporter)
    except (
        ValidationError,
        ConstitutionError,
        DataFileError,
        PipelineError,
        FileExistsError,
        ValueError,
    ) as exc:
        fail(str(exc))
    finally:
        if hasattr(reporter, "close"):
            reporter.close()
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    for name, info in summary["stages"].items():
        typer.echo(f"{name:>14}: {info.get('status')} {info.get('seconds', '')}")
    eval_file = folder / "eval" / "quick_eval.json"
    result = None
    if eval_file.exists():
        try:
            result = QuickEvalResult.model_validate_json(eval_file.read_text(encoding="utf-8"))
        except ValueError as exc:  # a file from an older version, or damaged
            typer.echo(f"Quick evaluation {eval_file} unreadable: {str(exc).splitlines()[0]}")
    if result is not None:
        typer.echo(f"Quick evaluation on {result.eval_prompts} held-out prompts (95% intervals):")
        for name, row in result.models.items():
            nll = "" if row.heldout_answer_nll is None else f"  NLL {row.heldout_answer_nll:.3f}"
            typer.echo(
                f"{name:>14}: in voice {format_share(row.in_voice)} (classifier), "
                f"{format_share(row.judge_in_voice)} (judge){nll}"
            )
        for warning in result.warnings:
            typer.echo(f"WARNING: {warning}")
    typer.echo(f"Run folder: {folder}")


app = typer.Typer(pretty_exceptions_enable=False)
app.command()(pipeline)
