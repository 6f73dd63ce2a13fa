"""`character eval ...`: builds configs and calls `character.eval`; no torch at import time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from character.cli_support import fail

app = typer.Typer(
    help="Evaluate personas: classifier, robustness, revealed preferences, arena.",
    no_args_is_help=True,
)
elo_app = typer.Typer(
    help="Online Elo (order-dependent) and Bradley–Terry ratings.", no_args_is_help=True
)
arena_app = typer.Typer(help="Blind A/B arena votes: leaderboard and export.", no_args_is_help=True)
app.add_typer(elo_app, name="elo")
app.add_typer(arena_app, name="arena")
console = Console()
err = Console(stderr=True)


def _reporter():  # noqa: ANN202
    from character.progress import print_reporter

    return print_reporter


def _board_table(board, title: str) -> Table:  # noqa: ANN001
    table = Table("system", "rating", "95% CI", "games", "W", "L", "T", "both bad", title=title)
    for r in board.rows:
        table.add_row(
            r.system,
            f"{r.rating:.0f}",
            f"[{r.lower:.0f}, {r.upper:.0f}]",
            str(r.games),
            f"{r.wins:g}",
            f"{r.losses:g}",
            str(r.ties),
            str(r.both_bad),
        )
    return table


@elo_app.command("score")
def elo_score(
    matches: Annotated[Path, typer.Option("--matches", help="Matches JSONL.")],
    k_factor: Annotated[float, typer.Option("--k-factor", help="Online Elo K.")] = 32.0,
    initial_rating: Annotated[float, typer.Option(help="Starting rating.")] = 1000.0,
    rounds: Annotated[int, typer.Option(help="Bootstrap rounds.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rate base vs tuned: online Elo (as the seed prints it) and BT with 95% intervals."""
    from character.eval.elo import load_matches, score_report
    from character.io import DataFileError

    try:
        report = score_report(load_matches(matches), k_factor, initial_rating, rounds, seed)
    except DataFileError as exc:
        fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(report))
        return
    elo = report["online_elo"]
    console.print(
        f"Online Elo (K={k_factor:g}, order-dependent): base {elo['base']:.1f}, "
        f"tuned {elo['tuned']:.1f}"
    )
    from character.eval.bradley_terry import Leaderboard

    console.print(
        _board_table(Leaderboard.model_validate(report["bradley_terry"]), "Bradley–Terry")
    )
    wr = report["tuned_win_rate"]
    rate = wr["rate"]
    console.print(
        f"Tuned win rate {rate['estimate']:.1%} [{rate['lower']:.1%}, {rate['upper']:.1%}] "
        f"over {rate['n']} decisive votes; ties {wr['ties']}, both bad {wr['both_bad']}"
    )


@app.command("classifier")
def classifier(
    train: Annotated[list[Path], typer.Option("--train", help="Training JSONL (repeatable).")],
    eval_path: Annotated[
        list[Path] | None, typer.Option("--eval", help="Evaluation JSONL (repeatable).")
    ] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Local encoder to fine-tune.")
    ] = None,
    method: Annotated[str, typer.Option(help="auto, embedding, tfidf or transformer.")] = "auto",
    persona_labels: Annotated[
        bool, typer.Option(help="Label in-persona texts by persona.")
    ] = False,
    test_size: Annotated[float, typer.Option(help="Held-out share without --eval.")] = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    epochs: Annotated[int, typer.Option(help="Transformer epochs.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Transformer batch size.")] = 8,
) -> None:
    """Train and evaluate a persona classifier on held-out data."""
    from character.eval.persona_classifier import (
        ClassifierConfig,
        ClassifierError,
        train_classifier,
    )
    from character.io import DataFileError

    try:
        cfg = ClassifierConfig(
            train_path=train,
            eval_path=eval_path or None,
            output_dir=output_dir,
            method=method,  # type: ignore[arg-type]
            model_name=model,
            persona_labels=persona_labels,
            test_size=test_size,
            seed=seed,
            num_epochs=epochs,
            batch_size=batch_size,
        )
        rep = train_classifier(cfg, reporter=_reporter())
    except (ClassifierError, DataFileError, ValueError) as exc:
        fail(str(exc))
        return
    acc = rep.accuracy
    features = rep.embedding_model_used or "TF-IDF words"
    console.print(
        f"{rep.method} ({features}): accuracy {acc.estimate:.1%} "
        f"[{acc.lower:.1%}, {acc.upper:.1%}], "
        f"macro-F1 {rep.macro_f1:.3f} on {rep.n_test} held-out texts "
        f"(majority baseline {rep.majority_baseline:.1%}); labels {rep.labels}",
        highlight=False,
        markup=False,
    )
    for warning in rep.warnings:
        typer.secho(f"Warning: {warning}", fg=typer.colors.YELLOW, err=True)
    for note in rep.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if rep.output_dir:
        console.print(f"saved to {rep.output_dir}")


@app.command("robustness")
def robustness(
    constitution: Annotated[str, typer.Option("--constitution", "-c", help="Persona.")],
    classifier_dir: Annotated[Path, typer.Option(help="Trained classifier folder.")],
    adapter: Annotated[
        list[str] | None, typer.Option("--adapter", help="Adapter ref (repeatable).")
    ] = None,
    base_model: Annotated[str, typer.Option(help="Base model ref.")] = "smollm2-135m",
    target_label: Annotated[str, typer.Option(help="Classifier label meaning in persona.")] = (
        "in_persona"
    ),
    prompts_file: Annotated[Path | None, typer.Option(help="Held-out prompts file.")] = None,
    max_prompts: Annotated[int, typer.Option()] = 30,
    training_data: Annotated[
        list[Path] | None, typer.Option(help="Training files; prompts must not overlap.")
    ] = None,
    no_prefill: Annotated[bool, typer.Option("--no-prefill")] = False,
    max_new_tokens: Annotated[int, typer.Option()] = 120,
    output_dir: Annotated[Path | None, typer.Option(help="Default <data>/eval/robustness.")] = None,
) -> None:
    """Persona retention under adversarial instructions and the prefill attack."""
    from character.backends.base import SamplingParams
    from character.eval.robustness import RobustnessConfig, run_robustness
    from character.settings import get_settings

    output_dir = output_dir or get_settings().data_path / "eval" / "robustness"

    try:
        rep = run_robustness(
            RobustnessConfig(
                constitution=constitution,
                classifier_dir=classifier_dir,
                adapters=adapter or [],
                base_model=base_model,
                target_label=target_label,
                prompts_path=prompts_file,
                max_prompts=max_prompts,
                training_data=training_data or [],
                include_prefill=not no_prefill,
                sampling=SamplingParams(max_new_tokens=max_new_tokens, seed=0),
                output_dir=output_dir,
            ),
            reporter=_reporter(),
        )
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
        return
    table = Table("condition", "variant", "retention", "95% CI", "drop vs default")
    for c in rep.cells:
        r = c.retention
        drop = "" if c.drop_vs_default is None else f"{c.drop_vs_default:+.2f}"
        table.add_row(
            c.condition, c.variant, f"{r.estimate:.2f}", f"[{r.lower:.2f}, {r.upper:.2f}]", drop
        )
    console.print(table)
    for name, iv in rep.adversarial.items():
        console.print(
            f"{name}: adversarial retention {iv.estimate:.2f} [{iv.lower:.2f}, {iv.upper:.2f}]"
        )


@app.command("revealed")
def revealed(
    model: Annotated[str, typer.Option("--model", "-m")] = "smollm2-135m",
    prompts: Annotated[
        list[str] | None, typer.Option("--prompt", help="Prompt (repeatable).")
    ] = None,
    prompts_file: Annotated[Path | None, typer.Option()] = None,
    max_prompts: Annotated[int, typer.Option()] = 50,
    pairs: Annotated[int, typer.Option(help="Trait pairs per prompt (each in both orders).")] = 1,
    judge: Annotated[str, typer.Option(help="'embedding' (offline) or a model ref.")] = "embedding",
    constitution: Annotated[str | None, typer.Option(help="Add as system prompt.")] = None,
    max_new_tokens: Annotated[int, typer.Option()] = 160,
    seed: Annotated[int, typer.Option()] = 0,
    output: Annotated[
        Path | None, typer.Option(help="Default <data>/eval/revealed_preferences.jsonl.")
    ] = None,
) -> None:
    """Revealed trait preferences: the model picks a trait silently; a judge names it."""
    from character.backends.base import SamplingParams
    from character.eval.revealed_preferences import RevealedConfig, run_revealed_preferences
    from character.settings import get_settings

    output = output or get_settings().data_path / "eval" / "revealed_preferences.jsonl"

    try:
        rep = run_revealed_preferences(
            RevealedConfig(
                model=model,
                prompts=prompts or None,
                prompts_path=prompts_file,
                max_prompts=max_prompts,
                pairs_per_prompt=pairs,
                judge=judge,
                constitution=constitution,
                sampling=SamplingParams(max_new_tokens=max_new_tokens, seed=seed),
                seed=seed,
                output_path=output,
            ),
            reporter=_reporter(),
        )
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
        return
    console.print(f"{rep.n_valid} valid / {rep.n_invalid} invalid judgements; rows in {output}")
    if rep.leaderboard:
        board = rep.leaderboard.model_copy(update={"rows": rep.leaderboard.rows[:15]})
        console.print(_board_table(board, "Top traits (Bradley–Terry)"))


@arena_app.command("leaderboard")
def arena_leaderboard_cmd(
    votes: Annotated[
        Path | None, typer.Option(help="Votes JSONL (default: the data folder).")
    ] = None,
    anchor: Annotated[str | None, typer.Option(help="System pinned at 1000.")] = None,
    rounds: Annotated[int, typer.Option()] = 1000,
    drop_unknown: Annotated[bool, typer.Option(help="Leave out unknown model ids.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Bradley–Terry leaderboard with 95% intervals from stored arena votes."""
    from character.eval.arena import arena_leaderboard

    lb = arena_leaderboard(votes, anchor=anchor, rounds=rounds, drop_unknown=drop_unknown)
    if as_json:
        console.print_json(lb.model_dump_json())
        return
    for p in lb.problems:
        err.print(f"skipped {p}", highlight=False, markup=False)
    if lb.unknown_models:
        err.print(f"unknown model ids in votes: {', '.join(lb.unknown_models)}", markup=False)
    if lb.leaderboard is None:
        console.print("No votes yet.")
        return
    console.print(_board_table(lb.leaderboard, f"Arena ({lb.n_votes} votes)"))


@arena_app.command("export")
def arena_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="DPO JSONL to write.")],
    votes: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Export decisive votes as TRL DPO pairs (prompt/chosen/rejected)."""
    from character.eval.arena import export_dpo_pairs

    res = export_dpo_pairs(output, votes)
    console.print(
        f"wrote {res.n_pairs} pairs to {res.path} (skipped {res.skipped_ties} ties, "
        f"{res.skipped_both_bad} both-bad)"
    )


@app.command("report")
def report(
    config: Annotated[Path, typer.Argument(help="EvalConfig as YAML or JSON.")],
    output_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Run an evaluation config and write report.json + plotly figures."""
    import yaml
    from pydantic import ValidationError

    from character.eval.report import EvalConfig, run_evaluation

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        cfg = EvalConfig.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        fail(f"{config}: {exc}")
        return
    if output_dir is not None:
        cfg = cfg.model_copy(update={"output_dir": output_dir})
    try:
        path = run_evaluation(cfg, reporter=_reporter())
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
        return
    console.print(f"report written to {path}")
