"""Tinker failures in plain words, and waiting on SDK futures with a deadline we control.

Why: the SDK retries on its own for minutes (5 min on an unreachable server, up to an hour
while "paused due to billing status", forever on sampling 429/402). A user watching a job must
instead see "your Tinker account is out of credit" within seconds. So every wait goes through
`wait_result`, which polls the future in short slices, watches the SDK's logger for billing
pauses, probes reachability when nothing arrives, and raises one of the errors below.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from character.backends.base import BackendError

T = TypeVar("T")


class TinkerError(BackendError):
    """Base of our Tinker errors; `kind` is a stable tag, `hint` says what to do."""

    kind = "error"
    hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint if hint is not None else type(self).hint
        super().__init__(f"{message} {self.hint}".strip())


class TinkerKeyError(TinkerError):
    kind = "key"
    hint = "Set TINKER_API_KEY (in the environment or in .env) to a key that starts with 'tml-'."


class TinkerAuthError(TinkerError):
    kind = "auth"
    hint = "Check TINKER_API_KEY: the service rejected it (revoked, mistyped or another account)."


class TinkerUnreachableError(TinkerError):
    kind = "network"
    hint = "Check your network connection and TINKER_BASE_URL, then try again."


class TinkerBillingError(TinkerError):
    kind = "billing"
    hint = (
        "Tinker answered 402 (billing): add credit or a payment method in the Tinker console, "
        "then resume the run."
    )


class TinkerRateLimitError(TinkerError):
    kind = "rate_limit"
    hint = "Tinker is rate-limiting this account (429). Wait a minute and resume, or lower concurrency."


class TinkerCheckpointError(TinkerError):
    kind = "checkpoint"
    hint = (
        "The checkpoint is missing or expired (its TTL ran out). Use a newer checkpoint from "
        "checkpoints.jsonl, or train again."
    )


class TinkerUnsupportedModelError(TinkerError):
    kind = "unsupported_model"
    hint = "Pick one of the models listed by `character tinker preflight`."


class TinkerJobFailedError(TinkerError):
    kind = "job_failed"
    hint = "The remote job failed; the run can be resumed from its last saved state."


class TinkerTimeoutError(TinkerError):
    kind = "timeout"
    hint = "Tinker did not answer in time. The service may be busy; resume the run later."


class TinkerInterruptedError(TinkerError):
    """Network loss mid-run after bounded retries: the run is resumable."""

    kind = "interrupted"
    hint = "The run was interrupted and is resumable: resume it when the connection is back."

    def __init__(self, message: str, resume_from: str | None = None) -> None:
        self.resume_from = resume_from
        extra = f" Last saved state: {resume_from}." if resume_from else ""
        super().__init__(message + extra)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    resp = getattr(exc, "response", None)
    code = getattr(resp, "status_code", None)
    return code if isinstance(code, int) else None


def map_error(exc: BaseException, what: str = "Tinker request") -> TinkerError:
    """Turn any SDK/transport exception into one of our plain-word errors."""
    if isinstance(exc, TinkerError):
        return exc
    try:
        import tinker
    except ImportError:  # pragma: no cover - the extra is not installed
        tinker = None  # type: ignore[assignment]
    for e in _chain(exc):
        status = _status(e)
        text = str(e)
        low = text.lower()
        if status == 402 or "billing" in low:
            return TinkerBillingError(f"{what}: Tinker refused it for billing reasons.")
        if status == 401 or status == 403:
            return TinkerAuthError(f"{what}: the API key was rejected ({status}).")
        if status == 429:
            return TinkerRateLimitError(f"{what}: rate limited.")
        if status == 404 and ("checkpoint" in low or "tinker://" in low or "expired" in low):
            return TinkerCheckpointError(f"{what}: {_detail(e)}")
        if status == 400 and ("not supported" in low or "does not support" in low):
            return TinkerUnsupportedModelError(f"{what}: {_detail(e)}")
        if tinker is not None and isinstance(e, tinker.RequestFailedError):
            return TinkerJobFailedError(f"{what} failed on the service: {_detail(e)}.")
        if tinker is not None and isinstance(e, tinker.APIConnectionError):
            return TinkerUnreachableError(f"{what}: lost the connection to Tinker.")
        if isinstance(e, (ConnectionError, OSError)) and not isinstance(e, FileNotFoundError):
            return TinkerUnreachableError(f"{what}: network error ({e}).")
        if tinker is not None and isinstance(e, tinker.TinkerError) and "api key" in low:
            return TinkerKeyError(f"{what}: {text}")
        if status is not None and status >= 500:
            return TinkerJobFailedError(f"{what}: Tinker had a server error ({status}).")
    return TinkerError(f"{what} failed: {type(exc).__name__}: {exc}")


def _detail(e: BaseException) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    text = str(e)
    return text.split(" for self.request_id")[0]


class BillingWatch(logging.Handler):
    """Notices the SDK's "paused due to billing status" warnings while attached.

    The SDK swallows 402s and retries; its only outward sign is this log line. Attach the
    watch to the `tinker` logger for the duration of a run.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.billing_message: str | None = None
        self.connection_errors = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad record must not break the SDK
            return
        with self._lock:
            if "billing" in msg.lower():
                self.billing_message = msg
            elif "connection" in msg.lower():
                self.connection_errors += 1

    def __enter__(self) -> BillingWatch:
        with self._lock:
            self.billing_message = None
            self.connection_errors = 0
        logger = logging.getLogger("tinker")
        logger.addHandler(self)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            self._old_level: int | None = logger.level
            logger.setLevel(logging.WARNING)
        else:
            self._old_level = None
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("tinker")
        logger.removeHandler(self)
        if self._old_level is not None:
            logger.setLevel(self._old_level)


def wait_result(
    future: Any,
    *,
    timeout_s: float,
    what: str,
    watch: BillingWatch | None = None,
    probe: Callable[[], bool] | None = None,
    network_grace_s: float = 20.0,
    poll_s: float = 0.25,
) -> Any:
    """Wait for an SDK `APIFuture` (or concurrent future) with our own deadline.

    Raises TinkerBillingError as soon as the SDK logs a billing pause, TinkerUnreachableError
    when `probe()` has said "unreachable" for `network_grace_s`, TinkerTimeoutError at
    `timeout_s`, and maps any SDK exception through `map_error`.
    """
    from concurrent.futures import TimeoutError as FutureTimeout

    start = time.monotonic()
    unreachable_since: float | None = None
    next_probe = start + 2.0
    while True:
        try:
            return future.result(timeout=poll_s)
        except (FutureTimeout, TimeoutError):
            pass
        except Exception as exc:  # noqa: BLE001 - mapped to plain words
            raise map_error(exc, what) from exc
        now = time.monotonic()
        if watch is not None and watch.billing_message:
            _cancel(future)
            raise TinkerBillingError(f"{what}: Tinker paused the job for billing reasons.")
        if probe is not None and now >= next_probe:
            next_probe = now + 1.0
            if probe():
                unreachable_since = None
            else:
                unreachable_since = unreachable_since or now
                if now - unreachable_since >= network_grace_s:
                    _cancel(future)
                    raise TinkerUnreachableError(
                        f"{what}: Tinker has been unreachable for {now - unreachable_since:.0f} s."
                    )
        if now - start >= timeout_s:
            _cancel(future)
            raise TinkerTimeoutError(f"{what}: no answer within {timeout_s:.0f} s.")


def _cancel(future: Any) -> None:
    try:
        inner = future.future() if hasattr(future, "future") else future
        inner.cancel()
    except Exception:  # noqa: BLE001 - best effort
        pass
