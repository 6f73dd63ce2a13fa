"""Resolve a model reference to a backend, and list what is available.

References:
- `smollm2-135m` (also `embedded`, `default`, `HuggingFaceTB/SmolLM2-135M-Instruct`): the
  embedded default;
- a local folder: a transformers model, or a PEFT adapter folder (its base is resolved too);
- the name of an adapter under the checkpoints folder or a run folder's `adapter/`;
- `local:<path>`; `openai:<model>` for any OpenAI-compatible endpoint; `tinker:<model>` or a
  `tinker://` checkpoint path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from character.backends.base import GenerationBackend
from character.models.embedded import (
    EMBEDDED_ALIASES,
    embedded_cache_dir,
    ensure_embedded_model,
)
from character.models.loading import adapter_base, is_adapter_dir, is_model_dir
from character.settings import EMBEDDED_MODEL, get_settings

Kind = Literal["local", "openai", "tinker"]


class UnknownModelError(ValueError):
    pass


@dataclass
class ModelSpec:
    """A resolved reference: enough to build a backend without loading anything."""

    ref: str
    kind: Kind
    name: str
    path: Path | None = None  # base model folder (local)
    adapter: Path | None = None  # PEFT adapter folder (local)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.adapter:
            return f"{self.name} (adapter)"
        return self.name


def _resolve_base(base: str | None, adapter_dir: Path) -> Path:
    if base is None:
        raise UnknownModelError(f"{adapter_dir}: adapter_config.json names no base model")
    if base in EMBEDDED_ALIASES or Path(base) == embedded_cache_dir():
        return ensure_embedded_model()
    if is_model_dir(base):
        return Path(base)
    if is_adapter_dir(base):
        # Stacked adapters (SFT trained on a merged DPO model) record the merged folder.
        raise UnknownModelError(f"{adapter_dir}: base {base} is itself an adapter; merge it first")
    raise UnknownModelError(
        f"{adapter_dir}: its base model {base!r} is not available locally. Put the base model "
        "folder on disk and reference it by path."
    )


def known_adapters() -> dict[str, Path]:
    """Adapters by name: the checkpoints folder and every run folder's adapter outputs."""
    s = get_settings()
    found: dict[str, Path] = {}
    roots = [s.checkpoints, s.data_path / "runs"]
    for root in roots:
        if not root.exists():
            continue
        for cfg in sorted(root.rglob("adapter_config.json")):
            folder = cfg.parent
            if "checkpoint-" in folder.name:
                continue
            rel = folder.relative_to(root)
            name = str(rel).replace("/adapter", "").replace("\\adapter", "")
            found.setdefault(name, folder)
    return found


def _checkpoints_relative(path: Path) -> Path | None:
    """`checkpoints/NAME` (the seed README's form) or `data/checkpoints/NAME` that does not exist
    relative to the working folder, mapped into the configured checkpoints folder."""
    parts = path.parts
    if path.is_absolute() or "checkpoints" not in parts:
        return None
    rest = parts[len(parts) - parts[::-1].index("checkpoints") :]
    if not rest:
        return None
    return get_settings().checkpoints.joinpath(*rest)


def resolve(ref: str) -> ModelSpec:
    """Turn a reference into a `ModelSpec`; unknown references list the known ones."""
    ref = (ref or "").strip()
    if not ref:
        ref = EMBEDDED_MODEL
    low = ref.lower()
    if low in EMBEDDED_ALIASES:
        return ModelSpec(ref=ref, kind="local", name=EMBEDDED_MODEL, path=None)
    if low.startswith("openai:"):
        return ModelSpec(ref=ref, kind="openai", name=ref.split(":", 1)[1])
    if low.startswith("tinker://"):
        return ModelSpec(ref=ref, kind="tinker", name=ref)
    if low.startswith("tinker:"):
        return ModelSpec(ref=ref, kind="tinker", name=ref.split(":", 1)[1])
    ref_path = ref.split(":", 1)[1] if low.startswith("local:") else ref
    path = Path(ref_path).expanduser()
    if path.exists():
        if is_adapter_dir(path):
            return ModelSpec(ref=ref, kind="local", name=path.name, adapter=path)
        if is_model_dir(path):
            return ModelSpec(ref=ref, kind="local", name=path.name, path=path)
        if (path / "adapter").exists() and is_adapter_dir(path / "adapter"):
            return ModelSpec(ref=ref, kind="local", name=path.name, adapter=path / "adapter")
        raise UnknownModelError(
            f"{path} is neither a model folder (config.json) nor a PEFT adapter"
        )
    under = _checkpoints_relative(path)
    if under is not None:
        if under.exists():
            return resolve(str(under))
        raise UnknownModelError(
            f"{ref!r}: no folder {path} here, and no {under} in the checkpoints folder "
            f"(CHARACTER_CHECKPOINT_DIR). Trained adapters: "
            + (", ".join(sorted(known_adapters())) or "(none yet)")
        )
    adapters = known_adapters()
    if ref in adapters:
        return ModelSpec(ref=ref, kind="local", name=ref, adapter=adapters[ref])
    known = ", ".join([EMBEDDED_MODEL, *sorted(adapters)][:30])
    raise UnknownModelError(
        f"Unknown model {ref!r}. Known models: {known}. You can also pass a local folder, "
        "'openai:<model>' or 'tinker:<model>'."
    )


def local_paths(spec: ModelSpec) -> tuple[Path, Path | None]:
    """The base model folder and adapter folder of a local spec, converting the embedded model
    on first use."""
    if spec.adapter is not None:
        return _resolve_base(adapter_base(spec.adapter), spec.adapter), spec.adapter
    if spec.path is None:
        return ensure_embedded_model(), None
    return spec.path, None


def build_backend(ref: str | ModelSpec, **kwargs: object) -> GenerationBackend:
    """A fresh backend for a reference (not cached; see `get_backend` for the cached one)."""
    spec = ref if isinstance(ref, ModelSpec) else resolve(ref)
    if spec.kind == "local":
        from character.backends.local import LocalBackend

        base, adapter = local_paths(spec)
        return LocalBackend(spec.ref, base, adapter=adapter, **kwargs)  # type: ignore[arg-type]
    if spec.kind == "openai":
        from character.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(spec.name, **kwargs)  # type: ignore[arg-type]
    from character.backends.tinker_backend import TinkerBackend

    return TinkerBackend(spec.name, **kwargs)  # type: ignore[arg-type]


_CACHE: dict[str, GenerationBackend] = {}


def get_backend(ref: str) -> GenerationBackend:
    """A process-wide cached backend, so a model is loaded once per process."""
    spec = resolve(ref)
    key = f"{spec.kind}:{spec.path}:{spec.adapter}:{spec.name}"
    if key not in _CACHE:
        _CACHE[key] = build_backend(spec)
    return _CACHE[key]


def clear_backend_cache() -> None:
    for backend in _CACHE.values():
        backend.close()
    _CACHE.clear()


def list_models() -> list[dict[str, str]]:
    """Everything a user can pick: the embedded model, local adapters, configured endpoints."""
    s = get_settings()
    rows = [
        {
            "ref": EMBEDDED_MODEL,
            "kind": "local",
            "description": "SmolLM2-135M-Instruct, embedded (runs offline on a CPU)",
        }
    ]
    for name, path in known_adapters().items():
        base = adapter_base(path) or "?"
        meta = path / "character_adapter.json"
        if meta.exists():
            base = json.loads(meta.read_text(encoding="utf-8")).get("base_model", base)
        rows.append({"ref": str(path), "kind": "local", "description": f"adapter {name} on {base}"})
    if s.openai_url() or s.openai_key():
        rows.append(
            {
                "ref": f"openai:{s.llm_model if s.llm_model != EMBEDDED_MODEL else '<model>'}",
                "kind": "openai",
                "description": f"OpenAI-compatible endpoint {s.openai_url() or 'api.openai.com'}",
            }
        )
    if s.tinker_key():
        rows.append({"ref": "tinker:<model>", "kind": "tinker", "description": "Tinker service"})
    return rows


SMALL_MODEL_PARAMS = 500_000_000
"""Local models below this size get the compact persona prompt under `auto`."""


def _estimated_params(model_dir: Path) -> int | None:
    """Parameter count from config.json alone (no weights loaded): embeddings plus ~12·d² per
    layer, close enough to tell a 135M model from a 7B one."""
    try:
        cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        d, layers = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
        return layers * 12 * d * d + int(cfg.get("vocab_size", 0)) * d
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prefers_compact_prompt(
    model_ref: str | None, style: str = "auto", *, has_examples: bool = True
) -> bool:
    """Whether a teacher gets the compact (voice-only) system prompt. `auto` picks it for small
    local models (the embedded 135M one, its adapters and merged descendants) when the
    constitution has example exchanges, and the full prompt otherwise. Measured on the
    embedded model, pirate, 16 everyday prompts: replies in voice 19% full, 6% compact, 38%
    full + one example, 69% compact + one example."""
    if style not in ("auto", "full", "compact"):
        raise ValueError(f"prompt style must be auto, full or compact, not {style!r}")
    if style != "auto":
        return style == "compact"
    if not has_examples:
        return False
    try:
        spec = resolve(model_ref or "")
    except Exception:  # noqa: BLE001 - an unknown model is reported where it is loaded
        return False
    if spec.kind != "local":
        return False
    if spec.path is None:
        return True  # the embedded model
    n = _estimated_params(spec.path)
    return n is not None and n < SMALL_MODEL_PARAMS
