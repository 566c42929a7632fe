"""Tables of one facerec feature kept in the gallery's SQLite file beside the gallery's own: a
connection per thread, explicit transactions, and their own migration chain.

The gallery owns ``PRAGMA user_version``; each feature that adds tables records its chain in its own
``<feature>_meta`` table (key ``schema_version``), so either can migrate without the other.
Subclasses name that table (:attr:`OwnTables.META`), their migrations, what they are called in
messages, and the error they raise.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import ClassVar, Iterator

from .errors import FacerecError

log = logging.getLogger(__name__)


class OwnTables:
    """A connection factory for one feature's tables in one SQLite file (migrated on open).

    Safe to share between threads: each thread gets its own connection on first use (SQLite
    connections must not run two statements at once); :meth:`close` closes them all.

    Args:
        path: the database file (normally the gallery's); created 0600 when missing.
        timeout: seconds a writer waits for another connection's transaction.
        synchronous: SQLite's ``synchronous`` for these connections. ``NORMAL`` (default): in WAL
            mode a commit is safe against a crash of the process or of the server, and is not
            flushed to the disk one by one, so a write costs a fraction of a millisecond even while
            other programs keep the disk busy (measured with ``bench/access.py``: p50 0.2 ms,
            against 4 ms with ``FULL`` on the shared machine); a power cut may lose the last
            transactions, all of them together. ``FULL`` flushes every commit.
    """

    META: ClassVar[str] = ""
    """The table holding this feature's ``schema_version``."""
    MIGRATIONS: ClassVar[list[list[str]]] = []
    LABEL: ClassVar[str] = ""
    """What the tables are called in messages ("the accounts database")."""
    ERROR: ClassVar[type[FacerecError]] = FacerecError

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._timeout = float(timeout)
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._create_private_file()
        self._migrate()

    @property
    def schema_target(self) -> int:
        return len(self.MIGRATIONS)

    def _create_private_file(self) -> None:
        """Create the file 0600 (its folder 0700) before SQLite opens it with the umask's mode."""
        path = self.path
        if path.exists() and not path.is_file():
            raise self.ERROR(f"cannot open {self.LABEL} {path}: it is not a file; move it, or point "
                             "FACEREC_DATA_DIR elsewhere")
        try:
            if not path.parent.exists():
                path.parent.mkdir(parents=True, mode=0o700)
                os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise self.ERROR(f"cannot create {self.LABEL} {path}: {exc.strerror or exc}; FACEREC_DATA_DIR "
                             "(--data-dir) must be a folder you can write") from None
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)

    def close(self) -> None:
        """Close every thread's connection; later calls open new ones (a closed store is reusable)."""
        with self._lock:
            conns, self._all = self._all, []
            self._local = threading.local()
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self):
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
                raise self.ERROR(f"{self.path} is not a usable database ({exc}); restore it from a backup "
                                 "or point FACEREC_DATA_DIR elsewhere") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: it holds the write lock from the start, so a
        read-then-write cannot interleave with another writer, in this process or another."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self.ERROR(f"{self.LABEL} {self.path} is busy or unwritable ({exc})") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self.ERROR(f"{self.LABEL} {self.path}: {exc}; nothing was changed") from exc
            raise

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several queries."""
        conn = self.connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise self.ERROR(f"cannot read {self.LABEL} {self.path} ({exc})") from None
        try:
            yield conn
        except sqlite3.Error as exc:
            raise self.ERROR(f"cannot read {self.LABEL} {self.path} ({exc})") from exc
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("COMMIT")

    # -- migrations ---------------------------------------------------------------------------

    def _version(self, conn: sqlite3.Connection) -> int:
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (self.META,)).fetchone()
        if not has_meta:
            return 0
        row = conn.execute(f"SELECT value FROM {self.META} WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        """Bring the tables to the last migration, one transaction per step; the gallery's tables
        and ``user_version`` are never touched."""
        target = self.schema_target
        with self.read() as conn:
            version = self._version(conn)
        if version > target:
            raise self.ERROR(f"{self.path} holds {self.LABEL.removeprefix('the ')} written by a newer facerec "
                             f"(schema {version}, this one knows {target}); upgrade facerec")
        while version < target:
            with self.write() as conn:
                version = self._version(conn)  # another process may have migrated meanwhile
                if version >= target:
                    break
                conn.execute(f"CREATE TABLE IF NOT EXISTS {self.META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                for statement in self.MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"INSERT OR REPLACE INTO {self.META}(key, value) VALUES ('schema_version', ?)",
                             (str(version + 1),))
            version += 1
            log.info("%s %s: schema migrated to version %d", self.LABEL, self.path, version)

    def schema_version(self) -> int:
        with self.read() as conn:
            return self._version(conn)
