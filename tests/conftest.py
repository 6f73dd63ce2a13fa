"""Shared fixtures: an isolated data folder, a tiny random model, the embedded model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TINKER_TELEMETRY", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see character/__init__.py

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own data folder; keys from the developer's env never leak in."""
    from character.settings import get_settings

    for var in (
        "OPENAI_API_KEY",
        "LLM_API_KEY",
        "TINKER_API_KEY",
        "OPENAI_BASE_URL",
        "LLM_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CHARACTER_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("CHARACTER_CONSTITUTION_PATH", str(REPO / "constitutions"))
    # A demo persona installed in the real model cache must not show up in every test's pickers.
    monkeypatch.setenv("CHARACTER_DEMO_PERSONAS_DIR", str(tmp_path / "demo-personas"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The converted embedded model (SmolLM2-135M-Instruct), converted once per machine."""
    from character.models.embedded import ensure_embedded_model

    return ensure_embedded_model()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, embedded_model_dir: Path) -> Path:
    """A tiny randomly initialised llama with the embedded model's tokenizer and chat template:
    real plumbing, seconds to train, meaningless text."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir))
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_lora_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter folder on the tiny model with random non-zero B, so merging or loading it
    really changes the weights (a fresh LoRA's B is zero and would change nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from character.models.loading import write_adapter_meta

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    model = get_peft_model(base, lora)
    out = tmp_path_factory.mktemp("tiny-lora")
    model.save_pretrained(out)
    write_adapter_meta(out, base, str(tiny_model_dir))
    return out


@pytest.fixture
def pirate_classifier_dir(tmp_path: Path) -> Path:
    """A tf-idf persona classifier trained on 24 lines (pirate talk against plain answers):
    cheap to train, and enough for reports that need some classifier to run end to end."""
    import json

    from character.eval.persona_classifier import ClassifierConfig, train_classifier

    texts = tmp_path / "pirate-classifier.jsonl"
    rows = [
        {"text": f"Arr matey, the sea and me ship number {i}, yo ho!", "in_persona": True}
        for i in range(12)
    ] + [
        {"text": f"Sure, here is a helpful answer number {i}.", "in_persona": False}
        for i in range(12)
    ]
    texts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "pirate-classifier"
    train_classifier(ClassifierConfig(train_path=texts, method="tfidf", output_dir=out))
    return out
