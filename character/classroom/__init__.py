"""Classroom mode: one studio serving a class on the local network.

An instructor starts the studio with `character studio --classroom` (loopback and no sign-in
stay the default). Students sign in with the class code, a name and a PIN they choose the
first time; each gets a workspace folder of their own (`<data>/classroom/users/<name>/`:
personas, runs, votes) that the studio puts in force for their browser session only
(`character.settings.use_settings`). The instructor signs in with the instructor code, sees
every student's runs and can show them on a projector view. Students may publish a persona or a
run to the class gallery (a copy, so the gallery never reads their workspace). Jobs from all
workspaces share one queue with a per-student limit (`character.jobs.scheduler`); with a
`TINKER_API_KEY`, students' DPO training goes to Tinker instead (`routing`). Students' workspaces
are confined (`Settings.confined_workspace`): no job of theirs may write outside them. The class
arena (`arena`) battles published entries, one pseudonymous vote file per voter, with
Bradley–Terry standings. A signed, expiring token (`tokens`) keeps a student signed in across a
page reload.

Layout of `<data>/classroom/`: `class.json` (`ClassroomConfig`: the class code and a salted hash
of the instructor code), `roster.json` (`Roster`), `gallery.json` (`Gallery`) with `gallery/<id>/`
copies, `users/<name>/` workspaces, `arena/` (battles and per-voter vote files) and
`.class-secret` (the key of pseudonyms and sign-in tokens, owner-only).
"""

from character.classroom.access import RunAccessError, check_run_access, run_owner
from character.classroom.errors import ClassroomError, SignInError
from character.classroom.gallery import list_gallery, publish_persona, publish_run, unpublish
from character.classroom.models import (
    ClassroomConfig,
    ClassroomStart,
    ClassroomStartConfig,
    ClassSession,
    Gallery,
    GalleryEntry,
    Roster,
    SignIn,
    StudentRecord,
)
from character.classroom.names import safe_name
from character.classroom.overview import StudentRuns, class_overview, read_student_run
from character.classroom.signin import reset_pin, sign_in, start_classroom
from character.classroom.store import class_dir_for, load_classroom, load_roster
from character.classroom.workspace import (
    Workspace,
    open_workspace,
    session_settings,
    workspace_settings,
)

__all__ = [
    "ClassSession",
    "ClassroomConfig",
    "ClassroomError",
    "ClassroomStart",
    "ClassroomStartConfig",
    "Gallery",
    "GalleryEntry",
    "Roster",
    "RunAccessError",
    "SignIn",
    "SignInError",
    "StudentRecord",
    "StudentRuns",
    "Workspace",
    "check_run_access",
    "class_dir_for",
    "class_overview",
    "list_gallery",
    "load_classroom",
    "load_roster",
    "open_workspace",
    "publish_persona",
    "publish_run",
    "read_student_run",
    "reset_pin",
    "run_owner",
    "safe_name",
    "session_settings",
    "sign_in",
    "start_classroom",
    "unpublish",
    "workspace_settings",
]
