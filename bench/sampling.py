"""Tokens per second of the embedded model through LocalBackend at batch 1, 8 and 32, and the
same GGUF through llama.cpp (when `llama-cpp-python` is installed), measured in the same run.

    .venv/bin/python bench/sampling.py [--batches 1 8 32] [--max-new-tokens 96] [--runs 3]
    .venv/bin/python bench/sampling.py --contention   # two samplers at once, OpenMP waits

Throughput counts generated tokens (what callers get back), so rows that stop early and sit
as padding count against the local backend, as they do in real use. Each figure is the median
of `--runs` timed runs after one warm-up run. The machine's load average is printed because on
a shared 2-core box every other process shows up in these numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOPICS = [
    "the sea",
    "a lighthouse keeper",
    "learning Python",
    "a city at night",
    "autumn leaves",
    "a lost key",
    "the first day of school",
    "a mountain village",
]


def prompts(count: int) -> list[list[dict[str, str]]]:
    """Open-ended requests so that most replies run to max_new_tokens."""
    return [
        [
            {
                "role": "user",
                "content": f"Write a long, detailed story about {TOPICS[i % len(TOPICS)]}.",
            }
        ]
        for i in range(count)
    ]


def bench_local(batch: int, max_new: int, runs: int, backend) -> tuple[float, float]:  # noqa: ANN001
    """Median tokens/s and median seconds per run of one batch through LocalBackend."""
    from character.backends.base import SamplingParams

    convs = prompts(batch)
    params = SamplingParams(max_new_tokens=max_new, temperature=0.7, top_p=0.95, seed=0)
    backend.batch_size = max(batch, 1)
    backend.generate(convs, params)  # warm-up
    rates, secs = [], []
    for r in range(runs):
        params = params.model_copy(update={"seed": r + 1})
        start = time.perf_counter()
        out = backend.generate(convs, params)
        elapsed = time.perf_counter() - start
        tokens = sum(c.tokens for row in out for c in row)
        rates.append(tokens / elapsed)
        secs.append(elapsed)
    return statistics.median(rates), statistics.median(secs)


def bench_llamacpp(max_new: int, runs: int, threads: int) -> tuple[float, str, float] | None:
    """Median tokens/s of raw llama.cpp on the same GGUF and of the studio's single-stream
    path (chat, arena, side-by-side, serve: whatever `get_interactive_backend` picks), one
    conversation at a time with the same prompts and sampling settings. The two alternate run
    by run, so load from other processes hits both alike. None without llama-cpp-python."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    from character.backends.base import SamplingParams
    from character.models.embedded import embedded_gguf_path
    from character.models.registry import get_interactive_backend

    llm = Llama(
        model_path=str(embedded_gguf_path()),
        n_ctx=1024,
        n_threads=threads,
        n_batch=256,
        verbose=False,
        seed=0,
    )
    backend = get_interactive_backend("smollm2-135m")
    convs = prompts(4)
    params = SamplingParams(max_new_tokens=max_new, temperature=0.7, top_p=0.95, seed=0)
    llm.create_chat_completion(messages=convs[0], max_tokens=8)  # warm-up
    backend.generate([convs[0]], params.model_copy(update={"max_new_tokens": 8}))

    def raw(seed: int) -> float:
        tokens, start = 0, time.perf_counter()
        for conv in convs:
            out = llm.create_chat_completion(
                messages=conv,
                max_tokens=max_new,
                temperature=0.7,
                top_p=0.95,
                repeat_penalty=1.1,
                seed=seed,
            )
            tokens += out["usage"]["completion_tokens"]
        return tokens / (time.perf_counter() - start)

    def ours(seed: int) -> float:
        tokens, start = 0, time.perf_counter()
        for conv in convs:
            out = backend.generate([conv], params.model_copy(update={"seed": seed}))
            tokens += sum(c.tokens for row in out for c in row)
        return tokens / (time.perf_counter() - start)

    raw_rates, our_rates = [], []
    for r in range(runs):
        raw_rates.append(raw(r))
        our_rates.append(ours(r))
    return statistics.median(raw_rates), type(backend).__name__, statistics.median(our_rates)


def contention(max_new: int, runs: int) -> None:
    """Two batch-8 samplers started together in separate processes (a studio sampling while a
    job trains), once with OpenMP threads that spin while waiting and once with passive waits."""
    import subprocess

    for policy in ("ACTIVE", "PASSIVE"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        cmd = [sys.executable, __file__, "--quiet-child", "--max-new-tokens", str(max_new)]
        cmd += ["--runs", str(runs)]
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
        ]
        rates = []
        for p in procs:
            out, _ = p.communicate()
            rates += [
                float(line.split()[1]) for line in out.splitlines() if line.startswith("RATE")
            ]
        print(
            f"two at once, OMP_WAIT_POLICY={policy:<7}: "
            + ", ".join(f"{r:.1f}" for r in rates)
            + " tok/s each at batch 8",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-llamacpp", action="store_true")
    parser.add_argument(
        "--contention",
        action="store_true",
        help="Instead: two samplers at once, with spinning vs passive OpenMP waits.",
    )
    parser.add_argument("--quiet-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contention:
        contention(args.max_new_tokens, args.runs)
        return
    if args.quiet_child:
        from character.backends.local import LocalBackend
        from character.models.embedded import ensure_embedded_model

        backend = LocalBackend("smollm2-135m", ensure_embedded_model())
        rate, _ = bench_local(8, args.max_new_tokens, args.runs, backend)
        print(f"RATE {rate:.2f}")
        return

    import torch

    from character.backends.local import LocalBackend
    from character.hardware import detect
    from character.models.embedded import ensure_embedded_model

    hw = detect()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"device={hw.device} cpus={hw.cpu_count} torch={torch.__version__} "
        f"threads={torch.get_num_threads()} load_avg_1m={load:.1f}"
    )
    t0 = time.perf_counter()
    backend = LocalBackend("smollm2-135m", ensure_embedded_model())
    print(f"load: {time.perf_counter() - t0:.1f}s  max_new_tokens={args.max_new_tokens}")

    local: dict[int, float] = {}
    for batch in args.batches:
        # Packed decode weights (the default) against plain F.linear, measured back to back.
        os.environ["CHARACTER_PACKED_LINEAR"] = "0"
        plain, plain_secs = bench_local(batch, args.max_new_tokens, args.runs, backend)
        os.environ["CHARACTER_PACKED_LINEAR"] = "1"
        rate, secs = bench_local(batch, args.max_new_tokens, args.runs, backend)
        local[batch] = rate
        print(
            f"local  batch={batch:<3d} {rate:7.1f} tok/s   ({secs:.2f}s per batch)   "
            f"unpacked {plain:6.1f} tok/s   packed/unpacked {rate / plain:.2f}",
            flush=True,
        )

    measured = (
        None if args.skip_llamacpp else bench_llamacpp(args.max_new_tokens, args.runs, hw.cpu_count)
    )
    if measured is None:
        print("llama.cpp: not measured (make llamacpp to compare)")
    else:
        cpp, engine, interactive = measured
        print(f"llama.cpp batch=1   {cpp:7.1f} tok/s (same GGUF, Q4_1)")
        for batch, rate in local.items():
            print(f"ratio local/llama.cpp at batch {batch}: {rate / cpp:.2f}")
        best = max(local, key=local.__getitem__)
        print(f"best: batch {best}, ratio {local[best] / cpp:.2f}")
        print(f"interactive path ({engine}) batch=1 {interactive:7.1f} tok/s")
        print(f"ratio interactive/llama.cpp at batch 1: {interactive / cpp:.2f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load_avg_1m at end={load:.1f}")


if __name__ == "__main__":
    main()
