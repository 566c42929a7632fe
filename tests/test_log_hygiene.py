"""Issue #16: no names, notes, user file names or embeddings in the server log.

Real gallery flows (a real SQLite store in tmp_path, the real enrollment, look-alike, export/import
and search code) with every ``facerec_core`` logger at DEBUG; the only hand-made parts are the
embeddings and the stand-in for the face detector and backbone (no weights are needed). Every log
record, exception text included, must be free of the names enrolled, their notes, the file names
the "user" gave and anything that looks like a run of embedding values; and the flows must have
logged (the log lines that used to carry names now carry ids and counts).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from facerec_core.embeddings import embed_files
from facerec_core.faces import Face
from facerec_core.gallery import (GallerySource, GalleryStore, NewSample, check_photos, enroll, export_bytes,
                                  import_data, store_plan)
from facerec_core.identity.decide import Thresholds
from facerec_core.images import load_image

BACKBONE = "facenet"
DIM = 128
# Names, notes and file names unlike anything a log line would say by itself.
NAMES = ["Zorabel Quintanilla-Vex", "Ødegård Brünhilde", "Xiomara Oyelaran"]
RENAMED = "Quillon Marchetti-Ybarra"
NOTE = "badge 88231; works the night shift at Gate Nine"
FILE_NAMES = ["zorabel_passport_scan.png", "brunhilde-holiday-2019.png", "xiomara_id_card.png",
              "quillon_no_face_here.png", "broken_upload_of_zorabel.jpg"]
# A run of four or more decimal numbers: what an embedding (or part of one) looks like printed.
EMBEDDING_LIKE = re.compile(r"(?:[-+]?\d*\.\d+(?:e[-+]?\d+)?[\s,;]+){3,}[-+]?\d*\.\d+")


def _unit(seed: str) -> np.ndarray:
    x = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)).normal(size=DIM)
    return (x / np.linalg.norm(x)).astype(np.float32)


def _png(value: int, size: int = 160) -> bytes:
    """A plain picture; its brightness tells the stand-in detector whether it holds a face."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class _Named:
    name = BACKBONE
    embedding_size = DIM


class HandMadePipeline:
    """The FacePipeline protocol with the real image reader: a bright picture holds one large,
    clear face whose embedding is a unit vector derived from the picture; a dark one holds none."""

    backbone = _Named()

    def read_image(self, source: object, *, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
        return load_image(source, name=name) if max_pixels is None else load_image(source, name=name,
                                                                                   max_pixels=max_pixels)

    def detect(self, image: np.ndarray, *, min_face_size: int | None = None) -> list[Face]:
        h, w = image.shape[:2]
        return [Face(box=(0.0, 0.0, float(w), float(h)), det_score=0.999)] if image.mean() > 100 else []

    def embed(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        for face in faces:
            face.embedding = _unit(hashlib.sha256(image.tobytes()).hexdigest())
        return faces

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect(image) for image in images]


def _leaks(records: list[logging.LogRecord], secrets: list[str]) -> list[str]:
    """Every log text (message, exception and stack) holding one of ``secrets`` or an embedding."""
    formatter = logging.Formatter()
    found = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + formatter.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        lowered = text.lower()
        found += [f"{secret!r} in {text!r}" for secret in secrets if secret.lower() in lowered]
        if EMBEDDING_LIKE.search(text):
            found.append(f"embedding-like numbers in {text!r}")
    return found


@pytest.fixture()
def facerec_logs(caplog):
    """Every facerec_core record at DEBUG (the library's loggers, the video one included)."""
    caplog.set_level(logging.DEBUG, logger="facerec_core")
    return caplog


def test_gallery_flows_log_ids_and_counts_only(tmp_path, facerec_logs):
    pipeline = HandMadePipeline()
    path = tmp_path / "data" / "gallery.sqlite"
    store = GalleryStore(path)
    try:
        # enroll: two good photos and a photo with no face for the first person (labels = file names)
        report = enroll(store, pipeline, NAMES[0], [(FILE_NAMES[0], _png(200)), (FILE_NAMES[3], _png(10)),
                                                    (FILE_NAMES[4], b"\xff\xd8 not really a jpeg")],
                        notes=NOTE)
        assert report.added == 1 and report.refused == 2
        # hand-made samples straight into the store, with sources and notes
        store.add_samples(NAMES[1], [NewSample(_unit("b1"), BACKBONE, 0.99, FILE_NAMES[1]),
                                     NewSample(_unit("b2"), BACKBONE, 0.98, FILE_NAMES[1])], notes=NOTE)
        # check then store, with the look-alike comparison against everyone known (all flagged)
        known = [GallerySource(store, BACKBONE)]
        plan = check_photos(store, pipeline, NAMES[2], [(FILE_NAMES[2], _png(180))], notes=NOTE, known=known,
                            thresholds=Thresholds(identify=-1.0))
        assert plan.photos[0].resemblance is not None and plan.photos[0].resemblance.look_alikes
        store_plan(store, plan)
        # search (the recognizer's gallery source), rename, notes, delete a sample, delete a person
        answers = GallerySource(store, BACKBONE).search(np.stack([_unit("b1"), _unit("probe")]))
        assert answers[0].name == NAMES[1]
        store.rename_person(NAMES[0], RENAMED)
        store.set_notes(RENAMED, NOTE + " (moved)")
        store.delete_sample(store.samples(NAMES[1])[0].id)
        exported = export_bytes(store, BACKBONE)
        assert NAMES[1] in json.dumps(json.loads(exported), ensure_ascii=False)  # the export holds them, of course
        store.delete_person(NAMES[1])
        store.delete_person(RENAMED)
    finally:
        store.close()
    # import into a fresh gallery, then once more (every person merged, every sample a duplicate)
    other = GalleryStore(tmp_path / "other" / "gallery.sqlite")
    try:
        import_data(other, exported, BACKBONE)
        import_data(other, exported, BACKBONE)
        assert {p.name for p in other.people()} == {RENAMED, NAMES[1], NAMES[2]}
    finally:
        other.close()
    # bulk embedding of an unreadable file named after someone (the training path)
    broken = tmp_path / FILE_NAMES[4]
    broken.write_bytes(b"not an image")
    assert embed_files([str(broken)], pipeline, pipeline.backbone, False, 40_000_000)[0][1] == "error"

    records = [r for r in facerec_logs.records if r.name.startswith("facerec_core")]
    messages = [r.getMessage() for r in records]
    secrets = NAMES + [RENAMED, NOTE, *FILE_NAMES, *[n.split()[0] for n in NAMES + [RENAMED]]]
    assert not _leaks(records, secrets), _leaks(records, secrets)
    # the flows logged, with ids and counts where names were
    assert any(m.startswith("enrollment: person ") and "1 added" in m for m in messages), messages
    assert any(m.startswith("enrollment check: photo ") for m in messages), messages
    assert any(m.startswith("look-alike check: ") for m in messages), messages
    assert any(m.startswith("gallery: forgot person ") for m in messages), messages
    assert any("cannot be read" in m for m in messages), messages


def test_the_leak_check_finds_what_it_looks_for():
    """The checker itself: a name, a note or printed embedding values are found."""
    record = logging.LogRecord("facerec_core.x", logging.INFO, __file__, 1, "enrolled %s: %s", (NAMES[0], NOTE),
                               None)
    assert len(_leaks([record], [NAMES[0], NOTE])) == 2
    vector = logging.LogRecord("facerec_core.x", logging.INFO, __file__, 1, "sample %s", (_unit("x")[:6],), None)
    assert _leaks([vector], [])
    counts = logging.LogRecord("facerec_core.x", logging.INFO, __file__, 1, "%d of %d faces, %.1f s",
                               (3, 4, 0.52), None)
    assert not _leaks([counts], [])
