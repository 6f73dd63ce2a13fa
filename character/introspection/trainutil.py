"""Training conventions for the SFT stage: dtype from the hardware, LoRA targets that must all
match, a metrics callback writing `metrics.jsonl`, cooperative stop, and checkpoint discovery.

Kept local to introspection until the shared `character.training` package lands; the rules are
the same as the DPO stage's (no bf16 on CPUs without it, no gradient checkpointing for tiny
models, every LoRA target checked against the real module names).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from character.io import append_jsonl
from character.progress import Progress

StopFn = Callable[[], bool]


def precision_flags() -> dict[str, bool]:
    """`bf16`/`fp16` for TrainingArguments from the hardware (TRL defaults to bf16)."""
    from character.hardware import detect

    hw = detect()
    return {"bf16": bool(hw.cuda and hw.bf16), "fp16": bool(hw.cuda and not hw.bf16)}


def linear_target_modules(model: Any) -> list[str]:
    """Leaf names of every linear layer except the output head (and any vision tower)."""
    import torch

    names: set[str] = set()
    for full, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if any(part in full for part in ("lm_head", "vision", "visual", "multi_modal")):
            continue
        names.add(full.rsplit(".", 1)[-1])
    if not names:
        raise ValueError("the model has no linear layers to adapt")
    return sorted(names)


def check_targets_matched(model: Any, targets: list[str]) -> None:
    """Fail loudly if a requested LoRA target matches no module (the recipe's Gemma defect)."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in leaves]
    if missing:
        raise ValueError(
            f"LoRA target modules {missing} do not exist in this model; its linear layers are "
            f"{linear_target_modules(model)}"
        )


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete `checkpoint-N` folder (one with trainer state), if any."""
    if not folder.exists():
        return None
    found = []
    for p in folder.glob("checkpoint-*"):
        suffix = p.name.split("-", 1)[-1]
        if suffix.isdigit() and (p / "trainer_state.json").exists():
            found.append((int(suffix), p))
    return max(found)[1] if found else None


def make_metrics_callback(
    metrics_path: Path, progress: Progress, stop_requested: StopFn | None = None
):  # noqa: ANN201 - transformers is imported lazily
    """A TrainerCallback that appends each logged row to `metrics.jsonl` (with tokens/s),
    emits progress events, and stops (after a checkpoint) when `stop_requested()` is true."""
    from transformers import TrainerCallback

    class _Metrics(TrainerCallback):
        def __init__(self) -> None:
            self._t = time.perf_counter()
            self._tokens = 0

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            self._t = time.perf_counter()
            self._tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            progress.advance(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
            if not logs:
                return
            now = time.perf_counter()
            seen = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            row: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
            row.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
            if seen and now > self._t:
                row["tokens_per_s"] = (seen - self._tokens) / (now - self._t)
            self._t, self._tokens = now, seen
            append_jsonl(metrics_path, [row])
            shown = {k: row[k] for k in ("loss", "learning_rate", "tokens_per_s") if k in row}
            progress.advance(state.global_step, state.max_steps, **shown)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if stop_requested is not None and stop_requested():
                control.should_save = True
                control.should_training_stop = True
            return control

    return _Metrics()
