"""A model asked for but not used by the persona classifier is said so: in the report
(`embedding_model_used`, `warnings`), on the command line, and on the studio's Runs page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from studio_pages import open_page, use_constitutions

pytestmark = pytest.mark.unit

OPENERS = {
    "pirate": ["Arr", "Ahoy", "Avast"],
    "robot": ["Beep", "Processing", "Affirmative"],
}


def _data(path: Path) -> Path:
    rows = [
        {"text": f"{opener}! item {i} of {label} talk", "label": label}
        for label, openers in OPENERS.items()
        for i in range(8)
        for opener in openers[i % 3 : i % 3 + 1]
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_says_roberta_was_not_used_and_names_the_minilm_fallback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from character.cli import _register_subcommands, app

    _register_subcommands()
    data = _data(tmp_path / "train.jsonl")
    out = tmp_path / "clf"
    res = CliRunner().invoke(
        app,
        ["eval", "classifier", "--train", str(data), "--model", "roberta-base"]
        + ["--output-dir", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "Warning: model 'roberta-base' was NOT used" in res.output
    assert "all-MiniLM-L6-v2 embeddings" in res.output
    assert "embedding (all-MiniLM-L6-v2)" in res.output
    saved = json.loads((out / "classifier_report.json").read_text(encoding="utf-8"))
    assert saved["requested_model"] == "roberta-base"
    assert saved["embedding_model_used"] == "all-MiniLM-L6-v2"
    assert saved["method"] == "embedding" and "NOT used" in saved["warnings"][0]


def test_explicit_method_ignoring_the_model_warns_and_plain_runs_do_not(tmp_path: Path) -> None:
    from character.eval.persona_classifier import ClassifierConfig, train_classifier

    data = _data(tmp_path / "train.jsonl")
    rep = train_classifier(ClassifierConfig(train_path=data, method="tfidf", model_name="x/y"))
    assert rep.embedding_model_used is None
    assert rep.warnings and "model 'x/y' was NOT used" in rep.warnings[0]
    assert "TF-IDF" in rep.warnings[0] and "--method transformer" in rep.warnings[0]
    plain = train_classifier(ClassifierConfig(train_path=data, method="tfidf"))
    assert plain.warnings == [] and plain.requested_model is None


def test_runs_page_shows_the_warning_of_a_classifier_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from character.jobs import run_foreground

    use_constitutions(tmp_path / "constitutions", monkeypatch)
    data = _data(tmp_path / "train.jsonl")
    st = run_foreground(
        {
            "kind": "eval.classifier",
            "config": {"train_path": str(data), "method": "tfidf", "model_name": "roberta-base"},
        }
    )
    assert st.state.value == "succeeded", st.error
    at = open_page("studio/views/runs.py")
    warnings = [w.value for w in at.warning]
    assert any("model 'roberta-base' was NOT used" in w for w in warnings), warnings
    assert any("Classifier features: TF-IDF" in c.value for c in at.caption)
