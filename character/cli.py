"""The `character` console command. It only builds typed configs and calls the library.

Sub-command groups live next to their library code (`character/<area>/cli.py`) and are
registered in `SUBCOMMANDS`; none of them may import torch at import time, so `--help` is fast.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from character.cli_config import config_command
from character.cli_support import error_text, fail, note_shadowed_constitution
from character.sample import SampleConfig

app = typer.Typer(
    help="Open Character Studio: design a persona, generate data, train, evaluate, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

models_app = typer.Typer(help="List and inspect models.", no_args_is_help=True)
constitution_app = typer.Typer(
    help="Validate, show and create constitutions.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(constitution_app, name="constitution")

# (module, attribute, command name): each area registers its own Typer app here.
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("character.jobs.cli", "app", "jobs"),
    ("character.export.cli", "export_app", "export"),
    ("character.tinker.cli", "app", "tinker"),
    ("character.distillation.cli", "app", "distill"),
    ("character.eval.cli", "app", "eval"),
    ("character.introspection.cli", "app", "introspect"),
    ("character.sources.cli", "app", "sources"),
    ("character.feedback.cli", "app", "feedback"),
]


# (module, attribute, command name): single commands that live next to their library code.
COMMANDS: list[tuple[str, str, str]] = [
    ("character.export.cli", "serve", "serve"),
    ("character.pipeline_cli", "pipeline", "pipeline"),
    ("character.classroom.cli", "studio", "studio"),
]


def _register_subcommands() -> None:
    for module, attr, name in SUBCOMMANDS:
        sub = getattr(importlib.import_module(module), attr)
        app.add_typer(sub, name=name)
    for module, attr, name in COMMANDS:
        app.command(name)(getattr(importlib.import_module(module), attr))


@app.command()
def setup() -> None:
    """Prepare the embedded model (convert the shipped GGUF into a safetensors cache once)."""
    from character.models.embedded import ensure_embedded_model

    path = ensure_embedded_model()
    console.print(f"Embedded model ready at {path}")


@models_app.command("list")
def models_list() -> None:
    """Models you can use: the embedded default, trained adapters, configured endpoints."""
    from character.models.registry import list_models

    table = Table("reference", "kind", "description")
    for row in list_models():
        table.add_row(row["ref"], row["kind"], row["description"])
    console.print(table)


def _sample(config: SampleConfig, *, as_json: bool = False) -> None:
    from character.backends.base import BackendError
    from character.constitution import ConstitutionError
    from character.models.registry import UnknownModelError
    from character.sample import sample_replies

    try:
        if config.constitution:
            note_shadowed_constitution(config.constitution)
        outs = sample_replies(config)
    except (ConstitutionError, UnknownModelError, BackendError, ValueError) as exc:
        fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps([o.model_dump() for o in outs]))
        return
    for i, out in enumerate(outs):
        if config.sampling.n > 1:
            console.rule(f"sample {i + 1}")
        console.print(out.text, highlight=False, markup=False)


SAMPLE_ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("-m",),
    "constitution": ("-c",),
    "sampling.temperature": ("--temperature",),
    "sampling.top_p": ("--top-p",),
    "sampling.max_new_tokens": ("--max-new-tokens",),
    "sampling.repetition_penalty": ("--repetition-penalty",),
    "sampling.seed": ("--seed",),
    "sampling.n": ("-n",),
}
"""The option names `character sample` had before its options were generated."""

sample = config_command(
    SampleConfig,
    _sample,
    doc="Sample a reply, optionally with a constitution as the system prompt.\n\n"
    "Every option is a field of SampleConfig; one left out keeps the config's default.",
    aliases=SAMPLE_ALIASES,
    arguments=("prompt",),
    extra=(
        inspect.Parameter(
            "as_json",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[bool, typer.Option("--json", help="Print JSON.")],
            default=False,
        ),
    ),
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("sample")(sample)


@constitution_app.command("validate")
def constitution_validate(
    paths: Annotated[list[Path], typer.Argument(help="Constitution files to check.")],
) -> None:
    """Check files; list every problem with its field (and line, for syntax errors)."""
    from character.constitution import ConstitutionError, load_constitution

    bad = 0
    for path in paths:
        try:
            c = load_constitution(path)
        except ConstitutionError as exc:
            bad += 1
            err.print(f"[red]✗[/] {escape(str(exc))}", highlight=False)
            continue
        warnings = c.lint()
        console.print(
            f"[green]✓[/] {path}: '{c.name}', {len(c.traits)} traits, "
            f"{len(c.questions())} questions, hash {c.content_hash()}",
            highlight=False,
        )
        for w in warnings:
            console.print(f"  [yellow]warning:[/] {w}", highlight=False)
    if bad:
        raise typer.Exit(1)


@constitution_app.command("list")
def constitution_list() -> None:
    """Every persona under the constitutions folder and the file used for it; files hidden by
    another of the same name are listed as ignored."""
    from character.constitution import find_constitutions

    used, shadowed = find_constitutions()
    for name, path in used.items():
        typer.echo(f"{name}\t{path}")
        for hidden in shadowed.get(name, []):
            typer.echo(f"  ignored (same name): {hidden}")


@constitution_app.command("show")
def constitution_show(
    ref: Annotated[str, typer.Argument(help="Persona name or file.")],
    fmt: Annotated[str, typer.Option("--format", help="json, yaml, txt or prompt.")] = "yaml",
) -> None:
    """Print a constitution, or the teacher system prompt rendered from it."""
    from character.constitution import ConstitutionError, resolve_constitution

    try:
        note_shadowed_constitution(ref)
        c = resolve_constitution(ref)
    except ConstitutionError as exc:
        fail(str(exc))
        return
    text = {
        "json": c.to_json,
        "yaml": c.to_yaml,
        "txt": c.to_recipe_txt,
        "prompt": c.teacher_system_prompt,
    }.get(fmt)
    if text is None:
        fail(f"unknown format {fmt!r}; use json, yaml, txt or prompt")
        return
    # Plain echo, not rich: rich wraps long lines, which breaks `show ... > file.json`.
    body = text()
    typer.echo(body if body.endswith("\n") else body + "\n", nl=False)


@constitution_app.command("new")
def constitution_new(
    name: Annotated[str, typer.Argument(help="Persona id, e.g. 'stoic-gardener'.")],
    description: Annotated[
        str | None,
        typer.Option("--description", "-d", help="One line; drafts the persona with an LLM."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model that drafts it (default LLM_MODEL).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to save.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Create a constitution from a template, or draft one from a one-line description."""
    from character.backends.base import BackendError
    from character.constitution import ConstitutionError, save_constitution
    from character.drafting import draft_constitution, template_constitution
    from character.settings import get_settings

    target = out or get_settings().hand_written / f"{name}.json"
    if target.exists() and not force:
        fail(f"{target} exists; pass --force to overwrite or choose another name")
    note = "a template to edit"
    try:
        if description:
            draft = draft_constitution(description, model=model, name=name)
            c, note = draft.constitution, draft.summary()
        else:
            c = template_constitution(name)
        save_constitution(c, target)
    except (ConstitutionError, ValueError, BackendError) as exc:
        fail(str(exc))
        return
    console.print(f"Saved {target} ({len(c.traits)} traits): {note}", highlight=False, markup=False)


@constitution_app.command("check")
def constitution_check(
    ref: Annotated[str, typer.Argument(help="Persona name or file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check that a constitution can teach (first-person traits about the persona, sensible
    questions, at least two in-voice examples); exits 1 when it needs editing."""
    from character.constitution import ConstitutionError, resolve_constitution
    from character.constitution_quality import check_constitution_quality

    try:
        note_shadowed_constitution(ref)
        report = check_constitution_quality(resolve_constitution(ref))
    except ConstitutionError as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        console.print(report.summary(), highlight=False, markup=False)
    if not report.usable:
        raise typer.Exit(1)


@constitution_app.command("diff")
def constitution_diff(
    old: Annotated[str, typer.Argument(help="Persona name or file (before).")],
    new: Annotated[str, typer.Argument(help="Persona name or file (after).")],
) -> None:
    """Show what changed between two versions: traits added, removed or reworded, fields."""
    from character.constitution import ConstitutionError, diff_constitutions, resolve_constitution

    try:
        d = diff_constitutions(resolve_constitution(old), resolve_constitution(new))
    except ConstitutionError as exc:
        fail(str(exc))
        return
    console.print(d.summary(), highlight=False, markup=False)


def main() -> None:
    """Console entry point; loads `.env` so keys set there are visible."""
    try:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env", override=False)
    except ImportError:
        pass
    _register_subcommands()
    app(prog_name="character")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
