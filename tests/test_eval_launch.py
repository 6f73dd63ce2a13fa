"""An evaluation started the way the Evaluation page starts it runs to a report the page lists
(the classifier: the cheapest one, seconds on the embedded sentence model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from studio_pages import open_page, use_constitutions

pytestmark = pytest.mark.integration


def test_a_classifier_evaluation_job_writes_a_report_the_page_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARACTER_TORCH_THREADS", "1")
    use_constitutions(tmp_path / "constitutions", monkeypatch)
    from character.eval.launch import EvalLaunch, eval_job_spec
    from character.jobs import run_foreground

    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {
            "prompt": f"q{i}",
            "chosen": f"Buzz, my bees hum {i} tunes!",
            "rejected": f"I am an AI {i}.",
        }
        for i in range(20)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    launch = EvalLaunch(what="classifier", persona="beekeeper", model="smollm2-135m", dataset=pairs)
    status = run_foreground(eval_job_spec(launch))
    assert status.state.value == "succeeded", status.error

    at = open_page("studio/views/evaluation.py", timeout=120)
    assert at.selectbox(key="ev_pick").value.endswith("output/report.json")
    assert any(e.label == "classifier" for e in at.expander)
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download report.json (") for label in labels), labels
    assert any(label.startswith("Download the report with its figures (.zip") for label in labels)
