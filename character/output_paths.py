"""Where an action may write: the one check every output path, folder and name goes through.

Three probes went wrong before this existed: `--output-dir` into a user's model folder replaced
its README.md and tokenizer.json; `--save-name ../../x` climbed out of `checkpoints/`; a job
YAML with `output_path: /etc/cron.d/...` started. The rules:

- outputs stay inside the data folder (`CHARACTER_DATA_PATH`), the checkpoint folder or the
  working folder the command runs in (where the README's `exports/...` and `data/...` paths
  live), unless the config says `allow_outside_data_dir: true` (`--allow-outside-data`);
- an existing, non-empty folder is written into only when it is ours: it carries our marker
  (`.open-character.json`, written when a folder is first claimed) or the files our runs
  leave (provenance, training config, adapter record, export manifest, run status);
- a name that becomes a folder (`save_name`) is one plain path component.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

MARKER = ".open-character.json"
OURS_FILES = (
    MARKER,
    "provenance.json",
    "training_config.json",
    "character_adapter.json",
    "character_lineage.json",
    "round.json",
    "tinker_source.json",
    "tinker_run.json",
    "manifest.json",
    "status.json",
)
"""Files whose presence makes a folder ours (older outputs predate the marker)."""

DIR_FIELDS = ("output_dir", "out_dir", "merged_dir")
FILE_FIELDS = ("output_path",)
NAME_FIELDS = ("save_name",)
ALLOW_FIELD = "allow_outside_data_dir"


class OutputPathError(ValueError):
    """An output path breaks the rules above; the message names the field and the path."""

    def __init__(self, field: str, path: Path | str, problem: str) -> None:
        self.field, self.path, self.problem = field, str(path), problem
        super().__init__(f"{field}: {path} {problem}")


def check_name(value: str, field: str = "save_name") -> str:
    """A name that becomes one folder: no separators, no `..`, no hidden or option-like names."""
    bad = (
        not value
        or value in (".", "..")
        or any(sep in value for sep in ("/", "\\", "\0"))
        or value.startswith((".", "-", "~"))
        or len(value) > 200
    )
    if bad:
        raise OutputPathError(
            field,
            repr(value),
            "is not a plain folder name: use letters, digits, '-', '_' or '.', with no '/' "
            "or '..' and not starting with '.', '-' or '~'",
        )
    return value


def _name_validator(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_name(value)
    except OutputPathError as exc:  # pydantic adds the field's location itself
        raise ValueError(exc.problem) from None


def allow_outside_field() -> Any:
    """The `allow_outside_data_dir` field every config with an output path carries."""
    return Field(
        default=False,
        description="Let output paths point outside the data folder (CLI: --allow-outside-data).",
    )


SafeName = Annotated[str, AfterValidator(_name_validator)]
"""A config field type for names that become a folder (`save_name`)."""


def allowed_roots() -> list[Path]:
    """The folders outputs may go into without `allow_outside_data_dir`."""
    from character.settings import get_settings, settings_overridden

    settings = get_settings()
    roots = [Path(settings.data_path), Path(settings.checkpoints)]
    cwd = Path.cwd().resolve()
    # In a workspace (a classroom student's), the process's working folder holds everyone's
    # workspaces: only the student's own folders count then.
    if cwd != Path(cwd.anchor) and not settings_overridden():  # never open the whole disk
        roots.append(cwd)
    return [r.expanduser().resolve() for r in roots]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


CONFINED_MESSAGE = (
    "is not allowed here: in a class workspace every output stays inside your own folder, so "
    "'allow outside data folder' (allow_outside_data_dir) cannot be turned on. Remove it from "
    "the config and choose a path inside your workspace."
)


def confined() -> bool:
    """Are outputs confined to the data folder whatever a config says (a classroom student)?"""
    from character.settings import get_settings

    return get_settings().confined_workspace


def allow_outside_settings(data: Any, where: str = "config") -> list[str]:
    """Where a raw config (nested dicts and lists, as read from a file or a form) turns on
    `allow_outside_data_dir`: 'config.dpo.allow_outside_data_dir', ..."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{where}.{key}"
            if key == ALLOW_FIELD and value not in (False, None, 0, "", "false", "False", "0"):
                found.append(here)
            else:
                found.extend(allow_outside_settings(value, here))
    elif isinstance(data, (list, tuple)):
        for n, value in enumerate(data):
            found.extend(allow_outside_settings(value, f"{where}.{n + 1}"))
    return found


def check_location(path: Path | str, field: str, *, allow_outside: bool = False) -> Path:
    """The absolute path, after refusing one outside the allowed roots (symlinks resolved)."""
    resolved = Path(path).expanduser().resolve()
    if allow_outside and confined():
        raise OutputPathError(ALLOW_FIELD, resolved, CONFINED_MESSAGE)
    if allow_outside:
        return resolved
    roots = allowed_roots()
    if any(_inside(resolved, root) for root in roots):
        return resolved
    raise OutputPathError(
        field,
        resolved,
        "is outside the data folder ("
        + ", ".join(str(r) for r in dict.fromkeys(roots))
        + "). Choose a path inside it, or allow this one explicitly with "
        "--allow-outside-data (config: allow_outside_data_dir: true).",
    )


def is_ours(folder: Path) -> bool:
    """A folder one of our actions made: our marker, a file our runs leave, or a Trainer
    checkpoint of a run that crashed before writing anything else."""
    if any((folder / name).exists() for name in OURS_FILES):
        return True
    return any((p / "trainer_state.json").exists() for p in folder.glob("checkpoint-*"))


def check_output_dir(path: Path | str, field: str, *, allow_outside: bool = False) -> Path:
    """Refuse a folder outside the roots, a file in its place, or a non-empty folder that is
    not ours (writing there would replace the user's files)."""
    resolved = check_location(path, field, allow_outside=allow_outside)
    if resolved.exists() and not resolved.is_dir():
        raise OutputPathError(field, resolved, "is a file, not a folder")
    if resolved.is_dir():
        entries = sorted(p.name for p in resolved.iterdir())
        if entries and not is_ours(resolved):
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise OutputPathError(
                field,
                resolved,
                f"already holds files that no run of ours wrote ({shown}); writing there "
                "could replace them. Choose a new or empty folder.",
            )
    return resolved


def claim_output_dir(
    path: Path | str, field: str, *, allow_outside: bool = False, kind: str = ""
) -> Path:
    """`check_output_dir`, then create the folder and mark it ours (so a resume, a rerun or
    a later export into it is recognised)."""
    from character.io import atomic_write_json

    resolved = check_output_dir(path, field, allow_outside=allow_outside)
    resolved.mkdir(parents=True, exist_ok=True)
    if not (resolved / MARKER).exists():
        atomic_write_json(
            resolved / MARKER,
            {"created_by": "open-character-studio", "kind": kind, "created_at": time.time()},
        )
    return resolved


def check_output_file(path: Path | str, field: str, *, allow_outside: bool = False) -> Path:
    """Refuse a file path outside the roots or one that names a folder."""
    resolved = check_location(path, field, allow_outside=allow_outside)
    if resolved.is_dir():
        raise OutputPathError(field, resolved, "is a folder; give a file path")
    return resolved


def check_config_outputs(
    config: Any, *, claim: bool = True, defaults: bool = True, fields: Iterable[str] | None = None
) -> list[Path]:
    """Apply the rules to every output field a typed config has (`save_name`, `output_dir`,
    `out_dir`, `merged_dir`, `output_path`, and `resolved_output_dir()` where defined).

    With `claim`, output folders are created and marked ours; without it (validating a job
    before it is queued) nothing is written. Without `defaults`, only paths the config sets
    are checked (a job fills unset ones into its run folder later). Returns the checked paths.
    """
    allow = bool(getattr(config, ALLOW_FIELD, False))
    names = set(fields) if fields is not None else None
    checked: list[Path] = []

    def wanted(name: str) -> bool:
        return (names is None or name in names) and getattr(config, name, None) is not None

    for name in NAME_FIELDS:
        if wanted(name):
            check_name(str(getattr(config, name)), name)
    dirs = [(n, getattr(config, n)) for n in DIR_FIELDS if wanted(n)]
    resolver = getattr(config, "resolved_output_dir", None)
    if defaults and callable(resolver) and not any(n == "output_dir" for n, _ in dirs):
        field = "save_name" if getattr(config, "save_name", None) else "output_dir"
        dirs.append((field, resolver()))
    for name, value in dirs:
        checker = claim_output_dir if claim else check_output_dir
        kwargs = {"kind": type(config).__name__} if claim else {}
        checked.append(checker(value, name, allow_outside=allow, **kwargs))
    for name in FILE_FIELDS:
        if wanted(name):
            checked.append(check_output_file(getattr(config, name), name, allow_outside=allow))
    return checked
