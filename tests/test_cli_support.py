"""The shared CLI error line prints messages literally (brackets are not rich markup)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from character.cli_support import fail

pytestmark = pytest.mark.unit


def test_fail_keeps_brackets_and_sets_the_exit_code() -> None:
    app = typer.Typer()

    @app.command()
    def boom(code: int = 1) -> None:
        fail("choose one of [a, b]; bad line in [/tmp/x.jsonl]", code=code)

    res = CliRunner().invoke(app, ["--code", "3"])
    assert res.exit_code == 3
    assert "Error: choose one of [a, b]; bad line in [/tmp/x.jsonl]" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_a_command_error_names_a_bracketed_path_in_full(tmp_path: Path) -> None:
    from character.cli import _register_subcommands, app

    folder = tmp_path / "[draft]"
    folder.mkdir()
    spec = folder / "bad.yaml"
    spec.write_text("kind: demo.count\nconfig:\n  n: -3\n", encoding="utf-8")
    _register_subcommands()
    res = CliRunner().invoke(app, ["jobs", "submit", str(spec)])
    assert res.exit_code == 1
    assert str(spec) in " ".join(res.output.split()) and "config.n" in res.output
