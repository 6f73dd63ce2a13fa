"""`character eval ...`: builds configs and calls `character.eval`; no torch at import time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from character.cli_config import config_command
from character.cli_support import error_text, fail
from character.eval.persona_classifier import ClassifierConfig
from character.eval.revealed_preferences import RevealedConfig
from character.eval.robustness import RobustnessConfig

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


def _show_classifier(rep) -> None:  # noqa: ANN001
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


def _classifier(config: ClassifierConfig) -> None:
    from character.eval.persona_classifier import ClassifierError, train_classifier
    from character.io import DataFileError

    try:
        rep = train_classifier(config, reporter=_reporter())
    except (ClassifierError, DataFileError, ValueError) as exc:
        fail(str(exc))
        return
    _show_classifier(rep)


CLASSIFIER_ALIASES: dict[str, tuple[str, ...]] = {
    "train_path": ("--train",),
    "eval_path": ("--eval",),
    "model_name": ("--model",),
    "num_epochs": ("--epochs",),
}
"""The option names `eval classifier` had before its options were generated."""

classifier = config_command(
    ClassifierConfig,
    _classifier,  # type: ignore[arg-type]
    doc="Train and evaluate a persona classifier on held-out data.\n\n"
    "Every option is a field of ClassifierConfig; one left out keeps the config's default.",
    aliases=CLASSIFIER_ALIASES,
    required=("train_path",),
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("classifier")(classifier)


def _with_default_output(config: BaseModel, field: str, path: Path) -> BaseModel:
    """The command writes its results under the data folder unless told otherwise (the
    library writes nothing without a path)."""
    if getattr(config, field) is not None:
        return config
    data = config.model_dump(exclude_unset=True)
    return type(config).model_validate({**data, field: path})


def _robustness(config: RobustnessConfig) -> None:
    from character.eval.robustness import run_robustness
    from character.settings import get_settings

    out = get_settings().data_path / "eval" / "robustness"
    try:
        rep = run_robustness(_with_default_output(config, "output_dir", out), reporter=_reporter())
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


ROBUSTNESS_ALIASES: dict[str, tuple[str, ...]] = {
    "constitution": ("-c",),
    "adapters": ("--adapter",),
    "prompts": ("--prompt",),
    "prompts_path": ("--prompts-file",),
    "suffixes": ("--suffix",),
    "include_prefill": ("--prefill",),
    "sampling.max_new_tokens": ("--max-new-tokens",),
}
"""The option names `eval robustness` had before its options were generated (`--no-prefill`
is the `--no-` form of `--prefill`)."""

robustness = config_command(
    RobustnessConfig,
    _robustness,  # type: ignore[arg-type]
    doc="Persona retention under adversarial instructions and the prefill attack.\n\n"
    "Every option is a field of RobustnessConfig; one left out keeps the config's default "
    "(output: <data>/eval/robustness).",
    aliases=ROBUSTNESS_ALIASES,
    required=("constitution", "classifier_dir"),
    exclude=("conditions",),  # a list of systems under test: a config file's job
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("robustness")(robustness)


def seed_sampling_too(config: RevealedConfig) -> RevealedConfig:
    """`--seed` seeded the sampling too before the options were generated; it still does
    unless a sampling seed other than the default 0 is given."""
    if config.seed == 0 or config.sampling.seed != 0:
        return config
    sampling = config.sampling.model_copy(update={"seed": config.seed})
    return config.model_copy(update={"sampling": sampling})


def _revealed(config: RevealedConfig) -> None:
    from character.eval.revealed_preferences import run_revealed_preferences
    from character.settings import get_settings

    config = seed_sampling_too(config)
    out = get_settings().data_path / "eval" / "revealed_preferences.jsonl"
    config = _with_default_output(config, "output_path", out)  # type: ignore[assignment]
    try:
        rep = run_revealed_preferences(config, reporter=_reporter())
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
        return
    console.print(
        f"{rep.n_valid} valid / {rep.n_invalid} invalid judgements; rows in {config.output_path}"
    )
    if rep.leaderboard:
        board = rep.leaderboard.model_copy(update={"rows": rep.leaderboard.rows[:15]})
        console.print(_board_table(board, "Top traits (Bradley–Terry)"))


REVEALED_ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("-m",),
    "prompts": ("--prompt",),
    "prompts_path": ("--prompts-file",),
    "pairs_per_prompt": ("--pairs",),
    "traits": ("--trait",),
    "sampling.max_new_tokens": ("--max-new-tokens",),
    "output_path": ("--output",),
}
"""The option names `eval revealed` had before its options were generated."""

revealed = config_command(
    RevealedConfig,
    _revealed,  # type: ignore[arg-type]
    doc="Revealed trait preferences: the model picks a trait silently; a judge names it.\n\n"
    "Every option is a field of RevealedConfig; one left out keeps the config's default "
    "(output: <data>/eval/revealed_preferences.jsonl; --seed also seeds the sampling unless "
    "--sampling-seed is given).",
    aliases=REVEALED_ALIASES,
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("revealed")(revealed)


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
