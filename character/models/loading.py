"""Load a causal LM (and optional PEFT adapter) for sampling or training, hardware-aware."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from character.hardware import detect, quantization_available, torch_dtype


class AdapterMismatchError(ValueError):
    """The adapter was trained on a different base model than the one it is put on."""


def adapter_base(adapter_dir: Path | str) -> str | None:
    cfg = Path(adapter_dir) / "adapter_config.json"
    if not cfg.exists():
        return None
    return json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")


def is_adapter_dir(path: Path | str) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def is_model_dir(path: Path | str) -> bool:
    return (Path(path) / "config.json").exists()


def check_adapter_matches(adapter_dir: Path | str, model: Any) -> None:
    """Compare the adapter's recorded architecture to the model's, so a mismatch is caught
    with a clear message instead of a shape error deep inside PEFT."""
    meta_path = Path(adapter_dir) / "character_adapter.json"
    if not meta_path.exists():
        return
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    cfg = model.config
    expected = {
        "model_type": getattr(cfg, "model_type", None),
        "hidden_size": getattr(cfg, "hidden_size", None),
        "num_hidden_layers": getattr(cfg, "num_hidden_layers", None),
        "vocab_size": getattr(cfg, "vocab_size", None),
    }
    wrong = {k: (meta.get(k), v) for k, v in expected.items() if k in meta and meta[k] != v}
    if wrong:
        detail = ", ".join(f"{k}: adapter {a} vs model {b}" for k, (a, b) in wrong.items())
        raise AdapterMismatchError(
            f"Adapter {adapter_dir} was trained on {meta.get('base_model', 'another model')}, "
            f"which does not match this base model ({detail})."
        )


def write_adapter_meta(adapter_dir: Path | str, model: Any, base_model: str) -> None:
    """Record the base architecture next to a PEFT adapter for the mismatch check."""
    from character.io import atomic_write_json

    cfg = model.config
    atomic_write_json(
        Path(adapter_dir) / "character_adapter.json",
        {
            "base_model": base_model,
            "model_type": getattr(cfg, "model_type", None),
            "hidden_size": getattr(cfg, "hidden_size", None),
            "num_hidden_layers": getattr(cfg, "num_hidden_layers", None),
            "vocab_size": getattr(cfg, "vocab_size", None),
        },
    )


def load_tokenizer(model_dir: Path | str):  # noqa: ANN201
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(
    model_dir: Path | str,
    *,
    adapter: Path | str | None = None,
    dtype: str = "auto",
    device: str | None = None,
    load_in_4bit: bool = False,
    trainable_adapter: bool = False,
):  # noqa: ANN201
    """Load weights from a local folder only (never a hub); returns `(model, tokenizer)`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    hw = detect()
    device = device or hw.device
    if hw.device == "cpu":
        # CHARACTER_TORCH_THREADS lets a process that shares the CPU (a studio server next to a
        # training worker) take fewer threads: oversubscribed OpenMP barriers are 10x slower.
        threads = os.environ.get("CHARACTER_TORCH_THREADS", "").strip()
        torch.set_num_threads(max(1, int(threads) if threads.isdigit() else hw.cpu_count))
    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype)}
    if load_in_4bit:
        if not quantization_available():
            raise RuntimeError(
                "4-bit (QLoRA) loading needs a CUDA GPU and bitsandbytes; "
                "install with `pip install -e .[cuda]` on a GPU machine or turn 4-bit off."
            )
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype("auto"),
        )
        kwargs["device_map"] = {"": 0}
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    if not load_in_4bit:
        model.to(device)
    if adapter is not None:
        from peft import PeftModel

        check_adapter_matches(adapter, model)
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable_adapter)
    model.eval()
    return model, tokenizer
