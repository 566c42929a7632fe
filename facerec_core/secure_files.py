"""Owner-only files and folders: the one place that creates, writes and tightens them.

Everything facerec keeps at rest about faces is biometric data: the trained model (it holds an
embedding of every training face and every name), its report, the embedding cache, the gallery and
SQLite's ``-wal``/``-shm`` companions, exports, and a training run's request and progress files.
Folders are made ``0700`` and files ``0600``, whatever the umask, and a folder or file that already
exists with wider permissions (``0755`` / ``0644`` from an older version or another tool) is
tightened, not trusted. Files are written through a private temporary file in the same folder that
replaces the target at once, so a reader never sees half a file and the content is never readable
by others, not even for a moment.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator, BinaryIO

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def tighten(path: str | os.PathLike, *, strict: bool = True) -> None:
    """Make an existing ``path`` owner-only (``0700`` for a folder, ``0600`` for a file).

    Args:
        strict: raise :class:`OSError` when the mode cannot be changed (a file of another user);
            otherwise log a warning and go on (used where the data is only read).
    """
    path = Path(path)
    try:
        mode = DIR_MODE if path.is_dir() else FILE_MODE
        if (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        return
    except OSError as exc:
        if strict:
            raise
        log.warning("cannot make %s owner-only (%s): others on this machine may read it", path, exc)


def private_dir(path: str | os.PathLike) -> Path:
    """``path`` as an owner-only folder: created (with missing parents) when needed, tightened to
    ``0700`` when it already exists. Raises :class:`OSError` (e.g. a file in the way)."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tighten(path)
    return path


def create_private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` empty with mode ``0600`` when missing (before another library, such as
    SQLite, opens it with its own default mode); tighten it when it exists."""
    path = Path(path)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    tighten(path)
    return path


@contextlib.contextmanager
def private_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` atomically when the block ends
    without an exception (mode ``0600``, flushed and synced first); on an exception nothing is
    left behind and ``path`` is unchanged. The folder must exist."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_private(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` owner-only and atomically
    (see :func:`private_writer`)."""
    with private_writer(path) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def open_private_append(path: str | os.PathLike):
    """A text file opened for appending, line-buffered, created ``0600`` (progress files)."""
    path = Path(path)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, FILE_MODE)
    tighten(path)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8")


def sqlite_companions(path: str | os.PathLike) -> tuple[Path, Path]:
    """SQLite's write-ahead log and shared-memory index beside the database ``path``."""
    path = Path(path)
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def tighten_database(path: str | os.PathLike) -> None:
    """An SQLite database, its folder and its ``-wal``/``-shm`` files owner-only (best effort: a
    file of another user is logged, not fatal). SQLite gives new ``-wal``/``-shm`` files the
    database's own mode, but keeps existing ones as they are."""
    path = Path(path)
    for item in (path.parent, path, *sqlite_companions(path)):
        tighten(item, strict=False)


def is_private(path: str | os.PathLike) -> bool:
    """Whether nobody but the owner may read, write or enter ``path``."""
    return (Path(path).stat().st_mode & 0o077) == 0
