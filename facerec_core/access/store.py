"""Where accounts, sessions and the audit trail live: the gallery's own SQLite file, own tables.

They share the file with the gallery (one file to back up, to keep private, to move) but not its
schema: their migration chain is recorded in ``access_meta`` (key ``schema_version``), never in
``PRAGMA user_version``, which the gallery owns, so either side can migrate without the other.

Tables (:data:`MIGRATIONS`):

- ``users(id, name, name_key UNIQUE, role, password_hash, created, last_sign_in)``: the Argon2id
  hash only (:mod:`.passwords`), never the password.
- ``sessions(token_hash PRIMARY KEY, user_id → users ON DELETE CASCADE, created, last_seen,
  ended, client)``: the SHA-256 of a session token, so a stolen copy of the file signs nobody in.
- ``sign_in_attempts(name_key PRIMARY KEY, failures, last_failed, locked_until)``: consecutive
  failures per typed name, known or not (an unknown name is throttled and locked exactly like a
  real one, so the answers reveal nothing about which names exist).
- ``audit(id, time, actor, role, source, action, target, outcome, place, detail, prev_hash,
  hash)`` and ``audit_head(last_id, last_hash)``: the hash-chained trail (:mod:`.audit`); triggers
  refuse UPDATE and DELETE on ``audit``, so no code path of ours can rewrite history.

Connections: one per thread (a Streamlit server runs every session on its own thread), each with a
busy timeout and WAL, so readers never wait for the writer and writers of other processes (the
CLI beside the dashboard) wait their turn instead of failing. The file is created 0600 in a 0700
folder before SQLite opens it; SQLite's ``-wal``/``-shm`` companions take the file's mode.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import AccessError
from ..own_tables import OwnTables
from ..settings import Settings

GALLERY_FILE = "gallery.sqlite3"
"""The gallery's file name (as :data:`facerec_core.gallery.store.GALLERY_FILE`; repeated here so
that opening accounts does not import the gallery and numpy)."""

_ROLES = "('admin', 'operator', 'viewer')"

MIGRATIONS: list[list[str]] = [
    [
        f"""CREATE TABLE users (
               id INTEGER PRIMARY KEY,
               name TEXT NOT NULL,
               name_key TEXT NOT NULL UNIQUE,
               role TEXT NOT NULL CHECK (role IN {_ROLES}),
               password_hash TEXT NOT NULL,
               created TEXT NOT NULL,
               last_sign_in TEXT)""",
        """CREATE TABLE sessions (
               token_hash TEXT PRIMARY KEY,
               user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               created TEXT NOT NULL,
               last_seen TEXT NOT NULL,
               ended TEXT,
               client TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX sessions_user ON sessions(user_id)",
        """CREATE TABLE sign_in_attempts (
               name_key TEXT PRIMARY KEY,
               failures INTEGER NOT NULL DEFAULT 0,
               last_failed TEXT,
               locked_until TEXT)""",
        """CREATE TABLE audit (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               time TEXT NOT NULL,
               actor TEXT NOT NULL,
               role TEXT NOT NULL,
               source TEXT NOT NULL,
               action TEXT NOT NULL,
               target TEXT NOT NULL,
               outcome TEXT NOT NULL,
               place TEXT NOT NULL,
               detail TEXT NOT NULL,
               prev_hash TEXT NOT NULL,
               hash TEXT NOT NULL)""",
        "CREATE INDEX audit_time ON audit(time)",
        "CREATE INDEX audit_actor ON audit(actor, id)",
        "CREATE INDEX audit_action ON audit(action, id)",
        "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), last_id INTEGER NOT NULL, "
        "last_hash TEXT NOT NULL)",
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def access_path(settings: Settings) -> Path:
    """The file accounts live in: the gallery's, ``<data_dir>/gallery.sqlite3``."""
    return Path(settings.data_dir) / GALLERY_FILE


class AccessStore(OwnTables):
    """A connection factory for the access tables of one SQLite file (migrated on open); see
    :class:`~facerec_core.own_tables.OwnTables` for connections, transactions and ``synchronous``."""

    META = "access_meta"
    MIGRATIONS = MIGRATIONS
    LABEL = "the accounts database"
    ERROR = AccessError

    @classmethod
    def open(cls, settings: Settings | None = None) -> "AccessStore":
        """The accounts of the gallery under ``settings.data_dir`` (default: from the environment)."""
        return cls(access_path(settings or Settings.from_env()))
