"""Live Webcam's liveness badges: the passive watch on real frames, and the badge on the stream."""
from __future__ import annotations

import numpy as np

from facerec_core.liveness.watch import LivenessWatch
from facerec_core.video import LiveProcessor, VideoConfig
from facerec_core.video.live import LIVE, NOT_VERIFIED
from tests.liveness.conftest import FPS, turning_left
from tests.support.liveness_attacks import background, compose, load_photo, plane_homography


def test_a_real_head_turning_shows_its_depth_to_the_watch(tracks, landmarks68):
    grays, found = tracks
    track = next(t for t in found if turning_left(t))
    watch = LivenessWatch(landmarks68, min_face_size=40)  # the clip's faces are 40-60 px
    for index, box, _ in track:
        frame = np.repeat(grays[index][:, :, None], 3, axis=2)  # the watch reads gray pixels
        watch.update(frame, index / FPS, [7], [box])
    assert watch._tracks[7].moved


def test_faces_too_small_to_judge_stay_not_verified(tracks, landmarks68):
    grays, found = tracks
    watch = LivenessWatch(landmarks68)
    small = [t for t in found if max(min(b[2] - b[0], b[3] - b[1]) for _, b, _ in t) < 80]
    assert small
    for number, track in enumerate(small):
        for index, box, _ in track:
            live = watch.update(np.repeat(grays[index][:, :, None], 3, axis=2), index / FPS, [number], [box])
            assert live == {number: False}


def test_a_photo_waved_about_never_becomes_live(landmarks68, detector, lfw_dir):
    photo = load_photo(lfw_dir / "Colin_Powell" / "Colin_Powell_0020.jpg")
    room = background(3)
    watch = LivenessWatch(landmarks68)
    for k in range(60):
        frame = compose(photo, room, plane_homography(yaw=35 * np.sin(k / 4), pitch=20 * np.sin(k / 6)))
        faces = detector.detect(frame, min_face_size=60)
        if len(faces) == 1:
            live = watch.update(frame, k / 8, [1], [faces[0].box])
            assert live == {1: False}


class _Always:
    """A liveness watch that has seen everything it needs."""

    def update(self, image, t, track_ids, boxes):
        return {tid: True for tid in track_ids}

    def reset(self):
        pass


def test_the_stream_shows_the_badges_only_when_asked(recognizer, lfw_dir):
    photo = compose(load_photo(lfw_dir / "Colin_Powell" / "Colin_Powell_0020.jpg"), background(1), plane_homography())
    for asked, want in ((True, True), (False, None)):
        live = LiveProcessor(recognizer, VideoConfig(liveness=asked), liveness=_Always())
        try:
            for _ in range(40):
                live.handle(photo)
                status = live.snapshot()
                if status.in_view:
                    break
                __import__("time").sleep(0.05)
            assert status.in_view and status.in_view[0].live is want
        finally:
            live.stop()
    assert (LIVE, NOT_VERIFIED) == ("live", "not verified")
