"""`demo.count`: a job that needs no model. It counts to N, one pause per step, and saves rows
every `save_interval` steps, so it exercises everything a real generation job does (progress,
appends with fsync, stop-and-save, resume from the last written row) in seconds. The studio
offers it as a smoke test of the job runner."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from character.io import append_jsonl, iter_jsonl
from character.progress import as_progress

if TYPE_CHECKING:
    from character.jobs.registry import JobContext


class CountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(default=20, ge=1, le=10_000_000, description="Count to this number.")
    sleep_s: float = Field(default=0.1, ge=0.0, le=3600.0, description="Pause per step.")
    save_interval: int = Field(default=5, ge=1, description="Rows buffered before each save.")
    output: str = Field(
        default="counts.jsonl", pattern=r"^[A-Za-z0-9_.-]+$", description="File in the run folder."
    )
    fail_at: int | None = Field(
        default=None, ge=0, description="Raise an error at this step (to see a failing job)."
    )
    helpers: int = Field(
        default=0,
        ge=0,
        le=8,
        description="Idle helper processes to start (like data-loader workers): cancel must "
        "kill them too, since they share the job's process group.",
    )


def _rows_done(path: Any) -> int:
    """The next number to write: one past the last row that reached the disk intact."""
    last = -1
    if path.exists():
        for _, row in iter_jsonl(path, skip_bad=True):
            if isinstance(row.get("i"), int):
                last = max(last, row["i"])
    return last + 1


def count(config: CountConfig, ctx: JobContext) -> dict[str, Any]:
    helpers = [
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL
        )
        for _ in range(config.helpers)
    ]
    try:
        return _count(config, ctx)
    finally:
        for proc in helpers:
            proc.kill()
            proc.wait()


def _count(config: CountConfig, ctx: JobContext) -> dict[str, Any]:
    out = ctx.run_dir / config.output
    start = _rows_done(out) if ctx.resume else 0
    if not ctx.resume and out.exists():
        out.unlink()
    progress = as_progress(ctx.reporter)
    progress.start_stage("count", total=config.n)
    if start:
        progress.log(f"resuming after row {start - 1}")
        progress.advance(start, config.n)
    buffer: list[dict[str, Any]] = []
    written = start
    stopped = False
    for i in range(start, config.n):
        if config.fail_at is not None and i == config.fail_at:
            append_jsonl(out, buffer)
            raise RuntimeError(f"demo.count was asked to fail at step {i}")
        time.sleep(config.sleep_s)
        buffer.append({"i": i, "square": i * i, "time": time.time()})
        last = i + 1 == config.n
        if len(buffer) >= config.save_interval or last or ctx.stop_requested():
            append_jsonl(out, buffer)
            written = i + 1
            buffer = []
            progress.metrics(step=written, rows=written, value=i)
        progress.advance(i + 1, config.n, value=i)
        if ctx.stop_requested() and not last:
            progress.log(f"stop requested: saved {written} rows, stopping")
            stopped = True
            break
    return {
        "rows": written,
        "stopped": stopped,
        "artifacts": [{"path": str(out), "type": "dataset", "name": "counts"}],
    }
