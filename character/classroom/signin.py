"""Starting a class and signing in to it."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import SecretStr

from character.classroom.codes import (
    codes_match,
    hash_secret,
    new_class_code,
    new_instructor_code,
    normalize_code,
    verify_secret,
)
from character.classroom.errors import SignInError
from character.classroom.models import (
    ClassroomConfig,
    ClassroomStart,
    ClassroomStartConfig,
    ClassSession,
    SignIn,
    StudentRecord,
)
from character.classroom.names import display_name, safe_name
from character.classroom.store import (
    CLASS_FILE,
    class_dir_for,
    class_lock,
    load_classroom,
    load_roster,
    read_model,
    save_roster,
    users_dir,
    write_model,
)
from character.classroom.workspace import open_workspace

MIN_PIN = 4
FREE_TRIES = 5
"""Wrong PINs a name may take before sign-in waits: 30 s, then twice as long each time."""
MAX_LOCK_S = 15 * 60


def start_classroom(config: ClassroomStartConfig) -> ClassroomStart:
    """Create the class folder, or reopen it keeping its codes unless new ones are given."""
    class_dir = class_dir_for(config.data_path)
    path = class_dir / CLASS_FILE
    new_code: str | None = None
    with class_lock(class_dir):
        existing = read_model(path, ClassroomConfig) if path.exists() else None
        if config.instructor_code is not None:
            code_hash = hash_secret(normalize_code(config.instructor_code.get_secret_value()))
        elif existing is not None:
            code_hash = existing.instructor_code_hash
        else:
            new_code = new_instructor_code()
            code_hash = hash_secret(normalize_code(new_code))
        cfg = ClassroomConfig(
            class_name=config.class_name or (existing.class_name if existing else "Class"),
            class_code=config.class_code or (existing.class_code if existing else new_class_code()),
            instructor_code_hash=code_hash,
            max_jobs_per_student=config.max_jobs_per_student
            or (existing.max_jobs_per_student if existing else 1),
            created_at=existing.created_at if existing else time.time(),
        )
        write_model(path, cfg, private=True)
        users_dir(class_dir).mkdir(parents=True, exist_ok=True)
    return ClassroomStart(
        class_dir=class_dir,
        class_name=cfg.class_name,
        class_code=cfg.class_code,
        instructor_code=SecretStr(new_code) if new_code else None,
        created=existing is None,
        max_jobs_per_student=cfg.max_jobs_per_student,
    )


def sign_in(class_dir: Path, request: SignIn) -> ClassSession:
    """The instructor code signs in the instructor; the class code with a name and PIN signs
    in a student (the first time, that name's PIN is set and its workspace made)."""
    cfg = load_classroom(class_dir)
    typed = request.code.get_secret_value()
    if not normalize_code(typed):
        raise SignInError("Type the class code your instructor gave you.")
    if verify_secret(normalize_code(typed), cfg.instructor_code_hash):
        return ClassSession(role="instructor", display_name="Instructor")
    if not codes_match(typed, cfg.class_code):
        raise SignInError(
            "That class code is not right. Check the code on the board and type it again."
        )
    shown = display_name(request.name)
    user = safe_name(request.name)
    pin = request.pin.get_secret_value() if request.pin else ""
    if len(pin) < MIN_PIN:
        raise SignInError(
            f"Choose a PIN of at least {MIN_PIN} characters the first time, and type the same "
            "PIN each time after: it keeps others out of your workspace."
        )
    with class_lock(class_dir):
        roster = load_roster(class_dir)
        record = roster.students.get(user)
        now = time.time()
        if record is None:
            record = StudentRecord(name=user, display_name=shown, pin_hash=hash_secret(pin))
        elif record.locked_until and now < record.locked_until:
            raise SignInError(
                f"Too many wrong PINs for {record.display_name!r}: try again in "
                f"{int(record.locked_until - now) + 1} s, or ask your instructor to reset it."
            )
        elif record.pin_hash is None:  # the instructor reset it: this PIN is the new one
            record.pin_hash = hash_secret(pin)
        elif not verify_secret(pin, record.pin_hash):
            record.failed_pins += 1
            if record.failed_pins >= FREE_TRIES:
                wait = min(30 * 2 ** (record.failed_pins - FREE_TRIES), MAX_LOCK_S)
                record.locked_until = now + wait
            roster.students[user] = record
            save_roster(class_dir, roster)
            raise SignInError(
                f"Someone in this class already signed in as {record.display_name!r} with "
                "another PIN. If that is you, type your PIN again; otherwise add a letter to "
                "your name."
            )
        record.failed_pins, record.locked_until = 0, None
        record.last_seen_at = now
        roster.students[user] = record
        save_roster(class_dir, roster)
    open_workspace(class_dir, user)
    return ClassSession(role="student", user=user, display_name=record.display_name)


def reset_pin(class_dir: Path, session: ClassSession, user: str) -> None:
    """The instructor clears a student's PIN (forgotten, or locked out): the student's next
    sign-in sets a new one. Their workspace is kept."""
    if not session.is_instructor:
        raise SignInError("Only the instructor can reset a PIN.")
    with class_lock(class_dir):
        roster = load_roster(class_dir)
        record = roster.students.get(user)
        if record is None:
            raise SignInError(f"No student {user!r} in this class.")
        record.pin_hash, record.failed_pins, record.locked_until = None, 0, None
        save_roster(class_dir, roster)
