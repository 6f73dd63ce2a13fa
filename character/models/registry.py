"""Resolve a model reference to a backend, and list what is available.

References:
- `smollm2-135m` (also `embedded`, `default`, `HuggingFaceTB/SmolLM2-135M-Instruct`): the
  embedded default;
- a local folder: a transformers model, or a PEFT adapter folder (its base is resolved too);
- the name of an adapter under the checkpoints folder or a run folder's `adapter/`;
- `demo:<persona>`: the ready-trained demo persona in the model cache (`make demo-persona`);
- `local:<path>`; `openai:<model>` for any OpenAI-compatible endpoint; `tinker:<model>` or a
  `tinker://` checkpoint path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from character.backends.base import BackendError, GenerationBackend
from character.models.embedded import (
    EMBEDDED_ALIASES,
    embedded_cache_dir,
    ensure_embedded_model,
)
from character.models.loading import adapter_base, is_adapter_dir, is_model_dir
from character.settings import EMBEDDED_MODEL, get_settings

Kind = Literal["local", "openai", "tinker"]
log = logging.getLogger(__name__)


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
    if low.startswith("demo:"):
        from character.demo_persona import DemoPersonaError, demo_adapter_for_ref

        try:
            adapter = demo_adapter_for_ref(ref)
        except DemoPersonaError as exc:
            raise UnknownModelError(str(exc)) from None
        return ModelSpec(ref=ref, kind="local", name=ref, adapter=adapter)
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


Engine = Literal["llamacpp", "hf"]


@dataclass(frozen=True)
class EngineChoice:
    """Which engine serves a model interactively, the GGUF it would use, and why."""

    engine: Engine
    gguf: Path | None
    reason: str


def model_gguf(spec: ModelSpec) -> Path | None:
    """The GGUF of a local model without an adapter: the embedded model's own, a `*.gguf` in
    a merged model's folder, or the newest `character export` GGUF whose manifest names that
    folder as its source (exports put `merged/` and `gguf/` side by side)."""
    if spec.kind != "local" or spec.adapter is not None:
        return None
    if spec.path is None:
        from character.models.embedded import EmbeddedModelMissing, embedded_gguf_path

        try:
            return embedded_gguf_path()
        except EmbeddedModelMissing:
            return None
    inside = sorted(spec.path.glob("*.gguf"))
    if inside:
        return inside[0]
    from character.export.manifest import ExportManifest

    found: list[tuple[float, Path]] = []
    for manifest in spec.path.parent.glob("gguf*/manifest.json"):
        try:
            m = ExportManifest.model_validate_json(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        target = manifest.parent / "model.gguf"
        source = Path(m.source_model)
        if m.kind == "gguf" and target.is_file() and source.resolve() == spec.path.resolve():
            found.append((m.created_at, target))
    return max(found)[1] if found else None


def interactive_engine(spec: ModelSpec, setting: str | None = None) -> EngineChoice:
    """Pick the engine for single-stream chat from CHARACTER_INTERACTIVE_ENGINE.

    `auto`: llama.cpp when llama-cpp-python is installed and the model has a GGUF, else
    transformers. `llamacpp`: the same, but a missing llama-cpp-python is an error instead of a
    quiet fallback. `hf`: always transformers. Adapters stay on transformers (llama.cpp would
    need the adapter converted to a LoRA GGUF; export the merged model to use llama.cpp)."""
    from character.backends.llamacpp_backend import llamacpp_available

    setting = setting or get_settings().interactive_engine
    if setting not in ("auto", "llamacpp", "hf"):
        raise ValueError(
            f"CHARACTER_INTERACTIVE_ENGINE must be auto, llamacpp or hf, not {setting!r}"
        )
    if setting == "hf":
        return EngineChoice("hf", None, "CHARACTER_INTERACTIVE_ENGINE=hf")
    if not llamacpp_available():
        if setting == "llamacpp":
            raise BackendError(
                "CHARACTER_INTERACTIVE_ENGINE=llamacpp but llama-cpp-python is not installed; "
                "run `make llamacpp` or set it to auto or hf"
            )
        return EngineChoice("hf", None, "llama-cpp-python is not installed")
    if spec.adapter is not None:
        return EngineChoice("hf", None, "adapters are served by transformers")
    gguf = model_gguf(spec)
    if gguf is None:
        return EngineChoice("hf", None, f"{spec.name} has no GGUF (character export gguf)")
    return EngineChoice("llamacpp", gguf, f"GGUF {gguf}")


def get_interactive_backend(ref: str) -> GenerationBackend:
    """A cached backend for one conversation at a time (chat, arena, side-by-side): llama.cpp
    where `interactive_engine` allows it, the same backend as `get_backend` otherwise."""
    spec = resolve(ref)
    if spec.kind != "local":
        return get_backend(ref)
    choice = interactive_engine(spec)
    if choice.engine == "hf" or choice.gguf is None:
        log.info("interactive %s on transformers: %s", ref, choice.reason)
        return get_backend(ref)
    key = f"llamacpp:{choice.gguf}"
    if key not in _CACHE:
        from character.backends.llamacpp_backend import LlamaCppBackend

        _CACHE[key] = LlamaCppBackend(spec.ref, choice.gguf)
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
    from character.demo_persona import list_demo_personas

    for demo in list_demo_personas():
        rows.append(
            {
                "ref": demo.ref,
                "kind": "local",
                "description": f"{demo.label} (made {demo.manifest.made_at[:10]}, "
                f"{demo.manifest.recipe})",
            }
        )
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
