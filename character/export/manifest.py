"""Export manifests: what was exported, from which adapter and base, with file hashes."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from character.io import atomic_write_json


class ExportManifest(BaseModel):
    kind: str  # merged | gguf | adapter | modelfile
    source_model: str
    adapter: str | None = None
    base_model: str | None = None
    created_at: float = Field(default_factory=time.time)
    files: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256
    check: dict[str, Any] = Field(default_factory=dict)  # e.g. max logit difference
    lineage: dict[str, Any] = Field(default_factory=dict)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def write_manifest(folder: Path, manifest: ExportManifest) -> Path:
    manifest.files = hash_folder(folder)
    path = folder / "manifest.json"
    atomic_write_json(path, manifest.model_dump(mode="json"))
    return path


def versioned_dir(target: Path, *, overwrite: bool = False) -> Path:
    """Never clobber an earlier export: `out`, then `out-v2`, `out-v3`, ... unless overwrite."""
    if overwrite or not target.exists():
        return target
    n = 2
    while (candidate := target.with_name(f"{target.name}-v{n}")).exists():
        n += 1
    return candidate
