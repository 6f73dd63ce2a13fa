"""Classroom mode for a process: is it on, and the queue every workspace shares."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from character.classroom.models import ClassroomConfig
from character.classroom.store import users_dir


class ClassroomSettings(BaseSettings):
    """`CHARACTER_CLASSROOM=1` turns sign-in on (`character studio --classroom` sets it)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    enabled: bool = Field(default=False, alias="CHARACTER_CLASSROOM")


def classroom_enabled() -> bool:
    return ClassroomSettings().enabled


def shared_queue_env(class_dir: Path, cfg: ClassroomConfig) -> dict[str, str]:
    """The job settings that make every workspace share one queue with a per-student limit
    (`character.jobs.scheduler.JobSettings`); workers inherit them."""
    return {
        "CHARACTER_JOB_QUEUE_GROUP": str(users_dir(class_dir).resolve()),
        "CHARACTER_MAX_JOBS_PER_USER": str(cfg.max_jobs_per_student),
    }


def activate_shared_queue(class_dir: Path, cfg: ClassroomConfig) -> None:
    """Put the shared queue in this process's environment (the studio does it at start)."""
    os.environ.update(shared_queue_env(class_dir, cfg))
