"""`character serve` as a user runs it: a real CLI process, a real `transformers serve` on
loopback (the tiny random model), real signals. It must say "Serving" only once the server
answers, refuse a taken or impossible port clearly, and take its server down when it is told
to stop (SIGTERM from a process manager, SIGHUP from a closed terminal)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.unit


def _cli(args: list[str], tmp_path: Path, **kwargs: object) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "character.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("port", ["-1", "70000", "65536"])
def test_impossible_port_is_refused_clearly(port: str, tmp_path: Path) -> None:
    proc = _cli(["--port", port], tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"port {port} is out of range: use 1-65535, or 0 to pick a free port" in err
    assert "Traceback" not in err and "OverflowError" not in err and "Serving" not in out


def test_taken_port_is_refused_before_loading_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _cli(["no-such-model-is-loaded", "--port", str(port)], tmp_path)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port 0" in err
    assert "Serving" not in out and "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_port_zero_serves_then_a_signal_stops_the_server(
    sig: signal.Signals, tiny_model_dir: Path, tmp_path: Path
) -> None:
    proc = _cli([str(tiny_model_dir), "--port", "0"], tmp_path)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    server_pids: list[int] = []
    try:
        assert ready.wait(240), (lines, proc.poll(), proc.stderr and proc.stderr.read())
        match = re.search(r"at (http://127\.0\.0\.1:(\d+))/v1", lines[0])
        assert match, lines
        url, port = match.group(1), int(match.group(2))
        assert port != 0
        assert _answers(url)  # "Serving" is printed only once the server answers
        server_pids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert server_pids
        proc.send_signal(sig)  # to the CLI alone, as a process manager or a terminal does
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr and proc.stderr.read()
        reader.join(timeout=10)
        assert any("Server stopped." in line for line in lines)
        assert not _listening(port)
        left = [p for p in server_pids if psutil.pid_exists(p) and not _zombie(p)]
        assert left == []
    finally:
        for pid in [proc.pid, *server_pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def test_library_port_checks() -> None:
    from character.export.serve import ServeConfig, ServeError, check_port_free, pick_free_port

    with pytest.raises(ValueError, match="out of range"):
        ServeConfig(port=-1)
    assert ServeConfig(port=0).port == 0
    port = pick_free_port("127.0.0.1")
    check_port_free("127.0.0.1", port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(ServeError, match=f"port {port} on 127.0.0.1 is already in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)
