"""CLI options generated from a config's fields (`character distill generate`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

pytestmark = pytest.mark.unit


def _field_paths(model: type, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    out: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _field_paths(ann, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_generation_config_field_has_an_option_with_its_description() -> None:
    from character.distillation.cli import app, generate
    from character.distillation.generate import GenerationConfig

    command = typer.main.get_command(app).commands["generate"]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    options = {o.path: o for o in generate.options}
    assert set(options) == _field_paths(GenerationConfig)
    for path, opt in options.items():
        assert opt.param in params, path
        section, _, name = path.rpartition(".")
        model = GenerationConfig.model_fields[section].annotation if section else GenerationConfig
        info = model.model_fields[name]
        assert info.description, f"GenerationConfig.{path} has no description for its help"
        assert params[opt.param].help.startswith(info.description.strip())
    # The names the command had before its options were generated still work.
    flags = {f for p in command.params for f in (*p.opts, *p.secondary_opts)}
    for old in ("--pairs", "-o", "--output", "--voice-judge", "--judge-model"):
        assert old in flags
    assert "--allow-outside-data" in flags and "--voice-min-in-voice" in flags


def test_options_build_the_config_and_bad_values_are_one_clear_line(tmp_path: Path) -> None:
    from character.cli_config import config_from_options
    from character.distillation.cli import app, generate
    from character.distillation.generate import GenerationConfig

    values = {
        "persona": "pirate",
        "pair_count": 3,
        "voice__min_in_voice": 0.3,
        "include_bank": False,
        "output_path": tmp_path / "p.jsonl",
    }
    config = config_from_options(GenerationConfig, generate.options, values)
    assert isinstance(config, GenerationConfig)
    assert (config.pair_count, config.voice.min_in_voice, config.include_bank) == (3, 0.3, False)
    assert config.temperature == GenerationConfig.model_fields["temperature"].default
    assert "pair_count" in config.model_fields_set and "temperature" not in config.model_fields_set

    out = CliRunner().invoke(app, ["generate", "--persona", "pirate", "--pairs", "-2"])
    assert out.exit_code == 1 and "pair_count" in out.output, out.output
    assert "Traceback" not in out.output
    out = CliRunner().invoke(app, ["generate", "--persona", "pirate", "--voice-judge", "nope"])
    assert out.exit_code == 1 and "voice.method" in out.output, out.output


# `character distill train`, `character introspect generate|train`: the same generation

TRAINING_COMMANDS = [
    # (module, command, config class, old flag names that must still work)
    (
        "character.distillation.cli",
        "train",
        "character.distillation.train:TrainingConfig",
        ("--dataset", "--gradient-accumulation", "--qlora", "--no-qlora", "--allow-outside-data"),
    ),
    (
        "character.introspection.cli",
        "generate",
        "character.introspection.configs:IntrospectionGenerationConfig",
        ("--output", "--examples", "--interactions", "--truncation", "--allow-outside-data"),
    ),
    (
        "character.introspection.cli",
        "train",
        "character.introspection.configs:SftTrainingConfig",
        ("--dataset", "--load-in-4bit", "--model", "--save-name", "--allow-outside-data"),
    ),
    (
        "character.eval.cli",
        "classifier",
        "character.eval.persona_classifier:ClassifierConfig",
        ("--train", "--eval", "--model", "--epochs", "--method", "--persona-labels", "--seed"),
    ),
    (
        "character.eval.cli",
        "robustness",
        "character.eval.robustness:RobustnessConfig",
        ("-c", "--classifier-dir", "--adapter", "--prompts-file", "--no-prefill", "--max-prompts"),
    ),
    (
        "character.eval.cli",
        "revealed",
        "character.eval.revealed_preferences:RevealedConfig",
        ("-m", "--prompt", "--prompts-file", "--pairs", "--judge", "--max-new-tokens", "--output"),
    ),
    (
        "character.cli",
        "sample",
        "character.sample:SampleConfig",
        ("-m", "-c", "--temperature", "--top-p", "--max-new-tokens", "--seed", "-n", "--json"),
    ),
]

EXCLUDED = {"character.eval.cli:robustness": {"conditions"}}
"""Fields a command leaves to a config file (a list of models has no option form)."""


def _load(module: str, name: str):  # noqa: ANN202
    import importlib

    return getattr(importlib.import_module(module), name)


def _field_info(model: type, path: str):  # noqa: ANN202
    section, _, name = path.rpartition(".")
    for part in filter(None, section.split(".")):
        model = model.model_fields[part].annotation
    return model.model_fields[name]


@pytest.mark.parametrize(("module", "name", "config", "old_flags"), TRAINING_COMMANDS)
def test_every_config_field_of_the_training_commands_is_an_option(
    module: str, name: str, config: str, old_flags: tuple[str, ...]
) -> None:
    model = _load(*config.split(":"))
    command = typer.main.get_command(_load(module, "app")).commands[name]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    options = {o.path: o for o in _load(module, name).options}
    assert set(options) == _field_paths(model) - EXCLUDED.get(f"{module}:{name}", set())
    for path, opt in options.items():
        info = _field_info(model, path)
        assert info.description, f"{model.__name__}.{path} has no description for its help"
        assert params[opt.param].help.startswith(info.description.strip()), path
        default = info.default
        if "." not in path and isinstance(default, int | float | str):
            assert f"(default: {default})" in params[opt.param].help, path
    flags = {f for p in command.params for f in (*p.opts, *p.secondary_opts)}
    missing = [f for f in old_flags if f not in flags]
    assert not missing, missing


def test_old_and_new_flags_reach_the_training_configs(tmp_path: Path) -> None:
    """Parsed by click through the generated options, with the commands' own aliases: the old
    names, repeated options and --no- forms land in the config; what is left out keeps the
    config's default."""
    from character.cli_config import config_command
    from character.distillation.cli import TRAIN_ALIASES
    from character.distillation.train import TrainingConfig
    from character.introspection import cli as intro
    from character.introspection.configs import IntrospectionGenerationConfig, SftTrainingConfig

    seen: list = []
    app = typer.Typer()
    for cmd, model, aliases, required in (
        ("dpo", TrainingConfig, TRAIN_ALIASES, ("dataset_path",)),
        ("gen", IntrospectionGenerationConfig, intro.GENERATE_ALIASES, ("persona",)),
        ("sft", SftTrainingConfig, intro.TRAIN_ALIASES, ("dataset_path",)),
    ):
        app.command(cmd)(
            config_command(
                model,
                seen.append,
                doc=cmd,
                aliases=aliases,
                required=required,
                on_invalid=lambda exc: (_ for _ in ()).throw(exc),
            )
        )
    data = tmp_path / "pairs.jsonl"
    runner = CliRunner()
    args = ["dpo", "--dataset", str(data), "--gradient-accumulation", "3", "--qlora"]
    args += ["--target-modules", "q_proj", "--target-modules", "v_proj", "--lora-rank", "8"]
    assert runner.invoke(app, args).exit_code == 0
    dpo = seen.pop()
    assert (dpo.dataset_path, dpo.gradient_accumulation_steps, dpo.load_in_4bit) == (data, 3, True)
    assert (dpo.target_modules, dpo.lora_rank, dpo.beta) == (["q_proj", "v_proj"], 8, 0.1)

    out = tmp_path / "intro.jsonl"
    args = ["gen", "--persona", "pirate", "--output", str(out), "--variants", "free"]
    args += ["--truncation", "trim", "--voice-min-in-voice", "0.4", "--allow-outside-data"]
    assert runner.invoke(app, args).exit_code == 0
    gen = seen.pop()
    assert (gen.output_path, gen.variants, gen.truncation) == (out, ("free",), "trim")
    assert (gen.voice.min_in_voice, gen.allow_outside_data_dir, gen.examples) == (0.4, True, 500)

    assert runner.invoke(app, ["sft", "--dataset", str(data), "--no-resume"]).exit_code == 0
    sft = seen.pop()
    assert (sft.dataset_path, sft.resume, sft.lora_rank) == (data, False, 64)
    assert "resume" in sft.model_fields_set and "lora_rank" not in sft.model_fields_set


def test_bad_values_on_the_real_training_commands_are_one_clear_line(tmp_path: Path) -> None:
    from character.distillation.cli import app as distill
    from character.introspection.cli import app as intro

    runner = CliRunner()
    data = tmp_path / "d.jsonl"
    out = runner.invoke(distill, ["train", "--dataset", str(data), "--long-pairs", "keep"])
    assert out.exit_code == 1 and "long_pairs" in out.output and "Traceback" not in out.output
    out = runner.invoke(intro, ["generate", "--persona", "pirate", "--turns", "0"])
    assert out.exit_code == 1 and "turns" in out.output, out.output
    out = runner.invoke(intro, ["train", "--dataset", str(data), "--lora-rank", "0"])
    assert out.exit_code == 1 and "lora_rank" in out.output, out.output


def test_exclude_leaves_a_run_owned_field_without_an_option() -> None:
    from character.cli_config import config_options
    from character.distillation.train import TrainingConfig

    paths = {o.path for o in config_options(TrainingConfig, exclude=("output_dir",))}
    assert "output_dir" not in paths and "save_name" in paths
    with pytest.raises(ValueError, match="not fields"):
        config_options(TrainingConfig, exclude=("no_such_field",))


def test_eval_commands_keep_their_old_flags_and_section_defaults(tmp_path: Path) -> None:
    """The eval commands' options reach their configs: old names, a repeated option, the
    inverted `--no-prefill`, and a nested sampling option that keeps the section's own default
    seed (RobustnessConfig samples with seed 0 and 120 tokens, not SamplingParams' 256)."""
    from character.cli_config import config_command
    from character.eval import cli
    from character.eval.persona_classifier import ClassifierConfig
    from character.eval.revealed_preferences import RevealedConfig
    from character.eval.robustness import RobustnessConfig

    seen: list = []
    app = typer.Typer()
    for cmd, model, aliases, required, exclude in (
        ("cls", ClassifierConfig, cli.CLASSIFIER_ALIASES, ("train_path",), ()),
        (
            "rob",
            RobustnessConfig,
            cli.ROBUSTNESS_ALIASES,
            ("constitution", "classifier_dir"),
            ("conditions",),
        ),
        ("rev", RevealedConfig, cli.REVEALED_ALIASES, (), ()),
    ):
        app.command(cmd)(
            config_command(
                model,
                seen.append,
                doc=cmd,
                aliases=aliases,
                required=required,
                exclude=exclude,
                on_invalid=lambda exc: (_ for _ in ()).throw(exc),
            )
        )
    runner = CliRunner()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    res = runner.invoke(app, ["cls", "--train", str(a), "--train", str(b), "--epochs", "2"])
    assert res.exit_code == 0, res.output
    cls = seen.pop()
    assert (cls.train_files(), cls.num_epochs, cls.method) == ([a, b], 2, "auto")

    args = ["rob", "-c", "pirate", "--classifier-dir", str(tmp_path), "--no-prefill"]
    args += ["--adapter", "x", "--adapter", "y", "--max-new-tokens", "50"]
    assert runner.invoke(app, args).exit_code == 0
    rob = seen.pop()
    assert (rob.constitution, rob.include_prefill, rob.adapters) == ("pirate", False, ["x", "y"])
    assert (rob.sampling.max_new_tokens, rob.sampling.seed) == (50, 0)
    assert runner.invoke(app, ["rob", "-c", "p", "--classifier-dir", str(tmp_path)]).exit_code == 0
    assert seen.pop().sampling.max_new_tokens == 120

    assert runner.invoke(app, ["rev", "-m", "m", "--pairs", "3", "--prompt", "hi"]).exit_code == 0
    rev = seen.pop()
    assert (rev.model, rev.pairs_per_prompt, rev.prompts) == ("m", 3, ["hi"])
    assert rev.sampling.max_new_tokens == 160

    assert runner.invoke(app, ["rev", "--seed", "7"]).exit_code == 0
    assert cli.seed_sampling_too(seen.pop()).sampling.seed == 7  # as the old --seed did
    assert runner.invoke(app, ["rev", "--seed", "7", "--sampling-seed", "3"]).exit_code == 0
    assert cli.seed_sampling_too(seen.pop()).sampling.seed == 3

    helps = {p.name: p.help for p in typer.main.get_command(app).commands["rob"].params}
    assert "(default: 120)" in helps["sampling__max_new_tokens"]


def test_sample_takes_the_prompt_as_an_argument_and_prints_json_on_request() -> None:
    """`character sample PROMPT` through the generated command: the positional prompt, old
    sampling flags and the non-config `--json` reach the run function."""
    from character.cli import SAMPLE_ALIASES
    from character.cli_config import config_command
    from character.sample import SampleConfig

    seen: list = []
    app = typer.Typer()
    app.command("s")(
        config_command(
            SampleConfig,
            lambda config, as_json: seen.append((config, as_json)),
            doc="s",
            aliases=SAMPLE_ALIASES,
            arguments=("prompt",),
            extra=(
                __import__("inspect").Parameter(
                    "as_json",
                    __import__("inspect").Parameter.KEYWORD_ONLY,
                    annotation=__import__("typing").Annotated[bool, typer.Option("--json")],
                    default=False,
                ),
            ),
            on_invalid=lambda exc: (_ for _ in ()).throw(exc),
        )
    )
    # one command: typer runs it as the app itself (no command name)
    args = ["-c", "pirate", "How are you?", "--seed", "1", "-n", "2", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    config, as_json = seen.pop()
    assert (config.prompt, config.constitution, as_json) == ("How are you?", "pirate", True)
    assert (config.sampling.seed, config.sampling.n, config.sampling.max_new_tokens) == (1, 2, 200)
    assert CliRunner().invoke(app, []).exit_code == 2  # the prompt is required
