"""Reading and writing a class folder: atomic writes, one lock for read-modify-write."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from character.classroom.errors import ClassroomError
from character.classroom.models import ClassroomConfig, Gallery, Roster
from character.io import atomic_write_text
from character.jobs.store import file_lock

CLASS_FILE = "class.json"
ROSTER_FILE = "roster.json"
GALLERY_FILE = "gallery.json"
USERS = "users"
GALLERY_DIR = "gallery"
SECRET_FILE = ".class-secret"
T = TypeVar("T", bound=BaseModel)


def class_dir_for(data_path: Path | str) -> Path:
    """The class folder inside an instructor's data folder."""
    return Path(data_path).expanduser().resolve() / "classroom"


def users_dir(class_dir: Path) -> Path:
    return class_dir / USERS


@contextlib.contextmanager
def class_lock(class_dir: Path) -> Iterator[None]:
    """Held for every read-modify-write of the roster and gallery (several sessions sign in
    at once; two studio processes may share a class folder)."""
    with file_lock(class_dir / ".classroom.lock"):
        yield


def read_model(path: Path, model: type[T], default: T | None = None) -> T:
    if not path.exists():
        if default is not None:
            return default
        raise ClassroomError(
            f"{path} is missing: start the class with `character studio --classroom`"
        )
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ClassroomError(f"{path} cannot be read: {exc}") from exc


def write_model(path: Path, value: BaseModel, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, value.model_dump_json(indent=2) + "\n")
    if private:  # the instructor code's hash and PIN hashes: owner-only
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)


def load_classroom(class_dir: Path) -> ClassroomConfig:
    return read_model(class_dir / CLASS_FILE, ClassroomConfig)


def load_roster(class_dir: Path) -> Roster:
    return read_model(class_dir / ROSTER_FILE, Roster, Roster())


def save_roster(class_dir: Path, roster: Roster) -> None:
    write_model(class_dir / ROSTER_FILE, roster, private=True)


def load_gallery(class_dir: Path) -> Gallery:
    return read_model(class_dir / GALLERY_FILE, Gallery, Gallery())


def save_gallery(class_dir: Path, gallery: Gallery) -> None:
    write_model(class_dir / GALLERY_FILE, gallery)


def class_secret(class_dir: Path) -> bytes:
    """A random key of this class folder (made once, owner-only): it keys voters' pseudonyms
    and signed sign-in links, and never leaves the server."""
    path = class_dir / SECRET_FILE
    with class_lock(class_dir):
        if not path.exists():
            atomic_write_text(path, secrets.token_hex(32) + "\n")
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)
        text = path.read_text(encoding="utf-8").strip()
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ClassroomError(f"{path} is damaged: delete it to make a new one") from exc
