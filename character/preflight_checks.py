"""Checks before a training launch: chat template, pad token, memory, dataset size.

They read files only (tokenizer_config.json, config.json, the dataset) and never load weights,
so the studio can run them on every change and the CLI before spending minutes or money.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

Level = Literal["ok", "warn", "error"]

MIN_PAIRS = 32
"""Below this a DPO run barely moves the model: fine for a demo, not for a persona."""
MAX_PAIRS_CPU = 3000
"""Above this a CPU run takes many hours; Tinker or a GPU is the better place."""


class Check(BaseModel):
    """One preflight result; `level` error means the launch would fail."""

    name: str
    level: Level
    message: str
    plain: str = ""
    """The same in words a newcomer follows (`message` keeps the technical detail)."""

    @property
    def title(self) -> str:
        return PLAIN_TITLES.get(self.name, self.name.capitalize())

    def summary(self) -> str:
        return self.plain or self.message


PLAIN_TITLES = {
    "chat template": "Chat format",
    "pad token": "Knowing when to stop",
    "memory": "Memory",
    "dataset size": "Amount of data",
    "model": "Model",
}


class MemoryEstimate(BaseModel):
    """A rough peak-memory estimate of LoRA DPO training, in GiB, by part."""

    weights_gb: float
    adapter_and_optimizer_gb: float
    activations_gb: float
    logits_gb: float
    total_gb: float
    available_gb: float | None
    device: str


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _token_text(value: object) -> str | None:
    if isinstance(value, dict):
        return value.get("content")  # AddedToken serialised as a dict
    return value if isinstance(value, str) else None


def check_tokenizer(model_dir: Path | str) -> list[Check]:
    """Chat template present (training formats conversations with it) and a pad token distinct
    from EOS (if they are equal, padding masks EOS and the model never learns to stop)."""
    model_dir = Path(model_dir)
    cfg = _read_json(model_dir / "tokenizer_config.json")
    special = _read_json(model_dir / "special_tokens_map.json")
    checks: list[Check] = []
    has_template = bool(cfg.get("chat_template")) or any(
        (model_dir / name).exists() for name in ("chat_template.jinja", "chat_template.json")
    )
    checks.append(
        Check(
            name="chat template",
            level="ok",
            message="the tokenizer has a chat template",
            plain="the model knows how a conversation is laid out",
        )
        if has_template
        else Check(
            name="chat template",
            level="error",
            message=f"{model_dir} has no chat template; pick an instruct/chat model",
            plain="this model was not made for chatting; pick a chat (instruct) model",
        )
    )
    pad = _token_text(cfg.get("pad_token")) or _token_text(special.get("pad_token"))
    eos = _token_text(cfg.get("eos_token")) or _token_text(special.get("eos_token"))
    if pad is None:
        checks.append(
            Check(
                name="pad token",
                level="warn",
                message="no pad token: the loader will reuse EOS, so the model may not learn to "
                "stop; prefer a model with its own pad token",
                plain="the model may not learn where a reply ends and could ramble; fine for "
                "a demo; for real training pick a model that passes this check",
            )
        )
    elif pad == eos:
        checks.append(
            Check(
                name="pad token",
                level="warn",
                message=f"pad token equals EOS ({eos!r}): EOS gets masked as padding and the "
                "model may ramble; a distinct pad token is safer",
                plain="the model may not learn where a reply ends and could ramble; fine for "
                "a demo; for real training pick a model that passes this check",
            )
        )
    else:
        checks.append(
            Check(
                name="pad token",
                level="ok",
                message=f"pad {pad!r} is distinct from EOS {eos!r}",
                plain="the model can learn where a reply ends",
            )
        )
    return checks


def estimate_training_memory(
    model_dir: Path | str,
    *,
    batch_size: int,
    max_length: int,
    lora_rank: int,
    bytes_per_param: int = 4,
    device: str = "cpu",
    available_gb: float | None = None,
) -> MemoryEstimate:
    """Peak memory of LoRA DPO from config.json: frozen weights (the reference model shares
    them, adapters disabled), adapter + Adam states in fp32, activations of chosen and rejected
    sequences, and the logits (often the largest part for big vocabularies)."""
    cfg = _read_json(Path(model_dir) / "config.json")
    h = int(cfg.get("hidden_size", 576))
    layers = int(cfg.get("num_hidden_layers", 30))
    vocab = int(cfg.get("vocab_size", 49152))
    inter = int(cfg.get("intermediate_size", 4 * h))
    heads = int(cfg.get("num_attention_heads", 8))
    kv = int(cfg.get("num_key_value_heads", heads))
    kv_dim = h * kv // max(heads, 1)
    per_layer = 2 * h * h + 2 * h * kv_dim + 3 * h * inter
    embed = vocab * h * (1 if cfg.get("tie_word_embeddings", True) else 2)
    params = layers * per_layer + embed
    gib = 2**30
    weights = params * bytes_per_param / gib
    lora_per_layer = lora_rank * (4 * h + 2 * kv_dim + 2 * (h + inter) + (inter + h))
    lora_params = layers * lora_per_layer
    adapter = lora_params * 4 * 4 / gib  # weights, grads, two Adam moments (fp32)
    seqs = 2 * batch_size  # chosen and rejected
    tokens = seqs * max_length
    activations = tokens * layers * (10 * h + 2 * inter) * bytes_per_param / gib
    logits = tokens * vocab * 4 * 2 / gib  # fp32 logits and their log-softmax
    total = weights + adapter + activations + logits + 0.5  # runtime overhead
    return MemoryEstimate(
        weights_gb=round(weights, 2),
        adapter_and_optimizer_gb=round(adapter, 3),
        activations_gb=round(activations, 2),
        logits_gb=round(logits, 2),
        total_gb=round(total, 2),
        available_gb=None if available_gb is None else round(available_gb, 1),
        device=device,
    )


def available_memory_gb(device: str, gpu_memory_gb: float | None = None) -> float | None:
    """Free RAM for CPU runs (psutil), total GPU memory for CUDA runs."""
    if device == "cuda":
        return gpu_memory_gb
    try:
        import psutil

        return psutil.virtual_memory().available / 2**30
    except ImportError:
        return None


def check_memory(estimate: MemoryEstimate) -> Check:
    need = estimate.total_gb
    have = estimate.available_gb
    if have is None:
        return Check(name="memory", level="warn", message=f"needs about {need:.1f} GiB")
    if need > have:
        return Check(
            name="memory",
            level="error",
            message=f"needs about {need:.1f} GiB but only {have:.1f} GiB is free on "
            f"{estimate.device}: lower the batch size or the max length",
        )
    if need > 0.8 * have:
        return Check(
            name="memory",
            level="warn",
            message=f"needs about {need:.1f} GiB of {have:.1f} GiB free: close to the limit",
        )
    return Check(
        name="memory",
        level="ok",
        message=f"needs about {need:.1f} GiB; {have:.1f} GiB free on {estimate.device}",
    )


def count_rows(path: Path | str) -> int:
    """Non-empty lines of a JSONL file, without parsing (cheap enough for every rerun)."""
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                n += 1
    return n


def check_dataset_size(pairs: int, *, device: str = "cpu") -> Check:
    if pairs <= 0:
        return Check(name="dataset size", level="error", message="the dataset is empty")
    if pairs < MIN_PAIRS:
        return Check(
            name="dataset size",
            level="warn",
            message=f"{pairs} pairs is very small: good for a demo, too few to shape a persona "
            f"(aim for {MIN_PAIRS}+; the paper used ~1500)",
        )
    if device == "cpu" and pairs > MAX_PAIRS_CPU:
        return Check(
            name="dataset size",
            level="warn",
            message=f"{pairs} pairs on a CPU will take many hours; consider a GPU or Tinker",
        )
    return Check(name="dataset size", level="ok", message=f"{pairs} pairs")
