"""Score only the completion tokens through the LM head when training on a CPU.

TRL's fused LM head (DPO, SFT) projects hidden states through the vocabulary in tiles and, on
devices without Triton, does so for *every* position — prompt and padding included — because
on accelerators a varying number of scored positions would recompile kernels. A CPU runs eager
torch and has no such cost, while the head is a fifth of the embedded model's FLOPs per token
and its softmax statistics are memory-bound passes over 49k-wide rows. Scoring only the
positions with a label (what TRL already does on CUDA) gives the same log-probabilities and
gradients for less work.

TRL decides this with a module-level `_use_triton` lookup in `trl.trainer.utils`; the context
manager below widens that decision to CPUs for the duration of training. If a future TRL moves
the name, nothing is patched and training runs as TRL ships it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _widened(original: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def use_compact(device: Any) -> bool:
        return device.type == "cpu" or bool(original(device))

    use_compact.character_compact = True  # type: ignore[attr-defined]
    return use_compact


@contextmanager
def compact_lm_head_on_cpu() -> Iterator[bool]:
    """Yields whether the compact path is active (False when TRL's layout is not the one we
    know). Only TRL's *positions* choice is widened: the tile kernels it picks stay the same."""
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:  # pragma: no cover - TRL is a hard dependency
        yield False
        return
    original = getattr(trl_utils, "_use_triton", None)
    if original is None or not callable(original):
        yield False
        return
    if getattr(original, "character_compact", False):  # nested use
        yield True
        return
    trl_utils._use_triton = _widened(original)
    try:
        yield True
    finally:
        trl_utils._use_triton = original
