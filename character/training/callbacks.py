"""A Trainer callback that turns HF logs into our metrics.jsonl rows and progress events, turns
a stop request into "finish this step, save a checkpoint, return", and stops training with
`NonFiniteTrainingError` at the first NaN or infinite loss or gradient norm."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from character.io import append_jsonl
from character.progress import Progress, Reporter, as_progress
from character.training_guards import check_finite_logs


class MetricsCallback(TrainerCallback):
    """Appends every log row (with `tokens_per_s` from TRL's running `num_tokens`) to
    `<out>/metrics.jsonl`, reports progress, and polls `stop_requested` after each step."""

    def __init__(
        self,
        output_dir: Path | str,
        reporter: Reporter | Progress | None = None,
        stop_requested: Callable[[], bool] | None = None,
        stage: str = "train",
    ) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.progress = as_progress(reporter)
        self.stop_requested = stop_requested
        self.stage = stage
        self.stopped = False
        self._last_time: float | None = None
        self._last_tokens: float | None = None
        self._last_step = 0
        self.last_row: dict[str, Any] = {}

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self.progress.start_stage(self.stage, total=state.max_steps)
        self._last_time = time.time()
        self._last_step = state.global_step
        return control

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if self.stop_requested is not None and self.stop_requested():
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        logs = dict(logs or {})
        if "train_runtime" in logs:  # the end-of-training summary, not a step
            self.progress.metrics(**{"step": state.global_step, **_clean(logs)})
            return control
        now = time.time()
        row: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch, "time": now}
        row.update(_clean(logs))
        tokens = logs.get("num_tokens")
        if tokens is not None and self._last_time is not None:
            dt = max(now - self._last_time, 1e-9)
            # TRL's counter restarts at 0 in a new process, so a resumed run starts from 0 too.
            prev = self._last_tokens if self._last_tokens is not None else 0.0
            row["tokens_per_s"] = round((float(tokens) - prev) / dt, 2)
            row["step_time_s"] = round(dt / max(state.global_step - self._last_step, 1), 4)
            self._last_tokens = float(tokens)
        self._last_time = now
        self._last_step = state.global_step
        append_jsonl(self.path, [row], fsync=False)
        self.last_row = row
        # after the row is written (it shows the bad step), before anything is saved
        check_finite_logs(logs, state.global_step, args.learning_rate)
        shown = {
            k: row[k]
            for k in ("loss", "rewards/margins", "rewards/accuracies", "tokens_per_s")
            if row.get(k) is not None
        }
        self.progress.advance(state.global_step, state.max_steps, **shown)
        self.progress.metrics(**_clean(row))
        return control


def _clean(logs: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe numbers: NaN/inf become None so every reader can parse the row."""
    out: dict[str, Any] = {}
    for k, v in logs.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None
        elif isinstance(v, (int, float, str)) or v is None:
            out[k] = v
    return out
