"""Provenance of a run: enough to tell later exactly what produced an artifact."""

from __future__ import annotations

import contextlib
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from character.settings import REPO_ROOT

PACKAGES = (
    "open-character-studio",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "tinker",
    "sentence-transformers",
    "pydantic",
)


def package_versions() -> dict[str, str | None]:
    """Versions from package metadata, so torch is never imported just to be named."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_sha() -> str | None:
    with contextlib.suppress(Exception):
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=3,
            stdin=subprocess.DEVNULL,
        )
        if res.returncode == 0:
            sha = res.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=3,
                stdin=subprocess.DEVNULL,
            )
            return sha + ("-dirty" if dirty.stdout.strip() else "")
    return None


def _walk(config: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(config, dict):
        out = []
        for k, v in config.items():
            out.extend(_walk(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return [(prefix, config)]


def constitution_info(config: dict[str, Any]) -> dict[str, Any] | None:
    ref = None
    for key in ("constitution", "persona", "constitution_path", "character"):
        if isinstance(config.get(key), str) and config[key]:
            ref = config[key]
            break
    if ref is None:
        return None
    info: dict[str, Any] = {"ref": ref}
    try:
        from character.constitution import resolve_constitution

        c = resolve_constitution(ref)
        info.update(name=c.name, hash=c.content_hash())
    except Exception as exc:  # provenance must never stop a run
        info["error"] = str(exc).splitlines()[0]
    return info


def build_provenance(kind: str, config: dict[str, Any], run_id: str) -> dict[str, Any]:
    flat = _walk(config)
    models = {k: v for k, v in flat if "model" in k.lower() and isinstance(v, str)}
    seeds = {k: v for k, v in flat if "seed" in k.lower()}
    return {
        "run_id": run_id,
        "kind": kind,
        "created_at": time.time(),
        "constitution": constitution_info(config),
        "models": models,
        "seeds": seeds,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_sha": git_sha(),
    }
