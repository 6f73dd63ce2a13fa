"""LoRA configs whose target modules are resolved from the actual model and checked.

The reference code named `gate_up_proj` for Gemma3, a module that does not exist there, so
gate and up were silently never adapted. Here every requested target must match a real linear
layer or we fail with the list of names that do exist.
"""

from __future__ import annotations

from typing import Any

ALL_LINEAR = "all-linear"
# Parts of multimodal models we never adapt when training a persona (text-only data).
EXCLUDED_PARTS = ("vision", "visual", "image", "mm_projector", "multi_modal_projector", "audio")


def _is_linear(module: Any) -> bool:
    import torch

    if isinstance(module, torch.nn.Linear):
        return True
    # bitsandbytes 4/8-bit layers (QLoRA) are not nn.Linear subclasses in every version.
    return type(module).__name__ in ("Linear4bit", "Linear8bitLt")


def linear_module_names(model: Any) -> list[str]:
    """Leaf names (e.g. `q_proj`) of the text model's linear layers, without the LM head."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: set[str] = set()
    for full, module in model.named_modules():
        if not _is_linear(module) or module is output:
            continue
        if any(part in full.lower() for part in EXCLUDED_PARTS):
            continue
        leaf = full.rsplit(".", 1)[-1]
        if leaf == "lm_head":
            continue
        names.add(leaf)
    return sorted(names)


def resolve_target_modules(model: Any, requested: str | list[str] | None = ALL_LINEAR) -> list[str]:
    """`all-linear` (or None) → every linear layer's name; an explicit list must all match."""
    available = linear_module_names(model)
    if not available:
        raise ValueError("the model has no linear layers that LoRA could adapt")
    if requested is None or requested == ALL_LINEAR or requested == [ALL_LINEAR]:
        return available
    wanted = [requested] if isinstance(requested, str) else list(requested)
    missing = [t for t in wanted if t not in available]
    if missing:
        arch = getattr(getattr(model, "config", None), "model_type", "this model")
        raise ValueError(
            f"LoRA target modules {missing} do not exist in {arch}; its linear layers are "
            f"{available}. Use 'all-linear' or names from that list."
        )
    return wanted


def lora_parameter_count(model: Any, rank: int, targets: list[str]) -> int:
    """Trainable parameters LoRA adds: `rank × (in + out)` for every targeted linear layer."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    wanted = set(targets)
    total = 0
    for full, module in model.named_modules():
        if not _is_linear(module) or module is output:
            continue
        if any(part in full.lower() for part in EXCLUDED_PARTS):
            continue
        if full.rsplit(".", 1)[-1] in wanted:
            total += rank * (int(module.in_features) + int(module.out_features))
    return total


def build_lora_config(
    model: Any,
    *,
    rank: int = 32,
    alpha: int | None = None,
    dropout: float = 0.0,
    target_modules: str | list[str] | None = ALL_LINEAR,
    available_bytes: int | None = None,
) -> Any:
    """A PEFT `LoraConfig` for causal LM training; `alpha` defaults to 2 × rank (the recipe's
    64/128). Refuses, before anything is allocated, a rank whose weights, gradients and Adam
    states would not fit in the free memory (`available_bytes`, default: measured)."""
    from peft import LoraConfig

    from character.training_guards import check_lora_memory

    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    if alpha is not None and alpha < 1:
        raise ValueError(f"LoRA alpha must be at least 1, got {alpha}")
    targets = resolve_target_modules(model, target_modules)
    check_lora_memory(
        model, rank, lora_parameter_count(model, rank, targets), available_bytes=available_bytes
    )
    return LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else 2 * rank,
        lora_dropout=dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
