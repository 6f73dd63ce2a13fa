"""Errors of classroom mode; every message is a plain sentence a student can act on."""

from __future__ import annotations


class ClassroomError(ValueError):
    """Something about the class (its files, a name, a gallery entry) is not right."""


class SignInError(ClassroomError):
    """A sign-in was refused: a wrong code, an unusable name, or a PIN that does not match."""
