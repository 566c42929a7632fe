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

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from ..errors import AccessError
from ..settings import Settings

log = logging.getLogger(__name__)

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


def _create_private_file(path: Path) -> None:
    """Create ``path`` 0600 (its folder 0700) before SQLite opens it with the umask's mode."""
    if path.exists() and not path.is_file():
        raise AccessError(f"cannot open the accounts database {path}: it is not a file; move it, or point "
                          "FACEREC_DATA_DIR elsewhere")
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
            os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    except OSError as exc:
        raise AccessError(f"cannot create the accounts database {path}: {exc.strerror or exc}; FACEREC_DATA_DIR "
                          "(--data-dir) must be a folder you can write") from None
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)


class AccessStore:
    """A connection factory for the access tables of one SQLite file (migrated on open).

    Safe to share between threads: each thread gets its own connection on first use (SQLite
    connections must not run two statements at once); :meth:`close` closes them all.

    Args:
        path: the database file (normally the gallery's); created 0600 when missing.
        timeout: seconds a writer waits for another connection's transaction.
        synchronous: SQLite's ``synchronous`` for these connections. ``NORMAL`` (default): in WAL
            mode a commit is safe against a crash of the process or of the server, and is not
            flushed to the disk one by one, so an audited decision costs a fraction of a
            millisecond even while other programs keep the disk busy (measured with
            ``bench/access.py``: p50 0.2 ms, against 4 ms with ``FULL`` on the shared machine); a
            power cut may lose the last transactions, all of them together, so the chain stays
            whole. ``FULL`` flushes every commit.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._timeout = float(timeout)
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        _create_private_file(self.path)
        self._migrate()

    @classmethod
    def open(cls, settings: Settings | None = None) -> "AccessStore":
        """The accounts of the gallery under ``settings.data_dir`` (default: from the environment)."""
        return cls(access_path(settings or Settings.from_env()))

    def close(self) -> None:
        """Close every thread's connection; later calls open new ones (a closed store is reusable)."""
        with self._lock:
            conns, self._all = self._all, []
            self._local = threading.local()
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self) -> "AccessStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections --------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            except sqlite3.DatabaseError as exc:
                raise AccessError(f"{self.path} is not a usable database ({exc}); restore it from a backup "
                                  "or point FACEREC_DATA_DIR elsewhere") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: it holds the write lock from the start, so a
        read-then-write (the audit chain's last hash, the last-admin check) cannot interleave with
        another writer, in this process or another."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise AccessError(f"the accounts database {self.path} is busy or unwritable ({exc})") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise AccessError(f"the accounts database {self.path}: {exc}; nothing was changed") from exc
            raise

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several queries."""
        conn = self.connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise AccessError(f"cannot read the accounts database {self.path} ({exc})") from None
        try:
            yield conn
        except sqlite3.Error as exc:
            raise AccessError(f"cannot read the accounts database {self.path} ({exc})") from exc
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("COMMIT")

    # -- migrations ---------------------------------------------------------------------------

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'access_meta'").fetchone()
        if not has_meta:
            return 0
        row = conn.execute("SELECT value FROM access_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        """Bring the access tables to :data:`SCHEMA_VERSION`, one transaction per step; the
        gallery's tables and ``user_version`` are never touched."""
        with self.read() as conn:
            version = self._version(conn)
        if version > SCHEMA_VERSION:
            raise AccessError(f"{self.path} holds accounts written by a newer facerec (access schema {version}, "
                              f"this one knows {SCHEMA_VERSION}); upgrade facerec")
        while version < SCHEMA_VERSION:
            with self.write() as conn:
                version = self._version(conn)  # another process may have migrated meanwhile
                if version >= SCHEMA_VERSION:
                    break
                conn.execute("CREATE TABLE IF NOT EXISTS access_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT OR REPLACE INTO access_meta(key, value) VALUES ('schema_version', ?)",
                             (str(version + 1),))
            version += 1
            log.info("accounts %s: access schema migrated to version %d", self.path, version)

    def schema_version(self) -> int:
        with self.read() as conn:
            return self._version(conn)
