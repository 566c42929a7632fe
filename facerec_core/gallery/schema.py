"""The gallery's SQLite schema and its migrations (schema version in ``PRAGMA user_version``).

- ``people(id, name UNIQUE NOCASE, notes, created, updated, name_key UNIQUE)``: ``name`` is the
  display name (NFC), ``name_key`` its comparison form (:func:`~.checks.name_key`: NFKC + Unicode
  casefold), by which every lookup by name is made. (Version 1 compared names with SQLite's
  ``NOCASE``, which folds ASCII only: "Émile" and "émile" were two people.)
- ``samples(id, person_id → people ON DELETE CASCADE, backbone, dim, embedding BLOB (float32
  little-endian, unit length), det_score, source, content_hash, thumbnail BLOB (JPEG of the face),
  created)``
- ``meta(key, value)``: ``generation`` is bumped by triggers on every change to either table.
- version 3: ``samples.embedding_seal`` and ``samples.thumbnail_seal`` (the AES-GCM nonce and tag
  of an encrypted blob, NULL for plaintext) and ``sealing(name, value)`` (the key check), see
  :mod:`.crypto`.

Migrating version 1 to 2 fills ``name_key`` with :data:`NAME_KEY_SQL`, a deterministic function
registered on every connection (:func:`register_functions`). A version-1 file may already hold
two names equal under the new comparison; **both are kept** (nothing is renamed or merged behind
the user's back, and recognition goes on): the older keeps the key and answers lookups by that
name, the younger gets a key no name can produce until it is renamed, and
:meth:`~.store.GalleryStore.check` names the pair.
"""
from __future__ import annotations

import sqlite3

from .checks import name_key

NAME_KEY_SQL = "facerec_name_key"
"""The SQL name of :func:`~.checks.name_key` on the store's connections."""

# Each migration takes the schema from version i to i + 1; applied in one transaction each.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE people (
               id INTEGER PRIMARY KEY,
               name TEXT NOT NULL UNIQUE COLLATE NOCASE,
               notes TEXT NOT NULL DEFAULT '',
               created TEXT NOT NULL,
               updated TEXT NOT NULL)""",
        """CREATE TABLE samples (
               id INTEGER PRIMARY KEY,
               person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
               backbone TEXT NOT NULL,
               dim INTEGER NOT NULL CHECK (dim > 0),
               embedding BLOB NOT NULL,
               det_score REAL NOT NULL,
               source TEXT NOT NULL DEFAULT '',
               content_hash TEXT,
               thumbnail BLOB,
               created TEXT NOT NULL,
               CHECK (length(embedding) = 4 * dim))""",
        "CREATE INDEX samples_person ON samples(person_id)",
        "CREATE INDEX samples_backbone ON samples(backbone, person_id)",
        "CREATE INDEX samples_hash ON samples(content_hash)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta(key, value) VALUES ('generation', 0)",
        *[f"""CREATE TRIGGER {table}_{event.lower()}_bump AFTER {event} ON {table}
              BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END"""
          for table in ("people", "samples") for event in ("INSERT", "UPDATE", "DELETE")],
    ],
    [
        "ALTER TABLE people ADD COLUMN name_key TEXT",
        f"UPDATE people SET name_key = {NAME_KEY_SQL}(name)",
        # look-alikes version 1 let in: the oldest keeps the key; the others get one that no name
        # has (a NUL cannot be in a name) until they are renamed
        "UPDATE people SET name_key = name_key || char(0) || id "
        "WHERE id NOT IN (SELECT MIN(id) FROM people GROUP BY name_key)",
        "CREATE UNIQUE INDEX people_name_key ON people(name_key)",
    ],
    [
        # encryption at rest (.crypto): the nonce and tag of a sealed blob; NULL = plaintext
        *[f"ALTER TABLE samples ADD COLUMN {column}_seal BLOB "
          f"CHECK ({column}_seal IS NULL OR length({column}_seal) = 28)" for column in ("embedding", "thumbnail")],
        "CREATE TABLE sealing (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def register_functions(conn: sqlite3.Connection) -> None:
    """Make :data:`NAME_KEY_SQL` callable from SQL on ``conn`` (the migration uses it)."""
    conn.create_function(NAME_KEY_SQL, 1, name_key, deterministic=True)
