"""The one verified merge: fold a LoRA adapter into its base exactly, and prove it.

The recipe merges the DPO adapter so SFT can stack a new adapter on top; export merges a
finished adapter into a standalone model. Both use `merge_adapter_exact`: the merge runs in fp32
with PEFT's `merge_and_unload` (W + s·B·A per layer, no cross terms, unlike the reference code's
`add_weighted_adapter(linear)`), and is verified: logits of the saved merged folder must match
the adapter model's on probe texts within a tolerance, or nothing is saved. A lineage file
records what was merged into what.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from character.io import atomic_write_json
from character.models.loading import AdapterMismatchError, adapter_base, check_adapter_matches

LINEAGE_FILE = "character_lineage.json"

PROBE_TEXTS = [
    "Tell me about the sea and the stars.",
    "How do I bake bread? Give me three steps.",
]


class MergeError(RuntimeError):
    """The merged weights do not reproduce the adapter model."""


MergeCheckError = MergeError
"""The name export used for the same failure."""


@dataclass
class MergeResult:
    path: Path
    max_abs_logit_diff: float
    reused: bool
    lineage: dict[str, Any]


def adapter_fingerprint(adapter_dir: Path) -> str:
    """Hash of the adapter's weights and config, so a cached merge is reused only if unchanged."""
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
        p = adapter_dir / name
        if p.exists():
            h.update(name.encode())
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def check_adapter_fits(adapter_dir: Path | str, model: Any, base_label: str = "") -> None:
    """Compare every LoRA matrix in the adapter with the module it targets, before PEFT gives a
    bare shape error: a missing module or a wrong size means another base model."""
    adapter_dir = Path(adapter_dir)
    check_adapter_matches(adapter_dir, model)
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.exists():
        return
    from safetensors import safe_open

    modules = dict(model.named_modules())
    recorded = adapter_base(adapter_dir) or "an unknown base"
    problems: list[str] = []
    with safe_open(str(weights), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 - safe_open is not a dict
            if ".lora_A." not in key and ".lora_B." not in key:
                continue
            is_a = ".lora_A." in key
            name = key.split(".lora_A." if is_a else ".lora_B.")[0]
            for prefix in ("base_model.model.", "base_model."):
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    break
            module = modules.get(name)
            if module is None:
                problems.append(f"module {name} does not exist")
            else:
                shape = fh.get_slice(key).get_shape()
                want = getattr(module, "in_features" if is_a else "out_features", None)
                got = shape[1] if is_a else shape[0]
                if want is not None and got != want:
                    problems.append(f"{name}: adapter expects {got} features, model has {want}")
            if len(problems) >= 3:
                break
    if problems:
        raise AdapterMismatchError(
            f"Adapter {adapter_dir} was trained on {recorded}, not on {base_label or 'this model'}: "
            + "; ".join(problems)
            + ". Use the base model the adapter was trained on."
        )


def probe_logits(model: Any, tokenizer: Any) -> Any:
    """Logits (fp32, on the CPU) of every real token of the probe conversations: two models
    that give the same probe logits are the same model for any practical purpose."""
    import torch

    convs = [[{"role": "user", "content": t}] for t in PROBE_TEXTS]
    texts = [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in convs
    ]
    tokenizer.padding_side = "right"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = model(**batch.to(device)).logits.float().cpu()
    mask = batch["attention_mask"].bool().cpu()
    return logits[mask]


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


def merge_adapter_exact(
    base_dir: Path | str,
    adapter_dir: Path | str,
    out_dir: Path | str,
    *,
    tolerance: float = 1e-3,
    reuse: bool = True,
    persona_sampling: bool = False,
) -> MergeResult:
    """Merge `adapter_dir` into `base_dir` in fp32 and save to `out_dir` (atomically; an
    existing `out_dir` is replaced only once the new merge has passed the check).

    With `reuse`, an existing merge of the same adapter into the same base is returned as is.
    `persona_sampling` stores our sampling defaults in the saved generation config (for a
    model that is served as the persona). Raises `AdapterMismatchError` for an adapter of
    another base, `MergeError` if the saved folder's logits differ by more than `tolerance`.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base_dir, adapter_dir, out_dir = Path(base_dir), Path(adapter_dir), Path(out_dir)
    fingerprint = adapter_fingerprint(adapter_dir)
    lineage_path = out_dir / LINEAGE_FILE
    if reuse and lineage_path.exists():
        old = json.loads(lineage_path.read_text(encoding="utf-8"))
        if old.get("adapter_fingerprint") == fingerprint and old.get("base_model") == str(base_dir):
            return MergeResult(out_dir, float(old.get("max_abs_logit_diff", 0.0)), True, old)

    from peft import PeftModel

    from character.models.loading import load_causal_lm

    base, tokenizer = load_causal_lm(base_dir, dtype="float32", device="cpu")
    check_adapter_fits(adapter_dir, base, base_label=str(base_dir))
    peft_model = PeftModel.from_pretrained(base, str(adapter_dir))
    peft_model.eval()
    reference = probe_logits(peft_model, tokenizer)
    merged = peft_model.merge_and_unload()
    merged.eval()
    if persona_sampling:
        set_persona_sampling(merged)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        reloaded, _ = load_causal_lm(tmp, dtype="float32", device="cpu")
        reloaded.eval()
        diff = float((probe_logits(reloaded, tokenizer) - reference).abs().max())
        if diff > tolerance:
            raise MergeError(
                f"merged model differs from {adapter_dir} by {diff:.3g} in logits "
                f"(tolerance {tolerance}); not saved"
            )
        lineage = {
            "kind": "merged",
            "base_model": str(base_dir),
            "adapter": str(adapter_dir),
            "adapter_base": adapter_base(adapter_dir),
            "adapter_fingerprint": fingerprint,
            "method": "peft merge_and_unload, fp32",
            "max_abs_logit_diff": diff,
            "tolerance": tolerance,
        }
        atomic_write_json(tmp / LINEAGE_FILE, lineage)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return MergeResult(out_dir, diff, False, lineage)
