"""Export a LoRA adapter as a standalone merged model: the verified merge of
`character.models.merge` (fp32, logits compared, nothing saved on a mismatch) into a versioned
folder, with our sampling defaults and an export manifest that records the check.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from character.export.manifest import ExportManifest, versioned_dir, write_manifest
from character.models.merge import (  # noqa: F401 - re-exported for old imports
    MergeCheckError,
    merge_adapter_exact,
    probe_logits,
    set_persona_sampling,
)
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress


class MergeConfig(BaseModel):
    """Merge an adapter (any local model reference with an adapter) into a full model folder."""

    model: str = Field(description="Adapter folder or reference, e.g. data/runs/<id>/dpo/adapter")
    output_dir: Path
    allow_outside_data_dir: bool = allow_outside_field()
    overwrite: bool = False
    tolerance: float = Field(default=1e-3, description="Largest allowed logit difference.")


def merge_adapter(config: MergeConfig, reporter: Reporter | Progress | None = None) -> Path:
    """Write `output_dir` (or a versioned sibling) with merged safetensors, tokenizer, manifest."""
    check_config_outputs(config, claim=False)
    from character.models.registry import local_paths, resolve

    progress = as_progress(reporter)
    spec = resolve(config.model)
    if spec.kind != "local" or spec.adapter is None:
        raise ValueError(f"{config.model} is not a local adapter; only adapters can be merged")
    base_dir, adapter_dir = local_paths(spec)
    out = versioned_dir(Path(config.output_dir), overwrite=config.overwrite)
    progress.start_stage("merge", total=2, message=f"merging {adapter_dir} into {base_dir}")
    result = merge_adapter_exact(
        base_dir,
        adapter_dir,
        out,
        tolerance=config.tolerance,
        reuse=False,
        persona_sampling=True,
    )
    diff = result.max_abs_logit_diff
    progress.advance(1, 2)
    write_manifest(
        out,
        ExportManifest(
            kind="merged",
            source_model=config.model,
            adapter=str(adapter_dir),
            base_model=str(base_dir),
            check={"max_logit_diff": diff, "tolerance": config.tolerance},
        ),
    )
    progress.advance(2, 2, max_logit_diff=diff)
    progress.artifact(str(out), "merged model")
    return out
