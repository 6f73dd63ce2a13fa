"""Local generation with transformers: batched sampling with left padding.

Batching matters on a CPU: SmolLM2-135M gives ~13 tok/s at batch 1 and ~75 tok/s at batch 8 on
two cores (with packed weights, see packed_linear), so callers pass many conversations at once
and this backend groups them by length.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from character.backends.base import (
    Completion,
    Conversation,
    GenerationBackend,
    ProgressFn,
    SamplingParams,
    check_request,
)


def render_prompt(tokenizer: Any, conversation: Conversation) -> str:
    """Apply the model's chat template with the assistant turn opened."""
    return tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)


class LocalBackend(GenerationBackend):
    """A transformers causal LM from a local folder, optionally with a PEFT adapter."""

    kind = "local"

    def __init__(
        self,
        model_ref: str,
        model_dir: Path | str,
        *,
        adapter: Path | str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        load_in_4bit: bool = False,
        batch_size: int = 16,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__(model_ref)
        self.model_dir = Path(model_dir)
        self.adapter = Path(adapter) if adapter else None
        self.batch_size = batch_size
        if model is None or tokenizer is None:
            from character.models.loading import load_causal_lm

            model, tokenizer = load_causal_lm(
                self.model_dir,
                adapter=self.adapter,
                dtype=dtype,
                device=device,
                load_in_4bit=load_in_4bit,
            )
        self.model = model
        self.tokenizer = tokenizer
        self._lock = threading.Lock()  # one generate at a time per model object
        self._packed: Any = None  # PackedLinears, made on first CPU generate

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, str]:
        d = super().describe()
        d["path"] = str(self.model_dir)
        if self.adapter:
            d["adapter"] = str(self.adapter)
        return d

    def generate(
        self,
        conversations: list[Conversation],
        params: SamplingParams | None = None,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        import torch

        params = check_request(conversations, params)
        tok = self.tokenizer
        # Tokenise once; batches are left-padded by hand from these ids.
        prompt_ids = [
            tok(render_prompt(tok, c), add_special_tokens=False).input_ids for c in conversations
        ]
        # Expand n samples per conversation, then group by prompt length to waste less padding.
        jobs = [(i, k) for i in range(len(prompt_ids)) for k in range(params.n)]
        jobs.sort(key=lambda ik: (len(prompt_ids[ik[0]]), ik))
        results: list[list[Completion | None]] = [[None] * params.n for _ in prompt_ids]
        done_convs: set[int] = set()
        eos_ids = self._stop_ids()
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]
        with (
            self._lock,
            torch.inference_mode(),
            _threads(self._intra_op_threads),
            self._packing(),
            _cpu_gqa(self.device.type == "cpu"),
        ):
            for start in range(0, len(jobs), self.batch_size):
                chunk = jobs[start : start + self.batch_size]
                generator = None
                if params.seed is not None:
                    generator = torch.Generator(device=self.device)
                    generator.manual_seed(params.seed + start)
                rows = self._decode(
                    [prompt_ids[i] for i, _ in chunk], params, eos_ids, pad_id, generator
                )
                for (i, k), (ids, finished) in zip(chunk, rows, strict=True):
                    text = tok.decode(ids, skip_special_tokens=True).strip()
                    results[i][k] = Completion(
                        text=text, finish_reason="stop" if finished else "length", tokens=len(ids)
                    )
                    if all(r is not None for r in results[i]):
                        done_convs.add(i)
                if progress:
                    progress(len(done_convs), len(prompt_ids))
        return [[c for c in row if c is not None] for row in results]

    def _packing(self) -> Any:
        """Packed decode matmuls on the CPU (see packed_linear); a no-op elsewhere."""
        import contextlib

        if self.device.type != "cpu" or os.environ.get("CHARACTER_PACKED_LINEAR", "1") == "0":
            return contextlib.nullcontext()
        if self._packed is None:
            from character.backends.packed_linear import PackedLinears

            self._packed = PackedLinears(self.model)
        return self._packed

    @property
    def _intra_op_threads(self) -> int | None:
        """One intra-op thread for tiny models: their matrices are too small to split, and
        a second thread only adds synchronisation (badly so on a busy machine)."""
        if self.device.type != "cpu":
            return None
        n_params = sum(p.numel() for p in self.model.parameters())
        return 1 if n_params < 30_000_000 else None

    def _decode(
        self,
        prompts: list[list[int]],
        params: SamplingParams,
        eos_ids: list[int],
        pad_id: int,
        generator: Any,
    ) -> list[tuple[list[int], bool]]:
        """Sample one batch with a KV cache. Rows that finish leave the batch (their cache
        rows are dropped), so one long reply does not make the others pay for padding."""
        import torch

        from character.backends.kv_growth import make_growable

        device = self.device
        rows = len(prompts)
        # A prefix every prompt shares (the constitution as system prompt, for a teacher) is
        # run once and its cache copied to every row; the rest is left-padded after it. The
        # padding then sits mid-sequence, which the attention mask and explicit positions
        # handle exactly as they handle padding on the left.
        shared = shared_prefix_len(prompts) if rows > 1 else 0
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        cache = None
        if shared:
            head = torch.tensor([prompts[0][:shared]], dtype=torch.long, device=device)
            cache = self.model(input_ids=head, use_cache=True, logits_to_keep=1).past_key_values
            cache.batch_repeat_interleave(rows)
        tails = [p[shared:] for p in prompts]
        width = max(len(p) for p in tails)
        ids = torch.full((rows, width), pad_id, dtype=torch.long)
        mask = torch.zeros((rows, shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for row, p in enumerate(tails):
            if p:
                ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[row, shared + width - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        eos = torch.tensor(eos_ids, dtype=torch.long, device=device)
        out_ids: list[list[int]] = [[] for _ in prompts]
        finished = [False] * rows
        alive = list(range(rows))  # original row of each row still in the batch
        # Every token so far, for the repetition penalty (as transformers does).
        seen = torch.cat([head.expand(rows, -1), ids], dim=-1) if shared else ids
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = make_growable(out.past_key_values, params.max_new_tokens)
        logits = out.logits[:, -1, :].float()
        last_pos = positions[:, -1]
        for step in range(params.max_new_tokens):
            nxt = _pick(logits, seen, params, generator)
            stop = torch.isin(nxt, eos)
            nxt_list, stop_list = nxt.tolist(), stop.tolist()
            for row, (t, s) in enumerate(zip(nxt_list, stop_list, strict=True)):
                if finished[alive[row]]:
                    continue  # only when the cache could not drop the row
                if s:
                    finished[alive[row]] = True
                else:
                    out_ids[alive[row]].append(t)
            if step == params.max_new_tokens - 1 or all(stop_list):
                break
            if any(stop_list):
                keep = (~stop).nonzero().squeeze(-1)
                if hasattr(cache, "batch_select_indices"):  # else finished rows ride along
                    cache.batch_select_indices(keep)
                    alive = [alive[j] for j in keep.tolist()]
                    nxt, mask, seen, last_pos = nxt[keep], mask[keep], seen[keep], last_pos[keep]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
            seen = torch.cat([seen, nxt[:, None]], dim=-1)
            last_pos = last_pos + 1
            out = self.model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=last_pos[:, None],
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()
        return [(out_ids[r], finished[r]) for r in range(len(prompts))]

    def _stop_ids(self) -> list[int]:
        # Cached: building the vocab dict costs ~100 ms on a 49k-token tokenizer.
        cached = getattr(self, "_stop_ids_cache", None)
        if cached is not None:
            return cached
        tok = self.tokenizer
        vocab = tok.get_vocab()
        ids = {tok.eos_token_id}
        for special in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            if special in vocab:
                ids.add(vocab[special])
        self._stop_ids_cache = [i for i in ids if i is not None]
        return self._stop_ids_cache


MIN_SHARED_PREFIX = 32
"""Shorter shared prefixes are not worth a separate forward pass."""


def shared_prefix_len(prompts: list[list[int]]) -> int:
    """Tokens all prompts start with, leaving at least one token of each prompt after it (the
    last prompt token must be run with the rest of the batch to give the first logits)."""
    first = prompts[0]
    limit = min(len(p) for p in prompts) - 1
    n = 0
    while n < limit and all(p[n] == first[n] for p in prompts):
        n += 1
    return max(n, 0)


class _cpu_gqa:  # noqa: N801 - used like a function
    """Let SDPA read grouped KV heads directly on the CPU. With a padding mask transformers
    otherwise copies every key/value head 3x per layer per step (SmolLM2 has 3 KV heads for 9
    query heads); measured: the same tokens ~17% faster with a long teacher prompt. Scoped to
    sampling, since on CUDA a masked GQA call falls back to a slow kernel."""

    VAR = "TRANSFORMERS_SDPA_FORCE_GQA"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.old: str | None = None

    def __enter__(self) -> None:
        if self.enabled:
            self.old = os.environ.get(self.VAR)
            os.environ[self.VAR] = "1"

    def __exit__(self, *exc: object) -> None:
        if not self.enabled:
            return
        if self.old is None:
            os.environ.pop(self.VAR, None)
        else:
            os.environ[self.VAR] = self.old


class _threads:  # noqa: N801 - used like a function
    """Temporarily set torch's intra-op threads (None leaves them alone)."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.old: int | None = None

    def __enter__(self) -> None:
        if self.n is not None:
            import torch

            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            import torch

            torch.set_num_threads(self.old)


TOP_P_CANDIDATES = 128
"""Tokens looked at before falling back to a full-vocabulary sort for top-p."""


def _pick(logits: Any, seen: Any, params: SamplingParams, generator: Any) -> Any:
    """Next token per row: repetition penalty, temperature, top-p, sampling.

    Same distribution as transformers' processors, but top-p works on the top 128 tokens and
    samples among them: at temperatures used in practice the nucleus lies inside them, and a
    full sort plus a draw over 49k tokens per row cost more than a layer of the model. Rows
    whose nucleus is wider fall back to the exact full-vocabulary path.
    """
    import torch

    if params.repetition_penalty != 1.0:
        score = logits.gather(1, seen)
        rp = params.repetition_penalty
        score = torch.where(score < 0, score * rp, score / rp)
        logits = logits.scatter(1, seen, score)
    if params.temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / params.temperature
    if params.top_p >= 1.0:
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    k = min(TOP_P_CANDIDATES, logits.shape[-1])
    top_v, top_i = logits.topk(k, dim=-1)
    probs = torch.exp(top_v - torch.logsumexp(logits, dim=-1, keepdim=True))
    cum = probs.cumsum(dim=-1)
    # transformers keeps a token while the mass strictly before it is below top_p.
    keep = (cum - probs) < params.top_p
    keep[:, 0] = True
    weights = torch.where(keep, probs, torch.zeros_like(probs))
    choice = torch.multinomial(weights, 1, generator=generator).squeeze(-1)
    picked = top_i.gather(1, choice[:, None]).squeeze(-1)
    wide = cum[:, -1] < params.top_p  # nucleus extends past the candidates
    if bool(wide.any()):
        rows = wide.nonzero().squeeze(-1)
        full = torch.softmax(logits[rows], dim=-1)
        sorted_p, order = full.sort(dim=-1, descending=True)
        c = sorted_p.cumsum(dim=-1)
        keep_full = (c - sorted_p) < params.top_p
        keep_full[:, 0] = True
        w = torch.where(keep_full, sorted_p, torch.zeros_like(sorted_p))
        ch = torch.multinomial(w, 1, generator=generator)
        picked[rows] = order.gather(1, ch).squeeze(-1)
    return picked
