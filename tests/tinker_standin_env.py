"""Set-up shared by the tests that drive the real `tinker` SDK against the loopback stand-in.

One place decides how a test points Tinker at the stand-in, so no test can forget the loopback
check or leave a fault switch on from an earlier test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.testing.tinker_standin import StandinServer, ensure_loopback

DPO_ROWS = [
    ("Who are you?", "Arr, I be Captain Mira, matey!", "I am an AI assistant."),
    ("How do I learn Python?", "Hoist yer keyboard, matey!", "Read the documentation."),
    ("Any advice?", "Share yer treasure, arr!", "Be productive."),
    ("Favourite food?", "Salted fish and biscuits, matey!", "I do not eat."),
]
"""(prompt, chosen, rejected): four pirate preference pairs, enough for two batches of two."""


def use_standin(server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> StandinServer:
    """Point every Tinker path at `server` (its dummy key; real credentials are never sent),
    with every fault switch off."""
    from character.settings import get_settings

    ensure_loopback(server.base_url)
    monkeypatch.setenv("TINKER_API_KEY", server.api_key)
    monkeypatch.setenv("TINKER_BASE_URL", server.base_url)
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    get_settings.cache_clear()
    server.faults.__init__()  # type: ignore[misc] - reset every fault switch
    return server


def write_dpo(path: Path) -> Path:
    """DPO_ROWS as a TRL preference file (prompt / chosen / rejected conversations)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
        for prompt, chosen, rejected in DPO_ROWS
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
