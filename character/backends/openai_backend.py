"""Generation through any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's server,
`transformers serve`) with the official `openai` SDK.

The SDK's own retries are switched off: every request gets one deadline (`timeout_s`) that covers
all its attempts, so an unreachable or stuck endpoint fails with a clear error within the timeout
instead of hanging for minutes. Servers differ in what they accept, so two things adapt at run
time: a server that ignores `n` is topped up with single-sample requests, and a server that
rejects the non-standard `repetition_penalty` field is asked again without it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from character.backends.base import (
    BackendError,
    Completion,
    Conversation,
    GenerationBackend,
    ProgressFn,
    SamplingParams,
    check_request,
)
from character.settings import get_settings

log = logging.getLogger(__name__)

OFFICIAL_URL = "https://api.openai.com/v1"
KEY_HINT = "set OPENAI_API_KEY or LLM_API_KEY (in the environment or in .env)"
_DUMMY_KEY = "no-key-needed"  # local servers ignore the key but the SDK insists on one
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def normalise_base_url(url: str | None) -> str:
    """The URL the SDK should use: the official API when unset, `/v1` added to a bare host."""
    if not url:
        return OFFICIAL_URL
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1")
    return urlunsplit(parts)


def is_official(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.com")


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in _LOOPBACK


class _Fatal(Exception):
    """An error that makes every other request pointless (endpoint down, key rejected)."""


def _finish(reason: str | None) -> str:
    if reason == "length":
        return "length"
    if reason == "content_filter":
        return "error"
    return "stop"


class OpenAIBackend(GenerationBackend):
    """Chat completions from an OpenAI-compatible endpoint, many conversations in parallel."""

    kind = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
        max_concurrency: int | None = None,
        max_retries: int = 3,
    ) -> None:
        super().__init__(model)
        settings = get_settings()
        self.model = model
        self.base_url = normalise_base_url(base_url or settings.openai_url())
        self.timeout_s = float(timeout_s if timeout_s is not None else settings.request_timeout_s)
        self.max_concurrency = max(1, int(max_concurrency or settings.max_concurrency))
        self.max_retries = max(0, int(max_retries))
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        key = api_key or settings.openai_key()
        if not key:
            if is_official(self.base_url):
                raise BackendError(f"No API key for {self.base_url}: {KEY_HINT}.")
            key = _DUMMY_KEY
        self._official = is_official(self.base_url)
        # Adaptive capabilities, learnt from the first responses.
        self._n_supported: bool | None = None
        self._rep_penalty_ok = not self._official
        self._state_lock = threading.Lock()
        import openai

        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=key, timeout=self.timeout_s, max_retries=0
        )

    def describe(self) -> dict[str, str]:
        d = super().describe()
        d["base_url"] = self.base_url
        return d

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    # ----- public API -----

    def generate(
        self,
        conversations: list[Conversation],
        params: SamplingParams | None = None,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        params = check_request(conversations, params)
        if not conversations:
            return []
        abort = threading.Event()
        results: list[list[Completion]] = [[] for _ in conversations]
        done = 0
        pool = ThreadPoolExecutor(
            max_workers=min(self.max_concurrency, len(conversations)),
            thread_name_prefix="openai-backend",
        )
        failed = False
        try:
            futures = {
                pool.submit(self._samples_for, conv, params, abort): i
                for i, conv in enumerate(conversations)
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    exc = fut.exception()
                    if exc is not None:
                        failed = True
                        abort.set()
                        if isinstance(exc, _Fatal):
                            raise BackendError(str(exc)) from exc.__cause__
                        raise exc
                    results[futures[fut]] = fut.result()
                    done += 1
                    if progress:
                        progress(done, len(conversations))
        finally:
            # On failure do not wait for requests still in flight: each ends by its deadline.
            pool.shutdown(wait=not failed, cancel_futures=True)
        return results

    # ----- one conversation -----

    def _samples_for(
        self, conv: Conversation, params: SamplingParams, abort: threading.Event
    ) -> list[Completion]:
        """All `n` samples for one conversation; tops up when the server ignores `n`."""
        want = params.n
        got: list[Completion] = []
        ask = want if self._n_supported is not False else 1
        attempt_seed = params.seed
        while len(got) < want:
            comps = self._request(conv, params, min(ask, want - len(got)), attempt_seed, abort)
            if ask > 1 and self._n_supported is None:
                with self._state_lock:
                    self._n_supported = len(comps) >= ask
                    if not self._n_supported:
                        log.info("%s ignores n; sending one request per sample", self.base_url)
            got.extend(comps)
            ask = 1 if self._n_supported is False else want - len(got)
            if attempt_seed is not None:
                attempt_seed += 1  # a different but reproducible seed for each extra sample
            if not comps:
                break
        return got[:want]

    def _body(
        self, conv: Conversation, params: SamplingParams, n: int, seed: int | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": conv,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if self._official:
            body["max_completion_tokens"] = params.max_new_tokens
        else:
            body["max_tokens"] = params.max_new_tokens
        if n > 1:
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        if self._rep_penalty_ok and params.repetition_penalty != 1.0:
            body["extra_body"] = {"repetition_penalty": params.repetition_penalty}
        return body

    def _request(
        self,
        conv: Conversation,
        params: SamplingParams,
        n: int,
        seed: int | None,
        abort: threading.Event,
    ) -> list[Completion]:
        """One chat completion with retries and backoff, all within one deadline."""
        import openai

        deadline = time.monotonic() + self.timeout_s
        attempt = 0
        last: BaseException | None = None
        while True:
            if abort.is_set():
                raise _Fatal("cancelled after another request failed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            body = self._body(conv, params, n, seed)
            try:
                resp = self._client.chat.completions.create(**body, timeout=remaining)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                last = exc
            except openai.RateLimitError as exc:
                last = exc
            except openai.AuthenticationError as exc:
                raise _Fatal(f"{self.base_url} rejected the API key (401): {KEY_HINT}.") from exc
            except openai.PermissionDeniedError as exc:
                raise _Fatal(
                    f"{self.base_url} refused access to model {self.model!r} (403): {_detail(exc)}"
                ) from exc
            except openai.NotFoundError as exc:
                raise _Fatal(
                    f"{self.base_url} does not serve model {self.model!r} (404): {_detail(exc)}"
                ) from exc
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    last = exc
                elif "repetition_penalty" in body.get("extra_body", {}) and exc.status_code in (
                    400,
                    422,
                ):
                    # Not every server takes this vLLM extension; ask again without it.
                    with self._state_lock:
                        self._rep_penalty_ok = False
                    log.info("%s rejects repetition_penalty; not sending it", self.base_url)
                    continue
                else:
                    raise _Fatal(
                        f"{self.base_url} rejected the request ({exc.status_code}): {_detail(exc)}"
                    ) from exc
            else:
                return [
                    Completion(
                        text=(choice.message.content or "").strip(),
                        finish_reason=_finish(choice.finish_reason),  # type: ignore[arg-type]
                        tokens=_tokens(resp, len(resp.choices)),
                    )
                    for choice in resp.choices
                ]
            if attempt >= self.max_retries:
                break
            delay = min(8.0, 0.5 * 2**attempt) * (0.75 + 0.5 * random.random())
            delay = max(delay, _retry_after(last))
            attempt += 1
            if time.monotonic() + delay >= deadline:
                break
            time.sleep(delay)
        raise _Fatal(self._explain(last)) from last

    def _explain(self, exc: BaseException | None) -> str:
        import openai

        if isinstance(exc, openai.APITimeoutError) or exc is None:
            return (
                f"No answer from {self.base_url} within {self.timeout_s:g}s. Check that the "
                "server is running, or raise CHARACTER_REQUEST_TIMEOUT."
            )
        if isinstance(exc, openai.APIConnectionError):
            return (
                f"Could not reach the OpenAI-compatible endpoint {self.base_url} "
                f"({_detail(exc)}). Check that the server is running and OPENAI_BASE_URL / "
                "LLM_BASE_URL is right."
            )
        if isinstance(exc, openai.RateLimitError):
            return f"{self.base_url} kept rate-limiting (429) after {self.max_retries} retries."
        return f"{self.base_url} failed after {self.max_retries} retries: {_detail(exc)}"


def _tokens(resp: Any, choices: int) -> int:
    usage = getattr(resp, "usage", None)
    total = getattr(usage, "completion_tokens", None) if usage else None
    return int(total) // max(1, choices) if total else 0


def _retry_after(exc: BaseException | None) -> float:
    response = getattr(exc, "response", None)
    if response is None:
        return 0.0
    try:
        return min(30.0, float(response.headers.get("retry-after", 0)))
    except (TypeError, ValueError):
        return 0.0


def _detail(exc: BaseException) -> str:
    """The server's message without the request (which may echo headers)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or body.get("detail") or body.get("error")
        if isinstance(msg, dict):
            msg = msg.get("message")
        if msg:
            return str(msg)[:300]
    cause = exc.__cause__ or exc.__context__
    text = str(exc)
    if cause is not None and text in ("Connection error.", "Request timed out."):
        text = f"{text} {type(cause).__name__}: {cause}"
    return text[:300]
