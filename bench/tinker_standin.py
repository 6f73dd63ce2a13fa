"""Tinker plumbing timings against the loopback stand-in (synthetic; not Tinker's speed).

Prints: how fast preflight fails on an unreachable port, the real SDK's overhead per training
step (forward_backward + optim_step round trips), and sampling requests per second through
TinkerBackend. Run: `.venv/bin/python bench/tinker_standin.py`.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TINKER_TELEMETRY", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from character.backends.base import SamplingParams
    from character.backends.tinker_backend import TinkerBackend
    from character.settings import get_settings
    from character.testing.tinker_standin import STANDIN_BASE_MODEL, StandinServer
    from character.tinker.errors import TinkerUnreachableError
    from character.tinker.preflight import PreflightConfig, run_preflight
    from character.tinker.train import TinkerTrainingConfig, run_tinker_training

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ["TINKER_API_KEY"] = "tml-bench-key"
    get_settings.cache_clear()
    t0 = time.perf_counter()
    try:
        run_preflight(PreflightConfig(base_url=f"http://127.0.0.1:{port}", timeout_s=3))
    except TinkerUnreachableError:
        pass
    print(f"preflight on an unreachable port failed after {time.perf_counter() - t0:.2f} s")

    with StandinServer() as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ["TINKER_API_KEY"] = srv.api_key
        os.environ["TINKER_BASE_URL"] = srv.base_url
        get_settings.cache_clear()
        data = Path(tmp) / "sft.jsonl"
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"Q{i}"},
                    {"role": "assistant", "content": "Arr!"},
                ]
            }
            for i in range(32)
        ]
        data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        cfg = TinkerTrainingConfig(
            dataset_path=data,
            base_model=STANDIN_BASE_MODEL,
            batch_size=4,
            epochs=1,
            save_every=100,
            output_dir=Path(tmp) / "run",
            export_weights=False,
        )
        run_tinker_training(cfg.model_copy(update={"max_steps": 1, "output_dir": Path(tmp) / "w"}))
        t0 = time.perf_counter()
        result = run_tinker_training(cfg)
        dt = time.perf_counter() - t0
        print(
            f"SFT on the stand-in: {result.steps} steps in {dt:.2f} s ({dt / result.steps:.3f} s/step)"
        )

        backend = TinkerBackend(STANDIN_BASE_MODEL, timeout_s=60)
        convs = [[{"role": "user", "content": f"Hello {i}"}] for i in range(32)]
        t0 = time.perf_counter()
        out = backend.generate(convs, SamplingParams(max_new_tokens=16, seed=1))
        dt = time.perf_counter() - t0
        toks = sum(c.tokens for row in out for c in row)
        print(
            f"sampling: {len(convs)} requests in {dt:.2f} s ({len(convs) / dt:.1f} req/s, {toks} tokens)"
        )
        backend.close()


if __name__ == "__main__":
    main()
