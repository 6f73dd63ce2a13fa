"""One export action (the `export` job kind): any mix of merged weights, GGUF and adapter package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from character.export.gguf_export import GgufConfig, write_gguf
from character.export.merge import MergeConfig, merge_adapter
from character.output_paths import allow_outside_field, check_config_outputs
from character.progress import Progress, Reporter


class ExportConfig(BaseModel):
    """Export an adapter: `merged` (safetensors), `gguf` (+ Modelfile), or `adapter` (package)."""

    model: str = Field(description="Adapter folder or reference.")
    formats: list[str] = Field(default_factory=lambda: ["merged", "gguf"])
    gguf_dtype: str = "f16"
    output_dir: Path | None = None
    allow_outside_data_dir: bool = allow_outside_field()


def export_adapter_package(adapter: Path, out: Path) -> Path:
    """Copy a PEFT adapter folder (only its own files) with a manifest: the smallest export."""
    import shutil

    from character.export.manifest import ExportManifest, versioned_dir, write_manifest

    out = versioned_dir(out)
    out.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "character_adapter.json"):
        if (adapter / name).exists():
            shutil.copy2(adapter / name, out / name)
    write_manifest(
        out, ExportManifest(kind="adapter", source_model=str(adapter), adapter=str(adapter))
    )
    return out


def run_export(config: ExportConfig, reporter: Reporter | Progress | None = None) -> dict[str, Any]:
    """Write each requested format under `output_dir` (each versioned, each with a manifest)."""
    check_config_outputs(config)
    from character.models.registry import local_paths, resolve
    from character.settings import get_settings

    root = config.output_dir or get_settings().data_path / "exports" / Path(config.model).name
    artifacts: list[dict[str, str]] = []
    merged: Path | None = None
    unknown = set(config.formats) - {"merged", "gguf", "adapter"}
    if unknown:
        raise ValueError(f"unknown export formats {sorted(unknown)}; use merged, gguf or adapter")
    if "adapter" in config.formats:
        _, adapter = local_paths(resolve(config.model))
        if adapter is None:
            raise ValueError(f"{config.model} is not an adapter")
        path = export_adapter_package(adapter, root / "adapter")
        artifacts.append({"path": str(path), "type": "export"})
    if "merged" in config.formats or "gguf" in config.formats:
        merged = merge_adapter(
            MergeConfig(
                model=config.model,
                output_dir=root / "merged",
                allow_outside_data_dir=config.allow_outside_data_dir,
            ),
            reporter,
        )
        artifacts.append({"path": str(merged), "type": "export"})
    if "gguf" in config.formats and merged is not None:
        gguf = write_gguf(
            GgufConfig(
                model_dir=merged,
                output_dir=root / "gguf",
                dtype=config.gguf_dtype,  # type: ignore[arg-type]
                allow_outside_data_dir=config.allow_outside_data_dir,
            ),
            reporter,
        )
        artifacts.append({"path": str(gguf.parent), "type": "export"})
    return {"artifacts": artifacts}
