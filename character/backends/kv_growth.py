"""A KV cache that grows in place instead of by concatenation.

transformers' DynamicLayer appends each new token with `torch.cat`, copying the whole cache
every step: with a teacher's 900-token constitution in context at batch 16 that is ~700 MB of
copying per generated token on the embedded model, more than the model's own weights. Here each
layer keeps a buffer with room for the tokens still to come and writes new keys and values into
it; the cache exposes views of the filled part, so attention sees exactly the same tensors.

Imports transformers at import time: `LocalBackend` imports this module inside its decode loop,
so importing the backend (as the CLI does) stays light.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicLayer


def make_growable(cache: Any, reserve: int) -> Any:
    """Give each plain dynamic layer of `cache` room for `reserve` more tokens, in place."""
    layers = getattr(cache, "layers", None)
    if not layers or reserve <= 0:
        return cache
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys.numel():
            layers[i] = GrowableLayer.from_dynamic(layer, reserve)
    return cache


class GrowableLayer(DynamicLayer):
    """DynamicLayer whose keys/values are views into a preallocated buffer."""

    @classmethod
    def from_dynamic(cls, layer: Any, reserve: int) -> Any:
        new = cls()
        new.dtype, new.device = layer.keys.dtype, layer.keys.device
        new.is_initialized = True
        new._length = layer.keys.shape[-2]
        new._kbuf = new._alloc(layer.keys, new._length + reserve)
        new._vbuf = new._alloc(layer.values, new._length + reserve)
        new._kbuf[..., : new._length, :] = layer.keys
        new._vbuf[..., : new._length, :] = layer.values
        new._expose()
        return new

    @staticmethod
    def _alloc(like: Any, capacity: int) -> Any:
        shape = (*like.shape[:-2], capacity, like.shape[-1])
        return torch.empty(shape, dtype=like.dtype, device=like.device)

    def _expose(self) -> None:
        self.keys = self._kbuf[..., : self._length, :]
        self.values = self._vbuf[..., : self._length, :]

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
        new = key_states.shape[-2]
        end = self._length + new
        if end > self._kbuf.shape[-2]:  # out of room: grow by doubling, like a list
            cap = max(end, 2 * self._kbuf.shape[-2])
            for name in ("_kbuf", "_vbuf"):
                old = getattr(self, name)
                buf = self._alloc(old, cap)
                buf[..., : self._length, :] = old[..., : self._length, :]
                setattr(self, name, buf)
        self._kbuf[..., self._length : end, :] = key_states
        self._vbuf[..., self._length : end, :] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        self._length = max(0, self._length + tokens_to_remove)
        self._expose()

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._kbuf = self._kbuf.repeat_interleave(repeats, dim=0)
        self._vbuf = self._vbuf.repeat_interleave(repeats, dim=0)
        self._expose()

    def batch_select_indices(self, indices: Any) -> None:
        self._kbuf = self._kbuf[indices, ...]
        self._vbuf = self._vbuf[indices, ...]
        self._expose()

    def reset(self) -> None:
        self._length = 0
        super().reset()
