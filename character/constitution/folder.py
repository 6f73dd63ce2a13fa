"""Which file a persona name means: the constitutions folder, same-name files, resolution.

Why: one folder tree may hold `pirate.json` and the recipe's `pirate.txt`; the richer format is
used and the notice says which file is used and which is ignored, instead of shadowing silently.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from character.constitution.files import load_constitution
from character.constitution.model import Constitution, ConstitutionError

CONSTITUTION_SUFFIXES = (".json", ".yaml", ".yml", ".jsonl", ".txt")
"""Also the precedence when one folder tree holds several files of the same name: the richer
format wins (a studio `.json` over the recipe's trait-only `.txt`; OCT's few-shot `.jsonl`, the
hand-written traits plus more questions, over its `.txt`)."""


class ConstitutionShadowWarning(UserWarning):
    """Two constitution files share a name; the message says which one is used."""


def find_constitutions(
    root: Path | str | None = None,
) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """`(used, shadowed)`: the file used for each name under the constitutions folder
    (recursive, drafts excluded), and the other files of the same name that it hides."""
    from character.settings import get_settings

    root = Path(root) if root else get_settings().constitution_path
    by_name: dict[str, list[Path]] = {}
    if not root.exists():
        return {}, {}
    for path in root.rglob("*"):
        if (
            path.suffix.lower() in CONSTITUTION_SUFFIXES
            and path.is_file()
            and "drafts" not in path.relative_to(root).parts
        ):
            by_name.setdefault(path.stem, []).append(path)
    used: dict[str, Path] = {}
    shadowed: dict[str, list[Path]] = {}
    for name in sorted(by_name):
        paths = sorted(
            by_name[name], key=lambda p: (CONSTITUTION_SUFFIXES.index(p.suffix.lower()), str(p))
        )
        used[name] = paths[0]
        if len(paths) > 1:
            shadowed[name] = paths[1:]
    return used, shadowed


def list_constitutions(root: Path | str | None = None) -> dict[str, Path]:
    """Name → the file used for it under the constitutions folder (see `find_constitutions`)."""
    return find_constitutions(root)[0]


def shadow_notice(name: str, root: Path | str | None = None) -> str | None:
    """A sentence saying which file is used for `name` and which it hides, or None."""
    used, shadowed = find_constitutions(root)
    if name not in shadowed:
        return None
    hidden = ", ".join(str(p) for p in shadowed[name])
    return (
        f"persona {name!r}: using {used[name]}; ignoring {hidden} (same name; rename a file, or "
        "pass its path, to use it)"
    )


def latest_constitution(root: Path | str | None = None) -> str | None:
    """The persona whose file was saved last: what a person was just working on, even in a
    fresh browser session (the studio's pickers default to it)."""
    known = list_constitutions(root)
    if not known:
        return None

    def saved_at(name: str) -> float:
        try:
            return known[name].stat().st_mtime
        except OSError:
            return 0.0

    return max(known, key=saved_at)


def resolve_constitution(ref: str | Path | Constitution) -> Constitution:
    """Accept a Constitution, a path, or a persona name found under the constitutions folder.
    A name that several files share resolves by `CONSTITUTION_SUFFIXES` precedence, with a
    `ConstitutionShadowWarning` naming the file used."""
    if isinstance(ref, Constitution):
        return ref
    path = Path(ref)
    if path.suffix.lower() in CONSTITUTION_SUFFIXES and path.exists():
        return load_constitution(path)
    known, _ = find_constitutions()
    if str(ref) in known:
        notice = shadow_notice(str(ref))
        if notice:
            warnings.warn(notice, ConstitutionShadowWarning, stacklevel=2)
        return load_constitution(known[str(ref)])
    names = ", ".join(sorted(known)) or "(none found)"
    raise ConstitutionError(
        str(ref), [f"no such constitution file or persona; known personas: {names}"]
    )
