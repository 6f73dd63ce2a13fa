"""Signed sign-in tokens (a reload keeps a student signed in): accepted until they expire,
refused when forged, tampered with, from another class, or older than a PIN reset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from character.classroom import (
    ClassroomStartConfig,
    SignIn,
    SignInError,
    reset_pin,
    sign_in,
    start_classroom,
)
from character.classroom.tokens import _b64, _unb64, issue_token, session_from_token

pytestmark = pytest.mark.unit
BOSS = "TOKENS-TEACHER-1"


def _class(path: Path) -> Path:
    cfg = ClassroomStartConfig(data_path=path, class_code="TOKEN5", instructor_code=SecretStr(BOSS))
    return start_classroom(cfg).class_dir


def test_tokens_sign_back_in_until_they_expire(tmp_path: Path) -> None:
    class_dir = _class(tmp_path / "a")
    ada = sign_in(class_dir, SignIn(code=SecretStr("TOKEN5"), name="Ada", pin=SecretStr("1234")))
    boss = sign_in(class_dir, SignIn(code=SecretStr(BOSS)))
    now = time.time()
    token = issue_token(class_dir, ada, ttl_s=60, now=now)
    assert "ada" not in token.split(".")[1]  # the signature part is opaque
    assert session_from_token(class_dir, token, now=now + 59) == ada
    with pytest.raises(SignInError, match="expired"):
        session_from_token(class_dir, token, now=now + 61)
    assert session_from_token(class_dir, issue_token(class_dir, boss)).is_instructor

    # Tampering: claim to be the instructor with Ada's signature; or a garbage token.
    payload, sig = token.split(".")
    forged = _unb64(payload).replace(b'"student"', b'"instructor"')
    with pytest.raises(SignInError, match="not valid"):
        session_from_token(class_dir, f"{_b64(forged)}.{sig}")
    for junk in ("", "x", "a.b.c", "!!!.???"):
        with pytest.raises(SignInError, match="not valid"):
            session_from_token(class_dir, junk)

    # Another class's token is refused (each class folder has its own secret).
    other = _class(tmp_path / "b")
    with pytest.raises(SignInError, match="not valid"):
        session_from_token(other, token)

    # A PIN reset retires the student's tokens.
    reset_pin(class_dir, boss, "ada")
    with pytest.raises(SignInError):
        session_from_token(class_dir, token, now=now + 1)
    ada_again = sign_in(
        class_dir, SignIn(code=SecretStr("TOKEN5"), name="Ada", pin=SecretStr("5678"))
    )
    fresh = issue_token(class_dir, ada_again, now=now)
    assert session_from_token(class_dir, fresh, now=now + 1) == ada
    assert (class_dir / ".class-secret").stat().st_mode & 0o077 == 0  # owner-only
