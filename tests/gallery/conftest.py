"""Shared fixtures and helpers of the gallery tests: the newcomers enrolled from real LFW photos,
the session model with a gallery of its own, small synthetic stores.

Helpers are imported by the test modules as ``from tests.gallery.conftest import ...`` (as in
tests/app). The module-scoped fixtures are instantiated once per test module that uses them."""
from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec_core.faces import UNKNOWN
from facerec_core.gallery import GalleryStore, GallerySource, enroll
from facerec_core.recognizer import Recognizer
from tests.conftest import lfw_photo

# Not among the 8 people of the session model; each has >= 4 photos with one clear face.
NEWCOMERS = ["Jacques_Chirac", "Jean_Chretien", "Andre_Agassi"]
ENROLL_PHOTOS = {"Jacques_Chirac": [1, 2, 3], "Jean_Chretien": [1, 2, 3], "Andre_Agassi": [1, 2, 4]}
PROBE_PHOTO = {"Jacques_Chirac": 4, "Jean_Chretien": 4, "Andre_Agassi": 5}
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def unit_vectors(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def names_at(source: GallerySource, X: np.ndarray, threshold: float) -> list[str]:
    """Per probe, the nearest person if the cosine reaches ``threshold``, else UNKNOWN (the
    gallery answers raw cosines; the threshold is applied by ``decide`` in the Recognizer)."""
    return [c.name if c.score >= threshold else UNKNOWN for c in source.search(X)]


def enroll_newcomers(settings, pipeline, lfw_dir) -> dict:
    """The three newcomers enrolled from 3 photos each, through a store of its own (as another session)."""
    store = GalleryStore.open(settings)
    try:
        return {name: enroll(store, pipeline, name.replace("_", " "),
                             [lfw_photo(lfw_dir, name, i) for i in ENROLL_PHOTOS[name]])
                for name in NEWCOMERS}
    finally:
        store.close()


@pytest.fixture(scope="module")
def gallery_settings(trained, tmp_path_factory):
    """The session's trained model with a gallery of its own (other tests' data dir stays clean)."""
    settings, _ = trained
    return settings.replace(data_dir=tmp_path_factory.mktemp("gallery") / "data")


@pytest.fixture(scope="module")
def app_recognizer(gallery_settings):
    """A Recognizer built by ``Recognizer.load`` before anyone is enrolled: it must pick the
    enrollments up by itself (the gallery source it attaches)."""
    return Recognizer.load(gallery_settings)


@pytest.fixture(scope="module")
def enrolled(gallery_settings, app_recognizer, lfw_dir):
    """Three newcomers enrolled from 3 photos each, through a store of its own (as another session)."""
    return enroll_newcomers(gallery_settings, app_recognizer, lfw_dir)


@pytest.fixture()
def store(tmp_path):
    with GalleryStore(tmp_path / "g.sqlite3") as s:
        yield s


@pytest.fixture()
def reuse_models(monkeypatch, app_recognizer):
    """``Recognizer.load`` runs as usual but takes the already loaded detector and backbone
    (loading them again costs seconds per command)."""
    import facerec_core.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: app_recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: app_recognizer.backbone)
