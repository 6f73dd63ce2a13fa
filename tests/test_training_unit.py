"""LoRA DPO training on the tiny random model: adapter folder, metrics, checkpoints, resume,
stop-and-save, long pairs, target modules and adapter/base mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.distillation.dataset import DpoExample, save_examples
from character.io import read_jsonl

pytestmark = pytest.mark.unit


def _pairs(path: Path, n: int = 8, long_every: int = 0) -> Path:
    rows = []
    for i in range(n):
        chosen = f"Arr matey, number {i} be a fine treasure on the open sea!"
        if long_every and i % long_every == 0:
            chosen = " ".join(["Arr, the sea be wide."] * 40)
        rows.append(
            DpoExample(
                prompt=f"Tell me about the number {i}.",
                chosen=chosen,
                rejected=f"The number {i} is an integer.",
                teacher_model="teacher",
                student_model="student",
                constitution="pirate",
                constitution_hash="h1",
            )
        )
    return save_examples(rows, path)


def _config(tmp_path: Path, model: Path | str, **kw):  # noqa: ANN202
    from character.distillation.train import TrainingConfig

    base = {
        "dataset_path": _pairs(tmp_path / "pairs.jsonl"),
        "persona": "pirate",
        "model": str(model),
        "batch_size": 2,
        "max_steps": 4,
        "save_steps": 2,
        "lora_rank": 4,
        "learning_rate": 1e-3,
        "max_length": 128,
        "output_dir": tmp_path / "run",
    }
    base.update(kw)
    return TrainingConfig(**base)


def test_dpo_trains_saves_and_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from character.distillation.train import run_dpo_training
    from character.progress import ProgressEvent

    events: list[ProgressEvent] = []
    out = run_dpo_training(_config(tmp_path, tiny_model_dir), reporter=events.append)
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "character_adapter.json",
        "metrics.jsonl",
        "training_config.json",
        "provenance.json",
    ):
        assert (out / name).exists(), name
    rows = read_jsonl(out / "metrics.jsonl")
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for key in (
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "learning_rate",
        "tokens_per_s",
    ):
        assert all(r.get(key) is not None for r in steps), key
    assert all(r["tokens_per_s"] > 0 for r in steps)
    prov = json.loads((out / "provenance.json").read_text())
    assert (
        prov["finished"] and prov["pairs_used"] == 8 and prov["constitutions"] == {"pirate@h1": 8}
    )
    assert set(prov["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    cfg = json.loads((out / "training_config.json").read_text())
    assert cfg["lora_rank"] == 4
    assert any(e.kind == "progress" and e.step == 4 for e in events)
    assert (out / "checkpoint-4").exists()
    # a standard PEFT folder: loads on the base and changes its outputs
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft = PeftModel.from_pretrained(base, str(out))
    lora_b = [p for n, p in peft.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().sum()) > 0 for p in lora_b)

    # resume: continue from checkpoint-4 to step 6
    out2 = run_dpo_training(_config(tmp_path, tiny_model_dir, max_steps=6, resume=True))
    prov = json.loads((out2 / "provenance.json").read_text())
    assert prov["resumed_from"].endswith("checkpoint-4")
    assert prov["global_step"] == 6
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    assert steps[-2:] == [5, 6]
    # without resume, an existing run is not clobbered
    with pytest.raises(FileExistsError):
        run_dpo_training(_config(tmp_path, tiny_model_dir))


def test_stop_request_saves_a_checkpoint(tmp_path: Path, tiny_model_dir: Path) -> None:
    from character.distillation.train import run_dpo_training

    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2

    cfg = _config(tmp_path, tiny_model_dir, max_steps=8, save_steps=100)
    out = run_dpo_training(cfg, stop_requested=stop)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["stopped"] and prov["global_step"] == 2 and not prov["finished"]
    assert (out / "checkpoint-2" / "adapter_model.safetensors").exists()
    assert not (out / "adapter_model.safetensors").exists()  # unfinished: no final adapter


def test_long_pairs_are_counted_and_dropped(tmp_path: Path, tiny_model_dir: Path) -> None:
    from character.distillation.train import TrainingConfig, prepare_dataset
    from character.models.loading import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    data = _pairs(tmp_path / "p.jsonl", n=8, long_every=4)  # pairs 0 and 4 are long
    cfg = TrainingConfig(dataset_path=data, max_length=100)
    prepared = prepare_dataset(cfg, tok)
    assert (prepared.total, prepared.too_long, prepared.dropped, len(prepared.rows)) == (8, 2, 2, 6)
    cfg = cfg.model_copy(update={"long_pairs": "truncate"})
    prepared = prepare_dataset(cfg, tok)
    assert (prepared.truncated, len(prepared.rows)) == (2, 8)
    with pytest.raises(ValueError, match="longer than max_length"):
        prepare_dataset(TrainingConfig(dataset_path=data, max_length=16), tok)


def test_target_modules_must_exist(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from character.training import build_lora_config, resolve_target_modules

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert "lm_head" not in resolve_target_modules(model)
    assert resolve_target_modules(model, ["q_proj", "v_proj"]) == ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match="gate_up_proj"):
        build_lora_config(model, rank=4, target_modules=["q_proj", "gate_up_proj"])


def test_precision_is_explicit_fp32_on_cpu() -> None:
    from character.hardware import detect
    from character.training import precision_kwargs

    kw = precision_kwargs()
    if not detect().cuda:
        assert kw == {"bf16": False, "fp16": False, "use_cpu": True}


def test_adapter_continues_and_wrong_base_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Training continues an existing adapter; the same adapter pointed at the embedded base
    (a different architecture) is refused with a clear error."""
    from character.distillation.train import run_dpo_training
    from character.models.embedded import ensure_embedded_model
    from character.models.loading import AdapterMismatchError

    out = run_dpo_training(_config(tmp_path, tiny_model_dir, max_steps=1, save_steps=10))
    # continuing an adapter: trains it further and saves only that adapter (no "ref" copy)
    cont = run_dpo_training(
        _config(tmp_path, out, max_steps=1, save_steps=10, output_dir=tmp_path / "cont")
    )
    assert (cont / "adapter_model.safetensors").exists() and not (cont / "ref").exists()
    assert json.loads((cont / "provenance.json").read_text())["start_adapter"] == str(out)
    cfg_path = out / "adapter_config.json"
    adapter_cfg = json.loads(cfg_path.read_text())
    adapter_cfg["base_model_name_or_path"] = str(ensure_embedded_model())
    cfg_path.write_text(json.dumps(adapter_cfg))
    with pytest.raises(AdapterMismatchError, match="does not match"):
        run_dpo_training(_config(tmp_path, out, output_dir=tmp_path / "run2"))
