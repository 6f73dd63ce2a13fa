"""Serve a persona behind an OpenAI-compatible API on localhost with `transformers serve`.

An adapter is merged first (cached by the adapter's content hash) so the served model answers in
persona with no system prompt and any client — Open WebUI, the `openai` SDK — can talk to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from character.export.manifest import hash_folder
from character.settings import get_settings


class ServeError(RuntimeError):
    """The server could not be started or stopped; the message says why and what to do."""


class ServeConfig(BaseModel):
    model: str = Field(default="smollm2-135m", description="Model or adapter reference.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, description="TCP port 1-65535; 0 picks a free one.")
    startup_timeout_s: float = Field(default=300.0, gt=0, description="Wait for the server.")

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, v: int) -> int:
        if not 0 <= v <= 65535:
            raise ValueError(f"port {v} is out of range: use 1-65535, or 0 to pick a free port")
        return v


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


def check_loopback(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(
            "character serve listens on loopback only; use a reverse proxy to expose it"
        )


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def pick_free_port(host: str) -> int:
    """A port nothing listens on now (the OS picks it), for `--port 0`."""
    with socket.socket(_family(host)) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another program listens on, before minutes of loading: the server would
    otherwise fail late, or a client would talk to the other program."""
    with socket.socket(_family(host)) as s:
        # Like the server itself: sockets of a closed server (TIME_WAIT) do not block a bind.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ServeError(
                f"port {port} on {host} is already in use ({exc.strerror}); stop what uses it, "
                "choose another with --port, or pass --port 0 to pick a free one"
            ) from exc


def wait_until_healthy(
    url: str, timeout_s: float, proc: subprocess.Popen, log_path: Path | None = None
) -> None:
    """Until `GET <url>/health` answers 200: a listening socket alone is not a server that
    answers (and could be another program)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = ""
            if log_path is not None and log_path.exists():
                lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                tail = "\n" + "\n".join(lines[-15:])
            raise ServeError(f"the server exited early with code {proc.returncode}{tail}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise ServeError(f"the server did not answer at {url} within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the server's whole process group, SIGKILL what is left after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; members of its group may still be winding down
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class _StopSignal(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT end the wait (as `_StopSignal`) so the caller stops the
    server: a detached server outliving its command would hold the port and the memory."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    raised = False

    def handler(signum: int, _frame: object) -> None:
        nonlocal raised
        if not raised:  # a second signal must not cut the stopping short
            raised = True
            raise _StopSignal(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(
    config: ServeConfig,
    *,
    on_ready: Callable[[str, Path], None] | None = None,
    log_path: Path | None = None,
) -> int:
    """Serve until the server exits or this process gets SIGTERM/SIGHUP/SIGINT, then stop the
    server's whole process group. `on_ready(url, folder)` is called once the server answers.
    Returns 0 after a requested stop, else the server's exit code."""
    check_loopback(config.host)
    proc: subprocess.Popen | None = None
    with _stop_on_signals():
        try:
            if config.port == 0:
                config = config.model_copy(update={"port": pick_free_port(config.host)})
            check_port_free(config.host, config.port)
            folder = servable_folder(config.model)
            proc = start_server(config, log_path=log_path, folder=folder)
            host = f"[{config.host}]" if ":" in config.host else config.host
            url = f"http://{host}:{config.port}"
            wait_until_healthy(url, config.startup_timeout_s, proc, log_path)
            if on_ready is not None:
                on_ready(f"{url}/v1", folder)
            return proc.wait()
        except _StopSignal:
            return 0
        finally:
            if proc is not None:
                stop_server(proc)


def start_server(
    config: ServeConfig, log_path: Path | None = None, folder: Path | None = None
) -> subprocess.Popen:
    """Start `transformers serve` in its own process group; returns the process (the caller
    stops it with `stop_server`)."""
    check_loopback(config.host)
    if config.port == 0:
        raise ValueError("start_server needs a real port; serve() picks one for port 0")
    folder = folder or servable_folder(config.model)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
        return subprocess.Popen(
            serve_command(folder, config.host, config.port),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
