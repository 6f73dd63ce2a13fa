"""A SQLite (WAL) index of runs and what they produced, with lineage.

The folders are the truth: the index is a cache for fast queries ("which run made this
adapter, from which dataset?") and `rebuild_index()` recreates it from the run folders when it
is missing or corrupt.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from character.jobs.models import RunStatus
from character.jobs.store import (
    CONFIG,
    list_run_dirs,
    read_artifacts,
    read_status,
    runs_root,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, display_name TEXT, state TEXT,
    resource TEXT, created_at REAL, finished_at REAL, run_dir TEXT, resume_of TEXT
);
CREATE TABLE IF NOT EXISTS artifacts (
    path TEXT NOT NULL, type TEXT NOT NULL, run_id TEXT NOT NULL, name TEXT, created_at REAL,
    PRIMARY KEY (path, run_id)
);
CREATE TABLE IF NOT EXISTS inputs (
    run_id TEXT NOT NULL, path TEXT NOT NULL, field TEXT NOT NULL,
    PRIMARY KEY (run_id, path, field)
);
CREATE INDEX IF NOT EXISTS artifacts_type ON artifacts(type);
CREATE INDEX IF NOT EXISTS inputs_path ON inputs(path);
"""


def default_artifact_type(kind: str) -> str:
    """What a kind's outputs are, by naming convention (`*.generate` makes datasets...)."""
    if kind.startswith("eval"):
        return "eval_report"
    if kind.startswith("export"):
        return "export"
    if kind.endswith(".generate") or kind.endswith(".dataset"):
        return "dataset"
    if kind.endswith(".train") or kind == "pipeline":
        return "adapter"
    return "file"


def artifact_type_of(path: str | Path, default: str) -> str:
    """A training kind's outputs are adapters by default, but the whole recipe also writes
    pairs, summaries and its run folder: only a PEFT folder is an adapter, or the lineage
    would offer a JSONL file as a model."""
    if default != "adapter":
        return default
    p = Path(path)
    if (p / "adapter_config.json").exists():
        return "adapter"
    return "dataset" if p.suffix == ".jsonl" else "file"


def index_path(data_path: Path | None = None) -> Path:
    return runs_root(data_path).parent / "index.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=15.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


@contextlib.contextmanager
def connect(data_path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection to the index; a corrupt database is moved aside and rebuilt."""
    path = index_path(data_path)
    try:
        conn = _connect(path)
        conn.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.OperationalError:
        raise  # locked or busy: not corruption, never throw the index away for it
    except sqlite3.DatabaseError:
        _move_aside(path)
        rebuild_index(data_path)
        conn = _connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _move_aside(path: Path) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            with contextlib.suppress(OSError):
                os.replace(p, p.with_name(f"{p.name}.corrupt-{stamp}"))


def _input_paths(config: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Config values that name an existing file or folder (datasets, adapters, models)."""
    out: list[tuple[str, str]] = []
    if isinstance(config, dict):
        for key, value in config.items():
            out.extend(_input_paths(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            out.extend(_input_paths(value, f"{prefix}[{i}]"))
    elif (
        isinstance(config, str)
        and 0 < len(config) < 4096
        and "output" not in prefix.lower()
        and ("/" in config or config.endswith((".jsonl", ".json", ".yaml", ".txt")))
    ):
        with contextlib.suppress(OSError, ValueError):
            p = Path(config).expanduser()
            if p.exists():
                out.append((prefix, str(p.resolve())))
    return out


def _write_run(conn: sqlite3.Connection, run_dir: Path, st: RunStatus) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
        (
            st.run_id,
            st.kind,
            st.display_name,
            st.state.value,
            st.resource,
            st.created_at,
            st.finished_at,
            str(run_dir),
            st.resume_of,
        ),
    )
    conn.execute("DELETE FROM artifacts WHERE run_id=?", (st.run_id,))
    conn.execute("DELETE FROM inputs WHERE run_id=?", (st.run_id,))
    for art in read_artifacts(run_dir).artifacts:
        path = str(Path(art.path).expanduser().resolve())
        conn.execute(
            "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?)",
            (path, art.type, st.run_id, art.name, art.created_at),
        )
    config: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        config = (yaml.safe_load((run_dir / CONFIG).read_text("utf-8")) or {}).get("config", {})
    for field, path in _input_paths(config):
        conn.execute("INSERT OR REPLACE INTO inputs VALUES (?,?,?)", (st.run_id, path, field))


def index_run(run_dir: Path) -> None:
    """Bring one run's rows up to date (called on submit and when a run ends)."""
    st = read_status(run_dir)
    with connect(run_dir.parent.parent) as conn:
        _write_run(conn, run_dir, st)


def rebuild_index(data_path: Path | None = None) -> int:
    """Recreate the index from the run folders; returns the number of runs indexed."""
    path = index_path(data_path)
    tmp = path.with_name(path.name + ".rebuild")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(tmp) + suffix)
    conn = _connect(tmp)
    n = 0
    try:
        with conn:
            for run_dir in list_run_dirs(data_path):
                _write_run(conn, run_dir, read_status(run_dir))
                n += 1
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(path) + suffix)
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(tmp) + suffix)
    return n


def list_artifacts(type: str | None = None, data_path: Path | None = None) -> list[dict]:
    """Datasets, adapters, evaluation reports and exports, newest first."""
    with connect(data_path) as conn:
        conn.row_factory = sqlite3.Row
        q = "SELECT a.*, r.kind, r.state FROM artifacts a JOIN runs r USING (run_id)"
        args: tuple[Any, ...] = ()
        if type:
            q += " WHERE a.type=?"
            args = (type,)
        rows = conn.execute(q + " ORDER BY a.created_at DESC", args).fetchall()
    return [dict(r) for r in rows]


def lineage(path: str | Path, data_path: Path | None = None, depth: int = 10) -> list[dict]:
    """The chain of runs behind an artifact: the run that made it, that run's inputs, the runs
    that made those inputs, and so on (nearest first)."""
    out: list[dict] = []
    seen: set[str] = set()
    frontier = [str(Path(path).expanduser().resolve())]
    with connect(data_path) as conn:
        conn.row_factory = sqlite3.Row
        for _ in range(depth):
            nxt: list[str] = []
            for p in frontier:
                for row in conn.execute(
                    "SELECT r.* FROM artifacts a JOIN runs r USING (run_id) WHERE a.path=?", (p,)
                ):
                    if row["run_id"] in seen:
                        continue
                    seen.add(row["run_id"])
                    inputs = [
                        dict(i)
                        for i in conn.execute(
                            "SELECT path, field FROM inputs WHERE run_id=?", (row["run_id"],)
                        )
                    ]
                    out.append({**dict(row), "artifact": p, "inputs": inputs})
                    nxt.extend(i["path"] for i in inputs)
            if not nxt:
                break
            frontier = nxt
    return out


def runs_using(path: str | Path, data_path: Path | None = None) -> list[str]:
    """Runs that took this file or folder as an input."""
    p = str(Path(path).expanduser().resolve())
    with connect(data_path) as conn:
        return [r[0] for r in conn.execute("SELECT run_id FROM inputs WHERE path=?", (p,))]
