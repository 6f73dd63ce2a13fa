"""Evaluation reports (JSON + plotly figures) and the `character eval` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from character.eval.cli import app
from character.eval.elo import Match, save_matches
from character.eval.persona_classifier import ClassifierConfig
from character.eval.report import EvalConfig, load_report, run_evaluation

pytestmark = pytest.mark.unit
runner = CliRunner()


def _matches(path: Path) -> Path:
    winners = ["tuned"] * 7 + ["base"] * 2 + ["tie", "both_bad"]
    return save_matches(
        [
            Match(prompt=f"p{i}", base_response="b", tuned_response="t", winner=w)
            for i, w in enumerate(winners)
        ],
        path,
    )


def _labelled(path: Path) -> Path:
    rows = [{"text": f"Arr, the sea {i} and me ship!", "in_persona": True} for i in range(10)]
    rows += [{"text": f"Here is a helpful answer {i}.", "in_persona": False} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_run_evaluation_writes_report_and_figures(tmp_path: Path) -> None:
    events = []
    cfg = EvalConfig(
        name="smoke",
        output_dir=tmp_path / "run" / "output",
        classifier=ClassifierConfig(train_path=_labelled(tmp_path / "l.jsonl"), method="tfidf"),
        matches_path=_matches(tmp_path / "m.jsonl"),
        arena=True,
        bootstrap_rounds=50,
    )
    path = run_evaluation(cfg, reporter=events.append)
    assert path == tmp_path / "run" / "output" / "report.json"
    rep = load_report(path.parent)
    assert set(rep["sections"]) == {"classifier", "matches", "arena"}
    assert rep["sections"]["matches"]["tuned_win_rate"]["wins"] == 7
    assert rep["sections"]["arena"]["leaderboard"] is None  # no votes yet, not an error
    assert (tmp_path / "run" / "output" / "classifier" / "classifier.json").exists()
    assert "figures/matches.plotly.json" in rep["figures"]
    for fig in rep["figure_data"].values():
        assert fig["data"]
    assert events[-1].kind == "artifact"

    with pytest.raises(ValueError, match="nothing to evaluate"):
        run_evaluation(EvalConfig(output_dir=tmp_path / "empty"))


def test_eval_job_kind_is_registered() -> None:
    from character.jobs.registry import get_job_kind

    kind = get_job_kind("eval.report")
    assert kind.config_model is EvalConfig
    assert get_job_kind("eval.revealed").config_model.__name__ == "RevealedConfig"


def test_cli_elo_classifier_arena(tmp_path: Path) -> None:
    m = _matches(tmp_path / "m.jsonl")
    res = runner.invoke(
        app, ["elo", "score", "--matches", str(m), "--k-factor", "32", "--rounds", "20"]
    )
    assert res.exit_code == 0, res.output
    assert "order-dependent" in res.output and "Bradley" in res.output

    (tmp_path / "empty.jsonl").write_text("")
    res = runner.invoke(app, ["elo", "score", "--matches", str(tmp_path / "empty.jsonl")])
    assert res.exit_code == 1 and "empty" in res.output

    res = runner.invoke(
        app,
        [
            "classifier",
            "--train",
            str(_labelled(tmp_path / "l.jsonl")),
            "--method",
            "tfidf",
            "--output-dir",
            str(tmp_path / "clf"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "macro-F1" in res.output and (tmp_path / "clf" / "classifier.joblib").exists()

    one = tmp_path / "one.jsonl"
    one.write_text('{"text": "a", "in_persona": true}\n' * 3)
    res = runner.invoke(app, ["classifier", "--train", str(one)])
    assert res.exit_code == 1 and "at least 2 classes" in res.output

    res = runner.invoke(app, ["arena", "leaderboard"])
    assert res.exit_code == 0 and "No votes yet" in res.output
    res = runner.invoke(app, ["arena", "export", "--output", str(tmp_path / "dpo.jsonl")])
    assert res.exit_code == 0 and "wrote 0 pairs" in res.output

    cfg = tmp_path / "eval.yaml"
    cfg.write_text(f"name: cli\nmatches_path: {m}\nbootstrap_rounds: 10\n")
    res = runner.invoke(app, ["report", str(cfg), "--output-dir", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "report.json").exists()
    cfg.write_text("name: cli\nbogus: 1\n")
    res = runner.invoke(app, ["report", str(cfg)])
    assert res.exit_code == 1 and "bogus" in res.output
