"""Signed sign-in tokens, so a student's sign-in survives a page reload.

Streamlit forgets a browser session's state when the page reloads; the studio keeps a token
in the page's address (`?s=...`) and signs the student back in from it. A token says who
(role, folder name, shown name) and until when, signed with the class folder's secret
(HMAC-SHA256), so nobody can make one for a classmate. It also carries a tag of the student's
current PIN hash: when the instructor resets a PIN, that student's old tokens stop working.
Tokens expire (8 hours by default: one school day).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from character.classroom.errors import SignInError
from character.classroom.models import ClassSession
from character.classroom.store import class_secret, load_classroom, load_roster

DEFAULT_TTL_S = 8 * 3600
EXPIRED = "Your sign-in has expired: sign in again with the class code, your name and PIN."
INVALID = "That sign-in link is not valid for this class: sign in again."


class _Claims(BaseModel):
    role: str
    user: str | None
    display_name: str
    exp: float
    tag: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(class_dir: Path, session: ClassSession) -> str:
    """A short fingerprint of the secret that signed this person in (PIN or instructor code
    hash): changing it (a PIN reset) retires their tokens."""
    if session.is_instructor:
        basis = load_classroom(class_dir).instructor_code_hash
    else:
        record = load_roster(class_dir).students.get(str(session.user))
        if record is None or record.pin_hash is None:
            raise SignInError(INVALID)
        basis = record.pin_hash
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def _sign(class_dir: Path, payload: str) -> str:
    mac = hmac.new(class_secret(class_dir), payload.encode("ascii"), hashlib.sha256)
    return _b64(mac.digest())


def issue_token(
    class_dir: Path,
    session: ClassSession,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    now: float | None = None,
) -> str:
    """A signed token for `session` that `session_from_token` accepts until it expires."""
    claims = _Claims(
        role=session.role,
        user=session.user,
        display_name=session.display_name,
        exp=(time.time() if now is None else now) + ttl_s,
        tag=_tag(class_dir, session),
    )
    payload = _b64(claims.model_dump_json().encode("utf-8"))
    return f"{payload}.{_sign(class_dir, payload)}"


def session_from_token(class_dir: Path, token: str, *, now: float | None = None) -> ClassSession:
    """The session a token stands for, or `SignInError` (forged, for another class, expired,
    or issued before the student's PIN was reset)."""
    try:
        payload, signature = token.split(".")
        claims = _Claims.model_validate_json(_unb64(payload))
    except (ValueError, ValidationError):
        raise SignInError(INVALID) from None
    if not hmac.compare_digest(signature, _sign(class_dir, payload)):
        raise SignInError(INVALID)
    if (time.time() if now is None else now) >= claims.exp:
        raise SignInError(EXPIRED)
    try:
        session = ClassSession(
            role=claims.role,  # type: ignore[arg-type]
            user=claims.user,
            display_name=claims.display_name,
        )
    except ValidationError:
        raise SignInError(INVALID) from None
    if not hmac.compare_digest(claims.tag, _tag(class_dir, session)):
        raise SignInError(EXPIRED)
    return session
