"""The one place secrets are taken out of text before it is written or shown.

A server may echo the key it was sent (a 401 body with the Authorization header in it); that
text then travels through exception messages and tracebacks into log.txt, status.json, the CLI
and the studio. Matching on field names cannot catch that, so every writer passes its text
through `redact_secrets`, which replaces the *values* of the configured secrets wherever they
appear. The values are looked up at call time (settings, environment and `.env`), so a key set
after start-up is still caught.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any, TextIO

SECRET_NAME = re.compile(
    r"(api_?key|secret|password|passwd|(^|_)(auth_|access_)?token$)", re.IGNORECASE
)
"""Names of settings, environment variables and config fields that hold a secret."""

MIN_UNNAMED_SECRET = 8
"""Environment variables outside `Settings` that merely look key-like must be this long to be
treated as secrets: a short value such as `1` would otherwise be struck from every line."""

_dotenv_cache: dict[str, tuple[float, dict[str, str]]] = {}


def _dotenv_values(path: Path) -> dict[str, str]:
    """Key-like entries of a `.env` file, re-read only when it changes."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    key = str(path.resolve())
    cached = _dotenv_cache.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        from dotenv import dotenv_values

        raw = dotenv_values(path)
    except Exception:  # an unreadable .env must never stop a log line being written
        raw = {}
    values = {k: v for k, v in raw.items() if v and SECRET_NAME.search(k)}
    _dotenv_cache[key] = (mtime, values)
    return values


def configured_secrets() -> dict[str, str]:
    """`{secret value: name}` of every secret this process could use.

    The key-like settings (`OPENAI_API_KEY`, `LLM_API_KEY`, `TINKER_API_KEY`, ...) count at any
    length; other key-like variables of the environment or `.env` count from
    `MIN_UNNAMED_SECRET` characters on. Empty values are never secrets.
    """
    found: dict[str, str] = {}

    def add(name: str, value: object, *, any_length: bool) -> None:
        text = str(value).strip() if value is not None else ""
        if not text or (not any_length and len(text) < MIN_UNNAMED_SECRET):
            return
        found.setdefault(text, name)

    try:
        from character.settings import Settings, get_settings

        settings = get_settings()
        for field_name, field in Settings.model_fields.items():
            alias = field.alias or field_name
            if not SECRET_NAME.search(field_name):
                continue
            value = getattr(settings, field_name, None)
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            add(alias, value, any_length=True)
            add(alias, os.environ.get(alias), any_length=True)
        setting_names = {f.alias or n for n, f in Settings.model_fields.items()}
    except Exception:  # settings that fail to load must not stop redaction of the rest
        setting_names = set()
    for name, value in os.environ.items():
        if SECRET_NAME.search(name):
            add(name, value, any_length=name in setting_names)
    for name, value in _dotenv_values(Path(".env")).items():
        add(name, value, any_length=name in setting_names)
    return found


def redact_secrets(text: str) -> str:
    """`text` with every configured secret value replaced by `[redacted NAME]`."""
    if not text:
        return text
    secrets = configured_secrets()
    for value in sorted(secrets, key=len, reverse=True):  # a key inside a longer one
        if value in text:
            text = text.replace(value, f"[redacted {secrets[value]}]")
    return text


def redact_data(value: Any) -> Any:
    """Every string inside dicts, lists and tuples redacted (keys included)."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(v) for v in value)
    return value


class RedactingStream(io.TextIOBase):
    """A text stream that redacts what passes through it, a line at a time.

    Whole lines are redacted so a key written in two pieces (as a traceback or a progress bar
    may do) is still found; `flush()` writes out a partial line as well.
    """

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
        if cut >= 0:
            done, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
            self.target.write(redact_secrets(done))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            done, self._pending = self._pending, ""
            self.target.write(redact_secrets(done))
        self.target.flush()

    def fileno(self) -> int:
        return self.target.fileno()

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


def redact_std_streams() -> None:
    """Route this process's `sys.stdout` and `sys.stderr` through `RedactingStream`: for a
    process whose output goes to a log file (a job's worker), including tracebacks."""
    import sys

    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)  # type: ignore[assignment]
