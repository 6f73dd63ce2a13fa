"""`character studio`: start the Streamlit studio, on loopback, or for a class with sign-in."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from character.cli_support import fail
from character.settings import REPO_ROOT

INSTRUCTOR_CODE_ENV = "CHARACTER_INSTRUCTOR_SECRET"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def studio(
    classroom: Annotated[
        bool,
        typer.Option(
            "--classroom",
            help="Classroom mode: sign-in with a class code, one workspace per student, an "
            "instructor overview. Needed to serve anything but loopback.",
        ),
    ] = False,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 serves the local network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8501,
    class_code: Annotated[
        str | None, typer.Option(help="Class code students type (default: kept or new).")
    ] = None,
    class_name: Annotated[str | None, typer.Option(help="Shown on the sign-in page.")] = None,
    max_jobs_per_student: Annotated[
        int | None,
        typer.Option(min=1, max=16, help="Runs one student may have running at once (1)."),
    ] = None,
) -> None:
    """Start the studio. The instructor code comes from CHARACTER_INSTRUCTOR_SECRET (or
    `.env`); without it the saved one is kept, or a new one is printed once."""
    from pydantic import SecretStr, ValidationError

    from character.classroom.models import ClassroomStartConfig
    from character.classroom.runtime import shared_queue_env
    from character.classroom.signin import start_classroom
    from character.classroom.store import load_classroom
    from character.settings import process_settings

    if not classroom and not _loopback(host):
        fail(
            f"--host {host}: serving the studio beyond this computer needs --classroom, so "
            "every visitor signs in and gets a workspace of their own"
        )
    env = dict(os.environ)
    if classroom:
        secret = os.environ.get(INSTRUCTOR_CODE_ENV)
        try:
            cfg = ClassroomStartConfig(
                data_path=process_settings().data_path,
                class_name=class_name,
                class_code=class_code,
                instructor_code=SecretStr(secret) if secret else None,
                max_jobs_per_student=max_jobs_per_student,
            )
        except ValidationError as exc:
            fail(f"classroom settings: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        started = start_classroom(cfg)
        typer.echo(f"Class {started.class_name!r}: class code  {started.class_code}")
        if started.instructor_code is not None:
            typer.echo(
                f"Instructor code (shown once, keep it): {started.instructor_code.get_secret_value()}"
            )
        else:
            typer.echo("Instructor code: unchanged (set CHARACTER_INSTRUCTOR_SECRET to change it)")
        typer.echo(f"Students open http://<this computer's address>:{port} and sign in.")
        env.pop(INSTRUCTOR_CODE_ENV, None)  # the studio needs only its hash
        env["CHARACTER_CLASSROOM"] = "1"
        env.update(shared_queue_env(started.class_dir, load_classroom(started.class_dir)))
    args = [
        sys.executable, "-m", "streamlit", "run", str(Path(REPO_ROOT) / "studio_app.py"),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # a served studio does not reload on edits
    ]  # fmt: skip
    sys.stdout.flush()
    os.execve(sys.executable, args, env)
