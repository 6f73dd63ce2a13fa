"""Student names → workspace folder names that cannot escape `users/` or collide with ours."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from character.classroom.errors import SignInError

MAX_NAME = 32
MAX_DISPLAY = 40
RESERVED = frozenset({"instructor", "gallery", "users", "classroom", "admin", "runs"})
_SAFE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")


def display_name(raw: str) -> str:
    """The name as shown to the class: control characters dropped, spaces collapsed."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if ch.isprintable())
    text = " ".join(text.split())[:MAX_DISPLAY].strip()
    if not any(ch.isalnum() for ch in text):
        raise SignInError("Type your name (for example 'Ada L.') to sign in.")
    return text


def safe_name(raw: str) -> str:
    """A folder name for `raw`: lowercase ASCII letters, digits and dashes only, so no name
    ('../bob', 'a/b', '.', 'CON') can point outside the class's `users/` folder. A name with
    no ASCII letters or digits (e.g. written in another script) gets a stable short hash."""
    shown = display_name(raw)
    ascii_text = unicodedata.normalize("NFKD", shown).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:MAX_NAME].strip("-")
    if not slug:
        digest = hashlib.sha256(shown.casefold().encode("utf-8")).hexdigest()[:10]
        slug = f"u-{digest}"
    if slug in RESERVED:
        raise SignInError(f"The name {shown!r} is reserved in classroom mode; add a letter.")
    return slug


def is_safe_name(name: str) -> bool:
    """Is `name` already a folder name `safe_name` could have made (checked before any path
    is built from a name that came from a file, a URL or a session)?"""
    return bool(_SAFE.match(name)) and name not in RESERVED
