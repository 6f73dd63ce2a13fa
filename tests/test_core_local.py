"""LocalBackend: n samples, seeds, batching in input order, finish reasons; the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from character.backends.base import SamplingParams


def conv(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# Different lengths in an order that differs from the length order, so sorting shows.
PROMPTS = [
    conv("a much longer prompt that has quite a few more words in it than the others"),
    conv("hi"),
    conv("a medium sized prompt here"),
    conv("ok then"),
    conv("another fairly long prompt, with commas, and several extra words at its end"),
]


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir: Path):  # noqa: ANN201
    from character.backends.local import LocalBackend

    return LocalBackend("tiny", tiny_model_dir, batch_size=2)


@pytest.mark.unit
def test_n_samples_per_conversation_and_progress(tiny_backend) -> None:  # noqa: ANN001
    seen: list[tuple[int, int]] = []
    params = SamplingParams(n=3, max_new_tokens=4, seed=0, temperature=1.0)
    out = tiny_backend.generate(PROMPTS[:2], params, progress=lambda d, t: seen.append((d, t)))
    assert [len(row) for row in out] == [3, 3]
    assert all(0 < c.tokens <= 4 for row in out for c in row)
    assert seen[-1] == (2, 2)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.unit
def test_seed_reproducibility(tiny_backend) -> None:  # noqa: ANN001
    params = SamplingParams(n=2, max_new_tokens=6, seed=123, temperature=1.0, top_p=1.0)
    texts = lambda out: [[c.text for c in row] for row in out]  # noqa: E731
    first = texts(tiny_backend.generate(PROMPTS[:3], params))
    assert texts(tiny_backend.generate(PROMPTS[:3], params)) == first
    other = texts(tiny_backend.generate(PROMPTS[:3], params.model_copy(update={"seed": 124})))
    assert other != first
    assert first[0][0] != first[0][1]  # the n samples of one conversation differ


@pytest.mark.unit
def test_cut_replies_say_length(tiny_backend) -> None:  # noqa: ANN001
    out = tiny_backend.generate(PROMPTS[:2], SamplingParams(max_new_tokens=3, seed=5))
    assert all(c.finish_reason == "length" and c.tokens == 3 for row in out for c in row)


@pytest.mark.unit
def test_bad_conversation_names_the_message(tiny_backend) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="message 1: role must be"):
        tiny_backend.generate([[{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]])
    assert tiny_backend.generate([]) == []


@pytest.fixture(scope="module")
def embedded_backend(embedded_model_dir: Path):  # noqa: ANN201
    from character.models.registry import build_backend

    backend = build_backend("smollm2-135m", batch_size=2)
    assert backend.describe()["path"] == str(embedded_model_dir)
    return backend


@pytest.mark.integration
def test_embedded_model_answers_a_chat_prompt(embedded_backend) -> None:  # noqa: ANN001
    params = SamplingParams(max_new_tokens=16, temperature=0.0)
    out = embedded_backend.generate(
        [conv("What is the capital of France? Answer briefly.")], params
    )
    reply = out[0][0]
    assert reply.text.strip() and reply.tokens > 0
    assert "paris" in reply.text.lower(), reply.text
    assert embedded_backend.chat(conv("Say hello."), SamplingParams(max_new_tokens=4)).strip()


@pytest.mark.integration
def test_batching_preserves_input_order(embedded_backend) -> None:  # noqa: ANN001
    """Greedy replies are the same alone and in length-sorted, padded batches of two."""
    prompts = [
        conv("Name one fruit that is yellow, and say why people like eating it."),
        conv("What is 2+2?"),
        conv("Hi"),
    ]
    params = SamplingParams(max_new_tokens=3, temperature=0.0, repetition_penalty=1.0)
    alone = [embedded_backend.generate([p], params)[0][0].text for p in prompts]
    together = [row[0].text for row in embedded_backend.generate(prompts, params)]
    assert together == alone
    assert len(set(alone)) == len(alone)  # distinct replies, so a mix-up would show


@pytest.mark.unit
def test_packed_decode_weights_give_the_same_tokens(tiny_backend, monkeypatch) -> None:  # noqa: ANN001
    """Packed decode matmuls are an implementation detail: greedy output must not change, and
    the model's layers must be back to their own forward afterwards."""
    import torch

    from character.backends.packed_linear import PackedLinears, packing_supported

    if not packing_supported():
        pytest.skip("this torch build has no oneDNN linear ops")
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    monkeypatch.setenv("CHARACTER_PACKED_LINEAR", "0")
    plain = [c.text for row in tiny_backend.generate(PROMPTS, params) for c in row]
    monkeypatch.setenv("CHARACTER_PACKED_LINEAR", "1")
    packed = [c.text for row in tiny_backend.generate(PROMPTS, params) for c in row]
    assert packed == plain
    assert tiny_backend._packed is not None and tiny_backend._packed._packed  # it did pack
    linears = [m for m in tiny_backend.model.modules() if type(m) is torch.nn.Linear]
    assert linears and all("forward" not in m.__dict__ for m in linears)

    # A weight changed in place after packing is re-packed, not served stale.
    layer = linears[0]
    x = torch.randn(2, layer.in_features)
    with torch.inference_mode(), PackedLinears(tiny_backend.model) as packing:
        if not packing.enabled:
            pytest.skip("not enough free memory for a packed copy")
        before = layer(x)
        with torch.no_grad():
            layer.weight.mul_(2.0)
        after = layer(x)
        with torch.no_grad():
            layer.weight.div_(2.0)
    expected = torch.nn.functional.linear(x, layer.weight * 2.0, layer.bias)
    assert torch.allclose(after, expected, atol=1e-5)
    assert not torch.allclose(before, after)


@pytest.mark.unit
def test_shared_prefix_len_leaves_a_token_per_prompt() -> None:
    from character.backends.local import shared_prefix_len

    assert shared_prefix_len([[1, 2, 3, 4], [1, 2, 3, 5]]) == 3
    assert shared_prefix_len([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the short one keeps its last
    assert shared_prefix_len([[7, 2], [1, 2]]) == 0
    assert shared_prefix_len([[1], [1]]) == 0


@pytest.mark.unit
def test_shared_system_prompt_runs_once_with_the_same_tokens(tiny_backend, monkeypatch) -> None:  # noqa: ANN001
    """A teacher's constitution is a prefix of every prompt; running it once and copying its
    cache must give what running every row in full gives."""
    import character.backends.local as local

    system = "You are Captain Calico, a warm-hearted pirate who loves maps and tides. " * 6
    convs = [
        [{"role": "system", "content": system}, {"role": "user", "content": p[0]["content"]}]
        for p in PROMPTS
    ]
    params = SamplingParams(max_new_tokens=8, temperature=0.0, repetition_penalty=1.1)
    calls: list[int] = []
    real_model = tiny_backend.model
    monkeypatch.setattr(
        tiny_backend,
        "model",
        _CountingModel(real_model, calls),
    )
    shared = [c.text for row in tiny_backend.generate(convs, params) for c in row]
    first_widths = list(calls)
    assert 1 in first_widths  # the prefix ran as one row
    monkeypatch.setattr(local, "MIN_SHARED_PREFIX", 10**9)
    calls.clear()
    full = [c.text for row in tiny_backend.generate(convs, params) for c in row]
    assert 1 not in calls[:1]
    assert shared == full


class _CountingModel:
    """Records the batch size of each forward pass with more than one input token."""

    def __init__(self, model, calls: list[int]) -> None:  # noqa: ANN001
        self._model, self._calls = model, calls

    def __call__(self, **kw):  # noqa: ANN003, ANN204
        if kw["input_ids"].shape[1] > 1:
            self._calls.append(kw["input_ids"].shape[0])
        return self._model(**kw)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._model, name)
