"""Single-stream generation with llama.cpp (the optional `llama-cpp-python` package).

Chat, arena and side-by-side sample one conversation at a time, where our transformers
sampler gives ~18 tok/s on two cores and llama.cpp ~6x that on the same GGUF. This backend
serves a GGUF file (the embedded model's, or the one `character export gguf` wrote) with the
same `generate(conversations, params)` contract as the local backend. The chat template is the
one stored in the GGUF, applied by llama.cpp. Batched work (teacher generation) stays on the
transformers backend, which is faster from batch 8 up.

Differences from the transformers sampler, kept deliberately small: llama.cpp applies the
repetition penalty to the last 64 tokens instead of every token, so long replies can repeat a
little more. top-k and min-p, which llama-cpp-python turns on by default, are turned off so the
distribution is the same temperature + top-p one.
"""

from __future__ import annotations

import importlib.util
import os
import random
import threading
from pathlib import Path
from typing import Any

from character.backends.base import (
    BackendError,
    Completion,
    Conversation,
    GenerationBackend,
    ProgressFn,
    SamplingParams,
    check_request,
)

DEFAULT_CONTEXT = 4096
"""Tokens of context (prompt + reply) the KV cache is sized for; ~190 MB for SmolLM2-135M."""


def llamacpp_available() -> bool:
    """Whether `llama_cpp` can be imported, without importing it (a broken build segfaults on
    import of a model, and nothing should load it just to ask)."""
    return importlib.util.find_spec("llama_cpp") is not None


def _threads() -> int:
    """Same thread rule as the transformers loader: CHARACTER_TORCH_THREADS, else every core."""
    value = os.environ.get("CHARACTER_TORCH_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


class LlamaCppBackend(GenerationBackend):
    """A GGUF model served in-process by llama.cpp; one generation at a time."""

    kind = "llamacpp"

    def __init__(
        self,
        model_ref: str,
        gguf_path: Path | str,
        *,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
    ) -> None:
        super().__init__(model_ref)
        self.gguf_path = Path(gguf_path)
        if not self.gguf_path.is_file():
            raise BackendError(f"GGUF file {self.gguf_path} does not exist")
        if not llamacpp_available():
            raise BackendError(
                "llama-cpp-python is not installed; run `make llamacpp` or choose the "
                "transformers engine (CHARACTER_INTERACTIVE_ENGINE=hf)"
            )
        from llama_cpp import Llama

        self.n_ctx = n_ctx
        self.llm = Llama(
            model_path=str(self.gguf_path),
            n_ctx=n_ctx,
            n_threads=n_threads or _threads(),
            n_batch=256,
            verbose=False,
        )
        self._lock = threading.Lock()  # a llama.cpp context is not thread-safe

    def describe(self) -> dict[str, str]:
        d = super().describe()
        d["path"] = str(self.gguf_path)
        d["engine"] = "llama.cpp"
        return d

    def generate(
        self,
        conversations: list[Conversation],
        params: SamplingParams | None = None,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        params = check_request(conversations, params)
        seeds = random.SystemRandom()
        results: list[list[Completion]] = []
        with self._lock:
            for done, conv in enumerate(conversations):
                row = []
                for k in range(params.n):
                    seed = params.seed + k if params.seed is not None else seeds.randrange(2**31)
                    row.append(self._one(conv, params, seed))
                results.append(row)
                if progress:
                    progress(done + 1, len(conversations))
        return results

    def _one(self, conv: Conversation, params: SamplingParams, seed: int) -> Completion:
        try:
            out: dict[str, Any] = self.llm.create_chat_completion(
                messages=conv,  # type: ignore[arg-type]
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=0,
                min_p=0.0,
                repeat_penalty=params.repetition_penalty,
                seed=seed,
            )
        except ValueError as exc:  # llama-cpp-python reports a too-long prompt as ValueError
            raise BackendError(f"llama.cpp could not generate: {exc}") from exc
        choice = out["choices"][0]
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        text = (choice["message"].get("content") or "").strip()
        return Completion(
            text=text, finish_reason=finish, tokens=int(out["usage"]["completion_tokens"])
        )

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None and hasattr(llm, "close"):
            llm.close()
        self.llm = None
