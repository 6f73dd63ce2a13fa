"""A ready-trained demo persona in the model cache, so an instructor can show chat and the
arena before any student's training has finished.

`bench/demo_persona.py` runs the demo recipe once and calls `install_demo_persona(run_dir)`,
which copies the run's final (SFT) adapter, and the merged DPO model it was trained on, into
`<model cache>/demo-personas/<persona>/` with a `manifest.json`. It lives in the cache, next to
the converted embedded model, because it is a machine-local artefact: never committed, kept when
`data/` is cleared, and the same for every class on this machine. Model references
`demo:<persona>` resolve to it (`character.models.registry.resolve`).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from character.io import atomic_write_json, atomic_write_text
from character.output_paths import check_name
from character.settings import get_settings

DEMO_PREFIX = "demo:"
MANIFEST = "manifest.json"
ADAPTER = "adapter"
BASE = "base"
MAKE_COMMAND = "make demo-persona"
# Trainer leftovers that a chat, arena or export never needs (and the output-claim marker,
# which only means something inside the data folder).
_SKIP = ("checkpoint-", "training_args.bin", ".open-character.json")


class DemoPersonaError(ValueError):
    """A run that cannot become the demo persona, or a demo persona that is not installed."""


class DemoPersonaManifest(BaseModel):
    """`manifest.json` of an installed demo persona: what it is and how it was made."""

    model_config = ConfigDict(extra="forbid")

    persona: str
    title: str = Field(description="How pickers name it, e.g. 'Pirate'.")
    base_model: str = Field(description="The model the recipe started from.")
    made_at: str = Field(description="UTC time of the install, ISO 8601.")
    made_by: str = Field(description="The command that made it.")
    recipe: str = Field(description="Recipe and scale, e.g. 'character pipeline --scale demo'.")
    run_id: str
    constitution_hash: str | None = None
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    quick_eval: dict[str, Any] = Field(
        default_factory=dict, description="The run's quick-evaluation headline (may be empty)."
    )
    stacked_on_merged_dpo: bool = Field(
        description="The adapter was trained on the merged DPO model, copied to base/."
    )


@dataclass(frozen=True)
class DemoPersona:
    """An installed demo persona: its folder and manifest."""

    folder: Path
    manifest: DemoPersonaManifest

    @property
    def name(self) -> str:
        return self.manifest.persona

    @property
    def ref(self) -> str:
        return f"{DEMO_PREFIX}{self.name}"

    @property
    def label(self) -> str:
        return f"ready-trained demo: {self.manifest.title}"

    @property
    def adapter_dir(self) -> Path:
        return self.folder / ADAPTER


def demo_personas_root() -> Path:
    return get_settings().demo_personas


def demo_persona_path(name: str) -> Path:
    """Where the demo persona `name` is (or would be) installed."""
    return demo_personas_root() / check_name(name, "demo persona")


def is_demo_ref(ref: str | None) -> bool:
    return bool(ref) and str(ref).strip().lower().startswith(DEMO_PREFIX)


def _load(folder: Path) -> DemoPersona | None:
    """The install in `folder`, or None when it is missing, half-copied or moved."""
    try:
        manifest = DemoPersonaManifest.model_validate_json(
            (folder / MANIFEST).read_text(encoding="utf-8")
        )
        adapter_cfg = json.loads((folder / ADAPTER / "adapter_config.json").read_text("utf-8"))
    except (OSError, ValueError, ValidationError):
        return None
    base = adapter_cfg.get("base_model_name_or_path")
    if manifest.stacked_on_merged_dpo and (not base or not (Path(base) / "config.json").exists()):
        return None  # the cache folder was moved: its recorded base path is gone
    return DemoPersona(folder=folder, manifest=manifest)


def find_demo_persona(name: str) -> DemoPersona | None:
    """The installed demo persona `name`, or None (run `make demo-persona` to make one)."""
    return _load(demo_persona_path(name))


def list_demo_personas() -> list[DemoPersona]:
    root = demo_personas_root()
    if not root.is_dir():
        return []
    found = (_load(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return [d for d in found if d is not None]


def demo_adapter_for_ref(ref: str) -> Path:
    """The adapter folder of `demo:<name>`; a clear error says how to make a missing one."""
    name = ref.strip().split(":", 1)[1]
    demo = find_demo_persona(name)
    if demo is None:
        installed = ", ".join(d.ref for d in list_demo_personas()) or "none"
        raise DemoPersonaError(
            f"{ref!r}: no ready-trained demo persona {name!r} in {demo_personas_root()} "
            f"(installed: {installed}). Make it with `{MAKE_COMMAND}` "
            f"(python bench/demo_persona.py --persona {name})."
        )
    return demo.adapter_dir


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(
        src,
        dst,
        ignore=lambda _d, names: [n for n in names if n.startswith(_SKIP)],
        copy_function=shutil.copy2,
    )


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise DemoPersonaError(f"{run_dir} is not a recipe run folder: no summary.json") from None
    except ValueError as exc:
        raise DemoPersonaError(f"{path} is not valid JSON: {exc}") from None


def install_demo_persona(
    run_dir: Path | str, *, made_by: str = "bench/demo_persona.py"
) -> DemoPersona:
    """Copy a finished recipe run's final adapter into the cache as its persona's demo.

    Nothing outside `demo_personas_root()` is written and the run folder is left as it was.
    The copy is made in a hidden folder next to the target and renamed into place, so a crash
    leaves the previous demo (or none), never a half-copied one."""
    from character.models.loading import adapter_base, is_adapter_dir

    run_dir = Path(run_dir).resolve()
    summary = _summary(run_dir)
    sft = summary.get("stages", {}).get("sft", {})
    if not str(sft.get("status", "")).startswith("done") or not sft.get("adapter"):
        raise DemoPersonaError(
            f"{run_dir}: the SFT stage has not finished (status: {sft.get('status', 'not run')}); "
            "a demo persona needs the recipe's final adapter"
        )
    adapter = Path(sft["adapter"])
    if not is_adapter_dir(adapter):
        raise DemoPersonaError(f"{adapter}: the run's final adapter folder has no adapter_config")
    persona = check_name(str(summary.get("persona") or ""), "persona in summary.json")
    base = adapter_base(adapter)
    # The recipe's SFT adapter sits on the run's merged DPO model: copy that too, or the demo
    # would break the day the run folder is deleted.
    stacked = (
        base is not None
        and (Path(base) / "config.json").exists()
        and (Path(base).resolve() == run_dir or run_dir in Path(base).resolve().parents)
    )

    target = demo_persona_path(persona)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".installing-{persona}-{os.getpid()}"
    old = target.parent / f".replaced-{persona}-{os.getpid()}"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        _copy_tree(adapter, staging / ADAPTER)
        if stacked:
            _copy_tree(Path(str(base)), staging / BASE)
            final_base = str(target / BASE)
            cfg_path = staging / ADAPTER / "adapter_config.json"
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg["base_model_name_or_path"] = final_base
            atomic_write_text(cfg_path, json.dumps(cfg, indent=2) + "\n")
            meta_path = staging / ADAPTER / "character_adapter.json"
            if meta_path.exists():
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                meta["base_model"] = final_base
                atomic_write_json(meta_path, meta)
        eval_stage = summary.get("stages", {}).get("eval", {})
        quick_eval = {
            k: v
            for k, v in eval_stage.items()
            if k not in ("stage", "status", "seconds", "path", "warnings")
        }
        manifest = DemoPersonaManifest(
            persona=persona,
            title=persona.replace("-", " ").replace("_", " ").title(),
            base_model=str(summary.get("student_model") or "?"),
            made_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            made_by=made_by,
            recipe=f"character pipeline --scale {summary.get('scale', '?')}",
            run_id=str(summary.get("run_id") or run_dir.name),
            constitution_hash=summary.get("constitution_hash"),
            stage_seconds={
                k: float(v["seconds"])
                for k, v in summary.get("stages", {}).items()
                if isinstance(v, dict) and "seconds" in v
            },
            quick_eval=quick_eval,
            stacked_on_merged_dpo=stacked,
        )
        atomic_write_json(staging / MANIFEST, manifest.model_dump(mode="json"))
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(staging, target)
        except OSError:
            if old.exists() and not target.exists():
                os.replace(old, target)  # keep the previous demo rather than none
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    installed = _load(target)
    if installed is None:  # pragma: no cover - only if the copy was changed underneath us
        raise DemoPersonaError(f"{target}: the installed demo persona does not load")
    return installed
