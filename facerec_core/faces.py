"""The :class:`Face` record: the one thing that travels through detect → embed → identify."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

UNKNOWN = "unknown"


def display_name(identity: str | None) -> str:
    """How a name is shown to people: LFW's ``Colin_Powell`` as ``Colin Powell``; ``None`` (nobody
    could be named: no model and no gallery) as ``face``."""
    if identity is None:
        return "face"
    return identity.replace("_", " ")


@dataclasses.dataclass
class Match:
    """One candidate identity for a face.

    ``score`` is on the scale the face's decision uses (after :func:`facerec_core.identity.decide`:
    the face's similarity to the person minus the face's cohort discount), so a face's
    ``confidence`` and its matches can be compared with each other and with the threshold;
    ``cosine`` is the cosine behind it: the cosine to the person's nearest stored photo, or the
    similarity of a rule that mixes in the person's average face (the few-shot gallery rule)
    (``None`` where it is the score itself)."""

    name: str
    score: float
    cosine: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": round(float(self.score), 4)}


@dataclasses.dataclass
class Face:
    """A detected face. Each pipeline stage reads it and fills in its own fields.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in pixels of the original image.
        det_score: the detector's confidence in ``[0, 1]``.
        landmarks: ``(5, 2)`` array: left eye, right eye, nose, left and right mouth corner.
        embedding: unit-length vector filled in by a backbone.
        identity: a known name, ``"unknown"``, or ``None`` before identification.
        confidence: the score behind ``identity`` (see :mod:`facerec_core.identify` for its meaning).
        matches: the best candidate identities, best first.
        detected: ``False`` for a face box that was assumed (e.g. the centre of an aligned
            dataset photo where the detector found nothing), not found by the detector.
        note: why the face could not be identified (too small, unclear) or what to know about
            its image.
        threshold: the score the face needed to be named (set by the decision).
        reason: why it was named or not, for people ("score 0.712 ≥ threshold 0.440").
    """

    box: tuple[float, float, float, float]
    det_score: float
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    identity: str | None = None
    confidence: float | None = None
    matches: list[Match] = dataclasses.field(default_factory=list)
    detected: bool = True
    note: str | None = None
    threshold: float | None = None
    reason: str | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        return min(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def is_known(self) -> bool:
        return self.identity not in (None, UNKNOWN)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no embedding: it is large and biometric)."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "det_score": round(float(self.det_score), 4),
            "landmarks": None if self.landmarks is None else np.round(self.landmarks, 1).tolist(),
            "identity": self.identity,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "matches": [m.to_dict() for m in self.matches],
            "detected": self.detected,
            "note": self.note,
            "threshold": None if self.threshold is None else round(float(self.threshold), 4),
            "reason": self.reason,
        }


def add_note(faces: list[Face], note: str | None) -> list[Face]:
    """Append ``note`` to each face's note (after one already there, with ``"; "``); returns the
    faces. ``None`` changes nothing."""
    if note:
        for face in faces:
            face.note = f"{face.note}; {note}" if face.note else note
    return faces
