"""A loopback stand-in of the Tinker service that the real `tinker` SDK drives.

Why: Tinker is a paid remote service, yet every step of our Tinker path (preflight, sampling,
training, checkpoints, resume, weight download, billing and network faults) must be exercised
offline, through the SDK's real transport (HTTP, protobuf, futures, retries). Python-level fakes
would skip exactly the parts that break. This server speaks the wire protocol of SDK 0.38
(`../shared/reference/tinker.md` §7) on 127.0.0.1 only.

Everything it computes is SYNTHETIC: the "model" is a per-token bias vector over the vocabulary
on top of a hashed base score, so log-probs of trained tokens rise with each `optim_step` and
samples drift toward trained tokens. It is plumbing, not a language model. The exported adapter
is a real PEFT LoRA folder with the shapes of a real local model (so PEFT loads it), filled with
small synthetic numbers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import numpy as np

STANDIN_BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The stand-in's trainable model: the embedded model, so downloaded adapters load locally."""

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "model_name": STANDIN_BASE_MODEL,
        "max_context_length": 8192,
        "trainable": True,
        "sampleable": True,
    },
    {
        "model_name": "Qwen/Qwen3-8B",
        "max_context_length": 32768,
        "trainable": False,
        "sampleable": True,
    },
]


class LoopbackOnlyError(ValueError):
    """The stand-in (and tests driving it) may only ever talk to this machine."""


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1. No DNS lookup: a name is never trusted."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_loopback(url_or_host: str) -> str:
    """Return the input unchanged if it names a loopback host, else raise LoopbackOnlyError."""
    host = urlparse(url_or_host).hostname if "://" in url_or_host else url_or_host
    if not is_loopback_host(host):
        raise LoopbackOnlyError(
            f"Refusing {url_or_host!r}: the Tinker stand-in only talks to loopback "
            "(127.0.0.1, ::1, localhost)."
        )
    return url_or_host


# ---------------------------------------------------------------------------------------------
# The synthetic model


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def synthetic_base_score(prev: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """A deterministic pseudo-random score in [-6, -2] for `tok` following `prev`."""
    h = (prev.astype(np.int64) * 1_315_423_911 + tok.astype(np.int64) * 2_654_435_761) % 1_000_003
    return -2.0 - 4.0 * (h.astype(np.float64) / 1_000_003.0)


@dataclass
class SyntheticWeights:
    """Trainable state of one synthetic LoRA: a per-token bias plus Adam moments."""

    bias: np.ndarray
    m: np.ndarray
    v: np.ndarray
    step: int = 0

    @classmethod
    def zeros(cls, vocab: int) -> SyntheticWeights:
        z = np.zeros(vocab, dtype=np.float64)
        return cls(bias=z.copy(), m=z.copy(), v=z.copy())

    def copy(self) -> SyntheticWeights:
        return SyntheticWeights(self.bias.copy(), self.m.copy(), self.v.copy(), self.step)

    def logprobs(self, prev: np.ndarray, tok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Synthetic log-probs (always < 0) and their derivative w.r.t. the token's bias."""
        raw = synthetic_base_score(prev, tok) + self.bias[tok]
        return -_softplus(-raw), _sigmoid(-raw)


@dataclass
class TrainModel:
    model_id: str
    base_model: str
    rank: int
    weights: SyntheticWeights
    grad: np.ndarray
    seed: int


@dataclass
class Checkpoint:
    path: str
    kind: str  # "state", "sampler" or "external"
    base_model: str
    rank: int
    weights: SyntheticWeights
    created: float = field(default_factory=time.time)
    files: dict[str, bytes] = field(default_factory=dict)
    expired: bool = False


@dataclass
class Faults:
    """Switches for fault injection; change them while the server runs."""

    fail_forward_backward: int = 0  # the next N forward_backward jobs fail (RequestFailedError)
    billing: bool = False  # every submit answers 402 (the SDK pauses and retries for an hour)
    drop_connections: bool = False  # close every connection without answering
    rate_limit: int = 0  # the next N submits answer 429
    try_again_polls: int = 0  # each future answers try_again this many times first
    optim_delay_s: float = 0.0  # slow optim_step down (to kill a worker mid-run)


class StandinState:
    """In-memory sessions, models, samplers, futures and checkpoints, plus a request log."""

    def __init__(
        self,
        *,
        vocab_size: int,
        models: list[dict[str, Any]],
        adapter_shapes: dict[str, int] | None,
        api_key: str | None,
    ) -> None:
        self.vocab_size = vocab_size
        self.models = models
        self.adapter_shapes = adapter_shapes
        self.api_key = api_key
        self.lock = threading.RLock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.train_models: dict[str, TrainModel] = {}
        self.samplers: dict[str, tuple[str, SyntheticWeights, str | None]] = {}
        self.futures: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, Checkpoint] = {}
        self.download_tokens: dict[str, tuple[str, str]] = {}
        self.log: list[tuple[str, str]] = []
        self.faults = Faults()
        self._counter = 0

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._counter += 1
            return f"{prefix}-{self._counter}-{uuid.uuid4().hex[:6]}"

    def model_info(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.models if m["model_name"] == name), None)

    def count(self, route: str) -> int:
        with self.lock:
            return sum(1 for _, r in self.log if r == route)


# ---------------------------------------------------------------------------------------------
# Protobuf encoding helpers


def _pb():
    from tinker.proto import tinker_public_pb2

    return tinker_public_pb2


def _batched(arrays: list[np.ndarray], dtype: Any, pb_dtype: int) -> Any:
    pb = _pb()
    bt = pb.BatchedTensor()
    offsets = [0]
    chunks = []
    for a in arrays:
        raw = np.asarray(a, dtype=dtype).tobytes()
        chunks.append(raw)
        offsets.append(offsets[-1] + len(raw))
    bt.data = b"".join(chunks)
    bt.offsets = np.asarray(offsets, dtype=np.int64).tobytes()
    bt.dtype = pb_dtype
    return bt


def _tensor_to_numpy(t: Any) -> np.ndarray:
    pb = _pb()
    dt = {pb.DTYPE_FLOAT32: np.float32, pb.DTYPE_INT64: np.int64, pb.DTYPE_INT32: np.int32}
    return np.frombuffer(t.dense, dtype=dt.get(t.dtype, np.float32)).copy()


def _tokens_of_chunks(chunks: Any) -> list[int]:
    out: list[int] = []
    for ch in chunks:
        if ch.WhichOneof("chunk") == "encoded_text" or ch.HasField("encoded_text"):
            out.extend(np.frombuffer(ch.encoded_text.tokens, dtype=np.int32).tolist())
    return out


def _tokens_of_json_input(model_input: dict[str, Any]) -> list[int]:
    out: list[int] = []
    for ch in model_input.get("chunks", []):
        out.extend(int(t) for t in ch.get("tokens", []))
    return out


# ---------------------------------------------------------------------------------------------
# Synthetic PEFT adapter


def adapter_shapes_of(model_dir: Path | str) -> dict[str, int]:
    """Read the shapes a LoRA on this model needs from its config.json."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    heads = int(cfg["num_attention_heads"])
    head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // heads)
    return {
        "hidden_size": int(cfg["hidden_size"]),
        "num_hidden_layers": int(cfg["num_hidden_layers"]),
        "q_out": heads * head_dim,
        "kv_out": int(cfg.get("num_key_value_heads") or heads) * head_dim,
        "vocab_size": int(cfg["vocab_size"]),
    }


def build_synthetic_adapter(
    shapes: dict[str, int], base_model: str, rank: int, weights: SyntheticWeights, seed: int
) -> dict[str, bytes]:
    """A PEFT LoRA (q_proj, v_proj) folder as {file name: bytes}. Numbers are synthetic."""
    from safetensors.numpy import save

    rng = np.random.default_rng(seed)
    scale = float(np.tanh(weights.step / 10.0)) * 1e-3
    tensors: dict[str, np.ndarray] = {}
    hidden = shapes["hidden_size"]
    for layer in range(shapes["num_hidden_layers"]):
        for proj, out in (("q_proj", shapes["q_out"]), ("v_proj", shapes["kv_out"])):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            tensors[f"{prefix}.lora_A.weight"] = (
                rng.standard_normal((rank, hidden)).astype(np.float32) * 0.01
            )
            tensors[f"{prefix}.lora_B.weight"] = (
                rng.standard_normal((out, rank)).astype(np.float32) * scale
            )
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": rank,
        "lora_alpha": rank,
        "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"],
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    return {
        "adapter_config.json": json.dumps(config, indent=2).encode("utf-8"),
        "adapter_model.safetensors": save(tensors, metadata={"format": "pt"}),
    }


# ---------------------------------------------------------------------------------------------
# Request handling


class _Drop(Exception):
    """Close the connection without an answer."""


class _HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # -- plumbing ------------------------------------------------------------------------------

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._reply(status, json.dumps(obj).encode("utf-8"), "application/json")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding") == "zstd":
            import zstandard

            raw = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30)
        return raw

    def _dispatch(self, method: str) -> None:
        st = self.server.state
        path = urlparse(self.path).path
        with st.lock:
            st.log.append((method, path))
        if st.faults.drop_connections:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        try:
            if not path.startswith("/files/") and path != "/api/v1/healthz":
                self._check_key()
            body = self._body() if method == "POST" else b""
            result = self.server.app.route(method, path, body, self.headers)
        except _HttpError as exc:
            self._json({"detail": exc.detail}, exc.status)
            return
        except Exception as exc:  # a stand-in bug must show up as a 500, not a hang
            self._json({"detail": f"stand-in error: {type(exc).__name__}: {exc}"}, 500)
            return
        if isinstance(result, tuple):
            status, payload, ctype = result
            self._reply(status, payload, ctype)
        else:
            self._json(result)

    def _check_key(self) -> None:
        key = self.headers.get("X-API-Key") or ""
        auth = self.headers.get("Authorization") or ""
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:]
        expected = self.server.state.api_key
        if expected is not None and key != expected:
            raise _HttpError(401, "Invalid API key")

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], state: StandinState) -> None:
        self.state = state
        self.app = _App(state, self)
        super().__init__(addr, _Handler)


class _App:
    """Route table and the synthetic semantics of each endpoint."""

    def __init__(self, state: StandinState, server: _Server) -> None:
        self.st = state
        self.server = server

    # -- helpers ------------------------------------------------------------------------------

    def _future(self, result: Any, **extra: Any) -> dict[str, Any]:
        rid = self.st.next_id("req")
        with self.st.lock:
            self.st.futures[rid] = {"result": result, "polls": self.st.faults.try_again_polls}
        return {"request_id": rid, **extra}

    def _submit_faults(self) -> None:
        f = self.st.faults
        if f.billing:
            raise _HttpError(402, "Billing: your account has no credits left (stand-in, synthetic)")
        with self.st.lock:
            if f.rate_limit > 0:
                f.rate_limit -= 1
                raise _HttpError(429, "Rate limit exceeded (stand-in, synthetic)")

    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- routing --------------------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes, headers: Any) -> Any:
        if path.startswith("/files/"):
            return self.file(path[len("/files/") :])
        if not path.startswith("/api/v1/"):
            raise _HttpError(404, f"no route {path}")
        name = path[len("/api/v1/") :]
        if method == "GET":
            return self.get(name)
        data: dict[str, Any] = {}
        if name != "forward_backward" and body:
            data = json.loads(body)
        simple = {
            "client/config": lambda: {
                "pjwt_auth_enabled": False,
                "use_pyqwest_transport": False,
                "proto_compress_fwdbwd": True,
            },
            "client/dynamic_config": lambda: {"refresh_interval_sec": 300},
            "create_session": lambda: self.create_session(data),
            "session_heartbeat": lambda: {"type": "session_heartbeat"},
            "telemetry": lambda: {"status": "accepted"},
            "create_model": lambda: self.create_model(data),
            "get_info": lambda: self.get_info(data),
            "forward_backward": lambda: self.forward_backward(body),
            "optim_step": lambda: self.optim_step(data),
            "save_weights": lambda: self.save(data, "state"),
            "save_weights_for_sampler": lambda: self.save(data, "sampler"),
            "save_weights_external": lambda: self.save(data, "external"),
            "load_weights": lambda: self.load_weights(data),
            "create_sampling_session": lambda: self.create_sampling_session(data),
            "asample": lambda: self.asample(data),
            "retrieve_future": lambda: self.retrieve_future(data),
            "cancel_future": lambda: {},
        }
        if name in simple:
            return simple[name]()
        if name.startswith("sessions/") and name.endswith("/finish"):
            return {}
        raise _HttpError(404, f"stand-in has no route POST {path}")

    def get(self, name: str) -> Any:
        if name == "healthz":
            return {"status": "ok"}
        if name == "get_server_capabilities":
            return {"supported_models": self.st.models}
        if name.startswith("samplers/"):
            sid = unquote(name[len("samplers/") :])
            if sid not in self.st.samplers:
                raise _HttpError(404, f"unknown sampler {sid}")
            base, _, path = self.st.samplers[sid]
            return {"sampler_id": sid, "base_model": base, "model_path": path}
        if name.startswith("training_runs/") and name.endswith("/external_weights_urls"):
            parts = name.split("/")
            run = unquote(parts[1])
            ckpt_id = unquote("/".join(parts[3:-1]))
            return self.external_urls(f"tinker://{run}/{ckpt_id}")
        raise _HttpError(404, f"stand-in has no route GET /api/v1/{name}")

    # -- sessions and models --------------------------------------------------------------------

    def create_session(self, data: dict[str, Any]) -> dict[str, Any]:
        sid = self.st.next_id("session")
        with self.st.lock:
            self.st.sessions[sid] = {"created": time.time(), "tags": data.get("tags")}
        return {"type": "create_session", "session_id": sid}

    def _new_model(self, session_id: str, base: str, rank: int, seed: int) -> TrainModel:
        info = self.st.model_info(base)
        if info is None:
            raise _HttpError(400, f"Model {base} is not supported (stand-in)")
        if not info.get("trainable"):
            raise _HttpError(400, f"Model {base} does not support training (stand-in)")
        with self.st.lock:
            n = sum(1 for m in self.st.train_models if m.startswith(session_id))
            model_id = f"{session_id}:train:{n}"
            model = TrainModel(
                model_id=model_id,
                base_model=base,
                rank=rank,
                weights=SyntheticWeights.zeros(self.st.vocab_size),
                grad=np.zeros(self.st.vocab_size),
                seed=seed,
            )
            self.st.train_models[model_id] = model
        return model

    def create_model(self, data: dict[str, Any]) -> dict[str, Any]:
        self._submit_faults()
        rank = int((data.get("lora_config") or {}).get("rank") or 32)
        seed = int((data.get("lora_config") or {}).get("seed") or 0)
        model = self._new_model(data["session_id"], data["base_model"], rank, seed)
        return self._future(
            {"model_id": model.model_id, "type": "create_model"}, model_id=model.model_id
        )

    def _model(self, model_id: str) -> TrainModel:
        model = self.st.train_models.get(model_id)
        if model is None:
            raise _HttpError(404, f"unknown model {model_id}")
        return model

    def get_info(self, data: dict[str, Any]) -> dict[str, Any]:
        m = self._model(data["model_id"])
        return {
            "type": "get_info",
            "model_data": {
                "arch": "llama",
                "model_name": m.base_model,
                "tokenizer_id": m.base_model,
            },
            "model_id": m.model_id,
            "is_lora": True,
            "lora_rank": m.rank,
            "model_name": m.base_model,
        }

    # -- training -------------------------------------------------------------------------------

    def forward_backward(self, body: bytes) -> dict[str, Any]:
        self._submit_faults()
        pb = _pb()
        req = pb.ForwardBackwardRequest()
        req.ParseFromString(body)
        model = self._model(req.model_id)
        with self.st.lock:
            if self.st.faults.fail_forward_backward > 0:
                self.st.faults.fail_forward_backward -= 1
                return self._future(
                    {
                        "error": "forward_backward failed (injected by the stand-in)",
                        "category": "server",
                    }
                )
        if req.loss_fn != "cross_entropy":
            return self._future(
                {
                    "error": f"loss {req.loss_fn!r} is not implemented by the stand-in",
                    "category": "user",
                }
            )
        logprobs_out, losses_out = [], []
        total = 0.0
        with self.st.lock:
            for datum in req.data:
                tokens = np.asarray(_tokens_of_chunks(datum.model_input), dtype=np.int64)
                targets = _tensor_to_numpy(datum.loss_fn_inputs["target_tokens"]).astype(np.int64)
                if "weights" in datum.loss_fn_inputs:
                    weights = _tensor_to_numpy(datum.loss_fn_inputs["weights"]).astype(np.float64)
                else:
                    weights = np.ones(len(targets))
                if len(tokens) != len(targets) or len(weights) != len(targets):
                    return self._future(
                        {
                            "error": "model_input, target_tokens and weights differ in length",
                            "category": "user",
                        }
                    )
                if len(targets) and (targets.max() >= self.st.vocab_size or targets.min() < 0):
                    return self._future({"error": "token id out of range", "category": "user"})
                lp, dlp = model.weights.logprobs(tokens, targets)
                elementwise = -lp * weights
                total += float(elementwise.sum())
                logprobs_out.append(lp.astype(np.float32))
                losses_out.append(elementwise.astype(np.float32))
                if not req.forward_only:
                    # d(-sum w*lp)/d bias[t] = -w * dlp; accumulate until optim_step.
                    np.add.at(model.grad, targets, -weights * dlp)
        out = pb.ForwardBackwardOutput()
        out.loss_fn_output_type = "ArrayRecord"
        rec = out.loss_fn_outputs.add()
        rec.num_datums = len(logprobs_out)
        rec.fields["logprobs"].CopyFrom(_batched(logprobs_out, np.float32, pb.DTYPE_FLOAT32))
        rec.fields["elementwise_loss"].CopyFrom(_batched(losses_out, np.float32, pb.DTYPE_FLOAT32))
        out.metrics["loss:sum"] = total
        return self._future(("proto", out.SerializeToString()))

    def optim_step(self, data: dict[str, Any]) -> dict[str, Any]:
        self._submit_faults()
        if self.st.faults.optim_delay_s:
            time.sleep(self.st.faults.optim_delay_s)
        model = self._model(data["model_id"])
        params = data.get("adam_params") or data.get("optimizer_params") or {}
        lr = float(params.get("learning_rate", 1e-4))
        b1, b2 = float(params.get("beta1", 0.9)), float(params.get("beta2", 0.95))
        # Synthetic step size: real LoRA steps are tiny per parameter; this keeps the fake
        # model's loss visibly falling within a handful of steps for any sensible lr.
        step_size = 0.3 * (max(lr, 1e-7) / 1e-4) ** 0.3
        with self.st.lock:
            w = model.weights
            g = model.grad
            w.step += 1
            w.m = b1 * w.m + (1 - b1) * g
            w.v = b2 * w.v + (1 - b2) * g * g
            mhat = w.m / (1 - b1**w.step)
            vhat = w.v / (1 - b2**w.step)
            w.bias -= step_size * mhat / (np.sqrt(vhat) + 1e-8)
            model.grad = np.zeros_like(g)
            grad_norm = float(np.linalg.norm(g))
        return self._future({"type": "optim_step", "metrics": {"grad_norm:mean": grad_norm}})

    # -- checkpoints ----------------------------------------------------------------------------

    def save(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        self._submit_faults()
        model = self._model(data["model_id"])
        segment = {"state": "weights", "sampler": "sampler_weights", "external": "external_weights"}
        name = data.get("path") or self.st.next_id("ckpt")
        if "/" in name or not name.strip():
            raise _HttpError(400, f"invalid checkpoint name {name!r}")
        path = f"tinker://{model.model_id}/{segment[kind]}/{name}"
        with self.st.lock:
            ckpt = Checkpoint(path, kind, model.base_model, model.rank, model.weights.copy())
            if kind == "external":
                if self.st.adapter_shapes is None:
                    raise _HttpError(400, "this stand-in has no adapter shapes configured")
                ckpt.files = build_synthetic_adapter(
                    self.st.adapter_shapes, model.base_model, model.rank, ckpt.weights, model.seed
                )
            self.st.checkpoints[path] = ckpt
        if kind == "state":
            return self._future({"path": path, "type": "save_weights"})
        if kind == "external":
            return self._future({"path": path, "type": "save_weights_external"})
        result: dict[str, Any] = {"path": path, "type": "save_weights_for_sampler"}
        if data.get("sampling_session_seq_id") is not None:
            sid = self.st.next_id("sampler")
            with self.st.lock:
                self.st.samplers[sid] = (model.base_model, ckpt.weights, path)
            result["sampling_session_id"] = sid
        return self._future(result)

    def _checkpoint(self, path: str, kinds: tuple[str, ...]) -> Checkpoint:
        ckpt = self.st.checkpoints.get(path)
        if ckpt is None or ckpt.kind not in kinds:
            raise _HttpError(404, f"Checkpoint {path} not found")
        if ckpt.expired:
            raise _HttpError(404, f"Checkpoint {path} has expired")
        return ckpt

    def load_weights(self, data: dict[str, Any]) -> dict[str, Any]:
        self._submit_faults()
        ckpt = self._checkpoint(data["path"], ("state",))
        if data.get("model_id"):
            model = self._model(data["model_id"])
        else:
            model = self._new_model(
                data["session_id"], data.get("base_model") or ckpt.base_model, ckpt.rank, 0
            )
        with self.st.lock:
            w = ckpt.weights.copy()
            if not data.get("optimizer"):
                w.m[:] = 0
                w.v[:] = 0
            model.weights = w
        return self._future(
            {"path": ckpt.path, "model_id": model.model_id, "type": "load_weights"},
            model_id=model.model_id,
        )

    def external_urls(self, path: str) -> dict[str, Any]:
        ckpt = self._checkpoint(path, ("external",))
        urls = {}
        for fname in ckpt.files:
            token = uuid.uuid4().hex
            with self.st.lock:
                self.st.download_tokens[token] = (path, fname)
            urls[fname] = f"{self.base_url()}/files/{token}/{quote(fname)}"
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return {"urls": urls, "expires": expires}

    def file(self, rest: str) -> tuple[int, bytes, str]:
        token, _, _ = rest.partition("/")
        entry = self.st.download_tokens.get(token)
        if entry is None:
            raise _HttpError(403, "signed URL is invalid or expired")
        path, fname = entry
        return 200, self.st.checkpoints[path].files[fname], "application/octet-stream"

    # -- sampling -------------------------------------------------------------------------------

    def create_sampling_session(self, data: dict[str, Any]) -> dict[str, Any]:
        path = data.get("model_path")
        if path:
            ckpt = self._checkpoint(path, ("sampler", "state"))
            base, weights = ckpt.base_model, ckpt.weights
        else:
            base = data.get("base_model") or ""
            info = self.st.model_info(base)
            if info is None or not info.get("sampleable"):
                raise _HttpError(400, f"Model {base} is not supported for sampling (stand-in)")
            weights = SyntheticWeights.zeros(self.st.vocab_size)
        sid = self.st.next_id("sampler")
        with self.st.lock:
            self.st.samplers[sid] = (base, weights, path)
        return {"type": "create_sampling_session", "sampling_session_id": sid}

    def asample(self, data: dict[str, Any]) -> dict[str, Any]:
        self._submit_faults()
        sid = data.get("sampling_session_id")
        if sid:
            if sid not in self.st.samplers:
                raise _HttpError(404, f"unknown sampling session {sid}")
            _, weights, _ = self.st.samplers[sid]
        elif data.get("model_path"):
            weights = self._checkpoint(data["model_path"], ("sampler", "state")).weights
        else:
            weights = SyntheticWeights.zeros(self.st.vocab_size)
        prompt = _tokens_of_json_input(data["prompt"])
        n = int(data.get("num_samples") or 1)
        sp = data.get("sampling_params") or {}
        pb = _pb()
        resp = pb.SampleResponse()
        for k in range(n):
            toks, lps, stopped = self._sample_one(weights, prompt, sp, k)
            seq = resp.sequences.add()
            seq.stop_reason = pb.STOP_REASON_STOP if stopped else pb.STOP_REASON_LENGTH
            seq.tokens = np.asarray(toks, dtype=np.int32).tobytes()
            seq.logprobs = np.asarray(lps, dtype=np.float32).tobytes()
        if data.get("prompt_logprobs"):
            arr = np.full(len(prompt), np.nan, dtype=np.float32)
            if len(prompt) > 1:
                p = np.asarray(prompt, dtype=np.int64)
                arr[1:] = weights.logprobs(p[:-1], p[1:])[0]
            resp.prompt_logprobs = arr.tobytes()
        ids = [f"{self.st.next_id('seq')}" for _ in range(n)]
        return self._future(("proto", resp.SerializeToString()), sample_sequence_ids=ids)

    def _sample_one(
        self, weights: SyntheticWeights, prompt: list[int], sp: dict[str, Any], k: int
    ) -> tuple[list[int], list[float], bool]:
        seed = sp.get("seed")
        seed = (int(seed) + k) if seed is not None else (hash(tuple(prompt)) + k) & 0xFFFFFFFF
        rng = np.random.default_rng(seed)
        temp = max(float(sp.get("temperature", 1.0)), 1e-3)
        max_tokens = int(sp.get("max_tokens") or 64)
        stop = sp.get("stop")
        stop_ids = [int(s) for s in stop if isinstance(s, int)] if isinstance(stop, list) else []
        vocab = self.st.vocab_size
        lo, hi = min(250, vocab - 1), min(8000, vocab)
        top = np.argsort(-weights.bias)[:16]
        top = top[weights.bias[top] > 0]
        prev = prompt[-1] if prompt else 0
        toks: list[int] = []
        lps: list[float] = []
        for _ in range(max_tokens):
            cand_rng = np.random.default_rng(prev * 7919 + 17)
            cands = np.unique(
                np.concatenate(
                    [cand_rng.integers(lo, hi, size=48), top, np.asarray(stop_ids, dtype=np.int64)]
                ).astype(np.int64)
            )
            raw = synthetic_base_score(np.full(len(cands), prev), cands) + weights.bias[cands]
            # Stop tokens become likelier as a reply grows, so base samples also end.
            for sid in stop_ids:
                raw[cands == sid] += min(len(toks), 40) * 0.08
            logits = raw / temp
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            i = int(rng.choice(len(cands), p=probs))
            tok = int(cands[i])
            toks.append(tok)
            lps.append(float(np.log(probs[i] + 1e-12)))
            if tok in stop_ids:
                return toks, lps, True
            prev = tok
        return toks, lps, False

    def retrieve_future(self, data: dict[str, Any]) -> Any:
        rid = data["request_id"]
        with self.st.lock:
            fut = self.st.futures.get(rid)
            if fut is None:
                raise _HttpError(404, f"unknown request {rid}")
            if fut["polls"] > 0:
                fut["polls"] -= 1
                return {"type": "try_again", "request_id": rid, "queue_state": "active"}
        result = fut["result"]
        if isinstance(result, tuple) and result[0] == "proto":
            return 200, result[1], "application/x-protobuf"
        return result


class StandinServer:
    """Start/stop the stand-in on 127.0.0.1 in a background thread.

    Use as a context manager. `base_url` is what to pass to the SDK; `api_key` is a dummy
    `tml-` key the server expects (real credentials are never needed or accepted).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = "tml-standin-synthetic",
        vocab_size: int | None = None,
        models: list[dict[str, Any]] | None = None,
        adapter_model_dir: Path | str | None = None,
    ) -> None:
        ensure_loopback(host)
        if adapter_model_dir is None:
            from character.models.embedded import ensure_embedded_model

            adapter_model_dir = ensure_embedded_model()
        shapes = adapter_shapes_of(adapter_model_dir)
        self.state = StandinState(
            vocab_size=vocab_size or shapes["vocab_size"],
            models=models or [dict(m) for m in DEFAULT_MODELS],
            adapter_shapes=shapes,
            api_key=api_key,
        )
        self.api_key = api_key
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("stand-in not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandinServer:
        self._httpd = _Server((self._host, self._port), self.state)
        self._port = self._httpd.server_address[1]  # keep the port across stop/start
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="tinker-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def expire_checkpoint(self, path: str) -> None:
        with self.state.lock:
            self.state.checkpoints[path].expired = True

    def requests(self, route: str | None = None) -> list[tuple[str, str]]:
        with self.state.lock:
            return [r for r in self.state.log if route is None or r[1].endswith(route)]


def serve_forever(host: str = "127.0.0.1", port: int = 8765) -> None:  # pragma: no cover
    """Run the stand-in in the foreground (the studio's demo mode and manual testing)."""
    server = StandinServer(host, port).start()
    print(f"Tinker stand-in (synthetic) on {server.base_url}  key: {server.api_key}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
