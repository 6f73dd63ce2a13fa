"""Errors the job runner raises with messages meant for people."""

from __future__ import annotations


class JobError(RuntimeError):
    """A job could not be submitted, controlled or run."""


class JobConfigError(ValueError):
    """A job config did not validate; `problems` lists every error (file/field first)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid job config {source}:\n{body}")


class UnknownJobKindError(JobConfigError):
    pass


class JobKindImportError(ImportError):
    """A registered job kind whose module failed to import (or lacks the named config or
    function). It names the kind and the module, and chains the real error: a missing
    dependency or a bug is shown, never turned into "not available"."""


JobKindUnavailableError = JobKindImportError
"""The old name; a kind is never silently unavailable any more."""


class JobStopped(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a job to stop at a step boundary after a stop-and-save request."""
