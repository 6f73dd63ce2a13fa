"""Finished and running Tinker jobs as the studio sees them: metrics, checkpoints, adapter.

Why: the Runs page, the arena's model list and the adapter download all read the same run
folder (`<run>/output/` of a `tinker.train` job: metrics.jsonl, checkpoints.jsonl,
tinker_run.json, tinker_status.json, adapter/). Reading it once, here, keeps the pages thin and
gives scripts the same view.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from character.io import iter_jsonl
from character.tinker.train import CheckpointRecord, read_checkpoints

JOB_KIND = "tinker.train"
METRIC_KEYS = ("loss", "dpo_loss", "accuracy", "margin", "nll", "kl", "lr")
"""Per-step Tinker metrics worth a chart, in display order (whichever the run recorded)."""


class TinkerRunInfo(BaseModel):
    run_id: str
    display_name: str
    state: str
    output_dir: str
    base_model: str | None = None
    kind: str | None = None
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    checkpoints: list[CheckpointRecord] = Field(default_factory=list)
    sampler_path: str | None = None
    external_path: str | None = None
    adapter_dir: str | None = Field(
        default=None, description="A local PEFT folder with the trained adapter, once home."
    )
    failure: dict[str, Any] | None = Field(
        default=None, description="tinker_status.json after an error (kind, resumable)."
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_output_dir(run_id: str) -> Path:
    """Where a tinker.train job writes: its config's output_dir, else `<run>/output`."""
    from character.jobs import get_spec, run_dir

    out = get_spec(run_id).config.get("output_dir")
    return Path(out) if out else run_dir(run_id) / "output"


def is_tinker_run(run_id: str) -> bool:
    from character.jobs import get_run

    try:
        return get_run(run_id).kind == JOB_KIND
    except Exception:  # noqa: BLE001 - a deleted or torn run is simply not one
        return False


def adapter_home(out: Path) -> Path | None:
    folder = out / "adapter"
    return folder if (folder / "adapter_config.json").exists() else None


def tinker_run_info(run_id: str) -> TinkerRunInfo:
    """Everything about one tinker.train run that its folder records (cheap; no network)."""
    from character.jobs import get_run

    status = get_run(run_id)
    if status.kind != JOB_KIND:
        raise ValueError(f"run {run_id} is a {status.kind} run, not a Tinker run")
    out = run_output_dir(run_id)
    cfg = _read_json(out / "config.json") or {}
    result = _read_json(out / "tinker_run.json") or {}
    metrics_path = out / "metrics.jsonl"
    metrics = (
        [row for _, row in iter_jsonl(metrics_path, skip_bad=True)] if metrics_path.exists() else []
    )
    ckpts = read_checkpoints(out)
    samplers = [c for c in ckpts if c.sampler_path]
    sampler = result.get("sampler_path") or (
        max(samplers, key=lambda c: c.step).sampler_path if samplers else None
    )
    adapter = adapter_home(out)
    return TinkerRunInfo(
        run_id=run_id,
        display_name=status.display_name,
        state=status.state.value,
        output_dir=str(out),
        base_model=cfg.get("base_model"),
        kind=cfg.get("kind"),
        metrics=metrics,
        checkpoints=ckpts,
        sampler_path=sampler,
        external_path=result.get("external_path"),
        adapter_dir=str(adapter) if adapter else None,
        failure=_read_json(out / "tinker_status.json")
        if status.state.value != "succeeded"
        else None,
    )


class TrainedCheckpoint(BaseModel):
    """A `tinker://` sampler checkpoint a user can pick as a model (arena, chat, evaluation)."""

    run_id: str
    display_name: str
    name: str
    step: int
    sampler_path: str
    base_model: str | None = None

    @property
    def label(self) -> str:
        return f"Tinker · {self.display_name} · {self.name} (step {self.step})"


def trained_checkpoints(*, finished_only: bool = True, limit: int = 50) -> list[TrainedCheckpoint]:
    """Sampler checkpoints of Tinker runs, newest run first, final checkpoint first per run.

    `finished_only` keeps succeeded runs only (their final weights), which is what a user
    compares in the arena; intermediate ones are listed after the final one.
    """
    from character.jobs import list_runs

    found: list[TrainedCheckpoint] = []
    for status in list_runs(kind=JOB_KIND, limit=limit):
        if finished_only and status.state.value != "succeeded":
            continue
        try:
            out = run_output_dir(status.run_id)
        except Exception:  # noqa: BLE001 - a torn run folder is skipped
            continue
        cfg = _read_json(out / "config.json") or {}
        ckpts = [c for c in read_checkpoints(out) if c.sampler_path]
        ckpts.sort(key=lambda c: (c.name != "final", -c.step))
        for c in ckpts:
            found.append(
                TrainedCheckpoint(
                    run_id=status.run_id,
                    display_name=status.display_name,
                    name=c.name,
                    step=c.step,
                    sampler_path=str(c.sampler_path),
                    base_model=cfg.get("base_model"),
                )
            )
    return found


def fetch_run_adapter(run_id: str, *, overwrite: bool = False, timeout_s: float = 120.0) -> Path:
    """Download the run's exported adapter into `<output>/adapter` as a PEFT folder.

    Already home and not `overwrite`: returns the folder without touching the network. The
    folder sits inside the run, so the Models page and every model picker list it as a local
    adapter (merge, export and serve work on it like on a locally trained one).
    """
    from character.tinker.errors import TinkerCheckpointError
    from character.tinker.weights import download_adapter

    info = tinker_run_info(run_id)
    out = Path(info.output_dir)
    home = adapter_home(out)
    if home is not None and not overwrite:
        return home
    if not info.external_path:
        raise TinkerCheckpointError(
            f"Run {run_id} has no exported adapter (it has not finished, or ran with "
            "export_weights off).",
            hint="Finish or resume the run; the adapter is exported at the end.",
        )
    return download_adapter(
        info.external_path, out / "adapter", timeout_s=timeout_s, overwrite=True
    )


def zip_folder(folder: Path | str) -> bytes:
    """The folder as zip bytes (files at the archive root), for a browser download.

    Stored, not deflated: safetensors barely compress and zipping must not keep a page busy.
    """
    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()
