"""The `tinker` backend: sample a Tinker base model or a `tinker://` checkpoint.

Why it looks like this: prompts are rendered locally through the model's chat template (Tinker
takes token ids), a preflight runs before any SDK client exists (the SDK otherwise blocks for
minutes on an unreachable URL), and every wait has our own deadline plus billing and network
watches (see `character.tinker.errors.wait_result`). Tinker has no repetition penalty, so that
setting is ignored here.
"""

from __future__ import annotations

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
from character.settings import get_settings

MAX_IN_FLIGHT = 64
_STOP_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def stop_token_ids(tokenizer: Any) -> list[int]:
    ids = {tokenizer.eos_token_id}
    vocab = tokenizer.get_vocab()
    for special in _STOP_TOKENS:
        if special in vocab:
            ids.add(vocab[special])
    return sorted(i for i in ids if i is not None)


class TinkerBackend(GenerationBackend):
    """Sampling through the `tinker` SDK (a real service or the loopback stand-in)."""

    kind = "tinker"

    def __init__(
        self,
        model_or_path: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
        tokenizer_dir: Path | str | None = None,
    ) -> None:
        from character.tinker.errors import BillingWatch, map_error, wait_result
        from character.tinker.preflight import (
            check_model,
            probe_reachable,
            resolve_api_key,
            resolve_base_url,
            server_models,
        )
        from character.tinker.tokenizer import load_tokenizer

        ref = model_or_path.strip()
        if ref.lower().startswith("tinker:") and not ref.lower().startswith("tinker://"):
            ref = ref.split(":", 1)[1]
        super().__init__(f"tinker:{ref}" if not ref.startswith("tinker://") else ref)
        self.model_path = ref if ref.startswith("tinker://") else None
        self.timeout_s = float(timeout_s or get_settings().request_timeout_s)
        self.base_url = resolve_base_url(base_url)
        key = resolve_api_key(api_key)
        probe_reachable(self.base_url, min(5.0, self.timeout_s))
        if self.model_path is None:
            check_model(server_models(self.base_url, key, self.timeout_s), ref, "sample")
        import tinker

        self._watch = BillingWatch()
        self._lock = threading.Lock()
        try:
            self._service = tinker.ServiceClient(base_url=self.base_url, api_key=key)
            with self._watch:
                fut = (
                    self._service.create_sampling_client(model_path=self.model_path)
                    if self.model_path
                    else self._service.create_sampling_client(base_model=ref)
                )
                self._sampler = wait_result(
                    fut,
                    timeout_s=self.timeout_s,
                    what="Opening a Tinker sampler",
                    watch=self._watch,
                )
        except Exception as exc:  # noqa: BLE001
            raise map_error(exc, f"Opening Tinker model {ref}") from exc
        self.base_model: str = self._sampler.get_base_model()
        self.tokenizer = load_tokenizer(self.base_model, tokenizer_dir)
        self._stop_ids = stop_token_ids(self.tokenizer)

    def describe(self) -> dict[str, str]:
        d = super().describe()
        d.update(base_model=self.base_model, base_url=self.base_url)
        return d

    def _probe(self) -> bool:
        from character.tinker.preflight import is_reachable

        return is_reachable(self.base_url, 2.0)

    def render(self, conversation: Conversation) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def generate(
        self,
        conversations: list[Conversation],
        params: SamplingParams | None = None,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        from tinker import types

        from character.tinker.errors import wait_result

        params = check_request(conversations, params)
        sp = types.SamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=max(params.temperature, 1e-5),
            top_p=params.top_p,
            seed=params.seed,
            stop=self._stop_ids,
        )
        results: list[list[Completion]] = [[] for _ in conversations]
        with self._lock, self._watch:
            for start in range(0, len(conversations), MAX_IN_FLIGHT):
                idx = range(start, min(start + MAX_IN_FLIGHT, len(conversations)))
                futures = {
                    i: self._sampler.sample(
                        types.ModelInput.from_ints(self.render(conversations[i])),
                        num_samples=params.n,
                        sampling_params=sp,
                    )
                    for i in idx
                }
                for i, fut in futures.items():
                    resp = wait_result(
                        fut,
                        timeout_s=self.timeout_s,
                        what="Sampling from Tinker",
                        watch=self._watch,
                        probe=self._probe,
                        network_grace_s=min(10.0, self.timeout_s),
                    )
                    results[i] = [self._completion(seq) for seq in resp.sequences]
                    if progress:
                        progress(i + 1, len(conversations))
        return results

    def _completion(self, seq: Any) -> Completion:
        tokens = [int(t) for t in seq.tokens]
        while tokens and tokens[-1] in self._stop_ids:
            tokens.pop()
        text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        reason = "stop" if seq.stop_reason == "stop" else "length"
        return Completion(text=text, finish_reason=reason, tokens=len(tokens))

    def logprobs(self, tokens: list[int]) -> list[float | None]:
        """Per-token log-probs of a token sequence under this model (first is None)."""
        from tinker import types

        from character.tinker.errors import wait_result

        with self._watch:
            fut = self._sampler.compute_logprobs(types.ModelInput.from_ints(tokens))
            return wait_result(
                fut, timeout_s=self.timeout_s, what="Scoring on Tinker", watch=self._watch
            )

    def close(self) -> None:
        service = getattr(self, "_service", None)
        self._service = None
        if service is None:
            return
        try:
            service.close("success").result(timeout=3)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
