"""Serve a persona behind an OpenAI-compatible API on localhost with `transformers serve`.

An adapter is merged first (cached by the adapter's content hash) so the served model answers in
persona with no system prompt and any client — Open WebUI, the `openai` SDK — can talk to it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from character.export.manifest import hash_folder
from character.settings import get_settings


class ServeConfig(BaseModel):
    model: str = Field(default="smollm2-135m", description="Model or adapter reference.")
    host: str = "127.0.0.1"
    port: int = 8000


def servable_folder(model_ref: str) -> Path:
    """A full model folder for the reference: the base itself, or a cached merge of the adapter."""
    from character.export.merge import MergeConfig, merge_adapter
    from character.models.registry import local_paths, resolve

    spec = resolve(model_ref)
    if spec.kind != "local":
        raise ValueError(f"{model_ref} is not a local model; only local models can be served")
    base, adapter = local_paths(spec)
    if adapter is None:
        return base
    files = hash_folder(adapter)
    # The salt changes when what a merge writes changes (v2: persona sampling defaults).
    digest = hashlib.sha256(
        ("v2;" + "".join(f"{k}={v};" for k, v in sorted(files.items()))).encode()
    ).hexdigest()[:12]
    target = (
        get_settings().model_cache / "merged" / f"{adapter.parent.name}-{adapter.name}-{digest}"
    )
    if (target / "manifest.json").exists():
        return target
    return merge_adapter(MergeConfig(model=model_ref, output_dir=target, overwrite=True))


def serve_command(folder: Path, host: str, port: int) -> list[str]:
    exe = Path(sys.executable).with_name("transformers")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "transformers.cli.transformers"]
    return [*base, "serve", str(folder), "--host", host, "--port", str(port), "--device", "cpu"]


def wait_until_listening(host: str, port: int, timeout_s: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited early with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"the server did not listen on {host}:{port} within {timeout_s:.0f} s")


def start_server(config: ServeConfig, log_path: Path | None = None) -> subprocess.Popen:
    """Start `transformers serve` detached in its own process group; returns the process."""
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(
            "character serve listens on loopback only; use a reverse proxy to expose it"
        )
    folder = servable_folder(config.model)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        serve_command(folder, config.host, config.port),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
