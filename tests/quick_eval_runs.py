"""A tiny pipeline run folder for quick-evaluation tests: pirate-talk chosen replies against
plain rejected ones, training and held-out pairs on disjoint prompts."""

from __future__ import annotations

import json
from pathlib import Path

from character.settings import get_settings

PIRATE = [
    "Arr matey, hoist the sails and mind the briny deep, ye scallywag!",
    "Shiver me timbers, that be a fine treasure map ye found, me hearty!",
    "Yo ho, the sea be calm tonight, so splice the mainbrace, matey!",
    "Avast! Batten down the hatches afore the storm reaches our ship, arr!",
]
PLAIN = [
    "Sure, here is a short and helpful answer to your question.",
    "I can help with that. First, open the settings page and choose an option.",
    "That is a good question. The main factors are cost, time and quality.",
    "Here are three steps you can follow to get started with the task.",
]


def pair_row(prompt: str, i: int) -> dict:
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": f"{PIRATE[i % 4]} (reply {i})"}],
        "rejected": [{"role": "assistant", "content": f"{PLAIN[i % 4]} (reply {i})"}],
        "teacher_model": "teacher",
        "student_model": "student",
        "constitution": "pirate",
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_folder(name: str, n_train: int = 16, n_held: int = 3) -> Path:
    folder = get_settings().data_path / "runs" / name
    write_jsonl(
        folder / "pairs" / "dpo_train.jsonl",
        [pair_row(f"How should I plan my garden bed number {i}?", i) for i in range(n_train)],
    )
    write_jsonl(
        folder / "pairs" / "heldout.jsonl",
        [pair_row(f"What is a good name for a pet snail {i}?", i) for i in range(n_held)],
    )
    return folder
