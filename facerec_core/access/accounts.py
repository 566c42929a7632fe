"""Accounts, sign-in and sessions, every change and every attempt audited.

Sign-in (:meth:`Accounts.sign_in`) answers one message, "wrong name or password", for an unknown
name and for a wrong password, and takes as long for both (an unknown name is verified against a
dummy Argon2id hash). Failures are counted per typed name in ``sign_in_attempts`` (known or not,
so locking reveals nothing either):

- after each failure the next attempt on that name must wait :func:`delay_after` (1, 2, 4, 8 s,
  at most 30 s); earlier attempts are refused unchecked, as ``rate_limited``;
- after ``settings.max_failed_sign_ins`` consecutive failures the name is locked for
  ``settings.lockout_minutes``: the right password is refused too (``locked``); once the lock has
  passed, each further failure locks it again, until a success or an administrator's unlock;
- every attempt is one audit row (``sign_in``: ok, failed, rate_limited or locked).

Sessions: a token from :func:`secrets.token_urlsafe` (32 bytes) is handed to the browser; only its
SHA-256 is stored. :meth:`Accounts.resume` ends a session idle for more than
``settings.session_minutes`` (sliding: each request restarts the clock); :meth:`sign_out` ends it
at once; a password change, a role change or removing the account ends every session of it.

Time comes from ``clock`` (default: the audit log's), so tests move it instead of sleeping.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import logging
import re
import secrets
import sqlite3
import unicodedata
from typing import Any

from ..errors import AccountError, SessionExpiredError, SignInError
from ..settings import Settings
from .audit import AuditLog, Clock, timestamp
from .guard import require
from .passwords import dummy_hash, hash_password, needs_rehash, password_problem, verify_password
from .principal import API_PREFIX, CLI_PREFIX, Principal
from .roles import Action, Role
from .store import AccessStore

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 64
MAX_DELAY_SECONDS = 30.0
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def delay_after(failures: int) -> float:
    """Seconds the next attempt on a name must wait after ``failures`` consecutive failures."""
    return 0.0 if failures <= 0 else min(2.0 ** (failures - 1), MAX_DELAY_SECONDS)


def account_key(name: str) -> str:
    """The form account names are compared in: "Ada", "ADA" and "ａｄａ" are one account."""
    collapsed = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(name))).strip()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", collapsed).casefold())


def clean_account_name(name: object) -> str:
    """Validate an account name as gallery names are: trimmed NFC text, single spaces, at most
    :data:`MAX_NAME_LENGTH` characters, nothing invisible (control or formatting characters make
    look-alike names), and not the CLI's ``cli:`` prefix. Raises :class:`AccountError`."""
    if not isinstance(name, str):
        raise AccountError(f"an account name must be text, not {type(name).__name__}")
    cleaned = re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip()
    if not cleaned:
        raise AccountError("an account name is required")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise AccountError(f"the account name is too long ({len(cleaned)} characters, at most {MAX_NAME_LENGTH})")
    for i, c in enumerate(cleaned):
        if unicodedata.category(c) in _INVISIBLE:
            raise AccountError(f"the account name contains an invisible character U+{ord(c):04X} at position "
                               f"{i + 1}: names must be plain visible text; type it again")
    for prefix, owner in ((CLI_PREFIX, "the command line"), (API_PREFIX, "API keys")):
        if account_key(cleaned).startswith(prefix):
            raise AccountError(f"account names may not start with {prefix!r} (reserved for {owner})")
    if cleaned.lower() == "anonymous":
        raise AccountError("'anonymous' is reserved for visitors who are not signed in; choose another name")
    return cleaned


def _token_hash(token: str) -> str:
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


def _parse(value: str | None) -> _dt.datetime | None:
    return None if not value else _dt.datetime.fromisoformat(value)


@dataclasses.dataclass(frozen=True)
class Account:
    """An account as an administrator sees it (never its password hash)."""

    name: str
    role: Role
    created: str
    last_sign_in: str | None
    locked_until: str | None
    failed: int


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: who, the session token for the browser, and when it expires if idle."""

    principal: Principal
    token: str
    expires: str


class Accounts:
    """The accounts of one :class:`~.store.AccessStore`, with ``settings``' session and lockout
    rules, recording into ``audit``.

    Every method that changes or lists accounts takes the :class:`Principal` asking (``by``) and
    goes through :func:`.guard.require` (MANAGE_USERS), except :meth:`set_password` for one's own
    account and :meth:`create_first_admin`, which works only while there is no account at all.
    ``where`` (optional everywhere) names the page or command for the audit trail.
    """

    def __init__(self, store: AccessStore, audit: AuditLog, settings: Settings, *,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.audit = audit
        self.settings = settings
        self.clock: Clock = clock or audit.clock

    def _now(self) -> _dt.datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)

    # -- reading ------------------------------------------------------------------------------

    def has_accounts(self) -> bool:
        with self.store.read() as conn:
            return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    _ACCOUNT_SQL = ("SELECT u.name, u.role, u.created, u.last_sign_in, a.locked_until, COALESCE(a.failures, 0) AS failed "
                    "FROM users u LEFT JOIN sign_in_attempts a ON a.name_key = u.name_key ")

    def _account(self, row: Any) -> Account:
        locked = row["locked_until"]
        if locked and _parse(locked) <= self._now():
            locked = None
        return Account(row["name"], Role(row["role"]), row["created"], row["last_sign_in"], locked, int(row["failed"]))

    def _get(self, conn: sqlite3.Connection, name: str) -> Any:
        return conn.execute(self._ACCOUNT_SQL + "WHERE u.name_key = ?", (account_key(name),)).fetchone()

    def get(self, name: str) -> Account | None:
        """The account called ``name`` (compared by :func:`account_key`), or None."""
        with self.store.read() as conn:
            row = self._get(conn, name)
        return None if row is None else self._account(row)

    def list(self, by: Principal, *, where: str = "") -> list[Account]:
        """Every account, by name (MANAGE_USERS)."""
        require(by, Action.MANAGE_USERS, self.audit, target="accounts", where=where)
        with self.store.read() as conn:
            rows = conn.execute(self._ACCOUNT_SQL + "ORDER BY u.name_key").fetchall()
        return [self._account(r) for r in rows]

    # -- changes ------------------------------------------------------------------------------

    def _checked(self, name: str, password: str) -> str:
        name = clean_account_name(name)
        problem = password_problem(password, name)
        if problem:
            raise AccountError(problem)
        return name

    def create_first_admin(self, name: str, password: str, *, client_is_loopback: bool,
                           where: str = "first start") -> Account:
        """The first administrator, while there is no account at all, and only for a visitor on
        this machine (a server reachable from the network must not hand admin to whoever comes
        first). Raises :class:`AccountError` otherwise."""
        if not client_is_loopback:
            self.audit.record(None, "user_add", target=str(name)[:MAX_NAME_LENGTH], outcome="denied",
                              detail={"first_admin": True, "reason": "not from this machine"}, where=where)
            raise AccountError("the first administrator can only be created from this machine: open "
                               "http://127.0.0.1:8501 on the server, or run `python -m facerec_core user add "
                               "NAME --role admin` there")
        name = self._checked(name, password)
        encoded = hash_password(password)
        now = timestamp(self._now())
        with self.store.write() as conn:
            if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None:
                exists = True
            else:
                exists = False
                conn.execute("INSERT INTO users(name, name_key, role, password_hash, created) VALUES (?, ?, ?, ?, ?)",
                             (name, account_key(name), Role.ADMIN.value, encoded, now))
        if exists:
            self.audit.record(None, "user_add", target=name, outcome="denied",
                              detail={"first_admin": True, "reason": "an account exists"}, where=where)
            raise AccountError("an account exists already, so there is no first administrator to create: sign in, "
                               "or ask an administrator for an account")
        self.audit.record(Principal(name, Role.ADMIN, "dashboard"), "user_add", target=name,
                          detail={"role": Role.ADMIN.value, "first_admin": True}, where=where)
        log.info("first administrator created")
        return self.get(name)

    def add(self, by: Principal, name: str, password: str, role: Role | str, *, where: str = "") -> Account:
        """A new account (MANAGE_USERS); refused when the name (compared by
        :func:`account_key`) is taken, invalid, or the password is weak."""
        require(by, Action.MANAGE_USERS, self.audit, target=str(name)[:MAX_NAME_LENGTH], where=where)
        try:
            role = Role.parse(role)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        name = self._checked(name, password)
        encoded = hash_password(password)
        with self.store.write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name_key = ?", (account_key(name),)).fetchone():
                raise AccountError(f"an account named {name!r} exists already; choose another name")
            conn.execute("INSERT INTO users(name, name_key, role, password_hash, created) VALUES (?, ?, ?, ?, ?)",
                         (name, account_key(name), role.value, encoded, timestamp(self._now())))
        self.audit.record(by, "user_add", target=name, detail={"role": role.value}, where=where)
        return self.get(name)

    def _require_row(self, conn: sqlite3.Connection, name: str) -> Any:
        row = conn.execute("SELECT id, name, role FROM users WHERE name_key = ?", (account_key(name),)).fetchone()
        if row is None:
            raise AccountError(f"no account named {str(name)[:MAX_NAME_LENGTH]!r}: `user list` shows them")
        return row

    @staticmethod
    def _admins(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetchone()[0])

    def remove(self, by: Principal, name: str, *, where: str = "") -> None:
        """Delete an account and end its sessions; never the last administrator."""
        require(by, Action.MANAGE_USERS, self.audit, target=str(name)[:MAX_NAME_LENGTH], where=where)
        with self.store.write() as conn:
            row = self._require_row(conn, name)
            if row["role"] == Role.ADMIN.value and self._admins(conn) <= 1:
                raise AccountError(f"{row['name']!r} is the last administrator and cannot be removed: make "
                                   "another account admin first")
            conn.execute("DELETE FROM users WHERE id = ?", (row["id"],))  # sessions cascade
            conn.execute("DELETE FROM sign_in_attempts WHERE name_key = ?", (account_key(row["name"]),))
        self.audit.record(by, "user_remove", target=row["name"], detail={"role": row["role"]}, where=where)

    def set_password(self, by: Principal, name: str, password: str, *, where: str = "") -> None:
        """A new password (an administrator, or the signed-in user for their own account); every
        session of the account ends, so a stolen session dies with the old password."""
        own = by is not None and by.source != "cli" and account_key(by.name) == account_key(name)
        if not own:
            require(by, Action.MANAGE_USERS, self.audit, target=str(name)[:MAX_NAME_LENGTH], where=where)
        with self.store.read() as conn:
            row = self._require_row(conn, name)
        self._checked(row["name"], password)
        encoded = hash_password(password)
        now = timestamp(self._now())
        with self.store.write() as conn:
            row = self._require_row(conn, name)
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (encoded, row["id"]))
            conn.execute("UPDATE sessions SET ended = ? WHERE user_id = ? AND ended IS NULL", (now, row["id"]))
        self.audit.record(by, "user_password", target=row["name"], detail={"own": own}, where=where)

    def set_role(self, by: Principal, name: str, role: Role | str, *, where: str = "") -> Account:
        """Change an account's role (MANAGE_USERS); never demote the last administrator. The
        account's sessions end, so the new role applies from its next sign-in."""
        require(by, Action.MANAGE_USERS, self.audit, target=str(name)[:MAX_NAME_LENGTH], where=where)
        try:
            role = Role.parse(role)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        now = timestamp(self._now())
        with self.store.write() as conn:
            row = self._require_row(conn, name)
            if row["role"] == Role.ADMIN.value and role != Role.ADMIN and self._admins(conn) <= 1:
                raise AccountError(f"{row['name']!r} is the last administrator and cannot be made {role.value}: "
                                   "make another account admin first")
            conn.execute("UPDATE users SET role = ? WHERE id = ?", (role.value, row["id"]))
            if row["role"] != role.value:
                conn.execute("UPDATE sessions SET ended = ? WHERE user_id = ? AND ended IS NULL", (now, row["id"]))
        self.audit.record(by, "user_role", target=row["name"], detail={"from": row["role"], "to": role.value},
                          where=where)
        return self.get(row["name"])

    def unlock(self, by: Principal, name: str, *, where: str = "") -> None:
        """Forget the failed sign-ins of an account (ends a lockout and the delay)."""
        require(by, Action.MANAGE_USERS, self.audit, target=str(name)[:MAX_NAME_LENGTH], where=where)
        with self.store.write() as conn:
            row = self._require_row(conn, name)
            conn.execute("DELETE FROM sign_in_attempts WHERE name_key = ?", (account_key(row["name"]),))
        self.audit.record(by, "user_unlock", target=row["name"], where=where)

    # -- signing in ---------------------------------------------------------------------------

    def sign_in(self, name: str, password: str, *, client: str = "", where: str = "sign-in") -> SignedIn:
        """A session for ``name`` if ``password`` is right and the name is neither locked nor
        waiting out a delay; otherwise :class:`SignInError` (see the module docstring)."""
        typed = "".join(c for c in re.sub(r"\s+", " ", str(name)).strip()
                        if unicodedata.category(c) not in ("Cc", "Cf"))[:MAX_NAME_LENGTH]
        key = account_key(typed)
        now = self._now()
        detail = {"client": str(client)[:100]} if client else {}
        refused = self._throttle(key, now)
        if refused is not None:
            outcome, message, extra = refused
            self.audit.record(None, "sign_in", target=typed, outcome=outcome, detail={**detail, **extra}, where=where)
            raise SignInError(message)
        with self.store.read() as conn:
            row = conn.execute("SELECT id, name, role, password_hash FROM users WHERE name_key = ?", (key,)).fetchone()
        good = verify_password(row["password_hash"] if row else dummy_hash(), str(password)) and row is not None
        if not good:
            failures, locked_until = self._count_failure(key, now)
            self.audit.record(None, "sign_in", target=typed, outcome="failed",
                              detail={**detail, "failures": failures, "locked_until": locked_until}, where=where)
            if locked_until:
                raise SignInError(f"wrong name or password; after {failures} failed attempts this name is locked "
                                  f"for {self.settings.lockout_minutes:g} minutes (an administrator can unlock it)")
            raise SignInError(f"wrong name or password; the next attempt can be made in "
                              f"{delay_after(failures):g} s")
        token = secrets.token_urlsafe(32)
        stamp = timestamp(now)
        rehash = hash_password(str(password)) if needs_rehash(row["password_hash"]) else None
        with self.store.write() as conn:
            conn.execute("DELETE FROM sign_in_attempts WHERE name_key = ?", (key,))
            conn.execute("UPDATE users SET last_sign_in = ? WHERE id = ?", (stamp, row["id"]))
            if rehash:
                conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (rehash, row["id"]))
            conn.execute("INSERT INTO sessions(token_hash, user_id, created, last_seen, client) VALUES (?, ?, ?, ?, ?)",
                         (_token_hash(token), row["id"], stamp, stamp, str(client)[:100]))
        principal = Principal(row["name"], Role(row["role"]), "dashboard")
        self.audit.record(principal, "sign_in", target=row["name"], detail=detail, where=where)
        return SignedIn(principal, token, timestamp(now + self._session_length()))

    def _session_length(self) -> _dt.timedelta:
        return _dt.timedelta(minutes=float(self.settings.session_minutes))

    def _throttle(self, key: str, now: _dt.datetime) -> tuple[str, str, dict] | None:
        """``(outcome, message, detail)`` when an attempt on ``key`` must be refused unchecked;
        else None, after claiming the attempt's slot (so parallel guesses wait their turn too)."""
        with self.store.write() as conn:
            row = conn.execute("SELECT failures, last_failed, locked_until FROM sign_in_attempts WHERE name_key = ?",
                               (key,)).fetchone()
            if row is None or int(row["failures"]) <= 0:
                return None
            locked = _parse(row["locked_until"])
            if locked is not None and now < locked:
                minutes = max(1, int(-(-(locked - now).total_seconds() // 60)))
                return ("locked", f"too many failed sign-ins for this name: it is locked for {minutes} more "
                                  f"minute{'s' if minutes > 1 else ''}; try again later or ask an administrator "
                                  "to unlock it", {"locked_until": row["locked_until"]})
            ready = _parse(row["last_failed"]) + _dt.timedelta(seconds=delay_after(int(row["failures"])))
            if locked is None and now < ready:
                wait = max(1, int(-(-(ready - now).total_seconds() // 1)))
                return ("rate_limited", f"wait {wait} s before trying again: each failed sign-in makes the next "
                                        "attempt wait longer", {"failures": int(row["failures"])})
            conn.execute("UPDATE sign_in_attempts SET last_failed = ? WHERE name_key = ?", (timestamp(now), key))
        return None

    def _count_failure(self, key: str, now: _dt.datetime) -> tuple[int, str | None]:
        """One more consecutive failure on ``key``; locks it at the limit. ``(failures, locked_until)``."""
        stamp = timestamp(now)
        with self.store.write() as conn:
            conn.execute("INSERT INTO sign_in_attempts(name_key, failures, last_failed) VALUES (?, 1, ?) "
                         "ON CONFLICT(name_key) DO UPDATE SET failures = failures + 1, last_failed = excluded.last_failed",
                         (key, stamp))
            failures = int(conn.execute("SELECT failures FROM sign_in_attempts WHERE name_key = ?",
                                        (key,)).fetchone()[0])
            locked_until = None
            if failures >= int(self.settings.max_failed_sign_ins):
                locked_until = timestamp(now + _dt.timedelta(minutes=float(self.settings.lockout_minutes)))
                conn.execute("UPDATE sign_in_attempts SET locked_until = ? WHERE name_key = ?", (locked_until, key))
        if locked_until:
            log.warning("sign-in: a name was locked after %d failed attempts", failures)
        return failures, locked_until

    def resume(self, token: str) -> Principal:
        """The principal of a live session, restarting its idle clock; :class:`SessionExpiredError`
        when the token is unknown, signed out, or idle past ``settings.session_minutes``. The role
        is read afresh, so a changed role applies at once."""
        now = self._now()
        expired = None
        with self.store.write() as conn:
            row = conn.execute("SELECT s.token_hash, s.last_seen, s.ended, u.name, u.role FROM sessions s "
                               "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
                               (_token_hash(token),)).fetchone()
            if row is None or row["ended"]:
                raise SessionExpiredError("your session has ended (signed out, or the account changed): sign in again")
            if now - _parse(row["last_seen"]) > self._session_length():
                conn.execute("UPDATE sessions SET ended = ? WHERE token_hash = ?", (timestamp(now), row["token_hash"]))
                expired = row
            else:
                conn.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (timestamp(now), row["token_hash"]))
        if expired is not None:
            self.audit.record(Principal(expired["name"], Role(expired["role"]), "dashboard"), "session_expired",
                              target=expired["name"], detail={"idle_minutes": self.settings.session_minutes})
            raise SessionExpiredError(f"signed out after {self.settings.session_minutes:g} minutes without activity: "
                                      "sign in again")
        return Principal(row["name"], Role(row["role"]), "dashboard")

    def sign_out(self, token: str, *, where: str = "") -> None:
        """End the session of ``token`` now (an unknown or ended token: nothing to do)."""
        with self.store.write() as conn:
            row = conn.execute("SELECT u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id "
                               "WHERE s.token_hash = ? AND s.ended IS NULL", (_token_hash(token),)).fetchone()
            if row is not None:
                conn.execute("UPDATE sessions SET ended = ? WHERE token_hash = ?",
                             (timestamp(self._now()), _token_hash(token)))
        if row is not None:
            self.audit.record(Principal(row["name"], Role(row["role"]), "dashboard"), "sign_out", target=row["name"],
                              where=where)
