"""Bad training numbers are refused, a diverging run stops with an error and saves no adapter,
and a LoRA that cannot fit in memory is refused before it is allocated (tiny random model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from character.distillation.dataset import DpoExample, save_examples

pytestmark = pytest.mark.unit


def _pairs(path: Path, n: int = 6) -> Path:
    rows = [
        DpoExample(
            prompt=f"Tell me about the number {i}.",
            chosen=f"Arr matey, number {i} be a fine treasure on the open sea!",
            rejected=f"The number {i} is an integer.",
            teacher_model="teacher",
            student_model="student",
            constitution="pirate",
            constitution_hash="h1",
        )
        for i in range(n)
    ]
    return save_examples(rows, path)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--learning-rate", "inf", "finite number"),
        ("--learning-rate", "nan", "finite number"),
        ("--learning-rate", "5", "less than or equal to 1"),
        ("--epochs", "inf", "finite number"),
        ("--lora-alpha", "-5", "greater than or equal to 1"),
        ("--lora-rank", "100000", "less than or equal to 1024"),
        ("--beta", "inf", "finite number"),
    ],
)
def test_cli_refuses_poisoned_numbers(tmp_path: Path, option: str, value: str, words: str) -> None:
    from character.cli import _register_subcommands, app

    _register_subcommands()
    dataset = _pairs(tmp_path / "pairs.jsonl")
    res = CliRunner().invoke(
        app, ["distill", "train", "--dataset", str(dataset), option, value, "--save-name", "p"]
    )
    assert res.exit_code == 1, res.output
    field = option.removeprefix("--").replace("-", "_")
    assert f"{field}: " in res.output and words in res.output
    assert "Adapter saved" not in res.output
    assert "[type=" not in res.output and "errors.pydantic.dev" not in res.output  # plain words


def test_sft_and_round_configs_refuse_them_too(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from character.feedback.rounds import RoundConfig
    from character.introspection.configs import SftTrainingConfig

    for bad in ({"learning_rate": float("inf")}, {"epochs": float("inf")}, {"lora_alpha": -5}):
        with pytest.raises(ValidationError, match=next(iter(bad))):
            SftTrainingConfig(dataset_path=tmp_path / "d.jsonl", **bad)
    with pytest.raises(ValidationError, match="learning_rate"):
        RoundConfig(persona="p", previous_adapter="a", learning_rate=float("inf"))


def test_diverging_loss_stops_training_and_saves_no_adapter(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """A learning rate of 1e30 (finite, so only a config built without validation carries it)
    drives the loss to NaN within a few steps: training must stop there with our error."""
    from character.distillation.train import TrainingConfig, run_dpo_training
    from character.training_guards import NonFiniteTrainingError

    cfg = TrainingConfig(
        dataset_path=_pairs(tmp_path / "pairs.jsonl"),
        persona="pirate",
        model=str(tiny_model_dir),
        batch_size=2,
        max_steps=8,
        save_steps=100,
        lora_rank=4,
        max_length=128,
        warmup_ratio=0.0,
        output_dir=tmp_path / "run",
    ).model_copy(update={"learning_rate": 1e30})
    with pytest.raises(NonFiniteTrainingError, match="not a finite number") as err:
        run_dpo_training(cfg)
    assert "No adapter was saved" in str(err.value)
    out = tmp_path / "run"
    assert not (out / "adapter_model.safetensors").exists()
    assert not list(out.glob("checkpoint-*"))
    assert "step " in str(err.value) and "learning rate 1e+30" in str(err.value)
    if (out / "metrics.jsonl").exists():  # a folder kept for inspection says what happened
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        last = rows[-1]  # the bad step is in the metrics (as null), and nothing after it
        assert last["loss"] is None or last["grad_norm"] is None
        assert f"step {last['step']}:" in str(err.value) and last["step"] < 8
        prov = json.loads((out / "provenance.json").read_text("utf-8"))
        assert prov["finished"] is False


def test_nan_in_a_trained_weight_is_never_saved(tmp_path: Path, tiny_model_dir: Path) -> None:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from character.training import build_lora_config, finalize_adapter
    from character.training_guards import NonFiniteTrainingError

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    peft = get_peft_model(model, build_lora_config(model, rank=2))
    name, param = next((n, p) for n, p in peft.named_parameters() if p.requires_grad)
    with torch.no_grad():
        param[0, 0] = float("nan")

    class Holder:  # finalize_adapter reads `.model` of a trainer
        model = peft

    with pytest.raises(NonFiniteTrainingError, match="NaN or infinity"):
        finalize_adapter(Holder(), None, tmp_path / "out", str(tiny_model_dir))
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_lora_memory_is_estimated_before_allocating(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from character.training.lora import build_lora_config, lora_parameter_count
    from character.training_guards import NotEnoughMemoryError

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    cfg = build_lora_config(model, rank=8)  # fits in this machine's real free memory
    counted = lora_parameter_count(model, 8, list(cfg.target_modules))
    from peft import get_peft_model

    peft = get_peft_model(model, cfg)
    trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
    assert counted == trainable  # the estimate counts exactly what PEFT allocates
    peft.unload()

    needed = counted * 16
    with pytest.raises(NotEnoughMemoryError) as err:
        build_lora_config(model, rank=8, available_bytes=needed)  # a machine just too small
    text = str(err.value)
    assert "LoRA rank 8" in text and "free" in text and "--lora-rank" in text


def test_diverging_job_is_marked_failed_with_the_reason(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from character.distillation.train import TrainingConfig, run_dpo_training
    from character.jobs import register_job_kind, run_foreground

    def diverge(config: TrainingConfig, ctx) -> dict:  # noqa: ANN001
        poisoned = config.model_copy(update={"learning_rate": 1e30, "output_dir": ctx.run_dir})
        return {"artifacts": [str(run_dpo_training(poisoned, reporter=ctx.reporter))]}

    register_job_kind("test.diverge", TrainingConfig, diverge, resource="train")
    st = run_foreground(
        {
            "kind": "test.diverge",
            "config": {
                "dataset_path": str(_pairs(tmp_path / "pairs.jsonl")),
                "model": str(tiny_model_dir),
                "batch_size": 2,
                "max_steps": 8,
                "lora_rank": 4,
                "max_length": 128,
                "warmup_ratio": 0.0,
            },
        }
    )
    assert st.state.value == "failed"
    assert (st.error or "").startswith("NonFiniteTrainingError: training stopped at step")
    from character.jobs import run_dir

    assert not (run_dir(st.run_id) / "adapter_model.safetensors").exists()


def test_detached_training_job_runs_with_redacting_worker_streams(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker wraps its stdout/stderr (log.txt) in the redacting stream; a real training
    job must run through it unharmed, and its adapter lands in the run folder."""
    from character.jobs import run_dir, submit, wait

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    monkeypatch.setenv("CHARACTER_TORCH_THREADS", "1")
    run_id = submit(
        {
            "kind": "distill.train",
            "config": {
                "dataset_path": str(_pairs(tmp_path / "pairs.jsonl")),
                "model": str(tiny_model_dir),
                "batch_size": 2,
                "max_steps": 2,
                "lora_rank": 4,
                "max_length": 128,
            },
        }
    )
    st = wait(run_id, timeout_s=300)
    assert st.state.value == "succeeded", (st.error, (run_dir(run_id) / "log.txt").read_text())
    out = run_dir(run_id) / "output"
    assert (out / "adapter_model.safetensors").exists() and (out / ".open-character.json").exists()
