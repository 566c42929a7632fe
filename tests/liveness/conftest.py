"""Shared by the liveness tests: the landmark model, a detector, and landmark tracks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerec_core.liveness.geometry import _MODEL_3D, _MODEL_INDEX, head_pose
from facerec_core.liveness.landmarks import Landmarks68
from tests.support.tracks import follow_faces

CLIP = "crowd_royal_opera_house.mp4"
FPS = 25.0


@pytest.fixture(scope="session")
def landmarks68() -> Landmarks68:
    return Landmarks68()


@pytest.fixture(scope="session")
def detector(base_settings):
    """The real detector and backbone, no trained model (nothing is named)."""
    from facerec_core.recognizer import Recognizer

    return Recognizer.load(base_settings, require_model=False)


def posed_landmarks(yaw: float = 0.0, pitch: float = 0.0, ear: float = 0.3, *, scale: float = 2.5,
                    centre: tuple[float, float] = (320.0, 240.0)) -> np.ndarray:
    """68 points whose pose points (the generic head's nine, rotated by ``yaw``/``pitch`` degrees and
    projected orthographically) and eyes (opened to ``ear``) are exact; the other points sit on the
    face's centre. For the state machine's own logic, which reads only the pose and the eyes."""
    y, p = np.radians(yaw), np.radians(pitch)
    turn = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    model = _MODEL_3D @ (tilt @ turn).T
    points = np.tile(np.asarray(centre, float), (68, 1))
    points[_MODEL_INDEX] = np.c_[centre[0] + scale * model[:, 0], centre[1] - scale * model[:, 1]]
    for outer, inner, top, bottom in ((36, 39, (37, 38), (41, 40)), (45, 42, (44, 43), (46, 47))):
        a, b = points[outer], points[inner]
        width = np.linalg.norm(b - a)
        for k, (t, u) in enumerate(zip(top, bottom)):
            at = a + (b - a) * (k + 1) / 3
            points[t] = at - [0, ear * width / 2]
            points[u] = at + [0, ear * width / 2]
    return points


@pytest.fixture(scope="session")
def clip(video_dir) -> Path:
    path = video_dir / CLIP
    if not path.is_file():
        pytest.skip(f"the real clip is not at {path} (see ../shared/data/video/README.md)")
    return path


@pytest.fixture(scope="session")
def tracks(clip, detector, landmarks68):
    """Every face followed through the clip: the gray frames, and per track and frame the frame's
    index, the box and the 68 landmarks."""
    return follow_faces(clip, detector, landmarks68)


def turning_left(track) -> bool:
    """A passer-by who faces the camera for three frames, then turns at least 25° to their left."""
    yaws = [head_pose(m).yaw for _, _, m in track]
    return all(abs(y) < 15 for y in yaws[:3]) and max(yaws) - np.median(yaws[:3]) >= 25
