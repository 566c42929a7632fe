"""The gallery as an identity source: search shapes, top-k, and backbones kept separate."""
from __future__ import annotations

import numpy as np

from facerec_core.faces import UNKNOWN
from facerec_core.gallery import GallerySource, NewSample
from tests.gallery.conftest import names_at, unit_vectors


def test_search_shapes_threshold_and_top_k(store):
    X = unit_vectors(6, seed=4)
    for i, name in enumerate(["A", "B", "C"]):
        store.add_samples(name, [NewSample(X[2 * i], "facenet", 1.0), NewSample(X[2 * i + 1], "facenet", 1.0)])
    source = GallerySource(store, "facenet")
    probe = X[[3, 5]] + 0.01 * unit_vectors(2, seed=5)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    results = source.search(probe, top_k=2)
    assert [c.name for c in results] == ["B", "C"] and names_at(source, probe, 0.99) == ["B", "C"]
    assert all(len(c.matches) == 2 and c.matches[0].score >= c.matches[1].score and c.matches[0].score == c.score
               for c in results)
    wide = source.search(probe, top_k=10)[0]
    assert wide.matches[0].name == "B" and len(wide.matches) == 3
    assert names_at(source, unit_vectors(2, seed=6), 0.99) == [UNKNOWN, UNKNOWN]
    sims, names = source.person_similarities(probe)
    assert sims.shape == (2, 3) and names == ["A", "B", "C"]
    assert GallerySource(store, "dlib-resnet").search(probe) == []  # other backbones' samples are separate
