"""`python -m character.sources.transcripts_cli MODEL_NAME --device ... --epochs ...`: the seed's
LoRA training command, on our importer and trainer (also `character sources transcripts`).

Only builds a config and calls the library; torch is imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from character.cli_support import fail, progress_reporter

app = typer.Typer(
    help="Train a LoRA on one speaker's lines from a folder of transcripts.",
    pretty_exceptions_enable=False,
)


def _extensions(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += [e.strip() for e in v.split(",") if e.strip()]
    return out


def _print_speakers(table: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table("speaker", "lines", "words", "sample")
    for row in table:
        samples = row["samples"]
        sample = str(samples[0])[:70] if isinstance(samples, list) and samples else ""
        t.add_row(escape(str(row["speaker"])), str(row["lines"]), str(row["words"]), escape(sample))
    Console().print(t)


@app.command()
def transcripts(
    model_name: Annotated[
        str | None,
        typer.Argument(help="Base model: registry name, local folder (or Tinker model)."),
    ] = None,
    device: Annotated[str, typer.Option(help="Device: 'auto', 'cpu' or 'cuda'.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Batch size for training.")] = 4,
    max_length: Annotated[int, typer.Option(help="Maximum sequence length.")] = 512,
    gradient_accumulation: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    epochs: Annotated[float, typer.Option(help="Number of training epochs.")] = 3.0,
    data_folder: Annotated[Path, typer.Option(help="Folder containing the training data.")] = Path(
        "./data"
    ),
    format: Annotated[str, typer.Option(help="Data format: 'jsonl' or 'raw'.")] = "jsonl",
    extensions: Annotated[
        list[str] | None,
        typer.Option(help="File extensions to include (repeat or comma-separate)."),
    ] = None,
    min_parsed_share: Annotated[
        float,
        typer.Option(
            help="Raw format: refuse a file when less than this share of its lines parse "
            "(lower it for files with long front matter)."
        ),
    ] = 0.5,
    target: Annotated[
        str | None, typer.Option(help="Speaker whose lines the model learns to say.")
    ] = None,
    list_speakers: Annotated[
        bool, typer.Option("--list-speakers", help="List speakers with line counts and stop.")
    ] = False,
    context_window: Annotated[int, typer.Option(help="Other speakers' lines as context.")] = 4,
    max_turns: Annotated[int, typer.Option(help="Target replies per example.")] = 6,
    holdout_share: Annotated[float, typer.Option(help="Share of scenes held out.")] = 0.2,
    split_by: Annotated[str, typer.Option(help="Hold out whole 'scene's or 'file's.")] = "scene",
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = 2e-4,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    backend: Annotated[str, typer.Option(help="'local' or 'tinker'.")] = "local",
    output_dir: Annotated[Path | None, typer.Option(help="Run folder.")] = None,
    evaluate: Annotated[
        bool, typer.Option(help="Held-out perplexity and speaker classifier after training.")
    ] = True,
) -> None:
    """Import transcripts, pick a target speaker and train a LoRA on their lines."""
    from pydantic import ValidationError

    from character.io import DataFileError
    from character.models.registry import UnknownModelError
    from character.sources.transcripts import (
        TranscriptError,
        TranscriptImportConfig,
        load_transcripts,
    )

    exts = _extensions(extensions) if extensions else [".jsonl", ".txt"]
    try:
        if list_speakers or not target:
            corpus = load_transcripts(
                TranscriptImportConfig(
                    data_folder=data_folder,
                    format=format,
                    extensions=exts,
                    min_parsed_share=min_parsed_share,
                )
            )
            _print_speakers(corpus.speakers())
            for p in corpus.problems[:10]:
                typer.echo(f"skipped {p}", err=True)
            for d in corpus.duplicate_scenes:
                typer.echo(f"duplicate scene dropped: {d}", err=True)
            if not list_speakers:
                fail("pick a speaker with --target NAME (the table lists them)")
            return
        from character.sources.transcript_training import (
            TranscriptEvalConfig,
            TranscriptTrainConfig,
            evaluate_transcript_adapter,
            train_on_transcripts,
        )

        fields = {
            "target": target,
            "backend": backend,
            "device": device,
            "data_folder": data_folder,
            "format": format,
            "extensions": exts,
            "min_parsed_share": min_parsed_share,
            "context_window": context_window,
            "max_assistant_turns": max_turns,
            "holdout_share": holdout_share,
            "split_by": split_by,
            "batch_size": batch_size,
            "gradient_accumulation": gradient_accumulation,
            "max_length": max_length,
            "epochs": epochs,
            "max_steps": max_steps,
            "learning_rate": learning_rate,
            "lora_rank": lora_rank,
            "output_dir": output_dir,
        }
        if model_name:
            fields["model"] = model_name
        cfg = TranscriptTrainConfig(**fields)
        reporter = progress_reporter()
        try:
            path = train_on_transcripts(cfg, reporter)
            typer.echo(f"Adapter saved: {path}")
            blocker = None
            if evaluate and cfg.backend == "tinker":
                from character.sources.transcript_training import local_evaluation_blocker

                blocker = local_evaluation_blocker(cfg.resolved_output_dir())
                if blocker:
                    typer.echo(f"Held-out evaluation skipped: {blocker}")
            if evaluate and not blocker:
                report = evaluate_transcript_adapter(
                    TranscriptEvalConfig(run_dir=cfg.resolved_output_dir(), max_length=max_length),
                    reporter,
                )
                p = report["perplexity"]
                r = p["ratio_adapter_over_base"]
                typer.echo(
                    f"Held-out perplexity of {report['target']}'s lines: base "
                    f"{p['base_ppl']['estimate']:.2f}, adapter {p['adapter_ppl']['estimate']:.2f} "
                    f"(ratio {r['estimate']:.3f}, 95% CI {r['lower']:.3f}-{r['upper']:.3f})"
                )
                if "classifier" in report:
                    c = report["classifier"]
                    typer.echo(
                        f"Speaker classifier: accuracy {c['accuracy']['estimate']:.3f}, "
                        f"macro-F1 {c['macro_f1']:.3f}"
                    )
        finally:
            if hasattr(reporter, "close"):
                reporter.close()
    except (ValidationError, TranscriptError, DataFileError, UnknownModelError, ValueError) as exc:
        fail(str(exc))
    except (RuntimeError, OSError) as exc:
        fail(str(exc))


def main() -> None:  # pragma: no cover - exercised through the CLI tests
    app(prog_name="python -m character.sources.transcripts_cli")


if __name__ == "__main__":  # pragma: no cover
    main()
