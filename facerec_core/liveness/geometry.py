"""What 68 facial landmarks say about a face: how open the eyes are and where the head points;
and homographies between point sets. Pure numpy, no models.

Landmarks follow dlib's 68-point (iBUG 300-W) numbering, in pixels of an *unmirrored* camera
image (x right, y down): 0-16 the jaw outline, 17-26 the brows, 27-35 the nose, 36-41 the eye on
the image's left (the person's right eye), 42-47 the other eye, 48-67 the mouth.
"""
from __future__ import annotations

import dataclasses

import numpy as np

EYE_A = np.arange(36, 42)
EYE_B = np.arange(42, 48)
# Points that move with the skull: outline, brows, nose, eye corners. Not the eyelids (a blink)
# nor the mouth (speech, smiles): those move on a real face without the head moving.
RIGID = np.r_[np.arange(0, 17), np.arange(17, 27), np.arange(27, 36), [36, 39, 42, 45]]

# A generic head for the pose fit (millimetres, x to the person's left as seen by the camera's
# image x, y up, z towards the camera): nose tip, chin, outer eye corners, mouth corners, nose
# bridge. Average adult proportions; the fit needs only their shape, not one person's.
_MODEL_INDEX = np.array([30, 8, 36, 45, 48, 54, 27, 39, 42])
_MODEL_3D = np.array([
    [0.0, 0.0, 0.0],          # 30 nose tip
    [0.0, -63.6, -12.5],      # 8 chin
    [-43.3, 32.7, -26.0],     # 36 outer corner, the eye on the image's left
    [43.3, 32.7, -26.0],      # 45 outer corner, the other eye
    [-28.9, -28.9, -24.1],    # 48 mouth corner, image left
    [28.9, -28.9, -24.1],     # 54 mouth corner, image right
    [0.0, 33.0, -18.0],       # 27 top of the nose bridge
    [-15.0, 31.0, -22.0],     # 39 inner corner, image-left eye
    [15.0, 31.0, -22.0],      # 42 inner corner, the other eye
])


def _check(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got an array of shape {points.shape}")
    return points


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = _check(landmarks)
    return points[EYE_A].mean(axis=0), points[EYE_B].mean(axis=0)


def interocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres, in pixels: the unit every other length is divided by."""
    a, b = eye_centres(landmarks)
    return float(np.linalg.norm(a - b))


def _ear(eye: np.ndarray) -> float:
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = np.linalg.norm(eye[0] - eye[3])
    return float(vertical / (2.0 * horizontal)) if horizontal > 0 else 0.0


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """The eyes' opening, averaged over both eyes: lid-to-lid height over corner-to-corner width
    (about 0.3 open, under 0.2 closed; it depends on the person, hence a per-attempt baseline)."""
    points = _check(landmarks)
    return (_ear(points[EYE_A]) + _ear(points[EYE_B])) / 2.0


# One photo, no baseline (the challenge compares with the person's own first frames instead):
# the middle of the best range on the hand-checked LFW stills (tests/data/liveness_stills.json): eyes
# 0.20-0.21 (77 of 80 right), turns 8-12° (121 of 126); README, Liveness.
CLOSED_EYES_EAR = 0.21
TURNED_DEG = 10.0


def eyes_closed(landmarks: np.ndarray) -> bool:
    """Whether the eyes of a single photo look closed (no per-person baseline to compare with)."""
    return eye_aspect_ratio(landmarks) < CLOSED_EYES_EAR


def turn_direction(landmarks: np.ndarray) -> str:
    """``"left"`` / ``"right"`` (the person's own) or ``"frontal"``, for a single photo."""
    yaw = head_pose(landmarks).yaw
    return "left" if yaw > TURNED_DEG else "right" if yaw < -TURNED_DEG else "frontal"


@dataclasses.dataclass(frozen=True)
class HeadPose:
    """Where the head points, in degrees. ``yaw`` > 0: turned to the person's own left (the nose
    towards the right of an unmirrored image); ``pitch`` > 0: looking up; ``roll``: the tilt in
    the image plane."""

    yaw: float
    pitch: float
    roll: float


def head_pose(landmarks: np.ndarray) -> HeadPose:
    """The head's rotation from a weak-perspective (scaled orthographic) fit of a generic 3-D head
    to nine landmarks: least squares for the 2×3 projection, its rows made orthonormal, the third
    axis their cross product. Faces in a webcam are far from the camera relative to their depth,
    so perspective adds little and the fit needs no camera matrix."""
    points = _check(landmarks)[_MODEL_INDEX]
    image = np.column_stack([points[:, 0], -points[:, 1]])  # y up, as the model
    image = image - image.mean(axis=0)
    model = _MODEL_3D - _MODEL_3D.mean(axis=0)
    projection, *_ = np.linalg.lstsq(model, image, rcond=None)  # (3, 2): image ≈ model @ projection
    r1, r2 = projection[:, 0], projection[:, 1]
    r1 = r1 / np.linalg.norm(r1)
    r2 = r2 - r1 * (r1 @ r2)
    r2 = r2 / np.linalg.norm(r2)
    r3 = np.cross(r1, r2)
    rotation = np.stack([r1, r2, r3])  # rows: image x, image y (up), towards the camera
    # The nose axis (model +z) as seen from the camera: its x component is the yaw, y the pitch.
    yaw = float(np.degrees(np.arcsin(np.clip(rotation[0, 2], -1.0, 1.0))))
    pitch = float(np.degrees(np.arcsin(np.clip(rotation[1, 2], -1.0, 1.0))))
    roll = float(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])))
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll)


def _normalising(points: np.ndarray) -> np.ndarray:
    """Hartley's normalisation: centre on the mean, mean distance √2."""
    centre = points.mean(axis=0)
    scale = np.sqrt(2.0) / max(np.linalg.norm(points - centre, axis=1).mean(), 1e-9)
    return np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1.0]])


def fit_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3×3 homography that best maps ``src`` points onto ``dst`` (normalised DLT)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ts, td = _normalising(src), _normalising(dst)
    a = np.c_[src, np.ones(len(src))] @ ts.T
    b = np.c_[dst, np.ones(len(dst))] @ td.T
    rows = []
    for (x, y, w), (u, v, s) in zip(a, b):
        rows.append([0, 0, 0, -s * x, -s * y, -s * w, v * x, v * y, v * w])
        rows.append([s * x, s * y, s * w, 0, 0, 0, -u * x, -u * y, -u * w])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    h = np.linalg.inv(td) @ h @ ts
    return h / h[2, 2]


def _apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.c_[points, np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:3]


def flatness_residual(before: np.ndarray, after: np.ndarray) -> float:
    """The RMS error of the best homography between two views' rigid landmarks, over the
    inter-ocular distance: how far they are from being one flat picture *as the landmarks say*.

    Not the depth check: dlib's predictor bends the points of a warped photo towards a face
    shape, so a photo against its own warp scores as high as a real turning head (README,
    Authenticate). :mod:`.depth` follows image points instead; this stays for that comparison."""
    a, b = _check(before)[RIGID], _check(after)[RIGID]
    error = _apply(fit_homography(a, b), a) - b
    return float(np.sqrt((error ** 2).sum(axis=1).mean()) / max(interocular(after), 1e-9))
