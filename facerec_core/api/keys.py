"""API keys: created and revoked by an administrator, stored as SHA-256 hashes, each with a role
(the dashboard's roles) and a rate limit.

A key is ``frk_`` and 43 characters of URL-safe base64 (32 random bytes), shown once when it is
made. Only its SHA-256 is stored: a key has 256 bits of entropy, so a fast hash is enough to make
a stolen copy of the file useless (a slow password hash would cost every request milliseconds
and buy nothing). Keys are looked up by hash; the comparison is SQLite's index lookup of a hash
an attacker cannot choose to collide.

Each key acts as :func:`api_principal` — ``api:NAME`` with the key's role, source ``api`` — so the
one guard (:func:`facerec_core.access.guard.require`) and the audit trail treat it like an account.
"""
from __future__ import annotations

import dataclasses
import hashlib
import secrets

from ..access.accounts import account_key, clean_account_name
from ..access.audit import AuditLog, timestamp, utc_now
from ..access.guard import require
from ..access.principal import API_PREFIX, Principal
from ..access.roles import Action, Role
from ..errors import AccountError, ApiError
from .store import ApiStore

KEY_PREFIX = "frk_"
HINT_LENGTH = 8
MAX_RATE = 100_000


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """One key as listed (never the key itself): its name, role, requests a minute, when it was
    made and by whom, when it was revoked (``None`` while valid) and last used."""

    id: int
    name: str
    role: Role
    hint: str
    rate_per_minute: int
    created: str
    created_by: str
    revoked: str | None
    last_used: str | None

    @property
    def active(self) -> bool:
        return self.revoked is None


def key_hash(key: str) -> str:
    return hashlib.sha256(str(key).encode("utf-8")).hexdigest()


def api_principal(key: ApiKey) -> Principal:
    """Who a call made with ``key`` is: ``api:NAME``, the key's role, source ``api``."""
    return Principal(f"{API_PREFIX}{key.name}", key.role, "api")


def _key(row) -> ApiKey:
    return ApiKey(int(row["id"]), row["name"], Role(row["role"]), row["hint"], int(row["rate_per_minute"]),
                  row["created"], row["created_by"], row["revoked"], row["last_used"])


class ApiKeys:
    """Make, list, revoke and check API keys in an :class:`ApiStore`; every change is guarded
    (``manage_api``, admin) and audited.

    Args:
        store: the API tables.
        audit: the audit trail (of the same gallery file).
        default_rate: requests a minute of a key made without its own (FACEREC_API_RATE).
    """

    def __init__(self, store: ApiStore, audit: AuditLog, *, default_rate: int = 600) -> None:
        self.store = store
        self.audit = audit
        self.default_rate = int(default_rate)

    def add(self, by: Principal, name: str, role: Role | str, *, rate_per_minute: int | None = None,
            where: str = "") -> tuple[ApiKey, str]:
        """A new key for ``name`` with ``role``: ``(its record, the key)``. The key is returned
        this once and never stored; raises :class:`ApiError` for a bad or taken name or rate."""
        require(by, Action.MANAGE_API, self.audit, target=str(name)[:64], where=where)
        try:
            name = clean_account_name(name)
            role = Role.parse(role)
        except (AccountError, ValueError) as exc:
            raise ApiError(str(exc).replace("account name", "key name")) from None
        rate = self.default_rate if rate_per_minute is None else int(rate_per_minute)
        if not 1 <= rate <= MAX_RATE:
            raise ApiError(f"the rate must be 1 to {MAX_RATE:,} requests a minute, not {rate}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            if conn.execute("SELECT 1 FROM api_keys WHERE name_key = ?", (account_key(name),)).fetchone():
                raise ApiError(f"a key named {name!r} exists already (revoked keys keep their names for the "
                               "audit trail): choose another name")
            conn.execute("INSERT INTO api_keys(name, name_key, role, key_hash, hint, rate_per_minute, created, "
                         "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (name, account_key(name), role.value, key_hash(key), key[:HINT_LENGTH], rate,
                          timestamp(utc_now()), by.name))
        self.audit.record(by, "api_key_add", target=name, detail={"role": role.value, "rate_per_minute": rate},
                          where=where)
        return self.get(name), key

    def get(self, name: str) -> ApiKey:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE name_key = ?", (account_key(name),)).fetchone()
        if row is None:
            raise ApiError(f"no API key named {name!r}: `facerec key list` shows them")
        return _key(row)

    def list(self) -> list[ApiKey]:
        """Every key, valid and revoked, in name order."""
        with self.store.read() as conn:
            return [_key(r) for r in conn.execute("SELECT * FROM api_keys ORDER BY name_key")]

    def revoke(self, by: Principal, name: str, *, where: str = "") -> ApiKey:
        """Revoke ``name`` at once: the next call with it is refused (401). The row stays, so the
        audit trail's ``api:NAME`` keeps meaning one key."""
        require(by, Action.MANAGE_API, self.audit, target=str(name)[:64], where=where)
        key = self.get(name)
        if key.revoked:
            raise ApiError(f"the key {key.name!r} was revoked already ({key.revoked})")
        with self.store.write() as conn:
            conn.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", (timestamp(utc_now()), key.id))
        self.audit.record(by, "api_key_revoke", target=key.name, where=where)
        return self.get(name)

    def check(self, key: str | None) -> ApiKey | None:
        """The valid key ``key`` is, or ``None`` (unknown, malformed or revoked)."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE key_hash = ? AND revoked IS NULL",
                               (key_hash(key),)).fetchone()
        return None if row is None else _key(row)

    def touch(self, key_id: int) -> None:
        """Record that the key was used now (the service calls this at most once a minute a key)."""
        with self.store.write() as conn:
            conn.execute("UPDATE api_keys SET last_used = ? WHERE id = ?", (timestamp(utc_now()), int(key_id)))
