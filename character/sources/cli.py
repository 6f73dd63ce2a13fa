"""`character sources ...`: transcripts, experience upload, card augmentation.

Commands only build configs and call the library; heavy imports happen inside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from character.cli_support import fail, progress_reporter
from character.sources.transcripts_cli import transcripts as _transcripts

app = typer.Typer(
    help="More ways to describe a character: transcripts, a profile (experience upload), "
    "card augmentation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("transcripts")(_transcripts)


@app.command()
def experience(
    character: Annotated[str, typer.Argument(help="The character's name, e.g. 'Ada Lovelace'.")],
    profile: Annotated[str, typer.Option(help="Profile text (biography, description).")] = "",
    profile_file: Annotated[
        Path | None, typer.Option(help="Read the profile from a text file.")
    ] = None,
    teacher_model: Annotated[
        str | None,
        typer.Option(
            help="Teacher: registry name, folder, or openai:<model> (any OpenAI-compatible "
            "endpoint; base URL from LLM_BASE_URL / OPENAI_BASE_URL)."
        ),
    ] = None,
    scenes: Annotated[int, typer.Option(help="Experience scenes to write.")] = 8,
    protective_scenes: Annotated[int, typer.Option(help="Protective (deflection) scenes.")] = 4,
    era_hint: Annotated[
        str, typer.Option(help="What the character cannot know about, e.g. 'after 1850'.")
    ] = "",
    require_deflection: Annotated[
        bool,
        typer.Option(help="Drop protective replies that do not say the character cannot know."),
    ] = False,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per teacher reply.")] = 200,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    output: Annotated[Path | None, typer.Option(help="Output JSONL.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an existing output file.")] = False,
) -> None:
    """Experience upload: scenes from the character's life as SFT conversations."""
    from pydantic import ValidationError

    from character.backends.base import BackendError
    from character.models.registry import UnknownModelError
    from character.sources.experience import (
        ExperienceConfig,
        generate_experiences,
        load_experience_stats,
    )

    fields: dict[str, object] = {
        "character": character,
        "profile": profile,
        "profile_path": profile_file,
        "scenes": scenes,
        "protective_scenes": protective_scenes,
        "era_hint": era_hint,
        "require_deflection": require_deflection,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "output_path": output,
        "resume": resume,
    }
    if teacher_model:
        fields["teacher_model"] = teacher_model
    reporter = progress_reporter()
    try:
        path = generate_experiences(ExperienceConfig(**fields), reporter)
    except (
        ValidationError,
        UnknownModelError,
        ValueError,
        FileExistsError,
        OSError,
        BackendError,
    ) as exc:
        hint = " Rerun with --resume to continue what was saved."
        fail(f"{exc}{hint if isinstance(exc, BackendError) else ''}")
        return
    finally:
        if hasattr(reporter, "close"):
            reporter.close()
    stats = load_experience_stats(path)
    kept = {k: v for k, v in stats.counts().items() if not k.startswith(("dropped", "scenes"))}
    typer.echo(f"Experience data: {path}")
    typer.echo("Kept: " + ", ".join(f"{k} {v}" for k, v in kept.items()))
    dropped = {k[8:]: v for k, v in stats.counts().items() if k.startswith("dropped_")}
    if dropped:
        typer.echo(
            "Dropped teacher replies: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dropped.items())
            + f" (quoted in {path.with_suffix('.stats.json')})"
        )


@app.command()
def augment(
    persona: Annotated[str, typer.Argument(help="Persona name or constitution file.")],
    model: Annotated[str | None, typer.Option(help="Model that rewrites the card.")] = None,
    variants_per_style: Annotated[
        int, typer.Option(help="Variants per style (summarize, paraphrase, stylize).")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    output: Annotated[Path | None, typer.Option(help="Output JSON.")] = None,
) -> None:
    """Rewrite the character card (summarize, paraphrase, stylize) for pair generation
    (`use_augmented_cards`)."""
    from pydantic import ValidationError

    from character.constitution import ConstitutionError
    from character.models.registry import UnknownModelError
    from character.sources.augment import AugmentConfig, augment_card, augmented_cards_path

    fields: dict[str, object] = {
        "persona": persona,
        "variants_per_style": variants_per_style,
        "seed": seed,
        "output_path": output,
    }
    if model:
        fields["model"] = model
    try:
        cfg = AugmentConfig(**fields)
        variants = augment_card(cfg, progress_reporter())
    except (ValidationError, ConstitutionError, UnknownModelError, ValueError, OSError) as exc:
        fail(str(exc))
        return
    for v in variants:
        typer.echo(f"[{v.style}, {v.origin}] {v.system_prompt[:100]}")
    from character.constitution import resolve_constitution

    typer.echo(f"Saved: {output or augmented_cards_path(resolve_constitution(persona).name)}")
