"""Shared fixtures of the access tests: a real SQLite file in tmp_path, real Argon2id, a clock
the tests move instead of sleeping, one principal per role, a gallery of hand-made embeddings.

Helpers are imported by the test modules as ``from tests.access.conftest import ...``."""
from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facerec_core.access import AccessStore, Accounts, AuditLog, Principal, Role
from facerec_core.faces import Face
from facerec_core.gallery import GalleryStore, NewSample
from facerec_core.settings import Settings

PASSWORD = "correct horse battery"
ROLES = [Role.ADMIN, Role.OPERATOR, Role.VIEWER]


class FakeClock:
    """A clock that stands still until told to move (``advance(seconds=…)``)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def unit_vectors(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def tamper(path: Path, *statements: str) -> None:
    """Edit the file as an intruder with the sqlite3 tool would: drop the append-only triggers
    first, then run ``statements``."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def principal(role: Role, name: str | None = None) -> Principal:
    return Principal(name or f"{role.value}-user", role, "dashboard")


@dataclasses.dataclass
class Access:
    path: Path
    store: AccessStore
    audit: AuditLog
    accounts: Accounts
    clock: FakeClock
    settings: Settings


@pytest.fixture()
def access(tmp_path) -> Access:
    clock = FakeClock()
    settings = Settings().replace(data_dir=tmp_path / "data")
    path = settings.data_dir / "gallery.sqlite3"
    store = AccessStore(path)
    audit = AuditLog(store, clock=clock)
    yield Access(path, store, audit, Accounts(store, audit, settings, clock=clock), clock, settings)
    store.close()


@pytest.fixture()
def admin(access) -> Principal:
    """The first administrator, created as the dashboard's first start would."""
    access.accounts.create_first_admin("Ada", PASSWORD, client_is_loopback=True)
    return Principal("Ada", Role.ADMIN, "dashboard")


@pytest.fixture()
def gallery(access) -> GalleryStore:
    """A real gallery in the same file, two people of hand-made embeddings."""
    X = unit_vectors(4)
    store = GalleryStore(access.path)
    store.add_samples("Grace Hopper", [NewSample(X[0], "facenet", 0.99, "g1.jpg"), NewSample(X[1], "facenet", 0.99, "g2.jpg")],
                      notes="admiral")
    store.add_samples("Alan Turing", [NewSample(X[2], "facenet", 0.99, "a1.jpg")])
    yield store
    store.close()


class HandMadePipeline:
    """A face pipeline over hand-made images: each image is a 160×160 array whose first pixel
    says which of ``vectors`` is its face's embedding. Counts calls, so a test can tell that a
    refused enrollment read no photo."""

    class backbone:
        name = "facenet"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.calls = 0

    def read_image(self, source, *, name=None, max_pixels=None) -> np.ndarray:
        self.calls += 1
        return np.asarray(source, dtype=np.uint8)

    def detect(self, image, *, min_face_size=None) -> list[Face]:
        return [Face(box=(20.0, 20.0, 140.0, 140.0), det_score=0.999)]

    def embed(self, image, faces: list[Face]) -> list[Face]:
        for face in faces:
            face.embedding = self.vectors[int(image[0, 0, 0])]
        return faces


def hand_made_photo(index: int) -> np.ndarray:
    image = np.full((160, 160, 3), 128, dtype=np.uint8)
    image[0, 0, 0] = index
    image[1:, :, 1] = (np.arange(160) * (index + 1)) % 255  # a picture of its own (content hash)
    return image
