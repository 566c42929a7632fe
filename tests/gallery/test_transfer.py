"""Export and import of the gallery: the round trip, merging, and refused imports."""
from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from facerec_core.gallery import GalleryError, GalleryStore, NewSample, export_file, import_data, import_file
from tests.gallery.conftest import jpeg_bytes, unit_vectors

H0, H1 = "0" * 64, "1" * 64  # content hashes are SHA-256 hex


def test_export_import_roundtrip_merges_and_refuses_another_backbone(tmp_path, store):
    X = unit_vectors(4, seed=2)
    thumb = jpeg_bytes(np.full((96, 96, 3), 128, np.uint8))
    store.add_samples("Ada", [NewSample(X[0], "facenet", 0.99, "a", H0, thumb),
                              NewSample(X[1], "facenet", 0.98, "b", H1)], notes="n")
    store.add_samples("Dlib Only", [NewSample(unit_vectors(1, 128, 3)[0], "dlib-resnet", 0.99, "d")])
    path = export_file(store, tmp_path / "out.json", "facenet")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["format"] == "facerec-gallery" and doc["backbone"] == "facenet" and doc["embedding_size"] == 128
    ada = next(p for p in doc["people"] if p["name"] == "Ada")
    assert len(ada["samples"]) == 2 and ada["notes"] == "n"

    with GalleryStore(tmp_path / "other.sqlite3") as other:
        other.add_samples("ada", [NewSample(X[0], "facenet", 0.99, "same photo", H0)])
        report = import_file(other, path, "facenet")
        assert (report.people_added, report.people_merged, report.samples_added, report.samples_skipped) == (1, 1, 1, 1)
        assert {p.name: p.samples for p in other.people()} == {"ada": 2, "Dlib Only": 0}
        assert other.samples("ada")[0].thumbnail is None and other.samples("ada")[1].source == "b"
        generation = other.generation()
        with pytest.raises(GalleryError, match="backbone 'facenet', not 'dlib-resnet'"):
            import_file(other, path, "dlib-resnet")
        doc["people"][0]["samples"][0]["embedding"] = "!!not base64!!"
        with pytest.raises(GalleryError, match="nothing was imported"):
            import_data(other, json.dumps(doc), "facenet")
        with pytest.raises(GalleryError, match="not a gallery export"):
            import_data(other, b"{}", "facenet")
        assert other.generation() == generation  # refused imports change nothing
