"""Enrollment: photos → exactly one good face each → embedding + small thumbnail → stored in one
transaction. Refused photos say why and store nothing; duplicates are skipped. Uploaded
originals are never kept, only a small face thumbnail.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np
from PIL import Image

from ..errors import EnrollmentError, FacerecError
from ..faces import Face
from ..identity.decide import MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE
from ..images import ImageInput, describe
from .checks import clean_name, safe_source
from .records import NewSample, Person, SampleOutcome
from .store import DUPLICATE_COSINE, GalleryStore

log = logging.getLogger(__name__)


class _Named(Protocol):
    name: str


class FacePipeline(Protocol):
    """What enrollment needs of a :class:`~facerec_core.recognizer.Recognizer`: its image reader
    (with the settings' pixel limit), detect, embed, and the backbone's name (samples are stored
    per backbone)."""

    backbone: _Named

    def read_image(self, source: ImageInput, *, name: str | None = None,
                   max_pixels: int | None = None) -> np.ndarray: ...

    def detect(self, image: np.ndarray, *, min_face_size: int | None = None) -> list[Face]: ...

    def embed(self, image: np.ndarray, faces: list[Face]) -> list[Face]: ...


@dataclasses.dataclass
class EnrollmentReport:
    """The result of :func:`enroll`: the person (``None`` when nothing was stored for a new
    name) and one outcome per photo, in order."""

    name: str
    person: Person | None
    outcomes: list[SampleOutcome]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def added(self) -> int:
        return self.count("added")

    @property
    def duplicates(self) -> int:
        return self.count("duplicate")

    @property
    def refused(self) -> int:
        return self.count("refused")

    def summary(self) -> str:
        parts = [f"{self.added} added"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate{'s' if self.duplicates > 1 else ''} skipped")
        if self.refused:
            parts.append(f"{self.refused} refused")
        return f"{self.name}: " + ", ".join(parts)


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of decoded pixels and shape: equal for the same picture whatever its file name."""
    h = hashlib.sha256(f"{image.shape}|{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def face_thumbnail(image: np.ndarray, box: Sequence[float], size: int = 96, quality: int = 85) -> bytes:
    """A small square JPEG of the face in ``box`` (grown by 20%), for the gallery page."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * 1.2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, w, h
    crop = Image.fromarray(image[top:bottom, left:right]).resize((size, size), Image.BILINEAR)
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclasses.dataclass
class EnrollmentPolicy:
    """What makes a photo good enough to enroll.

    Args:
        min_face_size: the face's shorter side, in pixels; smaller faces in the background are
            ignored, but two faces of at least this size make the photo ambiguous.
        min_det_score: the detector's confidence needed.
        duplicate_cosine: a sample this similar to one already stored is a duplicate.
        thumbnail_size: side of the stored face thumbnail, in pixels.
    """

    min_face_size: float = MIN_IDENTIFY_FACE_SIZE
    min_det_score: float = MIN_IDENTIFY_DET_SCORE
    duplicate_cosine: float = DUPLICATE_COSINE
    thumbnail_size: int = 96


def prepare_sample(pipeline: FacePipeline, source: ImageInput, *, name: str | None = None,
                   policy: EnrollmentPolicy | None = None, max_pixels: int | None = None) -> NewSample:
    """Check one photo and turn its face into a :class:`NewSample` (nothing is stored).

    Raises :class:`EnrollmentError` naming the photo and the reason when it is not an image,
    holds no face, several faces, or a face too small or unclear.
    """
    policy = policy or EnrollmentPolicy()
    label = describe(source, name)
    try:
        image = pipeline.read_image(source, name=label, max_pixels=max_pixels)
    except FacerecError as exc:
        raise EnrollmentError(str(exc)) from None
    faces = pipeline.detect(image)
    if not faces:
        raise EnrollmentError(f"{label}: no face found; use a sharp, well-lit photo facing the camera")
    big = [f for f in faces if f.size >= policy.min_face_size]
    if len(big) > 1:
        raise EnrollmentError(f"{label}: {len(big)} faces found; an enrollment photo must show exactly one person")
    if not big:
        raise EnrollmentError(f"{label}: the face is too small ({faces[0].size:.0f} px; at least "
                              f"{policy.min_face_size:.0f} px needed): move closer or crop the photo")
    face = big[0]
    if face.det_score < policy.min_det_score:
        raise EnrollmentError(f"{label}: the face is unclear (detection score {face.det_score:.2f}, at least "
                              f"{policy.min_det_score:.2f} needed)")
    pipeline.embed(image, [face])
    return NewSample(embedding=np.asarray(face.embedding, dtype=np.float32), backbone=pipeline.backbone.name,
                     det_score=float(face.det_score), source=_short_source(label), content_hash=image_hash(image),
                     thumbnail=face_thumbnail(image, face.box, policy.thumbnail_size))


def _short_source(label: str) -> str:
    """A file name rather than a full path (the store keeps no more about the original), made
    storable (:func:`~.checks.safe_source`: a photo is never refused for its file name)."""
    return safe_source(Path(label).name if ("/" in label or os.sep in label) and not label.startswith("<") else label)


def enroll(store: GalleryStore, pipeline: FacePipeline, name: str, sources: Iterable[ImageInput | tuple[str, ImageInput]], *,
           notes: str | None = None, policy: EnrollmentPolicy | None = None,
           max_pixels: int | None = None) -> EnrollmentReport:
    """Enroll ``name`` (new, or add samples to an existing person) from photos.

    Each source is an image input, or ``(label, input)`` to name it in messages. Photos are
    checked and embedded first; the good ones are then stored in one transaction. Refused photos
    store nothing; if every photo is refused a new name is not created.
    """
    name = clean_name(name)
    policy = policy or EnrollmentPolicy()
    slots: list[SampleOutcome | NewSample] = []
    for item in sources:
        label, src = item if isinstance(item, tuple) else (None, item)
        try:
            slots.append(prepare_sample(pipeline, src, name=label, policy=policy, max_pixels=max_pixels))
        except EnrollmentError as exc:
            log.info("enrollment of %s: refused %s", name, exc)
            slots.append(SampleOutcome(describe(src, label), "refused", str(exc)))
    good = [s for s in slots if isinstance(s, NewSample)]
    person, stored = store.add_samples(name, good, notes=notes, duplicate_cosine=policy.duplicate_cosine) \
        if good else (store.find_person(name), [])
    stored_iter = iter(stored)
    outcomes = [next(stored_iter) if isinstance(s, NewSample) else s for s in slots]
    report = EnrollmentReport(person.name if person else name, person, outcomes)
    log.info("enrollment: %s", report.summary())
    return report
