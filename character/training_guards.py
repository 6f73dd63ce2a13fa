"""What keeps a bad setting from producing a poisoned adapter or a silent out-of-memory kill.

Three probe findings: `--learning-rate inf` trained, printed "Adapter saved" and left an adapter
of NaN that crashed sampling later; `--epochs inf` and `--lora-alpha -5` were accepted; and
`--lora-rank 100000` was killed by the kernel with no message. So the configs bound every
number (the `Annotated` types below), training stops at the first non-finite loss or gradient
norm, the adapter is checked before it is saved, and LoRA's memory is estimated before it is
allocated. Light imports only (not inside `character.training`, which imports transformers):
the configs import this module, and `--help` must stay fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

LearningRate = Annotated[float, Field(gt=0, le=1.0, allow_inf_nan=False)]
Epochs = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
LoraRank = Annotated[int, Field(ge=1, le=1024)]
LoraAlpha = Annotated[int, Field(ge=1, le=16384)]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFinite = Annotated[float, Field(ge=0, allow_inf_nan=False)]

BYTES_PER_TRAINED_PARAM = 16
"""fp32 weight, its gradient and Adam's two moments: 4 × 4 bytes per LoRA parameter."""
MEMORY_HEADROOM = 0.8
"""Share of the free memory LoRA may take; activations and the optimizer's temporaries need
the rest."""


class NonFiniteTrainingError(RuntimeError):
    """The loss or gradient norm became NaN or infinite; nothing after it can be trusted."""


class NotEnoughMemoryError(RuntimeError):
    """The adapter would not fit in memory; raised before anything is allocated."""


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_finite_logs(logs: Mapping[str, Any], step: int, learning_rate: float | None) -> None:
    """Raise `NonFiniteTrainingError` when a logged loss or gradient norm is NaN or infinite."""
    bad = {
        k: v
        for k, v in logs.items()
        if (k == "loss" or k.endswith("_loss") or k == "grad_norm")
        and isinstance(v, (int, float))
        and not math.isfinite(v)
    }
    if not bad:
        return
    what = ", ".join(f"{k} = {v}" for k, v in bad.items())
    lr = f" (learning rate {learning_rate:g})" if learning_rate is not None else ""
    raise NonFiniteTrainingError(
        f"training stopped at step {step}: {what}, not a finite number. The weights are "
        f"diverging{lr}: lower the learning rate or check the data. No adapter was saved."
    )


def check_finite_parameters(model: Any) -> None:
    """Refuse to save an adapter whose trained weights hold NaN or infinity."""
    import torch

    bad = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and not bool(torch.isfinite(p.detach()).all())
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise NonFiniteTrainingError(
            f"{len(bad)} trained weight tensors hold NaN or infinity ({shown}); the adapter "
            "was not saved. Lower the learning rate or check the data."
        )


def available_memory(model: Any) -> tuple[int, str]:
    """Free bytes where the model's weights live, and the name of that memory."""
    import psutil

    try:
        device = next(model.parameters()).device
    except (StopIteration, AttributeError):
        device = None
    if device is not None and device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"GPU memory on {device}"
    return int(psutil.virtual_memory().available), "RAM"


def check_lora_memory(
    model: Any, rank: int, trainable_params: int, *, available_bytes: int | None = None
) -> int:
    """Bytes LoRA training needs for its own weights, gradients and Adam states; raises
    `NotEnoughMemoryError` (with what it needs and what there is) when that will not fit."""
    needed = trainable_params * BYTES_PER_TRAINED_PARAM
    where = "RAM"
    if available_bytes is None:
        available_bytes, where = available_memory(model)
    if needed > available_bytes * MEMORY_HEADROOM:
        raise NotEnoughMemoryError(
            f"LoRA rank {rank} adds {trainable_params / 1e6:,.1f} M trainable parameters, which "
            f"need about {_gib(needed)} for weights, gradients and Adam states; {_gib(available_bytes)} "
            f"of {where} is free (at most {MEMORY_HEADROOM:.0%} of it may go to them). Lower the "
            "LoRA rank (--lora-rank) or target fewer modules."
        )
    return needed
