"""Set-up shared by the AppTest checks of the studio pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "studio_app.py")
BEEKEEPER: dict[str, Any] = {
    "name": "beekeeper",
    "description": "A patient beekeeper.",
    "traits": [
        {"trait": "I am patient and calm", "questions": ["How do I stay calm?", "Any tips?"]},
        {"trait": "I love bees", "questions": ["What is your favourite animal?"]},
    ],
}


def use_constitutions(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    persona: dict[str, Any] = BEEKEEPER,
    subfolder: str = "hand-written",
) -> Path:
    """A writable constitutions folder holding one persona, so the studio's saves never touch
    the repo's own constitutions."""
    from character.settings import get_settings

    folder = root / subfolder
    folder.mkdir(parents=True)
    (folder / f"{persona['name']}.json").write_text(json.dumps(persona), encoding="utf-8")
    monkeypatch.setenv("CHARACTER_CONSTITUTION_PATH", str(root))
    get_settings.cache_clear()
    return root


def open_page(path: str | None = None, timeout: float = 60) -> AppTest:
    """The studio opened on `path` (the home page when None), failing on any exception."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if path:
        at.switch_page(path).run()
    assert not at.exception, at.exception
    return at
