"""A student's workspace: a data folder of their own, put in force per browser session."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel

from character.classroom.errors import ClassroomError
from character.classroom.models import ClassSession
from character.classroom.names import is_safe_name
from character.classroom.store import users_dir
from character.settings import Settings, process_settings


class Workspace(BaseModel):
    """`users/<user>/`: the student's data folder (runs, checkpoints, votes, datasets) with
    their personas in `constitutions/`."""

    user: str
    root: Path

    @property
    def constitution_path(self) -> Path:
        return self.root / "constitutions"


def workspace_path(class_dir: Path, user: str) -> Path:
    """The folder of `user`; refuses any name `safe_name` could not have made."""
    if not is_safe_name(user):
        raise ClassroomError(f"{user!r} is not a student folder name")
    base = users_dir(class_dir).resolve()
    path = (base / user).resolve()
    if path.parent != base:
        raise ClassroomError(f"{user!r} is not a student folder name")
    return path


def open_workspace(class_dir: Path, user: str, *, templates: Path | None = None) -> Workspace:
    """The student's workspace, made on first use with a copy of the class's persona
    templates (the instructor's hand-written personas) to start from."""
    root = workspace_path(class_dir, user)
    ws = Workspace(user=user, root=root)
    if not ws.constitution_path.exists():
        hand_written = ws.constitution_path / "hand-written"
        source = templates if templates is not None else process_settings().hand_written
        if source.is_dir():
            shutil.copytree(source, hand_written, ignore=shutil.ignore_patterns("drafts", ".*"))
        hand_written.mkdir(parents=True, exist_ok=True)
    (root / "runs").mkdir(parents=True, exist_ok=True)
    return ws


def workspace_settings(ws: Workspace, base: Settings | None = None) -> Settings:
    """The process settings with the workspace's folders: keys, models and the model cache
    stay the instructor's; data, personas and checkpoints are the student's, and outputs
    are confined to them (`confined_workspace`: no `allow_outside_data_dir`)."""
    base = base or process_settings()
    return base.model_copy(
        update={
            "data_path": ws.root,
            "constitution_path": ws.constitution_path,
            "checkpoint_dir": None,
            "confined_workspace": True,
        }
    )


def session_settings(class_dir: Path, session: ClassSession) -> Settings | None:
    """The settings a signed-in session works with: a student's workspace, or None (the
    process settings) for the instructor."""
    if session.is_instructor or session.user is None:
        return None
    return workspace_settings(open_workspace(class_dir, session.user))
