"""How much does polling a running job cost a UI? Target: read_progress < 50 ms from another
process. Also times list_runs over many run folders and the submit-to-running latency.

Run: .venv/bin/python bench/jobs_poll.py   (uses a temporary data folder)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

POLLER = r"""
import json, sys, time
t0 = time.perf_counter()
from character.jobs import read_progress
t_import = time.perf_counter() - t0
t = time.perf_counter(); read_progress(sys.argv[1]); first = time.perf_counter() - t
ts = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    p = read_progress(sys.argv[1])
    ts.append(time.perf_counter() - t)
    time.sleep(0.005)
print(json.dumps({"import_s": t_import, "first_s": first, "times": ts, "last_step": p.step}))
"""


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jobs-bench-"))
    os.environ["CHARACTER_DATA_PATH"] = str(tmp / "data")
    os.environ["PYTHONPATH"] = str(REPO)
    os.chdir(tmp)
    from character.jobs import cancel, get_run, list_runs, run_foreground, submit

    t = time.perf_counter()
    run_id = submit({"kind": "demo.count", "config": {"n": 100000, "sleep_s": 0.002}})
    submit_s = time.perf_counter() - t
    t = time.perf_counter()
    while get_run(run_id).started_at is None:
        time.sleep(0.01)
    start_s = time.perf_counter() - t
    print(f"submit(): {submit_s * 1000:.1f} ms; worker running after {start_s:.2f} s more")

    out = subprocess.run(
        [sys.executable, "-c", POLLER, run_id, "300"], capture_output=True, text=True, check=True
    )
    res = json.loads(out.stdout)
    ts = sorted(res["times"])
    ms = [x * 1000 for x in ts]
    print(
        f"read_progress from another process while the job writes (n={len(ms)}): "
        f"median {statistics.median(ms):.2f} ms, p95 {ms[int(len(ms) * 0.95)]:.2f} ms, "
        f"max {ms[-1]:.2f} ms, first call {res['first_s'] * 1000:.2f} ms "
        f"(import {res['import_s'] * 1000:.0f} ms, once per process); target < 50 ms: "
        f"{'OK' if ms[int(len(ms) * 0.95)] < 50 else 'MISSED'}"
    )
    cancel(run_id, grace_s=1)

    for _ in range(100):
        run_foreground({"kind": "demo.count", "config": {"n": 2, "sleep_s": 0}})
    t = time.perf_counter()
    runs = list_runs()
    print(f"list_runs over {len(runs)} run folders: {(time.perf_counter() - t) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
