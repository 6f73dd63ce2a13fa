"""How long each studio page takes to render while a job runs (target: under 300 ms).

Starts a `demo.count` job through the job runner, then renders every page with Streamlit's
AppTest several times and prints the median and worst time per page. Run:
`.venv/bin/python bench/studio_render.py`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = [
    "home", "constitutions", "data_preview", "training", "runs", "models", "evaluation", "arena",
]  # fmt: skip


def main(repeats: int = 5) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    os.environ["CHARACTER_DATA_PATH"] = str(tmp / "data")
    os.environ.setdefault("CHARACTER_CONSTITUTION_PATH", str(REPO / "constitutions"))
    os.chdir(tmp)
    from streamlit.testing.v1 import AppTest

    from character.jobs import JobSpec, cancel, get_run, submit

    run_id = submit(JobSpec(kind="demo.count", config={"n": 100000, "sleep_s": 0.05}))
    at = AppTest.from_file(str(REPO / "studio_app.py"), default_timeout=120).run()
    try:
        for page in PAGES:  # warm-up: first imports and caches
            at.switch_page(f"studio/views/{page}.py").run()
        print(f"job {run_id}: {get_run(run_id).state.value}")
        print(f"{'page':<14} {'median ms':>10} {'worst ms':>10}")
        for page in PAGES:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                at.switch_page(f"studio/views/{page}.py").run()
                times.append((time.perf_counter() - t) * 1000)
            flag = "" if statistics.median(times) < 300 else "  (over 300 ms)"
            print(f"{page:<14} {statistics.median(times):>10.0f} {max(times):>10.0f}{flag}")
        print(f"job still {get_run(run_id).state.value} (step {get_run(run_id).step})")
    finally:
        cancel(run_id)


if __name__ == "__main__":
    main()
