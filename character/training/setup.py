"""Hardware-aware trainer settings, model loading for training, checkpoints and run files."""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from character.hardware import detect
from character.io import atomic_write_json


def precision_kwargs() -> dict[str, Any]:
    """`bf16`/`fp16`/`use_cpu` for TrainingArguments, always explicit: TRL's bf16=True default
    made a CPU step 14x slower, so CPUs train in fp32."""
    hw = detect()
    if hw.cuda:
        return {"bf16": hw.bf16, "fp16": not hw.bf16, "use_cpu": False}
    return {"bf16": False, "fp16": False, "use_cpu": hw.device == "cpu"}


def use_gradient_checkpointing(model: Any, requested: bool | None = None) -> bool:
    """Checkpointing trades compute for memory; only worth it for big models on a GPU."""
    if requested is not None:
        return requested
    n_params = sum(p.numel() for p in model.parameters())
    return detect().cuda and n_params > 1_000_000_000


def load_model_for_training(
    model_ref: str, *, load_in_4bit: bool = False
) -> tuple[Any, Any, str, Path | None]:
    """`(model, tokenizer, base_path, adapter_path)` for any local reference: the embedded
    model, a model folder, or a PEFT adapter (loaded trainable, so training continues it and
    the untouched copy serves as reference). Remote models cannot be trained here."""
    from character.models.loading import load_causal_lm
    from character.models.registry import local_paths, resolve

    spec = resolve(model_ref)
    if spec.kind != "local":
        raise ValueError(
            f"{model_ref!r} is a {spec.kind} model; local training needs a local model or "
            "adapter (use `character tinker train` for Tinker models)."
        )
    base, adapter = local_paths(spec)
    if load_in_4bit and not detect().cuda:
        raise RuntimeError("QLoRA (4-bit) needs a CUDA GPU; turn load_in_4bit off on this machine")
    model, tok = load_causal_lm(
        base, adapter=adapter, dtype="auto", load_in_4bit=load_in_4bit, trainable_adapter=True
    )
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.train()
    model.config.use_cache = False
    return model, tok, str(base), adapter


def last_checkpoint(output_dir: Path | str) -> Path | None:
    """The newest complete `checkpoint-N` folder (one with trainer state), or None."""
    root = Path(output_dir)
    if not root.exists():
        return None
    found = []
    for p in root.glob("checkpoint-*"):
        suffix = p.name.split("-", 1)[1]
        if p.is_dir() and suffix.isdigit() and (p / "trainer_state.json").exists():
            found.append((int(suffix), p))
    return max(found)[1] if found else None


@contextmanager
def run_output_dir(output_dir: Path | str) -> Iterator[Path]:
    """Create a training output folder; if the run fails and this call created the folder,
    remove it again unless it holds a resumable `checkpoint-N`. A failed `--save-name` run (a
    model reference that does not resolve, bad data) used to leave an empty or half-written
    folder under checkpoints/ that looked like a trained adapter's."""
    from character.output_paths import MARKER

    out = Path(output_dir)
    # A folder holding nothing but our own claim marker was made by this run's output check
    # a moment ago, so it counts as created here too.
    created = not out.exists() or {p.name for p in out.iterdir()} == {MARKER}
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        if created and last_checkpoint(out) is None:
            shutil.rmtree(out, ignore_errors=True)
        raise


def check_checkpoint_base(checkpoint: Path, base_path: str) -> None:
    """Refuse to resume a checkpoint trained on another base model (clear error, not a shape
    mismatch deep inside PEFT)."""
    from character.models.loading import AdapterMismatchError, adapter_base

    recorded = adapter_base(checkpoint)
    if recorded and Path(recorded).resolve() != Path(base_path).resolve():
        raise AdapterMismatchError(
            f"Checkpoint {checkpoint} was trained on base {recorded}, not {base_path}. Use "
            "another output folder or the same base model."
        )


def finalize_adapter(trainer: Any, tokenizer: Any, output_dir: Path | str, base: str) -> Path:
    """Save the trained adapter as a standard PEFT folder with our base-architecture record."""
    from character.models.loading import write_adapter_meta
    from character.training_guards import check_finite_parameters

    out = Path(output_dir)
    model = trainer.model
    check_finite_parameters(model)  # a diverged adapter is an error, never "Adapter saved"
    adapters = getattr(model, "peft_config", {})
    if len(adapters) > 1 and "default" in adapters:
        # Continuing an adapter adds a frozen "ref" copy (TRL); save only the trained one.
        model.save_pretrained(str(out), selected_adapters=["default"])
    else:
        trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    base_model = model.get_base_model() if hasattr(model, "get_base_model") else model
    write_adapter_meta(out, base_model, base)
    return out


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "accelerate"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def write_run_files(output_dir: Path | str, config: Any, provenance: dict[str, Any]) -> None:
    """`training_config.json` (the typed config) and `provenance.json` (data, models, library
    versions, hardware, result) so every adapter says where it came from."""
    out = Path(output_dir)
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else dict(config)
    atomic_write_json(out / "training_config.json", data)
    hw = detect()
    prov = {
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
        "hardware": {"device": hw.device, "bf16": hw.bf16, "cpus": hw.cpu_count},
        **provenance,
    }
    atomic_write_json(out / "provenance.json", json.loads(json.dumps(prov, default=str)))
