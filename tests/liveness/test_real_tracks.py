"""The challenge on real video: landmark tracks recorded from the frames of a real street clip
(../shared/data/video, strangers walking, some turning their heads), and the whole clip through
the Authenticator as a camera would send it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerec_core.liveness import Authenticator, LivenessAction, LivenessChallenge, LivenessRules, Observation, Refusal
from facerec_core.liveness.depth import DepthTracker
from facerec_core.liveness.geometry import head_pose
from facerec_core.video.tracking import match_boxes

CLIP = "crowd_royal_opera_house.mp4"
FPS = 25.0


@pytest.fixture(scope="module")
def clip(video_dir) -> Path:
    path = video_dir / CLIP
    if not path.is_file():
        pytest.skip(f"the real clip is not at {path} (see ../shared/data/video/README.md)")
    return path


def _frames(path: Path):
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def tracks(clip, detector, landmarks68):
    """Every face followed through the clip by box overlap: per track, per frame, the gray frame's
    index, the box and the 68 landmarks."""
    import cv2

    grays, live, done = [], [], []
    for index, frame in enumerate(_frames(clip)):
        grays.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        faces = detector.detect(frame, min_face_size=40)
        pairs = match_boxes([t[-1][1] for t in live], [f.box for f in faces], 0.3)
        matched = {j for _, j in pairs}
        still = []
        for i, j in pairs:
            live[i].append((index, faces[j].box, landmarks68.locate(frame, faces[j].box)))
            still.append(live[i])
        done += [t for k, t in enumerate(live) if k not in {i for i, _ in pairs}]
        live = still + [[(index, f.box, landmarks68.locate(frame, f.box))] for j, f in enumerate(faces)
                        if j not in matched]
    return grays, [t for t in done + live if len(t) >= 20]


def replay(grays, track, actions) -> object:
    """The challenge over a recorded track, with the depth measured on its frames as the
    Authenticator would (the person is given a name: strangers cannot be recognized)."""
    challenge = LivenessChallenge(tuple(actions), LivenessRules())
    depth = DepthTracker(min_points=6)  # faces of 40-60 px: fewer corners than a webcam's
    state = None
    for k, (index, box, marks) in enumerate(track):
        kept = None
        if depth.started:
            before = depth.alive
            depth.update(grays[index])
            kept = depth.alive / before if before else None
        state = challenge.observe(Observation(index / FPS, 1, tuple(box), marks, "a passer-by" if k == 0 else None,
                                              None, kept, depth.depth() if depth.started else None))
        if challenge.wants_reference or not depth.started:
            depth.start(grays[index], marks)
        if state.done:
            break
    return state


def _turning_left(track) -> bool:
    yaws = [head_pose(m).yaw for _, _, m in track]
    return all(abs(y) < 15 for y in yaws[:3]) and max(yaws) - np.median(yaws[:3]) >= 25


def test_a_real_head_turning_left_passes_the_turn_and_its_depth_check(tracks):
    grays, found = tracks
    turning = [t for t in found if _turning_left(t)]
    assert turning, "the clip has a passer-by who faces the camera, then turns to their left"
    state = replay(grays, turning[0], [LivenessAction.TURN_LEFT])
    assert state.accepted, state
    assert state.figures["depth"][0] >= LivenessRules().min_depth


def test_the_same_real_turn_is_refused_when_the_other_way_was_asked(tracks):
    grays, found = tracks
    turning = [t for t in found if _turning_left(t)]
    state = replay(grays, turning[0], [LivenessAction.TURN_RIGHT])
    assert state.refusal is Refusal.ACTION_NOT_SEEN


def test_the_real_clip_through_the_authenticator_is_refused_without_crashing(clip, detector, landmarks68):
    """Nobody in the clip was asked anything (and nobody is enrolled): every attempt is refused. The
    clip is played twice in a row, as the browser's fake camera loops it."""
    verdicts = []
    auth = Authenticator(detector, landmarks68, on_verdict=verdicts.append)
    auth.start()
    frames = list(_frames(clip))
    for index, frame in enumerate(frames + frames):
        state = auth.process(frame, index / FPS)
        if state is not None and state.done:
            auth.start()
    assert verdicts and not any(v.accepted for v in verdicts)
    assert {v.refusal for v in verdicts} <= {r.value for r in Refusal}
