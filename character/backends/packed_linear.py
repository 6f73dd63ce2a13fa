"""Prepacked weights for the skinny matmuls of CPU decoding.

During decoding each linear layer multiplies a handful of rows (one token per sequence) by a
full weight matrix. `F.linear` hands that to MKL, which repacks the whole weight into its blocked
layout on every call: for SmolLM2-135M at batch 8 that repacking streams every weight twice per
token and the step is memory-bound. oneDNN can pack a weight once and reuse it; measured here
(bench/sampling.py) that lifts batch-8 sampling from ~50 to ~75 tokens/s with the same tokens out
for the same seed.

The packed copy costs as much memory as the weights, so it is only made when that fits easily,
and only for plain fp32 `nn.Linear` layers on the CPU. Prefill (many rows) and anything that
needs gradients keep the ordinary path.
"""

from __future__ import annotations

import os
import types
from typing import Any

MAX_PACKED_ROWS = int(os.environ.get("CHARACTER_PACKED_MAX_ROWS", "64"))
"""Above this many rows a matmul is compute-bound and MKL's own path is as fast."""

PACK_BATCH_HINT = 8
"""The row count oneDNN tunes the packed layout for; any row count works."""


def packing_supported() -> bool:
    """Whether this torch build has the oneDNN linear ops we rely on."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available()) and hasattr(
            torch.ops.mkldnn, "_reorder_linear_weight"
        )
    except (AttributeError, RuntimeError):
        return False


def _packable(module: Any) -> bool:
    import torch

    w = getattr(module, "weight", None)
    return (
        type(module) is torch.nn.Linear
        and w is not None
        and w.device.type == "cpu"
        and w.dtype == torch.float32
    )


def fits_in_memory(model: Any, share: float = 0.5) -> bool:
    """True when a second copy of the linear weights takes at most `share` of free RAM."""
    try:
        import psutil
    except ImportError:  # psutil comes with accelerate; without it, stay safe
        return False
    bytes_needed = sum(
        m.weight.numel() * m.weight.element_size() for m in model.modules() if _packable(m)
    )
    return bytes_needed <= share * psutil.virtual_memory().available


class PackedLinears:
    """Installs packed forwards on a model's linear layers for the duration of a `with` block.

    Packed weights are kept between blocks (packing the embedded model takes ~0.3 s) and are
    re-made for a layer whose weight was replaced or changed in place since it was packed.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self._packed: dict[int, tuple[tuple[int, int], Any]] = {}
        self.enabled = packing_supported() and fits_in_memory(model)
        self._installed: list[Any] = []

    def __enter__(self) -> PackedLinears:
        if not self.enabled:
            return self
        for module in self.model.modules():
            if _packable(module) and "forward" not in module.__dict__:
                module.forward = types.MethodType(self._make_forward(), module)
                self._installed.append(module)
        return self

    def __exit__(self, *exc: object) -> None:
        for module in self._installed:
            module.__dict__.pop("forward", None)
        self._installed = []

    def _weight_for(self, module: Any) -> Any:
        import torch

        w = module.weight
        key = (w.data_ptr(), w._version)
        hit = self._packed.get(id(module))
        if hit is None or hit[0] != key:
            packed = torch.ops.mkldnn._reorder_linear_weight(w.detach(), PACK_BATCH_HINT)
            self._packed[id(module)] = (key, packed)
            return packed
        return hit[1]

    def _make_forward(self) -> Any:
        owner = self

        def forward(module: Any, x: Any) -> Any:
            import torch
            import torch.nn.functional as F  # noqa: N812

            rows = x.numel() // max(x.shape[-1], 1)
            if (
                0 < rows <= MAX_PACKED_ROWS
                and not torch.is_grad_enabled()
                and x.dtype == torch.float32
            ):
                y = torch.ops.mkldnn._linear_pointwise(
                    x.reshape(rows, x.shape[-1]).contiguous(),
                    owner._weight_for(module),
                    module.bias,
                    "none",
                    [],
                    "",
                )
                return y.reshape(*x.shape[:-1], module.out_features)
            return F.linear(x, module.weight, module.bias)

        return forward
