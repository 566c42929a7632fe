"""What :meth:`~.store.GalleryStore.check` finds: SQLite's integrity and foreign-key checks, and
rows this facerec would refuse today but an older version, a hand-edited file or a crafted import
left behind — embeddings search skips, thumbnails the page cannot show, look-alike or invisible
names, oversized notes. Each problem is one line naming the rows (ids, quoted names) and what to do;
no embedding value is ever part of it.
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Callable, Iterable

import numpy as np

from ..backbones.specs import SPECS
from ..errors import GalleryError
from .checks import (MAX_NOTES_LENGTH, MAX_THUMBNAIL_BYTES, clean_name, clean_text, name_key, thumbnail_problem,
                     unit_rows)

CHUNK = 4096
"""Samples read at a time (the check streams the table instead of loading it whole)."""
SHOWN = 10
"""At most this many ids or names are listed per problem."""

# A thumbnail that does not start like a JPEG or a PNG (the quick check reads no further).
_NOT_AN_IMAGE_SQL = ("SELECT s.id, p.name FROM samples s JOIN people p ON p.id = s.person_id "
                     "WHERE s.thumbnail IS NOT NULL AND s.thumbnail_seal IS NULL "
                     "AND (typeof(s.thumbnail) != 'blob' OR length(s.thumbnail) > ? "
                     "OR NOT (substr(s.thumbnail, 1, 3) = x'FFD8FF' "
                     "OR substr(s.thumbnail, 1, 8) = x'89504E470D0A1A0A'))")


def listing(items: Iterable, what: str = "sample ids") -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:SHOWN])
    return f"{what} {shown}" + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


OpenBlob = Callable[[int, int, str, str, object, object], "bytes | None"]


def _plain(sid, pid, backbone, column, blob, seal) -> bytes | None:
    return blob if seal is None else None


def store_problems(conn: sqlite3.Connection, *, quick: bool = False, open_blob: OpenBlob = _plain) -> list[str]:
    """Every problem of the store on ``conn`` (inside the caller's read transaction). ``open_blob``
    decrypts a stored blob (:meth:`.crypto.Sealing.open`); one that does not decrypt is a problem."""
    result = [r[0] for r in conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check")]
    problems = [] if result == ["ok"] else [f"integrity: {r}" for r in result]
    problems += [f"foreign key: sample {r[1]} in {r[0]}" for r in conn.execute("PRAGMA foreign_key_check")]
    return (problems + _embedding_problems(conn, open_blob) + _thumbnail_problems(conn, quick, open_blob)
            + _people_problems(conn))


def _embedding_problems(conn: sqlite3.Connection, open_blob: OpenBlob) -> list[str]:
    unknown, sizes, broken, sealed = defaultdict(list), defaultdict(list), defaultdict(list), []
    cursor = conn.execute("SELECT id, person_id, backbone, dim, embedding, embedding_seal FROM samples ORDER BY id")
    while batch := cursor.fetchmany(CHUNK):
        usable = defaultdict(list)
        for sid, pid, backbone, dim, stored, seal in batch:
            spec = SPECS.get(backbone)
            blob = open_blob(sid, pid, backbone, "embedding", stored, seal)
            if seal is not None and blob is None:
                sealed.append(sid)
            elif spec is None:
                unknown[backbone].append(sid)
            elif not isinstance(blob, bytes) or dim != spec.dimension or len(blob) != 4 * dim:
                sizes[backbone, dim].append(sid)
            else:
                usable[backbone].append((sid, blob))
        for backbone, found in usable.items():
            X = np.frombuffer(b"".join(b for _, b in found), dtype="<f4").reshape(len(found), -1)
            broken[backbone] += [sid for (sid, _), ok in zip(found, unit_rows(X)) if not ok]
    problems = [f"{len(sealed)} encrypted samples do not decrypt with this key ({listing(sealed)}): altered, or "
                "copied from another row; search skips them; delete them on the Gallery page"] if sealed else []
    problems += [f"{len(ids)} samples of an unknown backbone {backbone!r} ({listing(ids)}): nothing searches them; "
                "delete them" for backbone, ids in unknown.items()]
    problems += [f"{len(ids)} {backbone} samples hold {dim} values instead of {SPECS[backbone].dimension} "
                 f"({listing(ids)}): search skips them; delete them on the Gallery page"
                 for (backbone, dim), ids in sizes.items()]
    problems += [f"{len(ids)} {backbone} samples are not finite unit-length embeddings ({listing(ids)}): search "
                 "skips them; delete them on the Gallery page" for backbone, ids in broken.items() if ids]
    return problems


def _thumbnail_problems(conn: sqlite3.Connection, quick: bool, open_blob: OpenBlob) -> list[str]:
    if quick:  # encrypted thumbnails are checked by the full check only
        bad = conn.execute(_NOT_AN_IMAGE_SQL, (MAX_THUMBNAIL_BYTES,)).fetchall()
    else:
        cursor = conn.execute("SELECT s.id, p.name, s.person_id, s.backbone, s.thumbnail, s.thumbnail_seal "
                              "FROM samples s JOIN people p ON p.id = s.person_id WHERE s.thumbnail IS NOT NULL")
        bad = []
        while batch := cursor.fetchmany(CHUNK):
            for sid, name, pid, backbone, stored, seal in batch:
                data = open_blob(sid, pid, backbone, "thumbnail", stored, seal)
                if data is None or thumbnail_problem(data):
                    bad.append((sid, name))
    if not bad:
        return []
    names = sorted({repr(name) for _, name in bad})
    return [f"{len(bad)} thumbnails are not readable JPEG or PNG images ({listing(sid for sid, _ in bad)}, of "
            f"{listing(names, 'people')}): the Gallery page shows a placeholder; delete those samples and enroll "
            "new photos"]


def _people_problems(conn: sqlite3.Connection) -> list[str]:
    problems, by_key = [], defaultdict(list)
    for pid, name, notes, key in conn.execute("SELECT id, name, notes, name_key FROM people ORDER BY id"):
        by_key[name_key(name)].append((pid, name))
        if key is None:
            problems.append(f"the person {name!r} (id {pid}) has no name key (written by another program): "
                            "rename them to repair it")
        for what, check in (("name", lambda: clean_name(name)),
                            ("notes", lambda: clean_text(notes, "notes", MAX_NOTES_LENGTH, multiline=True))):
            try:
                check()
            except GalleryError as exc:
                problems.append(f"the {what} of {name!r} (id {pid}) would be refused today ({exc}); "
                                f"change the {what} on the Gallery page")
    for group in by_key.values():
        if len(group) > 1:
            problems.append(" and ".join(repr(name) for _, name in group)
                            + f" ({listing((pid for pid, _ in group), 'ids')}) are the same name once case and Unicode "
                            "form are ignored (an older gallery compared ASCII letters only): lookups by that name "
                            f"find {group[0][1]!r}; rename the others")
    return problems
