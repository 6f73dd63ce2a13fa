"""The interactive engine: llama.cpp for single-stream chat when it is installed and the model
has a GGUF, transformers otherwise. The backend's own tests need llama-cpp-python (`make
llamacpp`) and are skipped without it; the fallback tests run everywhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from character.backends.base import BackendError, SamplingParams
from character.backends.llamacpp_backend import llamacpp_available
from character.models.registry import (
    clear_backend_cache,
    get_interactive_backend,
    interactive_engine,
    model_gguf,
    resolve,
)
from character.settings import get_settings

needs_llamacpp = pytest.mark.skipif(
    not llamacpp_available(), reason="llama-cpp-python is not installed (make llamacpp)"
)

STORY = [{"role": "user", "content": "Write a long, detailed story about the sea."}]
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture
def no_llamacpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `llama_cpp` unimportable, as in the default install (None in sys.modules is
    Python's own way of blocking an import)."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


@pytest.mark.unit
def test_auto_falls_back_to_transformers_without_llamacpp(
    no_llamacpp: None, tiny_model_dir: Path
) -> None:
    from character.backends.local import LocalBackend

    assert not llamacpp_available()
    choice = interactive_engine(resolve("embedded"), "auto")
    assert (choice.engine, choice.gguf) == ("hf", None)
    assert "not installed" in choice.reason
    try:
        backend = get_interactive_backend(str(tiny_model_dir))
        assert isinstance(backend, LocalBackend)
        out = backend.generate([HELLO], SamplingParams(max_new_tokens=3, seed=0))
        assert len(out) == 1 and len(out[0]) == 1
    finally:
        clear_backend_cache()


@pytest.mark.unit
def test_explicit_llamacpp_without_it_says_how_to_install(no_llamacpp: None) -> None:
    with pytest.raises(BackendError, match="make llamacpp"):
        interactive_engine(resolve("embedded"), "llamacpp")
    assert interactive_engine(resolve("embedded"), "hf").engine == "hf"
    with pytest.raises(ValueError, match="auto, llamacpp or hf"):
        interactive_engine(resolve("embedded"), "fast")


@pytest.mark.unit
def test_engine_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARACTER_INTERACTIVE_ENGINE", "hf")
    get_settings.cache_clear()
    assert get_settings().interactive_engine == "hf"
    assert interactive_engine(resolve("embedded")).reason == "CHARACTER_INTERACTIVE_ENGINE=hf"


@pytest.mark.unit
def test_model_gguf_finds_the_embedded_and_exported_files(tmp_path: Path) -> None:
    from character.models.embedded import EMBEDDED_GGUF

    assert model_gguf(resolve("embedded")).name == EMBEDDED_GGUF
    root = tmp_path / "exports" / "pirate"
    merged = root / "merged"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}", encoding="utf-8")
    assert model_gguf(resolve(str(merged))) is None  # no GGUF exported yet
    for name, created, source in (
        ("gguf", 1.0, merged),
        ("gguf-v2", 2.0, merged),
        ("gguf-v3", 3.0, tmp_path / "another-model"),  # newer, but of a different model
    ):
        folder = root / name
        folder.mkdir()
        (folder / "model.gguf").write_bytes(b"GGUF")
        manifest = {"kind": "gguf", "source_model": str(source), "created_at": created}
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert model_gguf(resolve(str(merged))) == root / "gguf-v2" / "model.gguf"
    (merged / "own.gguf").write_bytes(b"GGUF")
    assert model_gguf(resolve(str(merged))) == merged / "own.gguf"


@pytest.mark.unit
def test_adapters_stay_on_transformers(tiny_lora_dir: Path) -> None:
    spec = resolve(str(tiny_lora_dir))
    assert model_gguf(spec) is None
    if llamacpp_available():
        choice = interactive_engine(spec, "auto")
        assert choice.engine == "hf" and "adapter" in choice.reason


@needs_llamacpp
def test_auto_serves_the_embedded_model_with_llamacpp() -> None:
    from character.backends.llamacpp_backend import LlamaCppBackend

    choice = interactive_engine(resolve("embedded"), "auto")
    assert choice.engine == "llamacpp" and choice.gguf is not None
    try:
        backend = get_interactive_backend("embedded")
        assert isinstance(backend, LlamaCppBackend)
        assert get_interactive_backend("default") is backend  # loaded once per process
    finally:
        clear_backend_cache()


@needs_llamacpp
def test_llamacpp_backend_contract() -> None:
    from character.backends.llamacpp_backend import LlamaCppBackend
    from character.models.embedded import embedded_gguf_path

    backend = LlamaCppBackend("embedded", embedded_gguf_path(), n_ctx=1024, n_threads=1)
    try:
        seen: list[tuple[int, int]] = []
        params = SamplingParams(max_new_tokens=12, seed=7, n=2)
        out = backend.generate([STORY, HELLO], params, progress=lambda d, t: seen.append((d, t)))
        assert [len(row) for row in out] == [2, 2]
        assert seen == [(1, 2), (2, 2)]
        story = out[0][0]
        assert story.finish_reason == "length" and story.tokens == 12 and story.text
        # The same seed gives the same reply; the n samples use different seeds.
        again = backend.generate([STORY], params)[0]
        assert [c.text for c in again] == [c.text for c in out[0]]
        greedy = backend.reply(HELLO, SamplingParams(temperature=0.0, max_new_tokens=200))
        assert greedy.finish_reason == "stop" and 0 < greedy.tokens < 200
        assert "<|im_end|>" not in greedy.text
        with pytest.raises(ValueError, match="message 0: role"):
            backend.generate([[{"role": "robot", "content": "hi"}]])
        assert backend.describe()["engine"] == "llama.cpp"
    finally:
        backend.close()
        backend.close()  # safe twice


@pytest.mark.unit
def test_missing_gguf_is_a_clear_error(tmp_path: Path) -> None:
    from character.backends.llamacpp_backend import LlamaCppBackend

    with pytest.raises(BackendError, match="does not exist"):
        LlamaCppBackend("x", tmp_path / "nope.gguf")


def _nucleus(chain: object, logits: list[float]) -> tuple[int, int]:
    """(candidates left, token drawn) after a sampler chain runs on `logits`."""
    import ctypes

    import llama_cpp

    data = (llama_cpp.llama_token_data * len(logits))(
        *[llama_cpp.llama_token_data(i, x, 0.0) for i, x in enumerate(logits)]
    )
    cur = llama_cpp.llama_token_data_array(data=data, size=len(logits), selected=-1, sorted=False)
    llama_cpp.llama_sampler_apply(chain.sampler, ctypes.byref(cur))  # type: ignore[attr-defined]
    return int(cur.size), int(data[cur.selected].id)


@needs_llamacpp
def test_sampler_chain_cuts_top_p_after_the_temperature_as_transformers_does() -> None:
    from llama_cpp import _internals

    from character.backends.llamacpp_backend import sampler_chain

    logits = [3.0, 2.0, 1.0, 0.0]
    # At temperature 0.5 the probabilities are .865 .117 .016 .002: top-p 0.9 keeps two tokens.
    # At temperature 1 (where llama-cpp-python's own chain cuts) they are .644 .237 .087 .032,
    # and top-p 0.9 keeps three.
    ours = sampler_chain(len(logits), seed=1, temp=0.5, top_p=0.9, repeat_penalty=1.0)
    assert _nucleus(ours, logits)[0] == 2
    stock = _internals.LlamaSampler()
    stock.add_top_p(0.9, 1)
    stock.add_temp(0.5)
    stock.add_dist(1)
    assert _nucleus(stock, logits)[0] == 3
    greedy = sampler_chain(len(logits), seed=1, temp=0.0, top_p=0.9, repeat_penalty=1.0)
    assert _nucleus(greedy, [0.0, 5.0, 1.0, 0.0])[1] == 1


def _prompt_tokens_evaluated(backend: object) -> int:
    """Prompt tokens llama.cpp evaluated since the last call (its own performance counters)."""
    import llama_cpp

    ctx = backend.llm._ctx.ctx  # type: ignore[attr-defined]
    n = int(llama_cpp.llama_perf_context(ctx).n_p_eval)
    llama_cpp.llama_perf_context_reset(ctx)
    return n


def _next_token_logits(backend: object) -> Any:
    """The logits llama.cpp computed for the position after the prompt."""
    import llama_cpp
    import numpy as np

    llm = backend.llm  # type: ignore[attr-defined]
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()


PERSONA = (
    "You are Captain Marlowe, a retired pirate who now runs a small bookshop by the harbour. "
    "You speak in a salty, cheerful voice, call people 'matey', and love old maps, rum-free "
    "tea, and stories about storms you survived. You never give dangerous advice, you admit "
    "when you do not know something, and you steer every talk back to books when you can. "
    "Your ship, the Wandering Gull, is moored outside and you show it to curious visitors."
)


@needs_llamacpp
def test_next_chat_turn_evaluates_only_the_new_tokens() -> None:
    import numpy as np

    from character.backends.llamacpp_backend import LlamaCppBackend
    from character.models.embedded import embedded_gguf_path

    backend = LlamaCppBackend("embedded", embedded_gguf_path(), n_ctx=1024, n_threads=1)
    try:
        turn1 = [
            {"role": "system", "content": PERSONA},
            {"role": "user", "content": "Who are you?"},
        ]
        reply = backend.reply(turn1, SamplingParams(temperature=0.0, max_new_tokens=12)).text
        turn2 = [*turn1, {"role": "assistant", "content": reply}]
        turn2.append({"role": "user", "content": "Tell me about your ship."})
        one = SamplingParams(temperature=0.0, max_new_tokens=1)
        _prompt_tokens_evaluated(backend)
        cached = backend.reply(turn2, one)
        reused, cached_logits = _prompt_tokens_evaluated(backend), _next_token_logits(backend)
        backend.llm.reset()  # forget the KV: the whole conversation is evaluated again
        fresh = backend.reply(turn2, one)
        full, fresh_logits = _prompt_tokens_evaluated(backend), _next_token_logits(backend)
        assert full > 100 and reused < 30, (reused, full)
        # The reused KV was computed one token at a time during turn 1, whose kernels round
        # differently from a whole-prompt pass (up to ~0.9 in a logit here): the two are close,
        # not equal. A KV for the wrong tokens measured a correlation of 0.87.
        assert cached.text == fresh.text
        assert np.corrcoef(cached_logits, fresh_logits)[0, 1] > 0.99
    finally:
        backend.close()
