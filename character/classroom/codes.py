"""Class codes (shown on the board) and secrets (the instructor code, students' PINs).

Secrets are kept only as salted scrypt hashes; comparisons take constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a projector
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def new_class_code(length: int = 6) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_instructor_code() -> str:
    return "-".join(new_class_code(4) for _ in range(3))


def normalize_code(code: str) -> str:
    """What a person typed, without the spaces, dashes and case they may have added."""
    return re.sub(r"[^A-Z0-9]", "", code.upper())


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)
    return hmac.compare_digest(digest, expected)


def codes_match(typed: str, code: str) -> bool:
    return hmac.compare_digest(normalize_code(typed).encode(), normalize_code(code).encode())
