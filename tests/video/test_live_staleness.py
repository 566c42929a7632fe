"""Issue #13 defect 6: the Live Webcam overlay drew old names where nobody was any more, the panel
counted time in view past the person's leaving, and the overlay's rate was not the panel's.

A stub pipeline stands in for the models (what matters is timing, not faces): detection answers
at once for the first frame, then stalls until told to go on, as a busy machine does; the clock is
a fake one the test moves by hand.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from facerec_core.faces import Face
from facerec_core.video import LiveProcessor, VideoConfig
from facerec_core.video import live as live_module

FRAME = np.zeros((240, 320, 3), np.uint8)
BLAIR_AND_POWELL = [((20.0, 40.0, 100.0, 140.0), "Tony_Blair"), ((180.0, 40.0, 260.0, 140.0), "Colin_Powell")]
POWELL_ONLY = [((180.0, 40.0, 260.0, 140.0), "Colin_Powell")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StallingPipeline:
    """Faces of ``scene`` (box, name) for every frame; detection waits on ``go`` once ``stall``
    is set, like a detector on a machine busy with something else."""

    threshold = 0.5

    def __init__(self) -> None:
        self.scene = BLAIR_AND_POWELL
        self.stall = False
        self.go = threading.Event()
        self.waiting = threading.Event()
        self.calls = 0

    def detect(self, image, *, min_face_size=None):
        self.calls += 1
        if self.stall:
            self.waiting.set()
            self.go.wait(10)
        return [Face(box=box, det_score=0.99) for box, _ in self.scene]

    def embed(self, image, faces):
        for face in faces:
            face.embedding = np.ones(4, np.float32) / 2
        return faces

    def identify(self, faces, *, threshold=None, top_k=3):
        names = {box: name for box, name in self.scene}
        for face in faces:
            face.identity, face.confidence = names.get(tuple(face.box), "unknown"), 0.71
        return faces


def _wait(predicate, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture()
def stalled():
    """A LiveProcessor that has named Blair and Powell at t=0..2 s and whose recognition then
    stalls on a frame of the new scene (Powell alone), as the user saw it."""
    clock, pipeline = Clock(), StallingPipeline()
    live = LiveProcessor(pipeline, VideoConfig(refresh_s=1e6), clock=clock, name="test-live-stale",
                         torch_threads=None)  # stale_after_s: its default, 3 s
    for step in range(21):  # 2 s at 10 fps, each frame analysed before the next comes
        clock.now = step * 0.1
        live.handle(FRAME)
        _wait(lambda: live.latest() is not None and live.latest().index == step + 1)
    pipeline.scene, pipeline.stall = POWELL_ONLY, True
    clock.now = 2.1
    live.handle(FRAME)
    pipeline.waiting.wait(5)
    yield live, clock, pipeline
    pipeline.go.set()
    assert live.stop()


def test_fresh_names_are_drawn_and_counted(stalled):
    live, clock, _ = stalled
    clock.now = 2.5  # the newest result is 0.5 s old: still drawn
    _, faces = live.handle_with_faces(FRAME)
    assert sorted(f.identity for f in faces) == ["Colin_Powell", "Tony_Blair"]
    status = live.snapshot()
    assert not status.stale and sorted(p.name for p in status.in_view) == ["Colin_Powell", "Tony_Blair"]
    assert all(p.seconds == pytest.approx(2.0) for p in status.in_view)


def test_stale_names_are_not_drawn_nor_counted(stalled):
    live, clock, pipeline = stalled
    clock.now = 6.0  # recognition has been stuck for 4 s on the new scene's first frame
    _, faces = live.handle_with_faces(FRAME)
    assert faces == [], "boxes from 4 s ago drawn on today's frame"
    status = live.snapshot()
    assert status.stale and status.result_age == pytest.approx(4.0)
    assert status.in_view == [], [(p.name, p.seconds) for p in status.in_view]

    # Recognition catches up: only Powell, counted from when he was first seen, in video time.
    pipeline.stall = False
    pipeline.go.set()
    clock.now = 6.1
    live.handle(FRAME)
    _wait(lambda: live.latest().faces and len(live.latest().faces) == 1 and live.latest().index >= 23)
    status = live.snapshot()
    assert not status.stale
    assert [p.name for p in status.in_view] == ["Colin_Powell"]
    # Powell was in view 0-2.1 s, then unseen (stale) 2.1-6.1 s: he starts counting again.
    assert status.in_view[0].seconds < 1.0


def test_in_view_time_is_video_time_not_waiting_time(stalled):
    live, clock, _ = stalled
    clock.now = 2.9  # 0.9 s after Blair's last fresh frame: still "in view", for the 2 s he was shown
    status = live.snapshot()
    blair = [p for p in status.in_view if p.name == "Tony_Blair"]
    assert blair and blair[0].seconds == pytest.approx(2.0), blair


def test_overlay_and_panel_show_the_same_rates(stalled, monkeypatch):
    live, clock, _ = stalled
    drawn = []
    monkeypatch.setattr(live_module, "annotate", lambda image, faces, extra_text=None, **_: drawn.append(extra_text) or image)
    clock.now = 2.2
    live.handle(FRAME)
    status = live.snapshot()  # same clock reading as the frame above
    assert status.display_fps > 0 and status.analysis_fps > 0
    assert f"{status.display_fps:.1f} fps" in drawn[-1] and f"{status.analysis_fps:.1f} fps" in drawn[-1], drawn[-1]
    assert drawn[-1].startswith(status.rates_text)
