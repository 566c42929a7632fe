"""Password hashing: Argon2id (argon2-cffi), and what makes a password acceptable.

The parameters were measured on this project's 2-core machine (``python bench/access.py``) for
one verification in 50-100 ms: slow enough that guessing offline costs 64 MiB and ~75 ms per try,
fast enough that signing in feels instant. Hashes carry their parameters, so raising them later
keeps old hashes verifiable; :func:`needs_rehash` says when to store a fresh one.
"""
from __future__ import annotations

import functools
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
"""Long passphrases are welcome; a megabyte "password" is a denial of service on the hasher."""

PARAMETERS: dict[str, int] = {"time_cost": 3, "memory_cost": 65536, "parallelism": 2}
"""Argon2id: 3 passes over 64 MiB with 2 lanes; measured 77 ms per hash here (idle machine)."""

_HASHER = PasswordHasher(type=Type.ID, **PARAMETERS)



@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash verified against when a name is unknown, so that the answer takes as long as for a
    real account (made on first use: hashing at import would slow every CLI command)."""
    return _HASHER.hash("not a password of anyone: keeps unknown names as slow as known ones")


def hash_password(password: str) -> str:
    """The encoded Argon2id hash of ``password`` (salt and parameters included)."""
    return _HASHER.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    """Whether ``password`` matches ``encoded``; False also for a malformed hash (never raises,
    so a damaged row refuses the sign-in instead of crashing the page)."""
    try:
        return _HASHER.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    """True when ``encoded`` was made with other parameters than :data:`PARAMETERS`."""
    try:
        return _HASHER.check_needs_rehash(encoded)
    except InvalidHashError:
        return True


def password_problem(password: object, name: str = "") -> str | None:
    """Why ``password`` is refused, or None: at least :data:`MIN_PASSWORD_LENGTH` characters, at
    most :data:`MAX_PASSWORD_LENGTH`, no control characters, and not the account name. Length over
    composition rules: a long passphrase beats "P4ssw0rd!" (NIST SP 800-63B)."""
    if not isinstance(password, str):
        return "a password must be text"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password is too short ({len(password)} characters; at least {MIN_PASSWORD_LENGTH}): " \
               "use a passphrase of a few words"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password is too long (at most {MAX_PASSWORD_LENGTH} characters)"
    if any(unicodedata.category(c) == "Cc" for c in password):
        return "the password contains a control character (a pasted line break or tab?); type it again"
    if name and password.strip().casefold() == name.strip().casefold():
        return "the password must not be the account name"
    if len(set(password)) < 3:
        return "the password repeats one or two characters; use a passphrase of a few words"
    return None
