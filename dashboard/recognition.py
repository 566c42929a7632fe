"""Recognition and verification of uploaded photos, shaped for display.

Pages hand over the raw bytes of an upload and get back plain results (annotated picture, table,
downloads, or a message); everything model-related happens in ``facerec_core``.

Detection and embedding are the slow part and do not depend on the decision threshold, so they
are cached per image content; moving the threshold slider only re-runs identification.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from facerec_core.draw import annotate
from facerec_core.errors import FacerecError, ImageError
from facerec_core.faces import Face
from facerec_core.images import load_image
from facerec_core.recognizer import Recognizer, Verification

log = logging.getLogger(__name__)


def display_name(identity: str | None) -> str:
    """``Colin_Powell`` → ``Colin Powell``; ``None`` (no model) → ``face``."""
    if identity is None:
        return "face"
    return identity.replace("_", " ")


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _detector_key(recognizer: Recognizer) -> str:
    """What detection + embedding results depend on (not the trained identifier)."""
    det = recognizer.detector
    return f"{recognizer.backbone.name}|{getattr(det, 'min_face_size', '')}|{getattr(det, 'threshold', '')}"


def _model_key(recognizer: Recognizer) -> str:
    """What a verification score depends on: detection and, when a model is trained, its cohort
    normalisation (a retrained model changes the score of the same two photos)."""
    files = (recognizer.manifest or {}).get("files") or {}
    return f"{_detector_key(recognizer)}|{sorted(files.items())}|{recognizer.verify_cohort_weight}"


def enrolled_people(recognizer: Recognizer) -> int:
    """How many people the enrolled gallery (if any) can name besides the trained model."""
    total = 0
    for gallery in recognizer.extra_galleries:
        try:
            total += len(getattr(gallery, "people", []) or [])
        except Exception:  # an unreadable gallery is reported on the Gallery page, not here
            log.warning("could not count the enrolled people", exc_info=True)
    return total


@st.cache_data(max_entries=64, show_spinner=False)
def _detect_and_embed(_recognizer: Recognizer, detector_key: str, data: bytes, name: str,
                      min_face_size: int, max_pixels: int) -> list[Face]:
    # detector_key stands in for the unhashable recognizer in the cache key.
    image = load_image(data, name=name, max_pixels=max_pixels)
    faces = _recognizer.detect(image, min_face_size=min_face_size)
    return _recognizer.embed(image, faces)


@dataclasses.dataclass
class ImageResult:
    """What one uploaded picture gave: its faces, or why there are none."""

    name: str
    image: np.ndarray | None = None
    faces: list[Face] = dataclasses.field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def annotated(self) -> np.ndarray:
        return annotate(self.image, self.faces)

    def summary(self) -> str:
        """One line for people: ``2 faces: Colin Powell (0.83), unknown``."""
        if not self.faces:
            return "No face found."
        plural = "s" if len(self.faces) != 1 else ""
        if all(face.identity is None for face in self.faces):
            return f"{len(self.faces)} face{plural} found (no trained model or enrolled people to name them)."
        parts = []
        for face in self.faces:
            label = display_name(face.identity)
            if face.is_known and face.confidence is not None:
                label = f"**{label}** ({face.confidence:.2f})"
            parts.append(label)
        return f"{len(self.faces)} face{plural}: " + ", ".join(parts)

    def table(self) -> pd.DataFrame:
        rows = []
        for i, face in enumerate(self.faces, start=1):
            rows.append({
                "face": i,
                "identity": face.identity if face.identity is not None else "(no model)",
                "confidence": None if face.confidence is None else round(float(face.confidence), 3),
                "box (x1, y1, x2, y2)": ", ".join(f"{v:.0f}" for v in face.box),
                "detection score": round(float(face.det_score), 3),
                "best matches": ", ".join(f"{m.name} {m.score:.2f}" for m in face.matches),
                "note": face.note or "",
            })
        return pd.DataFrame(rows, columns=["face", "identity", "confidence", "box (x1, y1, x2, y2)",
                                           "detection score", "best matches", "note"])

    def to_json(self) -> str:
        return json.dumps([f.to_dict() for f in self.faces], indent=2)

    def annotated_png(self) -> bytes:
        return png_bytes(self.annotated)


def recognize_image(recognizer: Recognizer, name: str, data: bytes, *, threshold: float,
                    min_face_size: int, max_pixels: int, top_k: int = 3) -> ImageResult:
    """Every face in one uploaded picture, named at ``threshold``; unreadable input gives an
    :class:`ImageResult` with ``error`` set instead of an exception."""
    try:
        image = load_image(data, name=name, max_pixels=max_pixels)
        faces = _detect_and_embed(recognizer, _detector_key(recognizer), data, name, int(min_face_size),
                                  int(max_pixels))
    except ImageError as exc:
        return ImageResult(name, error=str(exc))
    # The cache hands back fresh copies, so identifying them in place is safe.
    recognizer.identify(faces, threshold=threshold, top_k=top_k)
    return ImageResult(name, image, faces)


# ---- verification -----------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def _verify_cached(_recognizer: Recognizer, model_key: str, data_a: bytes, data_b: bytes) -> Verification:
    return _recognizer.verify(data_a, data_b)


@dataclasses.dataclass
class VerifyResult:
    verification: Verification | None = None
    image_a: np.ndarray | None = None
    image_b: np.ndarray | None = None
    error: str | None = None


def verify_photos(recognizer: Recognizer, data_a: bytes, data_b: bytes, *, threshold: float,
                  name_a: str = "first photo", name_b: str = "second photo") -> VerifyResult:
    """Same person or not at ``threshold``; a photo without a face or unreadable gives ``error``."""
    try:
        image_a = load_image(data_a, name=name_a)
        image_b = load_image(data_b, name=name_b)
        base = _verify_cached(recognizer, _model_key(recognizer), data_a, data_b)
    except FacerecError as exc:
        return VerifyResult(error=str(exc))
    # The similarity does not depend on the threshold: only the decision is re-made here.
    verification = dataclasses.replace(base, threshold=float(threshold), same=base.similarity >= float(threshold))
    return VerifyResult(verification, image_a, image_b)
