"""Who may open which run: a student their own, the instructor everyone's."""

from __future__ import annotations

from pathlib import Path

from character.classroom.errors import ClassroomError
from character.classroom.models import ClassSession
from character.classroom.names import is_safe_name
from character.classroom.store import users_dir
from character.classroom.workspace import workspace_path
from character.jobs.store import CONFIG, RUN_ID_PATTERN, STATUS


class RunAccessError(ClassroomError, PermissionError):
    """A run that is not the signed-in student's. The message is the same whether the run is
    a classmate's or does not exist, so it tells nobody what others have."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"Run {run_id!r} is not in your workspace. In this class you can open only your "
            "own runs; a classmate can publish theirs to the class gallery for you to see."
        )


def _is_run(path: Path) -> bool:
    return (path / STATUS).exists() or (path / CONFIG).exists()


def run_owner(class_dir: Path, run_id: str) -> str | None:
    """The student whose workspace holds `run_id`, or None."""
    if not RUN_ID_PATTERN.match(run_id):
        return None
    base = users_dir(class_dir)
    if not base.is_dir():
        return None
    for user_dir in sorted(base.iterdir()):
        if is_safe_name(user_dir.name) and _is_run(user_dir / "runs" / run_id):
            return user_dir.name
    return None


def check_run_access(class_dir: Path, session: ClassSession, run_id: str) -> Path:
    """The folder of `run_id` if `session` may open it, else `RunAccessError`."""
    if not RUN_ID_PATTERN.match(run_id):
        raise RunAccessError(run_id[:80])
    if session.is_instructor:
        owner = run_owner(class_dir, run_id)
        if owner is None:
            raise ClassroomError(f"No student in this class has a run {run_id!r}.")
        return workspace_path(class_dir, owner) / "runs" / run_id
    if session.user is None:
        raise RunAccessError(run_id)
    path = workspace_path(class_dir, session.user) / "runs" / run_id
    if not _is_run(path):
        raise RunAccessError(run_id)
    return path


def path_allowed(class_dir: Path, session: ClassSession, ref: str) -> bool:
    """May `session` use the model or file reference `ref` (a link's `?model=...`)? A student
    may not point at anything inside another student's workspace; names that are not paths
    (`smollm2-135m`, `openai:...`) and the instructor are always allowed."""
    if session.is_instructor or not ref or ":" in ref.split("/", 1)[0]:
        return True
    try:
        target = Path(ref).expanduser().resolve()
        users = users_dir(class_dir).resolve()
    except (OSError, ValueError):
        return False
    if not target.is_relative_to(users):
        return True
    return session.user is not None and target.is_relative_to(
        workspace_path(class_dir, session.user)
    )
