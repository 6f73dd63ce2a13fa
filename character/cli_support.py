"""What every command group shares: one way to stop with an error, one way to show progress.

Error text is printed as it is, not as rich markup: messages quote file paths, lists and
pydantic locations in brackets, which markup would swallow ("[a, b]" vanishes) or choke on
("[/tmp/x.jsonl]" reads as a closing tag and raises). Light imports only: every CLI module
imports this at import time, and `--help` must stay fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from character.progress import Reporter


AllowOutsideData = Annotated[
    bool,
    typer.Option(
        "--allow-outside-data",
        help="Let the output go outside the data folder (refused by default).",
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one red `Error: ...` line on stderr (no traceback) and exit with `code`; error
    text may quote a server's reply, which may echo the key, so it is redacted first."""
    from character.redaction import redact_secrets

    typer.secho(f"Error: {redact_secrets(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def error_text(exc: BaseException) -> str:
    """An exception as the user should read it: a config's validation errors become one
    `field: problem` line each, without pydantic's type codes and documentation links."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    lines = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "settings"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg} (got {e.get('input')!r})")
    return "invalid settings:\n" + "\n".join(lines)


def progress_reporter() -> Reporter:
    """Live bars on a terminal; plain lines when stderr is a log file or a pipe, where bar
    redraws would bury the messages."""
    from character.progress import RichBarReporter, print_reporter

    return RichBarReporter() if sys.stderr.isatty() else print_reporter


def note_shadowed_constitution(ref: str) -> None:
    """Say on stderr which file a persona name resolves to when several files share it."""
    import warnings
    from pathlib import Path

    from character.constitution import ConstitutionShadowWarning, shadow_notice

    if Path(ref).exists():
        return
    notice = shadow_notice(ref)
    if notice:
        typer.echo(f"note: {notice}", err=True)
        # Said once, plainly; the library's warning would repeat it with a source line.
        warnings.filterwarnings("ignore", category=ConstitutionShadowWarning)
