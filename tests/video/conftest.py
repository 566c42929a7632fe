"""Shared by the video tests: real frames built from LFW photos of people the test model knows,
pasted on a 640×480 canvas and moving a little from frame to frame.

Photos are numbered past the 12 the test model was trained on, so they are held out.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from facerec_core.images import load_image

from tests.conftest import lfw_photo
from tests.support.scenes import moving_scene

# Held-out photos (index > 12) of the test model's people that it names correctly.
SCENE_PEOPLE = (("Colin_Powell", 20), ("Tony_Blair", 20))
STRANGER = ("Aaron_Eckhart", 1)
NO_REFRESH = dict(refresh_s=1e6)  # re-embedding by age would make call counts depend on the clock


class CountingRecognizer:
    """The real Recognizer, counting detector and backbone calls."""

    def __init__(self, recognizer) -> None:
        self.inner = recognizer
        self.detect_calls = 0
        self.embed_calls = 0
        self.faces_embedded = 0
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    def detect(self, image, **kwargs):
        with self._lock:
            self.detect_calls += 1
        return self.inner.detect(image, **kwargs)

    def embed(self, image, faces):
        with self._lock:
            self.embed_calls += 1
            self.faces_embedded += len(faces)
        return self.inner.embed(image, faces)

    def identify(self, faces, **kwargs):
        return self.inner.identify(faces, **kwargs)


@pytest.fixture(scope="module")
def photos(lfw_dir, known_people) -> dict[str, np.ndarray]:
    wanted = [p for p in SCENE_PEOPLE if p[0] in known_people]
    if len(wanted) < 2:
        pytest.skip(f"the test model does not know {[p[0] for p in SCENE_PEOPLE]}")
    out = {name: load_image(lfw_photo(lfw_dir, name, index)) for name, index in wanted}
    out[STRANGER[0]] = load_image(lfw_photo(lfw_dir, *STRANGER))
    return out


@pytest.fixture(scope="module")
def two_people(photos) -> list[np.ndarray]:
    """8 frames, both scene people side by side, drifting 1.5 px right and 0.5 px down a frame."""
    return moving_scene([photos[n] for n, _ in SCENE_PEOPLE], 8)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Recognise on one torch thread, as the live worker does: on a 2-core machine shared with
    other work, two spinning OpenMP threads make every call many times slower."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def names(result) -> list[str | None]:
    return sorted(f.identity for f in result.faces)
