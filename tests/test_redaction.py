"""Secrets never reach run folders, logs, the CLI or the studio, even when a server echoes them.

The end-to-end test runs a real detached job through the OpenAI backend against a real loopback
server whose 401 reply quotes the Authorization header it was sent, as some servers do.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from character.redaction import RedactingStream, redact_data, redact_secrets
from character.settings import get_settings

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.unit

KEY = "sk-test-4f9a2c7e1b8d6035aa17"


@pytest.fixture
def echoing_server() -> Iterator[str]:
    """An OpenAI-compatible endpoint that rejects every key and echoes it back."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            self.rfile.read(int(self.headers.get("content-length", 0)))
            auth = self.headers.get("authorization", "")
            data = json.dumps(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {auth}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                        "header": auth,
                    }
                }
            ).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_configured_keys_are_replaced_by_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TINKER_API_KEY", "tk-1")  # short, but configured: still a secret
    monkeypatch.setenv("LLM_API_KEY", "")  # empty: never a secret
    get_settings.cache_clear()
    text = f"Bearer {KEY} and tk-1; nothing else"
    out = redact_secrets(text)
    assert KEY not in out and "tk-1" not in out
    assert "[redacted OPENAI_API_KEY]" in out and "[redacted TINKER_API_KEY]" in out
    assert out.endswith("; nothing else")
    assert redact_data({"a": [f"x{KEY}"], KEY: 1}) == {
        "a": ["x[redacted OPENAI_API_KEY]"],
        "[redacted OPENAI_API_KEY]": 1,
    }


def test_keys_from_dotenv_and_other_key_like_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(f"LLM_API_KEY={KEY}\nHF_TOKEN=hf_abcdefgh123\n", "utf-8")
    monkeypatch.setenv("SOME_SECRET", "1")  # unnamed and short: left alone
    get_settings.cache_clear()
    out = redact_secrets(f"{KEY} hf_abcdefgh123 1")
    assert out == "[redacted LLM_API_KEY] [redacted HF_TOKEN] 1"


def test_stream_redacts_a_key_written_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    get_settings.cache_clear()
    sink = io.StringIO()
    stream = RedactingStream(sink)
    stream.write("key: " + KEY[:6])
    stream.write(KEY[6:] + "\npartial " + KEY)
    stream.flush()
    assert KEY not in sink.getvalue()
    assert sink.getvalue().count("[redacted OPENAI_API_KEY]") == 2


def test_worker_streams_redact_an_uncaught_traceback(tmp_path: Path) -> None:
    """The worker's stdout/stderr is log.txt; a traceback printed there is redacted."""
    log = tmp_path / "log.txt"
    code = (
        "from character.redaction import redact_std_streams; redact_std_streams(); "
        f"print('plain {KEY}'); raise RuntimeError('server said {KEY}')"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OPENAI_API_KEY": KEY}
    with open(log, "wb") as fh:
        rc = subprocess.run(
            [sys.executable, "-c", code], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        ).returncode
    text = log.read_text("utf-8")
    assert rc == 1 and "RuntimeError: server said [redacted OPENAI_API_KEY]" in text
    assert "plain [redacted OPENAI_API_KEY]" in text and KEY not in text


def test_echoed_key_reaches_no_file_log_cli_or_studio(
    echoing_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from character.cli import _register_subcommands, app
    from character.jobs import read_progress, run_dir, submit, tail_log, wait

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("LLM_BASE_URL", echoing_server)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    get_settings.cache_clear()
    run_id = submit(
        {
            "kind": "distill.generate",
            "config": {
                "persona": "pirate",
                "teacher_model": "openai:m",
                "student_model": "openai:m",
                "pair_count": 2,
                "template_count": 2,
            },
        }
    )
    st = wait(run_id, timeout_s=120)
    assert st.state.value == "failed", st
    assert "rejected the API key (401)" in (st.error or "")
    folder = run_dir(run_id)
    log_text = (folder / "log.txt").read_text("utf-8")
    assert "Traceback" in log_text and "[redacted OPENAI_API_KEY]" in log_text  # it was echoed
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_bytes().decode("utf-8", "replace"), path
    _register_subcommands()
    res = CliRunner().invoke(app, ["jobs", "logs", run_id, "-n", "400"])
    assert res.exit_code == 0 and "[redacted OPENAI_API_KEY]" in res.output
    assert KEY not in res.output
    shown = tail_log(run_id, 400) + (read_progress(run_id).error or "")
    assert KEY not in shown and "401" in shown


def test_cli_fail_redacts(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from character.cli_support import fail

    monkeypatch.setenv("LLM_API_KEY", KEY)
    get_settings.cache_clear()
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        fail(f"server said: Bearer {KEY}")

    res = CliRunner().invoke(app, [])
    assert res.exit_code == 1 and KEY not in res.output
    assert "Bearer [redacted LLM_API_KEY]" in res.output
