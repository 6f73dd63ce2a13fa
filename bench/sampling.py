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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class Timed:
    """One timed run: generated tokens and seconds (tokens/s is their ratio)."""

    tokens: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def median_rate(runs: list[Timed]) -> float:
    return statistics.median(r.rate for r in runs)


def bench_llamacpp(max_new: int, runs: int) -> dict[str, Any] | None:
    """Tokens/s of raw llama.cpp on the same GGUF and of the studio's single-stream path (chat,
    arena, side-by-side, serve: whatever `get_interactive_backend` picks), one conversation at
    a time with the same prompts. The raw rows load the GGUF with the backend's own context
    size, thread count and batch size (`model_kwargs`), and "raw, same sampling" samples with
    the backend's own arguments (`completion_kwargs`), so it differs from the backend only by
    what the backend does around llama.cpp. "raw, llama-cpp defaults" adds top-k 40 and min-p
    0.05, which llama-cpp-python turns on unless told otherwise: it prices the full-vocabulary
    top-p the backend uses. The rows alternate run by run, so load from other processes hits
    all alike; the ratio is the median of the per-run ratios. None without llama-cpp-python."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    from character.backends.base import SamplingParams
    from character.backends.llamacpp_backend import (
        DEFAULT_CONTEXT,
        completion_kwargs,
        default_threads,
        llama_class,
        model_kwargs,
    )
    from character.models.embedded import embedded_gguf_path
    from character.models.registry import get_interactive_backend

    backend = get_interactive_backend("smollm2-135m")
    n_ctx = getattr(backend, "n_ctx", DEFAULT_CONTEXT)
    threads = getattr(backend, "n_threads", default_threads())
    stock = Llama(**model_kwargs(embedded_gguf_path(), n_ctx, threads))
    same = llama_class()(**model_kwargs(embedded_gguf_path(), n_ctx, threads))
    convs = prompts(4)
    params = SamplingParams(max_new_tokens=max_new, temperature=0.7, top_p=0.95, seed=0)
    stock.create_chat_completion(messages=convs[0], max_tokens=8)  # warm-up
    same.create_chat_completion(messages=convs[0], max_tokens=8)
    backend.generate([convs[0]], params.model_copy(update={"max_new_tokens": 8}))

    def raw(llm: Any, seed: int, **override: Any) -> Timed:
        tokens, start = 0, time.perf_counter()
        for conv in convs:
            kwargs = {**completion_kwargs(params, seed), **override}
            out = llm.create_chat_completion(messages=conv, **kwargs)
            tokens += out["usage"]["completion_tokens"]
        return Timed(tokens, time.perf_counter() - start)

    def ours(seed: int) -> Timed:
        tokens, start = 0, time.perf_counter()
        for conv in convs:
            out = backend.generate([conv], params.model_copy(update={"seed": seed}))
            tokens += sum(c.tokens for row in out for c in row)
        return Timed(tokens, time.perf_counter() - start)

    run_row = {
        "raw": lambda seed: raw(same, seed),
        "stock": lambda seed: raw(stock, seed),
        "stock_defaults": lambda seed: raw(stock, seed, top_k=40, min_p=0.05),
        "ours": ours,
    }
    rows: dict[str, list[Timed]] = {name: [] for name in run_row}
    order = list(rows)
    for r in range(runs):
        k = r % len(order)
        for name in order[k:] + order[:k]:  # rotate who goes first
            rows[name].append(run_row[name](r + 1))

    def ratio(a: str, b: str) -> float:
        return statistics.median(x.rate / y.rate for x, y in zip(rows[a], rows[b], strict=True))

    return {
        "engine": type(backend).__name__,
        "n_ctx": n_ctx,
        "threads": threads,
        "rows": rows,
        "ours_over_raw": ratio("ours", "raw"),
        "stock_over_raw": ratio("stock", "raw"),
        "defaults_over_raw": ratio("stock_defaults", "raw"),
        "multi_turn": bench_multi_turn(backend, runs) if hasattr(backend, "llm") else None,
    }


SYSTEM_CONSTITUTION = (
    Path(__file__).resolve().parent.parent / "constitutions/hand-written/pirate.json"
)
HISTORY = [
    ("Who are you?", "Ahoy! I be a pirate of the seven seas, here to help ye."),
    ("What do you do all day?", "I sail, I swab the deck, and I answer questions, matey."),
]
LAST_TURNS = ["Tell me about your ship.", "And what would you do if a storm hit tonight?"]


def bench_multi_turn(backend, runs: int, max_new: int = 64) -> dict[str, list[Timed]]:  # noqa: ANN001
    """Turn 4 of a persona chat (the pirate constitution as system prompt, two earlier turns,
    then turn 3 generated by the backend as the studio would), timed with llama.cpp's KV of
    the previous turn kept ("cached": only the new tokens are evaluated) and with it dropped
    ("fresh": the whole conversation is evaluated again). Time to first token is a 1-token
    reply; the full turn is a `max_new`-token reply. Cached and fresh alternate run by run."""
    from character.backends.base import SamplingParams
    from character.constitution import load_constitution, render_system_prompt

    system = render_system_prompt(load_constitution(SYSTEM_CONSTITUTION))
    conv: list[dict[str, str]] = [{"role": "system", "content": system}]
    for user, reply in HISTORY:
        conv += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    params = SamplingParams(max_new_tokens=max_new, temperature=0.7, top_p=0.95)
    result: dict[str, list[Timed]] = {
        "ttft_cached": [],
        "ttft_fresh": [],
        "turn_cached": [],
        "turn_fresh": [],
    }

    def turn4(seed: int, new_tokens: int, cached: bool) -> Timed:
        turn3 = [*conv, {"role": "user", "content": LAST_TURNS[0]}]
        reply = backend.reply(turn3, params.model_copy(update={"seed": seed})).text
        turn4 = [*turn3, {"role": "assistant", "content": reply}]
        turn4.append({"role": "user", "content": LAST_TURNS[1]})
        if not cached:
            backend.llm.reset()  # forget the KV of turn 3: the whole prompt is evaluated again
        step = params.model_copy(update={"seed": seed, "max_new_tokens": new_tokens})
        start = time.perf_counter()
        out = backend.reply(turn4, step)
        elapsed = time.perf_counter() - start
        if new_tokens == 1:  # a 1-token reply evaluates the prompt only
            result["prompt_tokens"] = [Timed(backend.llm.n_tokens, elapsed)]
        return Timed(out.tokens, elapsed)

    for r in range(runs):
        modes = [True, False] if r % 2 == 0 else [False, True]
        for cached in modes:
            tag = "cached" if cached else "fresh"
            result[f"ttft_{tag}"].append(turn4(r + 1, 1, cached))
            result[f"turn_{tag}"].append(turn4(r + 1, max_new, cached))
    return result


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


def print_llamacpp(measured: dict[str, Any], local: dict[int, float]) -> None:
    """The llama.cpp rows: medians, tokens generated per run, and the ratios."""
    rows = measured["rows"]
    print(
        f"llama.cpp rows: same GGUF (Q4_1), n_ctx={measured['n_ctx']} "
        f"threads={measured['threads']}, 4 prompts per run, batch 1"
    )
    labels = {
        "raw": "raw llama.cpp, backend's sampler chain",
        "stock": "raw, stock chain top_k=0 min_p=0",
        "stock_defaults": "raw, stock chain top_k=40 min_p=0.05",
        "ours": f"interactive path ({measured['engine']})",
    }
    for name, label in labels.items():
        tokens = ", ".join(str(t.tokens) for t in rows[name])
        print(f"{label:<40} {median_rate(rows[name]):7.1f} tok/s   tokens per run: {tokens}")
    cpp = median_rate(rows["raw"])  # the transformers distribution, as the local sampler draws
    for batch, rate in local.items():
        print(f"ratio local/raw llama.cpp at batch {batch}: {rate / cpp:.2f}")
    if local:
        best = max(local, key=local.__getitem__)
        print(f"best: batch {best}, ratio {local[best] / cpp:.2f}")
    print(
        f"ratio interactive/raw, same chain (median of per-run ratios): {measured['ours_over_raw']:.2f}"
    )
    print(f"ratio stock chain top_k=0 / backend's chain (raw): {measured['stock_over_raw']:.2f}")
    print(
        f"ratio stock chain top_k=40 min_p=0.05 / backend's chain (raw): {measured['defaults_over_raw']:.2f}"
    )
    multi = measured["multi_turn"]
    if multi is None:
        return
    prompt = multi["prompt_tokens"][0].tokens
    print(
        f"multi-turn: turn 4 of a pirate-persona chat ({prompt} prompt tokens), KV of turn 3 kept vs dropped"
    )
    for tag in ("cached", "fresh"):
        ttft = statistics.median(t.seconds for t in multi[f"ttft_{tag}"])
        turn = multi[f"turn_{tag}"]
        secs = statistics.median(t.seconds for t in turn)
        tokens = ", ".join(str(t.tokens) for t in turn)
        print(
            f"  {tag:<6} first token {ttft:6.3f}s   full turn {secs:6.2f}s "
            f"{median_rate(turn):6.1f} tok/s   tokens per run: {tokens}"
        )
    speedup = [
        f.seconds / c.seconds
        for c, f in zip(multi["ttft_cached"], multi["ttft_fresh"], strict=True)
    ]
    print(
        f"  first-token speed-up cached vs fresh (median of per-run ratios): {statistics.median(speedup):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-llamacpp", action="store_true")
    parser.add_argument(
        "--llamacpp-only", action="store_true", help="Only the llama.cpp and multi-turn rows."
    )
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
    for batch in [] if args.llamacpp_only else args.batches:
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

    measured = None if args.skip_llamacpp else bench_llamacpp(args.max_new_tokens, args.runs)
    if measured is None:
        print("llama.cpp: not measured (make llamacpp to compare)")
    else:
        print_llamacpp(measured, local)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load_avg_1m at end={load:.1f}")


if __name__ == "__main__":
    main()
