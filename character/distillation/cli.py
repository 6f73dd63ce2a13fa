"""`character distill generate|train` (also `python -m character.distillation.pipeline`).

The commands only build a config and call the library; torch is imported inside them.
"""

from __future__ import annotations

import typer
from rich.console import Console

from character.cli_config import config_command
from character.cli_support import error_text, fail
from character.distillation.generate import GenerationConfig
from character.distillation.train import TrainingConfig

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


def _train(config: TrainingConfig) -> None:
    from character.distillation.train import run_dpo_training

    out = _run(run_dpo_training, config)
    console.print(f"Adapter saved to {out}", highlight=False)


TRAIN_ALIASES: dict[str, tuple[str, ...]] = {
    "dataset_path": ("--dataset",),
    "gradient_accumulation_steps": ("--gradient-accumulation",),
    "load_in_4bit": ("--qlora",),
    "allow_outside_data_dir": ("--allow-outside-data",),
}
"""The option names `distill train` had before its options were generated from the config."""

train = config_command(
    TrainingConfig,
    _train,  # type: ignore[arg-type]
    doc="Train a LoRA adapter with DPO on generated pairs.\n\n"
    "Every option is a field of TrainingConfig; one left out keeps the config's default.",
    aliases=TRAIN_ALIASES,
    required=("dataset_path",),
    on_invalid=lambda exc: fail(error_text(exc)),
)
app.command("train")(train)


def main() -> None:
    app(prog_name="python -m character.distillation.pipeline")
