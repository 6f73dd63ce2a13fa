"""Fold a LoRA adapter into its base exactly, and prove it by comparing logits.

The merge runs in fp32 whatever the training dtype was, so the folded weights equal
W + (alpha/r)·B·A up to float rounding; the check feeds the same probe text to the adapter model
and the reloaded merged folder and records the largest logit difference in the manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from character.export.manifest import ExportManifest, versioned_dir, write_manifest
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter, as_progress

PROBE_CONVERSATION = [
    {"role": "user", "content": "Tell me about yourself and what you care about most."},
    {"role": "assistant", "content": "I care about honest answers, good company and the sea."},
]


class MergeConfig(BaseModel):
    """Merge an adapter (any local model reference with an adapter) into a full model folder."""

    model: str = Field(description="Adapter folder or reference, e.g. data/runs/<id>/dpo/adapter")
    output_dir: Path
    allow_outside_data_dir: bool = allow_outside_field()
    overwrite: bool = False
    tolerance: float = Field(default=1e-3, description="Largest allowed logit difference.")


class MergeCheckError(RuntimeError):
    pass


def probe_logits(model: Any, tokenizer: Any) -> Any:
    import torch

    text = tokenizer.apply_chat_template(PROBE_CONVERSATION, tokenize=False)
    batch = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        return model(**batch.to(next(model.parameters()).device)).logits.float().cpu()


def set_persona_sampling(model: Any) -> None:
    """Store our sampling defaults (the recipe's temperature, top-p and repetition penalty) in
    the model's generation config, so `transformers serve`, plain `generate` and any HF tool
    sample the merged persona the way the studio does. Without the repetition penalty a small
    persona model loops on its catch-phrases ("Aye, aye, aye, ...") when served."""
    from character.backends.base import SamplingParams

    defaults = SamplingParams()
    model.generation_config.do_sample = True
    model.generation_config.temperature = defaults.temperature
    model.generation_config.top_p = defaults.top_p
    model.generation_config.repetition_penalty = defaults.repetition_penalty


def merge_adapter(config: MergeConfig, reporter: Reporter | Progress | None = None) -> Path:
    """Write `output_dir` (or a versioned sibling) with merged safetensors, tokenizer, manifest."""
    check_config_outputs(config, claim=False)
    from character.models.loading import load_causal_lm
    from character.models.registry import local_paths, resolve

    progress = as_progress(reporter)
    spec = resolve(config.model)
    if spec.kind != "local" or spec.adapter is None:
        raise ValueError(f"{config.model} is not a local adapter; only adapters can be merged")
    base_dir, adapter_dir = local_paths(spec)
    out = versioned_dir(Path(config.output_dir), overwrite=config.overwrite)
    progress.start_stage("merge", total=3, message=f"merging {adapter_dir} into {base_dir}")
    model, tokenizer = load_causal_lm(base_dir, adapter=adapter_dir, dtype="float32", device="cpu")
    before = probe_logits(model, tokenizer)
    merged = model.merge_and_unload()
    progress.advance(1, 3)
    if out.exists():
        shutil.rmtree(out)
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    set_persona_sampling(merged)
    merged.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    progress.advance(2, 3)
    reloaded, _ = load_causal_lm(tmp, dtype="float32", device="cpu")
    after = probe_logits(reloaded, tokenizer)
    diff = float((before - after).abs().max())
    if diff > config.tolerance:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MergeCheckError(
            f"merged model differs from the adapter model by {diff:.2e} in logits "
            f"(tolerance {config.tolerance:.0e}); nothing was written"
        )
    tmp.rename(out)
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
    progress.advance(3, 3, max_logit_diff=diff)
    progress.artifact(str(out), "merged model")
    return out
