"""Single-stream generation with llama.cpp (the optional `llama-cpp-python` package).

Chat, arena and side-by-side sample one conversation at a time, where our transformers
sampler gives ~18 tok/s on two cores and llama.cpp ~6x that on the same GGUF. This backend
serves a GGUF file (the embedded model's, or the one `character export gguf` wrote) with the
same `generate(conversations, params)` contract as the local backend. The chat template is the
one stored in the GGUF, applied by llama.cpp. Batched work (teacher generation) stays on the
transformers backend, which is faster from batch 8 up.

Sampling is the transformers order: repetition penalty, temperature, top-p over the whole
vocabulary, draw (`sampler_chain`). llama-cpp-python's own chain cuts top-p before applying
the temperature, which at temperature 0.7 keeps a wider nucleus than transformers does, and it
adds top-k 40 and min-p 0.05 by default. One difference is left: llama.cpp penalises repeats
of the last 64 generated tokens, where transformers penalises every token of prompt and reply,
so long replies can repeat a little more.

Across chat turns llama.cpp keeps the KV of the last prompt and reply, and a new prompt that
starts with it (the same conversation, one turn on) only evaluates what was added. The backend
keeps one `Llama` per GGUF for that reason and never resets it.
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

PENALTY_LAST_N = 64
"""Generated tokens the repetition penalty looks back over (llama-cpp-python's default)."""


def llamacpp_available() -> bool:
    """Whether `llama_cpp` can be imported, without importing it (a broken build segfaults on
    import of a model, and nothing should load it just to ask)."""
    return importlib.util.find_spec("llama_cpp") is not None


def default_threads() -> int:
    """Same thread rule as the transformers loader: CHARACTER_TORCH_THREADS, else every core."""
    value = os.environ.get("CHARACTER_TORCH_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


def model_kwargs(gguf_path: Path, n_ctx: int, n_threads: int) -> dict[str, Any]:
    """The `Llama(...)` arguments this backend loads a GGUF with; the benchmark's raw row uses
    the same so the two differ only by what the backend does around llama.cpp."""
    return {
        "model_path": str(gguf_path),
        "n_ctx": n_ctx,
        "n_threads": n_threads,
        "n_batch": 256,
        "verbose": False,
    }


def completion_kwargs(params: SamplingParams, seed: int) -> dict[str, Any]:
    """The `create_chat_completion` sampling arguments for `params`, shared with the benchmark
    so that its raw llama.cpp row samples exactly as this backend does. top-k and min-p, on by
    default in llama-cpp-python, are off: transformers and our sampler use neither."""
    return {
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": 0,
        "min_p": 0.0,
        "repeat_penalty": params.repetition_penalty,
        "seed": seed,
    }


def sampler_chain(n_vocab: int, seed: int, temp: float, top_p: float, repeat_penalty: float) -> Any:
    """A llama.cpp sampler chain in the transformers order: repetition penalty (last 64
    tokens), temperature, top-p, draw; greedy at temperature 0. llama.cpp's top-p sorts only
    the top 256 candidates unless the nucleus is wider, so the full vocabulary costs little."""
    from llama_cpp import _internals

    chain = _internals.LlamaSampler()
    chain.add_penalties(
        n_vocab=n_vocab,
        penalty_last_n=PENALTY_LAST_N,
        penalty_repeat=repeat_penalty,
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    if temp <= 0.0:
        chain.add_greedy()
        return chain
    chain.add_temp(temp)
    chain.add_top_p(top_p, 1)
    chain.add_dist(seed)
    return chain


def llama_class() -> type:
    """`Llama` with `sampler_chain` in place of its own chain. llama-cpp-python builds the chain
    in a private method, `_init_sampler`, for every completion; the override keeps its
    signature and falls back to the stock chain for anything this backend never asks for
    (grammars, logits processors, mirostat, typical-p, top-k, min-p)."""
    from llama_cpp import Llama

    class TransformersOrderLlama(Llama):
        def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
            plain = (
                not args
                and kwargs.get("logits_processor") is None
                and kwargs.get("grammar") is None
                and kwargs.get("mirostat_mode", 0) == 0
                and kwargs.get("typical_p", 1.0) >= 1.0
                and kwargs.get("top_k", 0) <= 0
                and kwargs.get("min_p", 0.0) <= 0.0
                and kwargs.get("frequency_penalty", 0.0) == 0.0
                and kwargs.get("presence_penalty", 0.0) == 0.0
            )
            if not plain:
                return super()._init_sampler(*args, **kwargs)
            return sampler_chain(
                self._n_vocab,
                self._seed,
                kwargs.get("temp", 0.8),
                kwargs.get("top_p", 0.95),
                kwargs.get("repeat_penalty", 1.0),
            )

    return TransformersOrderLlama


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
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.llm = llama_class()(**model_kwargs(self.gguf_path, n_ctx, self.n_threads))
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
                **completion_kwargs(params, seed),
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
