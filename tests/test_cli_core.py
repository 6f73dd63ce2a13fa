"""The `character` command's core groups: constitution, models, sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from character.cli import app
from character.constitution import load_constitution

REPO = Path(__file__).resolve().parent.parent
PIRATE = REPO / "constitutions" / "hand-written" / "pirate.json"
runner = CliRunner()


class _Result:
    """Exit code and output with rich's line wrapping undone (it wraps at 80 columns)."""

    def __init__(self, res) -> None:  # noqa: ANN001
        self.exit_code = res.exit_code
        self.raw = res.output
        self.output = " ".join(res.output.split())


def _run(*args: str) -> _Result:
    return _Result(runner.invoke(app, list(args), catch_exceptions=False))


@pytest.mark.unit
def test_validate_ok_files() -> None:
    files = sorted((REPO / "constitutions" / "hand-written").glob("*.json"))
    res = _run("constitution", "validate", *map(str, files))
    assert res.exit_code == 0, res.output
    assert res.output.count("✓") == len(files)
    assert "'pirate', 10 traits, 50 questions" in res.output


@pytest.mark.unit
def test_validate_bad_file_lists_fields_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Not Valid\ntraits:\n  - questions: ['hi?']\nsafety: nope\n", "utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",\n "traits": [\n}', "utf-8")
    res = _run("constitution", "validate", str(PIRATE), str(bad), str(broken))
    assert res.exit_code == 1
    out = res.output
    assert "✓" in out and out.count("✗") == 2  # the good file is still reported
    assert "[red]" not in out
    for field in ("Persona id must be", "Trait 1: the trait text is missing [traits.0.trait]"):
        assert field in out, out
    assert "[safety]" in out and "[name]" in out
    assert "JSON syntax error at line 3" in out
    assert str(bad) in out and str(broken) in out


@pytest.mark.unit
def test_show_pirate_as_prompt_and_formats() -> None:
    res = _run("constitution", "show", "pirate", "--format", "prompt")
    assert res.exit_code == 0
    assert res.output.startswith("You are Captain Calico")
    assert "Fair winds, matey!" in res.output
    txt = _run("constitution", "show", str(PIRATE), "--format", "txt")
    assert json.loads(txt.raw)[0]["trait"].startswith("I speak like an old sea captain")
    bad = _run("constitution", "show", "pirate", "--format", "xml")
    assert bad.exit_code == 1 and "unknown format" in bad.output
    missing = _run("constitution", "show", "no-such-persona")
    assert missing.exit_code == 1 and "known personas" in missing.output


@pytest.mark.unit
def test_new_from_template_and_refuses_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "my-bot.json"
    res = _run("constitution", "new", "my-bot", "--out", str(target))
    assert res.exit_code == 0, res.output
    c = load_constitution(target)
    assert c.name == "my-bot" and len(c.traits) >= 8 and c.lint() == []
    before = target.read_bytes()
    again = _run("constitution", "new", "my-bot", "--out", str(target))
    assert again.exit_code == 1 and "exists" in again.output
    assert target.read_bytes() == before
    bad_name = _run("constitution", "new", "Bad Name", "--out", str(tmp_path / "b.json"))
    assert bad_name.exit_code == 1 and not (tmp_path / "b.json").exists()


@pytest.mark.unit
def test_new_with_description_drafts_through_a_model(tmp_path: Path, tiny_model_dir) -> None:
    target = tmp_path / "beekeeper.yaml"
    res = _run(
        "constitution",
        "new",
        "beekeeper",
        "-d",
        "a patient beekeeper who explains science with bees",
        "-m",
        str(tiny_model_dir),
        "-o",
        str(target),
    )
    assert res.exit_code == 0, res.output
    assert "questions and" in res.output and "examples written by" in res.output
    # a random model writes nothing usable, and the draft says so with the quality findings
    assert "needs editing before training" in res.output and "Examples (blocking)" in res.output
    c = load_constitution(target)
    assert c.name == "beekeeper" and len(c.traits) >= 8
    unknown = _run("constitution", "new", "x", "-d", "a poet", "-m", "no-such-model")
    assert unknown.exit_code == 1 and "Known models" in unknown.output


@pytest.mark.unit
def test_diff_command(tmp_path: Path) -> None:
    c = load_constitution(PIRATE)
    edited = c.model_copy(update={"display_name": "Captain Calico II", "traits": c.traits[1:]})
    path = tmp_path / "pirate2.json"
    path.write_text(edited.to_json(), "utf-8")
    res = _run("constitution", "diff", "pirate", str(path))
    assert res.exit_code == 0
    assert "- trait: I speak like an old sea captain" in res.output
    assert "display_name" in res.output
    same = _run("constitution", "diff", "pirate", str(PIRATE))
    assert same.output.strip() == "no changes"


@pytest.mark.unit
def test_models_list_shows_embedded() -> None:
    res = _run("models", "list")
    assert res.exit_code == 0
    assert "smollm2-135m" in res.output and "local" in res.output


@pytest.mark.unit
def test_python_dash_m_help_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "character", "constitution", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    for cmd in ("validate", "show", "new", "diff"):
        assert cmd in out.stdout


@pytest.mark.unit
def test_sample_rejects_unknown_model_and_constitution() -> None:
    res = _run("sample", "hi", "--model", "nope-model")
    assert res.exit_code == 1 and "Known models" in res.output
    res = _run("sample", "hi", "--constitution", "no-such-persona")
    assert res.exit_code == 1 and "known personas" in res.output
    res = _run("sample", "hi", "--constitution", "pirate", "--prompt-style", "huge")
    assert res.exit_code == 1 and "prompt_style" in res.output and "'compact'" in res.output


@pytest.mark.integration
def test_sample_with_pirate_constitution_prints_text(embedded_model_dir) -> None:
    res = _run(
        "sample",
        "--constitution",
        str(PIRATE),
        "How do I learn Python?",
        "--seed",
        "1",
        "--max-new-tokens",
        "60",
    )
    assert res.exit_code == 0, res.output
    text = res.output.strip()
    assert len(text.split()) >= 10, text


@pytest.mark.unit
def test_check_prints_the_quality_report_and_fails_when_unusable(tmp_path: Path) -> None:
    ok = _run("constitution", "check", "pirate")
    assert ok.exit_code == 0, ok.output
    assert "passes the quality checks" in ok.output
    bad = load_constitution(PIRATE).model_copy(update={"examples": []})
    bad.traits[1].trait = "I think you're old-fashioned."
    path = tmp_path / "bad.json"
    path.write_text(bad.model_dump_json(), encoding="utf-8")
    res = _run("constitution", "check", str(path))
    assert res.exit_code == 1
    assert "needs editing" in res.output
    assert "Trait 2 (blocking)" in res.output and "Examples (blocking)" in res.output
    as_json = _run("constitution", "check", str(path), "--json")
    assert json.loads(as_json.raw)["usable"] is False
