"""`character introspect generate|train` (also `python -m character.introspection.pipeline`).

Only builds configs and calls `character.introspection.pipeline`; torch is imported there,
lazily, so `--help` stays fast. The options are generated from the typed configs (one per
field, the field's description as help), so a new field has an option and a changed default
cannot differ between the CLI and the library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from character.cli_config import config_command
from character.cli_support import error_text, fail, progress_reporter
from character.introspection.configs import IntrospectionGenerationConfig, SftTrainingConfig

app = typer.Typer(
    help="Introspection: self-reflection and self-interaction data, then SFT on top of DPO.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _run(fn: Callable[..., Any], config: Any) -> Any:
    """Run a library call with progress bars; known input errors become one clear line."""
    from pydantic import ValidationError

    from character.constitution import ConstitutionError
    from character.io import DataFileError
    from character.models.loading import AdapterMismatchError
    from character.models.registry import UnknownModelError

    reporter = progress_reporter()
    try:
        return fn(config, reporter)
    except (
        ValidationError,
        ConstitutionError,
        DataFileError,
        AdapterMismatchError,
        UnknownModelError,
        FileExistsError,
        ValueError,
        RuntimeError,
    ) as exc:
        fail(error_text(exc))
    finally:
        if hasattr(reporter, "close"):
            reporter.close()


def _generate(config: IntrospectionGenerationConfig) -> None:
    from character.introspection.pipeline import generate_introspection, report_path

    path = _run(generate_introspection, config)
    typer.echo(f"Wrote {path} (report: {report_path(path)})")


def _train(config: SftTrainingConfig) -> None:
    from character.introspection.pipeline import run_sft_training

    path = _run(run_sft_training, config)
    typer.echo(f"Adapter saved: {path}")


GENERATE_ALIASES: dict[str, tuple[str, ...]] = {
    "output_path": ("--output",),
    "allow_outside_data_dir": ("--allow-outside-data",),
}
"""The option names `introspect generate` had before its options were generated."""

TRAIN_ALIASES: dict[str, tuple[str, ...]] = {
    "dataset_path": ("--dataset",),
    "allow_outside_data_dir": ("--allow-outside-data",),
}
"""The option names `introspect train` had before its options were generated."""

generate = config_command(
    IntrospectionGenerationConfig,
    _generate,  # type: ignore[arg-type]
    doc="Generate introspection data with the constitution in context (not in the stored "
    "rows).\n\nEvery option is a field of IntrospectionGenerationConfig; one left out keeps the "
    "config's default.",
    aliases=GENERATE_ALIASES,
    required=("persona",),
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("generate")(generate)

train = config_command(
    SftTrainingConfig,
    _train,  # type: ignore[arg-type]
    doc="SFT a LoRA adapter with the loss on every assistant turn, stacked on the merged DPO "
    "model; resumes from the last checkpoint of the same output folder.\n\nEvery option is a "
    "field of SftTrainingConfig; one left out keeps the config's default.",
    aliases=TRAIN_ALIASES,
    required=("dataset_path",),
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("train")(train)
