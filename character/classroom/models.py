"""The file formats of a class folder and the objects sign-in returns, as pydantic models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from character.classroom.codes import normalize_code


class ClassroomConfig(BaseModel):
    """`classroom/class.json`. Holds the class code in clear (it is on the board anyway) and
    only a salted hash of the instructor code."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    class_name: str = Field(default="Class", min_length=1, max_length=80)
    class_code: str = Field(pattern=r"^[A-Z0-9]{4,16}$", description="What students type.")
    instructor_code_hash: str = Field(description="scrypt$salt$hash of the instructor code.")
    max_jobs_per_student: int = Field(
        default=1, ge=1, le=16, description="Runs one student may have running at once."
    )
    created_at: float = Field(default_factory=time.time)


class StudentRecord(BaseModel):
    """One student in `roster.json`: their folder name, shown name and PIN hash."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Folder name under users/ (see `safe_name`).")
    display_name: str
    pin_hash: str | None = Field(
        default=None, description="None after the instructor reset it: the next PIN is set."
    )
    joined_at: float = Field(default_factory=time.time)
    last_seen_at: float = Field(default_factory=time.time)
    failed_pins: int = Field(default=0, ge=0, description="Wrong PINs since the last sign-in.")
    locked_until: float | None = Field(default=None, description="No sign-in before this.")


class Roster(BaseModel):
    """`classroom/roster.json`: who has signed in (by folder name)."""

    model_config = ConfigDict(extra="forbid")

    students: dict[str, StudentRecord] = Field(default_factory=dict)


class ClassroomStartConfig(BaseModel):
    """What the instructor chose when starting a class (`character studio --classroom`)."""

    model_config = ConfigDict(extra="forbid")

    data_path: Path = Field(description="The instructor's data folder; the class lives inside.")
    class_name: str | None = Field(default=None, max_length=80)
    class_code: str | None = Field(
        default=None, description="Keep this class code (else the saved one, else a new one)."
    )
    instructor_code: SecretStr | None = Field(
        default=None, description="Set this instructor code (else the saved one, else a new one)."
    )
    max_jobs_per_student: int | None = Field(default=None, ge=1, le=16)

    @field_validator("class_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = normalize_code(value)
        if not 4 <= len(code) <= 16:
            raise ValueError("a class code has 4 to 16 letters or digits")
        return code

    @field_validator("instructor_code")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(normalize_code(value.get_secret_value())) < 8:
            raise ValueError("an instructor code needs at least 8 letters or digits")
        return value


class ClassroomStart(BaseModel):
    """What starting a class tells the instructor. `instructor_code` is set only when a new
    one was generated (it is printed once in the terminal, never stored in clear)."""

    class_dir: Path
    class_name: str
    class_code: str
    instructor_code: SecretStr | None = None
    created: bool
    max_jobs_per_student: int


class SignIn(BaseModel):
    """What a person types on the sign-in form."""

    model_config = ConfigDict(extra="forbid")

    code: SecretStr = Field(description="The class code, or the instructor code.")
    name: str = Field(default="", max_length=200)
    pin: SecretStr | None = Field(default=None, description="A student's own PIN.")


class ClassSession(BaseModel):
    """Who is signed in. Kept in the server's session state; holds no secret."""

    model_config = ConfigDict(frozen=True)

    role: Literal["student", "instructor"]
    user: str | None = Field(default=None, description="The student's folder name.")
    display_name: str

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


class GalleryEntry(BaseModel):
    """A persona or run a student published: a copy under `gallery/<entry_id>/`."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")
    kind: Literal["persona", "run"]
    owner: str
    owner_display: str
    title: str
    note: str = Field(default="", max_length=500)
    source: str = Field(description="The persona name or run id it was copied from.")
    files: list[str] = Field(default_factory=list, description="Copied files in its folder.")
    adapter: str | None = Field(
        default=None, description="Folder of the run's final adapter, copied (runs only)."
    )
    persona_file: str | None = Field(
        default=None, description="Which of `files` is the persona (its constitution)."
    )
    summary: dict[str, Any] = Field(default_factory=dict)
    published_at: float = Field(default_factory=time.time)


class Gallery(BaseModel):
    """`classroom/gallery.json`: every published entry, newest last."""

    model_config = ConfigDict(extra="forbid")

    entries: list[GalleryEntry] = Field(default_factory=list)
