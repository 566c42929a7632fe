"""Is the face in front of the camera flat? Image points followed across a head movement.

A print or a screen, however it is moved, tilted or bent into a perspective, maps every point of its
picture by one homography; a real head that turns does not: the nose moves against the cheeks and
forehead (parallax). :class:`DepthTracker` picks corners on the face at the start of a movement,
follows them frame to frame (OpenCV's pyramidal Lucas-Kanade, forward-backward checked), and
:meth:`~DepthTracker.depth` fits a homography to the points off the nose and says how far the nose
points stray from it, beyond how far the others do, in inter-ocular distances.

Why image points and not the 68 landmarks: dlib's predictor fits its learnt face shape to whatever
it sees, so on a strongly warped photo its points stop following one homography (measured on 180
random warps of LFW photos: the landmark residual reached 0.15 inter-ocular distances, as high as
between two photos of one person in different poses). Points that follow the pixels do not have
that prior: on the same kind of warps the nose parallax stayed under 0.02 (README, Liveness).
"""
from __future__ import annotations

import numpy as np

from .geometry import interocular

_WINDOW = (15, 15)
_LEVELS = 3
_MAX_FB_ERROR = 0.5  # pixels: a point that does not come back to where it was is dropped


def _face_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    import cv2

    outline = np.r_[landmarks[0:17], landmarks[26:16:-1]].astype(np.float32)
    hull = cv2.convexHull(outline).astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def _on_nose(landmarks: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which points lie on the nose: its landmarks' box (27-35), a little wider and lower."""
    nose = landmarks[27:36]
    pad = 0.15 * interocular(landmarks)
    (x0, y0), (x1, y1) = nose.min(axis=0), nose.max(axis=0)
    return ((points[:, 0] >= x0 - pad) & (points[:, 0] <= x1 + pad)
            & (points[:, 1] >= y0) & (points[:, 1] <= y1 + pad))


class DepthTracker:
    """Points on one face, followed from a reference frame. Not thread-safe: one per attempt.

    Args:
        max_points: corners picked on the face at :meth:`start`.
        min_points: fewer surviving points off the nose (or fewer than 3 on it) and
            :meth:`depth` says ``None``: it cannot tell.
    """

    def __init__(self, max_points: int = 120, min_points: int = 12) -> None:
        self.max_points, self.min_points = max_points, min_points
        self._reference: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._alive: np.ndarray | None = None
        self._nose: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._unit = 1.0

    @property
    def started(self) -> bool:
        return self._reference is not None

    @property
    def alive(self) -> int:
        return 0 if self._alive is None else int(self._alive.sum())

    def start(self, gray: np.ndarray, landmarks: np.ndarray) -> None:
        """Pick the points to follow on the face of ``landmarks`` in ``gray`` (uint8)."""
        import cv2

        unit = interocular(landmarks)
        found = cv2.goodFeaturesToTrack(gray, self.max_points, 0.005, max(2.0, 0.06 * unit),
                                        mask=_face_mask(gray.shape[:2], landmarks), blockSize=5)
        points = np.zeros((0, 2), np.float32) if found is None else found.reshape(-1, 2).astype(np.float32)
        self._reference, self._current = points, points.copy()
        self._alive = np.ones(len(points), bool)
        self._nose = _on_nose(landmarks, points)
        self._previous, self._unit = gray, max(unit, 1e-6)

    def update(self, gray: np.ndarray) -> None:
        """Follow the points into the next frame ``gray``."""
        import cv2

        if self._reference is None or self._previous is None or not self._alive.any():
            return
        moved, status, _ = cv2.calcOpticalFlowPyrLK(self._previous, gray, self._current.reshape(-1, 1, 2), None,
                                                    winSize=_WINDOW, maxLevel=_LEVELS)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(gray, self._previous, moved, None,
                                                        winSize=_WINDOW, maxLevel=_LEVELS)
        error = np.linalg.norm(back.reshape(-1, 2) - self._current, axis=1)
        self._alive &= (status.ravel() == 1) & (status_back.ravel() == 1) & (error < _MAX_FB_ERROR)
        self._current, self._previous = moved.reshape(-1, 2), gray

    def depth(self) -> float | None:
        """The nose's parallax since :meth:`start`: the median error of the nose points under the
        homography fitted to the other points, minus the median error of those, in inter-ocular
        distances of the reference face. About 0 for a flat picture; ``None`` when too few points
        survived to tell."""
        import cv2

        if self._reference is None:
            return None
        alive, nose = self._alive, self._nose
        rest, on_nose = alive & ~nose, alive & nose
        if rest.sum() < self.min_points or on_nose.sum() < 3:
            return None
        homography, _ = cv2.findHomography(self._reference[rest], self._current[rest], 0)
        if homography is None:
            return None
        mapped = cv2.perspectiveTransform(self._reference[alive].reshape(-1, 1, 2).astype(np.float64), homography)
        error = (self._current[alive] - mapped.reshape(-1, 2)) / self._unit
        on = nose[alive]
        return float(np.linalg.norm(error[on].mean(axis=0)))
