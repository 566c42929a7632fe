"""Faces followed through a real video by box overlap, with their 68 landmarks (shared by the
liveness tests and ``bench/liveness.py``)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from facerec_core.video.tracking import match_boxes

Track = list[tuple[int, tuple, np.ndarray]]
"""Per frame a face was in: the frame's index, the face's box, its 68 landmarks."""


def frames_of(path: Path) -> Iterator[np.ndarray]:
    """The RGB frames of a video file."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def follow_faces(path: Path, detector, landmarks, *, min_face_size: int = 40,
                 min_frames: int = 20) -> tuple[list[np.ndarray], list[Track]]:
    """The gray frames of the video at ``path`` and every face followed through it (detected on
    each frame, a detection continuing the track whose last box it overlaps by 0.3), keeping the
    tracks of at least ``min_frames`` frames."""
    import cv2

    grays, live, done = [], [], []
    for index, frame in enumerate(frames_of(path)):
        grays.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        faces = detector.detect(frame, min_face_size=min_face_size)
        pairs = match_boxes([t[-1][1] for t in live], [f.box for f in faces], 0.3)
        matched = {j for _, j in pairs}
        still = []
        for i, j in pairs:
            live[i].append((index, faces[j].box, landmarks.locate(frame, faces[j].box)))
            still.append(live[i])
        done += [t for k, t in enumerate(live) if k not in {i for i, _ in pairs}]
        live = still + [[(index, f.box, landmarks.locate(frame, f.box))] for j, f in enumerate(faces)
                        if j not in matched]
    return grays, [t for t in done + live if len(t) >= min_frames]
