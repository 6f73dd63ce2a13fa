"""`character sources ...` and `python -m character.sources.transcripts_cli`: options, speaker
listing, and plain-word errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from character.cli import SUBCOMMANDS
from character.sources.cli import app

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parent.parent
LIGHTHOUSE = REPO / "examples" / "transcripts" / "lighthouse"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, " ".join(res.output.split())


def test_module_cli_has_the_seed_options() -> None:
    assert ("character.sources.cli", "app", "sources") in SUBCOMMANDS
    out = subprocess.run(
        [sys.executable, "-m", "character.sources.transcripts_cli", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for opt in (
        "MODEL_NAME",
        "--device",
        "--batch-size",
        "--max-length",
        "--gradient-accumulation",
        "--epochs",
        "--data-folder",
        "--format",
        "--extensions",
        "--target",
        "--list-speakers",
    ):
        assert opt.lower() in out.stdout.lower(), opt


def test_list_speakers_and_bad_input(tmp_path: Path) -> None:
    code, out = _run(
        "transcripts",
        "--data-folder",
        str(LIGHTHOUSE),
        "--format",
        "raw",
        "--list-speakers",
    )
    assert code == 0, out
    assert "MARGARET" in out and "TOMMY" in out and "ELLIS" in out and "30" in out

    code, out = _run(
        "transcripts",
        "--data-folder",
        str(LIGHTHOUSE),
        "--format",
        "raw",
        "--target",
        "tommy",
    )
    assert code == 1 and "at least 20 are needed" in out

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jsonl").write_text(
        json.dumps({"speaker": "A", "text": "hi"}) + "\n" + json.dumps({"text": "no one"}) + "\n"
    )
    code, out = _run("transcripts", "--data-folder", str(bad), "--list-speakers")
    assert code == 0 and "a.jsonl:2: line without a speaker" in out

    code, out = _run("transcripts", "--data-folder", str(tmp_path / "nope"))
    assert code == 1 and "is not a folder" in out


def test_augment_and_experience_commands_refuse_bad_input() -> None:
    code, out = _run("augment", "no-such-persona")
    assert code == 1 and "Error" in out
    code, out = _run("experience", "Ada")
    assert code == 1 and "profile" in out


def test_play_layout_trains_through_the_command_and_prints_truncation(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A raw play (front matter, then 'Ham.' headings) imports with --min-parsed-share, trains
    one step on the tiny model, and the command itself says how many examples were truncated."""
    folder = tmp_path / "play"
    folder.mkdir()
    front = "".join(f"Persons of the play, line {i}, in prose\n" for i in range(30))
    for scene in range(4):
        body = [f"SCENE {'I' * (scene + 1)}. A room.", ""]
        for i in range(6):
            body += ["Hor.", f"My lord, question {scene}-{i}?", "", "Ham."]
            body += ["A long answer that runs on and on over many words " * 4, ""]
        (folder / f"scene{scene}.txt").write_text(front * (scene == 0) + "\n".join(body))
    args = ["transcripts", str(tiny_model_dir), "--data-folder", str(folder), "--format", "raw"]
    code, out = _run(*args, "--list-speakers")
    assert code == 1 and "--min-parsed-share" in out  # the front matter sinks scene0.txt
    code, out = _run(
        *args,
        "--min-parsed-share",
        "0.3",
        "--target",
        "Ham",
        "--max-length",
        "48",
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--lora-rank",
        "2",
        "--no-evaluate",
        "--output-dir",
        str(tmp_path / "run"),
    )
    assert code == 0, out
    assert "Adapter saved" in out
    assert "training examples are longer than max_length=48 tokens and were truncated" in out
