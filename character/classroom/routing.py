"""Where a class's job runs: this computer's shared queue, or Tinker when a key is set.

Thirty students training at once do not fit on one laptop. When the instructor sets
`TINKER_API_KEY`, a student's DPO training on a pairs file (`distill.train`) goes to Tinker as
a `tinker.train` job on the same file, with the sizes the student chose where Tinker has the
same knob; everything else (pair generation, the smoke test, the whole recipe, which starts
by generating here) stays in the local queue. The decision and its reason are returned so the
studio can say plainly where a run went.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel

from character.jobs.models import JobSpec
from character.tinker.launcher import KeyStatus, key_status, tinker_job_spec

DEFAULT_TINKER_BASE = "Qwen/Qwen3-8B"
TO_TINKER = "distill.train"
SHARED_KNOBS = ("batch_size", "lora_rank", "max_steps", "max_length", "beta")
"""`distill.train` fields Tinker's trainer has under the same name and meaning."""


class JobRoute(BaseModel):
    where: Literal["local", "tinker"]
    spec: JobSpec
    reason: str


def _tinker_spec(spec: JobSpec, base_model: str) -> JobSpec:
    config = spec.config
    overrides: dict[str, Any] = {k: config[k] for k in SHARED_KNOBS if config.get(k) is not None}
    if config.get("epochs") is not None:
        overrides["epochs"] = max(1, math.ceil(float(config["epochs"])))  # Tinker: whole passes
    name = f"{spec.display_name} (Tinker)" if spec.display_name else None
    return tinker_job_spec(
        config["dataset_path"], base_model, "demo", display_name=name, **overrides
    )


def route_class_job(
    spec: JobSpec | dict[str, Any],
    *,
    key: KeyStatus | None = None,
    tinker_base_model: str = DEFAULT_TINKER_BASE,
) -> JobRoute:
    """The job to submit for a class member and where it will run (see the module doc)."""
    spec = spec if isinstance(spec, JobSpec) else JobSpec.model_validate(spec)
    key = key or key_status()
    if spec.kind == "tinker.train":
        return JobRoute(where="tinker", spec=spec, reason="A Tinker run goes to Tinker.")
    if not key.set:
        return JobRoute(
            where="local",
            spec=spec,
            reason="Runs on this computer, in the class's shared queue (no Tinker key is set).",
        )
    if not key.well_formed:
        return JobRoute(where="local", spec=spec, reason=f"Runs on this computer: {key.message}")
    if spec.kind != TO_TINKER or not spec.config.get("dataset_path"):
        return JobRoute(
            where="local",
            spec=spec,
            reason="Runs on this computer: only training on a pairs file goes to Tinker.",
        )
    return JobRoute(
        where="tinker",
        spec=_tinker_spec(spec, tinker_base_model),
        reason=f"Goes to Tinker (a key is set): DPO training of {tinker_base_model} on your "
        "pairs file, so the class's queue here stays free.",
    )
