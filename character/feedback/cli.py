"""`character feedback ...`: export feedback, review suggestions, train a round, report on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from character.cli_support import fail

app = typer.Typer(
    help="Human feedback: export it, review suggestions, train the next round, check it helped.",
    no_args_is_help=True,
)


@app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Output file (.jsonl or .csv).")],
) -> None:
    """Write every feedback record (deleted models kept and marked)."""
    from character.feedback.store import export_feedback

    fmt = "csv" if out.suffix.lower() == ".csv" else "jsonl"
    typer.echo(f"Wrote {export_feedback(out, fmt=fmt)}")


@app.command("suggestions")
def suggestions(
    accept: Annotated[list[str], typer.Option(help="Suggestion id to accept.")] = [],  # noqa: B006
    reject: Annotated[list[str], typer.Option(help="Suggestion id to reject.")] = [],  # noqa: B006
) -> None:
    """List suggestions (new trait questions, protective scenes); accept or reject by id."""
    from character.feedback.training_data import decide_suggestion, refresh_suggestions

    try:
        for sid in accept:
            decide_suggestion(sid, True)
        for sid in reject:
            decide_suggestion(sid, False)
    except KeyError as exc:
        fail(str(exc.args[0]))
    for s in refresh_suggestions():
        what = f"trait '{s.trait}'" if s.kind == "trait_question" else "protective scene"
        typer.echo(f"{s.id}  {s.status:<8} {s.persona}: {what}: {s.text} ({s.count}x)")


@app.command("round")
def round_(
    persona: Annotated[str, typer.Argument(help="Constitution name.")],
    previous: Annotated[str, typer.Argument(help="Round N's adapter.")],
    base_dataset: Annotated[Path | None, typer.Option(help="Round N's DPO pairs.")] = None,
    arena_pairs: Annotated[Path | None, typer.Option(help="DPO pairs from votes.")] = None,
    share: Annotated[float, typer.Option(help="Largest feedback share.")] = 0.3,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
) -> None:
    """Train round N+1 from round N's adapter with feedback mixed in."""
    from character.feedback.rounds import RoundConfig, train_round

    try:
        path = train_round(
            RoundConfig(
                persona=persona,
                previous_adapter=previous,
                base_dataset=base_dataset,
                arena_pairs=arena_pairs,
                max_feedback_share=share,
                max_steps=max_steps,
                output_dir=out,
            )
        )
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    typer.echo(f"Round adapter written to {path} (lineage in round.json)")


@app.command("report")
def report(
    persona: Annotated[str, typer.Argument(help="Constitution name.")],
    new: Annotated[str, typer.Argument(help="Round N+1 model.")],
    previous: Annotated[str, typer.Argument(help="Round N model.")],
    classifier: Annotated[Path | None, typer.Option(help="Persona classifier folder.")] = None,
    judge: Annotated[str, typer.Option(help="auto, human, classifier or embedding.")] = "auto",
    max_prompts: Annotated[int, typer.Option(help="Held-out prompts.")] = 20,
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
) -> None:
    """Did the round help? Arena (Bradley–Terry), retention, fixed prompts, plain verdict."""
    from character.feedback.report import RoundReportConfig, load_round_report, round_report

    try:
        path = round_report(
            RoundReportConfig(
                persona=persona,
                new_model=new,
                previous_model=previous,
                classifier_dir=classifier,
                judge=judge,  # type: ignore[arg-type]
                max_prompts=max_prompts,
                output_dir=out,
            )
        )
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    rep = load_round_report(path)
    typer.echo(rep.verdict)
    for note in rep.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"Report: {path}")
