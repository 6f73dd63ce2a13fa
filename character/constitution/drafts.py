"""Drafts: every saved version of a persona, for the studio's side-by-side comparison.

Why: a person tries wording after wording; each saved version is kept under
`<constitution_path>/drafts/<name>/` with a note on what changed, so the list reads as a history.
"""

from __future__ import annotations

import re
from pathlib import Path

from character.constitution.diff import diff_constitutions
from character.constitution.files import load_constitution
from character.constitution.model import NAME_PATTERN, Constitution, ConstitutionError
from character.io import atomic_write_text

DRAFTS_DIR = "drafts"


def drafts_dir(name: str, root: Path | str | None = None) -> Path:
    from character.settings import get_settings

    base = Path(root) if root else get_settings().constitution_path
    if not NAME_PATTERN.match(name):
        raise ValueError(f"invalid constitution name {name!r}")
    return base / DRAFTS_DIR / name


def list_drafts(name: str, root: Path | str | None = None) -> list[Path]:
    """Saved drafts of `name`, oldest first (timestamps sort as text)."""
    folder = drafts_dir(name, root)
    if not folder.exists():
        return []
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


DRAFT_NOTE_SEP = "--"


def save_draft(constitution: Constitution, root: Path | str | None = None, note: str = "") -> Path:
    """Store a version under `<constitution_path>/drafts/<name>/<UTC time>--<note>.json`.

    `note` is a few words on what this version is ("more bee metaphors"); without one, what
    changed since the previous draft is used ("1 trait added"), so a list of drafts reads as
    a history rather than a column of timestamps. Saving content identical to the latest
    draft returns that draft instead of a duplicate.
    """
    from datetime import datetime, timezone

    existing = list_drafts(constitution.name, root)
    previous: Constitution | None = None
    if existing:
        try:
            previous = load_constitution(existing[-1])
            if previous.content_hash() == constitution.content_hash():
                return existing[-1]
        except ConstitutionError:
            pass  # a damaged latest draft: keep it and write a fresh one
    if not note.strip():
        note = diff_constitutions(previous, constitution).headline() if previous else "first draft"
    slug = re.sub(r"[^a-z0-9]+", "-", note.lower()).strip("-")[:48].strip("-")
    folder = drafts_dir(constitution.name, root)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    tail = f"{DRAFT_NOTE_SEP}{slug}" if slug else ""
    path = folder / f"{stamp}{tail}.json"
    n = 1
    while path.exists():
        path = folder / f"{stamp}-{n}{tail}.json"
        n += 1
    atomic_write_text(path, constitution.to_json())
    return path


def draft_label(path: Path | str) -> str:
    """How a draft is named to people: "beekeeper · 1 trait added · 5 Dec 08:30:12 UTC"."""
    from datetime import datetime

    path = Path(path)
    stamp, _, slug = path.stem.partition(DRAFT_NOTE_SEP)
    when = stamp
    match = re.match(r"^(\d{8}T\d{6})", stamp)
    if match:
        t = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        when = f"{t.day} {t:%b %H:%M:%S} UTC"
    parts = [path.parent.name, slug.replace("-", " ").strip(), when]
    return " · ".join(p for p in parts if p)
