"""Optional encryption at rest of the gallery's embeddings and thumbnails (AES-256-GCM).

Off unless ``FACEREC_GALLERY_KEY_FILE`` (``Settings.gallery_key_file``) names a key file, which
must live outside the database (a copied ``gallery.sqlite3`` alone reveals no face). The key file
holds 32 random bytes, base64 on one line, and must be owner-only (0600), like an SSH key; when it
does not exist yet and the gallery holds nothing encrypted, it is created (0600) with a new key,
and a warning says to back it up: without it the encrypted samples cannot be read.

Each blob is sealed with a fresh 96-bit nonce; the ciphertext stays in its column (GCM keeps the
length, so the schema's size check still holds) and the nonce and tag go to
``embedding_seal``/``thumbnail_seal``. The associated data binds each blob to its row (sample id,
person id, backbone and column): a blob copied into another row, to another person or into the
other column does not decrypt, and that sample is skipped by search and listed by
:meth:`~.store.GalleryStore.check`, never attributed to someone else.

Mixed galleries: a row whose seal is NULL is plaintext. Opening a gallery with a key encrypts every
plaintext row in one transaction (a migration: turning encryption on for an existing gallery just
works), then vacuums the file so the plaintext does not linger in free pages or the WAL. Opening
an encrypted gallery without its key, with a missing key file, or with another key is refused
with a :class:`GalleryError` naming the fix. To turn encryption off: export the gallery with the
key set, then import the export into a new gallery without it.

What stays in clear: names, notes, detection scores, sources (file names) and the photos' SHA-256
(needed to refuse the same photo twice).
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import sqlite3
from pathlib import Path
from typing import Callable, ContextManager

from ..errors import GalleryError
from ..secure_files import private_dir, write_private

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEAL_BYTES = NONCE_BYTES + TAG_BYTES
_KEY_CHECK = b"facerec gallery key check v1"
_KEY_CHECK_AAD = b"facerec-gallery|key-check"
COLUMNS = ("embedding", "thumbnail")
SETTING = "FACEREC_GALLERY_KEY_FILE"

OpenBlob = Callable[[int, int, str, str, object, object], "bytes | None"]
"""``(sample_id, person_id, backbone, column, blob, seal)`` → the plaintext, or ``None``."""


def sample_aad(sample_id: int, person_id: int, backbone: str, column: str) -> bytes:
    """The associated data that binds a blob to its row and column."""
    return f"facerec-gallery|{column}|sample {int(sample_id)}|person {int(person_id)}|{backbone}".encode()


class GalleryKey:
    """An AES-256-GCM key read from ``path``."""

    def __init__(self, key: bytes, path: Path) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.path = Path(path)
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, path: str | os.PathLike, *, create: bool) -> "GalleryKey":
        """The key in ``path``; a new one written there (0600) when it is missing and ``create``.
        Raises :class:`GalleryError` naming the problem and the fix."""
        path = Path(path).expanduser()
        if not path.exists():
            if not create:
                raise GalleryError(f"the gallery key file {path} ({SETTING}) does not exist, and the gallery holds "
                                   "encrypted samples that only it can read: restore the key file from your backup "
                                   f"or point {SETTING} at it")
            try:
                private_dir(path.parent)
                write_private(path, base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
            except OSError as exc:
                raise GalleryError(f"cannot create the gallery key file {path} ({exc.strerror or exc}); point "
                                   f"{SETTING} at a file in a folder you can write") from None
            log.warning("created a new gallery key in %s: back it up; without it the gallery's encrypted "
                        "embeddings and thumbnails cannot be read", path)
        try:
            if path.stat().st_mode & 0o077:
                raise GalleryError(f"the gallery key file {path} can be read by other users: "
                                   f"make it owner-only (chmod 600 {path})")
            raw = path.read_bytes()
        except OSError as exc:
            raise GalleryError(f"cannot read the gallery key file {path} ({exc.strerror or exc}); "
                               f"check {SETTING}") from None
        return cls(_parse_key(raw, path), path)

    def seal(self, data: bytes, aad: bytes) -> tuple[bytes, bytes]:
        """``(ciphertext of len(data) bytes, nonce + tag)``."""
        nonce = os.urandom(NONCE_BYTES)
        out = self._aead.encrypt(nonce, bytes(data), aad)
        return out[:-TAG_BYTES], nonce + out[-TAG_BYTES:]

    def unseal(self, data: object, seal: object, aad: bytes) -> bytes | None:
        """The plaintext, or ``None`` when the blob was altered, moved or sealed with another key."""
        from cryptography.exceptions import InvalidTag

        if not isinstance(data, bytes) or not isinstance(seal, bytes) or len(seal) != SEAL_BYTES:
            return None
        try:
            return self._aead.decrypt(seal[:NONCE_BYTES], data + seal[NONCE_BYTES:], aad)
        except InvalidTag:
            return None


def _parse_key(raw: bytes, path: Path) -> bytes:
    if len(raw) == KEY_BYTES:
        return raw
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise GalleryError(f"{path} is not a gallery key (it must hold {KEY_BYTES} random bytes, base64 on one "
                           f"line); point {SETTING} at the right file, or at a path that does not exist yet "
                           "for a new key (only for a gallery with nothing encrypted)")
    return key


class Sealing:
    """What the store seals and opens blobs with (``key`` ``None``: encryption off)."""

    def __init__(self, key: GalleryKey | None) -> None:
        self.key = key

    def seal(self, sample_id: int, person_id: int, backbone: str, column: str,
             blob: bytes | None) -> tuple[bytes | None, bytes | None]:
        """``(stored blob, seal)``: the blob itself and ``None`` when off or there is no blob."""
        if self.key is None or blob is None:
            return blob, None
        return self.key.seal(blob, sample_aad(sample_id, person_id, backbone, column))

    def open(self, sample_id: int, person_id: int, backbone: str, column: str, blob: object,
             seal: object) -> bytes | None:
        """The plaintext of a stored blob (a plaintext row's blob as it is), or ``None`` when it
        cannot be decrypted."""
        if seal is None:
            return blob if isinstance(blob, bytes) or blob is None else None
        if self.key is None:
            return None
        return self.key.unseal(blob, seal, sample_aad(sample_id, person_id, backbone, column))


def open_sealing(conn: sqlite3.Connection, path: Path, key_file: str | os.PathLike | None,
                 write: Callable[[], ContextManager[sqlite3.Connection]]) -> Sealing:
    """Check the key against the gallery on ``conn`` and encrypt its plaintext rows when a key
    is set (see the module docstring). Raises :class:`GalleryError`."""
    sealed = conn.execute("SELECT COUNT(*) FROM samples WHERE embedding_seal IS NOT NULL "
                          "OR thumbnail_seal IS NOT NULL").fetchone()[0]
    check = conn.execute("SELECT value FROM sealing WHERE name = 'key_check'").fetchone()
    if key_file is None:
        if sealed or check is not None:
            raise GalleryError(f"the gallery {path} is encrypted ({sealed:,} encrypted samples) but no key is set: "
                               f"set {SETTING} to the key file it was encrypted with")
        return Sealing(None)
    key = GalleryKey.load(key_file, create=not sealed and check is None)
    if check is not None and key.unseal(check[0][:-SEAL_BYTES], check[0][-SEAL_BYTES:], _KEY_CHECK_AAD) != _KEY_CHECK:
        raise GalleryError(f"the key in {key.path} is not the key the gallery {path} was encrypted with: set "
                           f"{SETTING} to the original key file (a new key cannot read its samples)")
    sealing = Sealing(key)
    plain = conn.execute("SELECT COUNT(*) FROM samples WHERE embedding_seal IS NULL").fetchone()[0]
    if check is not None and not plain:
        return sealing  # the usual open: nothing to write
    with write() as wconn:
        if check is None:
            data, seal = key.seal(_KEY_CHECK, _KEY_CHECK_AAD)
            wconn.execute("INSERT OR REPLACE INTO sealing(name, value) VALUES ('key_check', ?)", (data + seal,))
        count = _seal_plain_rows(wconn, sealing)
    if count:
        log.info("gallery %s: %d samples encrypted at rest", path, count)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")  # no plaintext left in free pages
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sealing


def _seal_plain_rows(conn: sqlite3.Connection, sealing: Sealing) -> int:
    rows = conn.execute("SELECT id, person_id, backbone, embedding, thumbnail FROM samples "
                        "WHERE embedding_seal IS NULL").fetchall()
    for sid, pid, backbone, embedding, thumbnail in rows:
        emb, emb_seal = sealing.seal(sid, pid, backbone, "embedding", embedding)
        thumb, thumb_seal = sealing.seal(sid, pid, backbone, "thumbnail", thumbnail)
        conn.execute("UPDATE samples SET embedding = ?, embedding_seal = ?, thumbnail = ?, thumbnail_seal = ? "
                     "WHERE id = ?", (emb, emb_seal, thumb, thumb_seal, sid))
    return len(rows)
