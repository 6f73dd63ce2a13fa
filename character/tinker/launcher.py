"""What the training launcher needs before a Tinker run: key state, base models, cost, job spec.

Why here and not in the studio: the page only shows these results, so the CLI, scripts and
tests get the same answers. Nothing in here returns or logs the key itself; the key state is
reported as booleans and a sentence that names the variable to set. The cost estimate works
offline (local tokenizer + the editable price table), so a user without a key still sees what a
run would cost before signing up.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from character.jobs.models import JobSpec
from character.presets import PRESETS, Scale, ScalePreset
from character.settings import get_settings

KEY_VAR = "TINKER_API_KEY"
URL_VAR = "TINKER_BASE_URL"
Preset = Scale


def _tinker_knobs(p: ScalePreset) -> dict[str, Any]:
    """The recipe's DPO sizes at a preset as Tinker knobs; Tinker keeps its own longer context
    (its models are bigger than the embedded one) and saves less often."""
    knobs: dict[str, Any] = {
        "epochs": int(p.dpo_epochs) if float(p.dpo_epochs).is_integer() else p.dpo_epochs,
        "batch_size": p.dpo_batch,
        "lora_rank": p.dpo_rank,
        "learning_rate": p.dpo_lr,
        "save_every": 3 if p.dpo_steps else 20,  # a short demo still shows a checkpoint
        "max_length": max(p.dpo_max_length, 1024),
    }
    if p.dpo_steps is not None:
        knobs["max_steps"] = p.dpo_steps
    return knobs


TINKER_PRESETS: dict[str, dict[str, Any]] = {name: _tinker_knobs(p) for name, p in PRESETS.items()}
"""Knob values per preset; every name is a `TinkerTrainingConfig` field."""


class KeyStatus(BaseModel):
    """Whether a Tinker key is usable, in words; never contains the key."""

    set: bool
    well_formed: bool
    variable: str = KEY_VAR
    message: str
    fingerprint: str | None = Field(
        default=None, description="A short hash, so caches notice a changed key; not the key."
    )


def key_status() -> KeyStatus:
    """Is TINKER_API_KEY set (environment or .env) and shaped like a Tinker key?"""
    from character.tinker.errors import TinkerKeyError
    from character.tinker.preflight import check_key_format

    key = get_settings().tinker_key()
    if not key or not key.strip():
        return KeyStatus(
            set=False,
            well_formed=False,
            message=f"No Tinker key: set {KEY_VAR} in the environment or in the .env file "
            "next to the app, then reload this page.",
        )
    try:
        check_key_format(key)
    except TinkerKeyError as exc:
        return KeyStatus(set=True, well_formed=False, message=f"{exc} Fix {KEY_VAR}.")
    fp = hashlib.sha256(key.encode()).hexdigest()[:8]
    return KeyStatus(set=True, well_formed=True, message=f"{KEY_VAR} is set.", fingerprint=fp)


class BaseModelChoices(BaseModel):
    """Models to offer in the base-model picker and where the list came from."""

    models: list[str]
    source: Literal["service", "price table"]
    problem: str | None = None
    base_url: str


def base_model_choices(timeout_s: float = 5.0) -> BaseModelChoices:
    """Trainable models from the service's capabilities when it is reachable with the key,
    else the models named in the price table (so the page still works offline)."""
    from character.tinker.preflight import PreflightConfig, resolve_base_url, run_preflight
    from character.tinker.pricing import load_price_table

    url = resolve_base_url()
    key = key_status()
    problem: str | None = None
    if key.well_formed:
        report = run_preflight(PreflightConfig(timeout_s=timeout_s), raise_errors=False)
        trainable = [m.model_name for m in report.models if m.trainable is not False]
        if report.ok and trainable:
            return BaseModelChoices(models=trainable, source="service", base_url=url)
        problem = report.problem or "The service offers no trainable model."
    else:
        problem = key.message
    table = load_price_table()
    return BaseModelChoices(
        models=list(table.models), source="price table", problem=problem, base_url=url
    )


class LaunchCheck(BaseModel):
    """Everything the launcher shows before the Launch button; `can_launch` gates it."""

    key: KeyStatus
    kind: Literal["sft", "dpo"] | None = None
    estimate: dict[str, Any] | None = None
    estimate_problem: str | None = None
    preflight: dict[str, Any] | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def can_launch(self) -> bool:
        return self.key.well_formed and not self.problems


def launch_check(
    dataset_path: Path | str | None,
    base_model: str,
    *,
    epochs: int = 1,
    batch_size: int = 8,
    max_steps: int | None = None,
    timeout_s: float = 5.0,
    with_service: bool = True,
) -> LaunchCheck:
    """Cost estimate (offline) plus, with a key, the service checks (reachable, model trainable).

    A failure never raises: it lands in `problems` (blocking) or `estimate_problem`.
    """
    from character.tinker.data import detect_kind
    from character.tinker.preflight import PreflightConfig, estimate_for, run_preflight
    from character.tinker.train import normalize_base_model

    key = key_status()
    check = LaunchCheck(key=key)
    model = normalize_base_model(base_model)
    if not key.well_formed:
        check.problems.append(key.message)
    if dataset_path is None:
        check.problems.append("Pick a data file (DPO pairs or SFT conversations).")
    else:
        try:
            check.kind = detect_kind(dataset_path)
            cfg = PreflightConfig(
                base_model=model,
                dataset_path=Path(dataset_path),
                epochs=epochs,
                batch_size=batch_size,
                max_steps=max_steps,
            )
            check.estimate = estimate_for(cfg).model_dump(mode="json")
        except Exception as exc:  # noqa: BLE001 - shown as a sentence, e.g. a bad data line
            check.estimate_problem = str(exc)
            check.problems.append(f"The data file cannot be used: {exc}")
    if key.well_formed and with_service:
        report = run_preflight(
            PreflightConfig(base_model=model, need="train", timeout_s=timeout_s),
            raise_errors=False,
        )
        check.preflight = report.model_dump(mode="json", exclude={"models"})
        if not report.ok:
            check.problems.append(report.problem or "Tinker preflight failed.")
    return check


def tinker_job_spec(
    dataset_path: Path | str,
    base_model: str,
    preset: Preset = "demo",
    *,
    display_name: str | None = None,
    download_adapter: bool = True,
    **overrides: Any,
) -> JobSpec:
    """The `tinker.train` job the launcher submits (and `character jobs submit` re-runs)."""
    from character.tinker.train import normalize_base_model

    config: dict[str, Any] = dict(TINKER_PRESETS[preset])
    config.update({k: v for k, v in overrides.items() if v is not None})
    config.update(
        dataset_path=str(dataset_path),
        base_model=normalize_base_model(base_model),
        download_adapter=download_adapter,
    )
    name = display_name or f"tinker {Path(str(dataset_path)).stem} {preset}"
    return JobSpec(kind="tinker.train", config=config, display_name=name)


def training_files(root: Path | None = None) -> list[tuple[Path, Literal["sft", "dpo"]]]:
    """JSONL files under the data folder that Tinker can train on, newest first, with the
    training kind their first row implies (files of other shapes are left out)."""
    from character.tinker.data import detect_kind

    root = root or get_settings().data_path
    if not root.exists():
        return []
    found: list[tuple[Path, Literal["sft", "dpo"]]] = []
    files = sorted(root.rglob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        if path.relative_to(root).parts[0] == "runs":
            continue  # run folders hold metrics and checkpoints, not training data
        try:
            found.append((path, detect_kind(path)))
        except Exception:  # noqa: BLE001 - not a training file
            continue
    return found
