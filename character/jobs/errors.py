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


class JobKindUnavailableError(JobError):
    """A built-in kind whose module has not been installed/written yet."""


class JobStopped(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a job to stop at a step boundary after a stop-and-save request."""
