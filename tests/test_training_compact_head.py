"""The CPU compact LM head gives TRL's log-probabilities and gradients while projecting only
the labelled positions (prompt and padding are skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def _fused_run(model_dir: Path, compact: bool) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    from transformers import AutoModelForCausalLM
    from trl.kernels import chunked_logprob
    from trl.trainer.utils import add_fused_lm_head

    from character.training.compact_lm_head import compact_lm_head_on_cpu

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    ids = torch.randint(5, model.config.vocab_size - 1, (2, 12))
    labels = ids.clone()
    labels[:, :7] = -100  # the prompt
    labels[1, 10:] = -100  # padding
    scored: list[int] = []
    original = chunked_logprob.ChunkedLogProbFunction.apply

    def spy(hidden: torch.Tensor, *args: object) -> object:
        scored.append(hidden.shape[0])
        return original(hidden, *args)

    chunked_logprob.ChunkedLogProbFunction.apply = spy  # type: ignore[method-assign]
    try:
        if compact:
            with compact_lm_head_on_cpu() as active:
                assert active
                out = model(input_ids=ids, labels=labels, fused_lm_head=True)
        else:
            out = model(input_ids=ids, labels=labels, fused_lm_head=True)
    finally:
        chunked_logprob.ChunkedLogProbFunction.apply = original  # type: ignore[method-assign]
    out.log_probs.sum().backward()
    grad = model.model.layers[0].mlp.down_proj.weight.grad.detach().clone()
    return out.log_probs.detach(), grad, scored


def test_compact_head_matches_the_full_head(tiny_model_dir: Path) -> None:
    pytest.importorskip("trl.kernels.chunked_logprob")
    full_lp, full_grad, full_n = _fused_run(tiny_model_dir, compact=False)
    lp, grad, n = _fused_run(tiny_model_dir, compact=True)
    assert full_n == [2 * 11]  # every shifted position, prompt and padding included
    assert n == [5 + 3]  # only the labelled ones
    torch.testing.assert_close(lp, full_lp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, full_grad, rtol=1e-4, atol=1e-6)


def test_the_patch_is_undone_after_training() -> None:
    from trl.trainer import utils as trl_utils

    from character.training.compact_lm_head import compact_lm_head_on_cpu

    before = trl_utils._use_triton
    with compact_lm_head_on_cpu():
        assert trl_utils._use_triton(torch.device("cpu"))
        with compact_lm_head_on_cpu():  # nesting keeps one layer of patching
            assert trl_utils._use_triton(torch.device("cpu"))
    assert trl_utils._use_triton is before
    assert not before(torch.device("cpu"))
