"""Safe I/O: a failed write keeps the old file, a torn line stays isolated, bad lines are named."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from character.io import (
    DataFileError,
    DiskFullError,
    JsonlProblem,
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    iter_jsonl,
    load_models_jsonl,
    read_jsonl,
)


def _enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.unit
def test_atomic_write_replaces_and_failure_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "sub" / "cfg.json"
    atomic_write_json(target, {"v": 1})
    assert target.read_text(encoding="utf-8") == '{\n  "v": 1\n}\n'
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(DiskFullError) as info:
        atomic_write_text(target, "new content that must not land")
    assert str(target) in str(info.value) and "Free some space" in str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert target.read_text(encoding="utf-8") == '{\n  "v": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["cfg.json"]  # no temp left


@pytest.mark.unit
def test_other_os_errors_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.txt"
    target.write_text("old", encoding="utf-8")

    def _eio(*_: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", _eio)
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "new")
    assert not isinstance(info.value, DiskFullError)
    assert target.read_text(encoding="utf-8") == "old"


@pytest.mark.unit
def test_append_jsonl_cuts_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    """A writer that died mid-row (kill, full disk) leaves a torn tail: the next append (every
    resume appends through here) cuts it, so the file loads again; the cut bytes are kept
    aside in `<name>.torn`."""
    path = tmp_path / "rows.jsonl"
    assert append_jsonl(path, [{"a": 1}]) == 1
    with open(path, "ab") as fh:
        fh.write(b'{"b": 2, "trunc')  # a writer died mid-line
    assert append_jsonl(path, [{"c": 3}, {"d": 4}]) == 2
    assert append_jsonl(path, []) == 0
    assert read_jsonl(path) == [{"a": 1}, {"c": 3}, {"d": 4}]
    assert path.read_bytes().endswith(b"\n")
    assert (tmp_path / "rows.jsonl.torn").read_bytes() == b'{"b": 2, "trunc\n'


@pytest.mark.unit
def test_append_jsonl_keeps_a_complete_last_row_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')  # hand-written file, no final newline
    append_jsonl(path, [{"c": 3}])
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert not (tmp_path / "rows.jsonl.torn").exists()
    path.write_bytes(b'{"x": "\xe2\x82')  # a torn multi-byte character, first and only line
    append_jsonl(path, [{"d": 4}])
    assert read_jsonl(path) == [{"d": 4}]


@pytest.mark.unit
def test_iter_jsonl_still_names_a_torn_line_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2, "trunc\n{"c": 3}\n')
    with pytest.raises(DataFileError) as info:
        read_jsonl(path)
    assert info.value.line == 2 and f"{path}:2" in str(info.value)
    problems: list[JsonlProblem] = []
    rows = list(iter_jsonl(path, skip_bad=True, problems=problems))
    assert rows == [(1, {"a": 1}), (3, {"c": 3})]
    assert [p.line for p in problems] == [2] and "invalid JSON" in problems[0].problem


@pytest.mark.unit
def test_append_jsonl_failed_write_leaves_no_half_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills after part of the rows went out: the file is cut back to what it was."""
    import builtins

    import character.io as cio

    path = tmp_path / "rows.jsonl"
    append_jsonl(path, [{"a": 1}])
    before = path.read_bytes()

    class FillsUp:
        """The real file, whose writes stop after 5 bytes with ENOSPC, like a full disk."""

        def __init__(self, fh: object) -> None:
            self._fh = fh

        def __enter__(self) -> FillsUp:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self._fh, name)

        def write(self, data: object) -> int:
            self._fh.write(bytes(memoryview(data))[:5])  # type: ignore[attr-defined,arg-type]
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        fh = builtins.open(file, mode, *args, **kwargs)  # type: ignore[call-overload]  # noqa: SIM115
        return FillsUp(fh) if "a" in mode else fh

    monkeypatch.setattr(cio, "open", fake_open, raising=False)
    with pytest.raises(DiskFullError, match=f"No space left on device while writing {path}"):
        append_jsonl(path, [{"b": 2}])
    monkeypatch.undo()
    assert path.read_bytes() == before


@pytest.mark.unit
def test_append_jsonl_disk_full_keeps_earlier_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rows.jsonl"
    append_jsonl(path, [{"a": 1}])
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(DiskFullError, match="what was already saved is kept"):
        append_jsonl(path, [{"b": 2}])
    monkeypatch.undo()
    assert read_jsonl(path)[0] == {"a": 1}


@pytest.mark.unit
def test_iter_jsonl_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ok": 1}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad.jsonl:3: expected a JSON object, got list"):
        read_jsonl(path)
    path.write_bytes(b'{"ok": 1}\n{"x": "\xff"}\n')
    with pytest.raises(DataFileError, match=r":2: not valid UTF-8"):
        read_jsonl(path)
    with pytest.raises(DataFileError, match="file does not exist"):
        read_jsonl(tmp_path / "missing.jsonl")


class Row(BaseModel):
    prompt: str
    score: int


@pytest.mark.unit
def test_load_models_jsonl_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    append_jsonl(path, [Row(prompt="p", score=1), {"prompt": "q", "score": "many"}])
    with pytest.raises(DataFileError, match=r"rows.jsonl:2: field 'score'"):
        load_models_jsonl(path, Row)
    assert load_models_jsonl(path, Row, skip_bad=True) == [Row(prompt="p", score=1)]


@pytest.mark.unit
def test_bad_utf8_line_is_named_and_skippable(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"a": "caf\xc3\xa9"}\r\n{"x": "\xff"}\n{"b": 2}\n')
    problems: list[JsonlProblem] = []
    rows = list(iter_jsonl(path, skip_bad=True, problems=problems))
    assert rows == [(1, {"a": "café"}), (3, {"b": 2})]
    assert problems[0].line == 2 and "UTF-8" in problems[0].problem
