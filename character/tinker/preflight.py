"""Preflight before any Tinker spending: key, reachability, model support, cost.

Why: the SDK blocks for ~300 s inside client construction when the service is unreachable and
pauses for up to an hour on billing errors. Each check here has a short deadline and fails with
a plain sentence, so a user sees the problem in seconds, never a five-minute hang. The
reachability probe runs *before* any SDK client exists.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from character.settings import get_settings
from character.tinker.errors import (
    TinkerKeyError,
    TinkerUnreachableError,
    TinkerUnsupportedModelError,
    map_error,
    wait_result,
)

DEFAULT_BASE_URL = "https://tinker.thinkingmachines.dev/services/tinker-prod"
_TML_KEY = re.compile(r"^tml-[A-Za-z0-9_\-]{4,}$")


def _b64json(part: str) -> Any:
    pad = "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part + pad))


def check_key_format(key: str | None) -> str:
    """Return the key if it is a `tml-` key or a JWT; otherwise raise TinkerKeyError."""
    if not key or not key.strip():
        raise TinkerKeyError("No Tinker API key is set.")
    key = key.strip()
    if _TML_KEY.match(key):
        return key
    parts = key.split(".")
    if len(parts) == 3 and all(parts):
        try:
            header = _b64json(parts[0])
            _b64json(parts[1])
        except (ValueError, json.JSONDecodeError):
            header = None
        if isinstance(header, dict) and "alg" in header:
            return key
    raise TinkerKeyError(
        "The Tinker API key is malformed: it must start with 'tml-' (or be a JWT).",
    )


def resolve_base_url(base_url: str | None = None) -> str:
    s = get_settings()
    url = base_url or s.tinker_base_url or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None = None) -> str:
    return check_key_format(api_key or get_settings().tinker_key())


def probe_reachable(base_url: str, timeout_s: float = 3.0) -> float:
    """Seconds an HTTP round trip to the service took; raises TinkerUnreachableError.

    Any HTTP answer (even 404) counts as reachable. DNS lookups are not covered by socket
    timeouts, so the probe runs in a thread and is abandoned at the deadline.
    """
    import httpx

    result: dict[str, Any] = {}

    def go() -> None:
        start = time.monotonic()
        try:
            with httpx.Client(timeout=httpx.Timeout(timeout_s), trust_env=False) as client:
                client.get(f"{base_url}/api/v1/healthz")
            result["latency"] = time.monotonic() - start
        except Exception as exc:  # noqa: BLE001 - reported below in plain words
            result["error"] = exc

    t = threading.Thread(target=go, name="tinker-probe", daemon=True)
    t.start()
    t.join(timeout_s + 0.5)
    if "latency" in result:
        return float(result["latency"])
    why = result.get("error") or f"no answer within {timeout_s:.0f} s"
    raise TinkerUnreachableError(f"Cannot reach the Tinker service at {base_url} ({why}).")


def is_reachable(base_url: str, timeout_s: float = 2.0) -> bool:
    try:
        probe_reachable(base_url, timeout_s)
        return True
    except TinkerUnreachableError:
        return False


class SupportedModel(BaseModel):
    model_name: str
    max_context_length: int | None = None
    trainable: bool | None = None
    sampleable: bool | None = None


def server_models(base_url: str, api_key: str, timeout_s: float = 10.0) -> list[SupportedModel]:
    """The service's model list (call only after `probe_reachable` succeeded)."""
    import tinker

    try:
        rest = tinker.RestClient(base_url=base_url, api_key=api_key)
        caps = wait_result(
            rest.get_server_capabilities(), timeout_s=timeout_s, what="Listing Tinker models"
        )
    except Exception as exc:  # noqa: BLE001
        raise map_error(exc, "Listing Tinker models") from exc
    return [
        SupportedModel(**m.model_dump())
        for m in caps.supported_models
        if getattr(m, "model_name", None)
    ]


def check_model(
    models: list[SupportedModel], base_model: str, need: Literal["train", "sample"]
) -> SupportedModel:
    names = [m.model_name for m in models]
    found = next((m for m in models if m.model_name == base_model), None)
    if found is None:
        raise TinkerUnsupportedModelError(
            f"Tinker does not offer {base_model!r}. Available: {', '.join(names) or 'none'}."
        )
    if need == "train" and found.trainable is False:
        trainable = [m.model_name for m in models if m.trainable is not False]
        raise TinkerUnsupportedModelError(
            f"{base_model!r} can be sampled but not trained on Tinker. "
            f"Trainable: {', '.join(trainable) or 'none'}."
        )
    if need == "sample" and found.sampleable is False:
        raise TinkerUnsupportedModelError(f"{base_model!r} cannot be sampled on Tinker.")
    return found


class PreflightConfig(BaseModel):
    """What to check; leave `dataset_path` empty to skip the cost estimate."""

    base_model: str | None = None
    need: Literal["train", "sample"] = "train"
    base_url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    dataset_path: Path | None = None
    kind: Literal["sft", "dpo"] | None = None
    epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=8, ge=1)
    max_steps: int | None = None
    tokenizer_dir: Path | None = None


class PreflightReport(BaseModel):
    """Shown by the CLI and the studio's launcher; contains no secret."""

    base_url: str
    key_ok: bool = False
    reachable: bool = False
    latency_ms: float | None = None
    models: list[SupportedModel] = Field(default_factory=list)
    model: SupportedModel | None = None
    estimate: dict[str, Any] | None = None
    problem: str | None = None
    problem_kind: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None


def run_preflight(
    config: PreflightConfig | None = None, *, api_key: str | None = None, raise_errors: bool = True
) -> PreflightReport:
    """Run every check in order and stop at the first failure (raised, or in the report)."""
    from character.tinker.errors import TinkerError

    config = config or PreflightConfig()
    start = time.monotonic()
    report = PreflightReport(base_url=resolve_base_url(config.base_url))
    try:
        key = resolve_api_key(api_key)
        report.key_ok = True
        report.latency_ms = probe_reachable(report.base_url, config.timeout_s) * 1000
        report.reachable = True
        report.models = server_models(report.base_url, key, timeout_s=config.timeout_s * 2)
        if config.base_model:
            report.model = check_model(report.models, config.base_model, config.need)
        if config.dataset_path and config.base_model:
            report.estimate = estimate_for(config).model_dump(mode="json")
    except TinkerError as exc:
        report.problem, report.problem_kind = str(exc), exc.kind
        if raise_errors:
            raise
    finally:
        report.seconds = round(time.monotonic() - start, 3)
    return report


def estimate_for(config: PreflightConfig) -> Any:
    """Token count and cost of a run; exact when a local tokenizer for the model exists."""
    from character.tinker.data import detect_kind
    from character.tinker.pricing import count_tokens, estimate_cost
    from character.tinker.tokenizer import try_load_tokenizer

    assert config.dataset_path is not None and config.base_model is not None
    kind = config.kind or detect_kind(config.dataset_path)
    tok = try_load_tokenizer(config.base_model, config.tokenizer_dir)
    tokens = count_tokens(config.dataset_path, kind, tokenizer=tok)
    return estimate_cost(
        tokens,
        model=config.base_model,
        kind=kind,
        epochs=config.epochs,
        batch_size=config.batch_size,
        max_steps=config.max_steps,
    )
