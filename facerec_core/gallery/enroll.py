"""Enrollment: photos → exactly one good face each → embedding + small thumbnail → stored in one
transaction. Refused photos say why and store nothing; duplicates are skipped. Uploaded
originals are never kept, only a small face thumbnail.

In two steps when a person confirms (the Gallery page): :func:`check_photos` detects and embeds
every photo and compares each face with everyone known (:mod:`.lookalike`), storing nothing; the
:class:`EnrollmentPlan` it returns shows the faces found and the warnings; :func:`store_plan`
then stores exactly those faces. :func:`enroll` does both at once (the command line).
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
from ..identity.decide import MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE, Thresholds
from ..identity.sources import IdentitySource
from ..images import ImageInput, describe
from .checks import clean_name, safe_source
from .lookalike import LookAlike, Resemblance, compare_with_known
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


MAX_FACES_SHOWN = 6
"""Face crops kept per photo for the preview: a crowd's seventh face tells nothing more."""


@dataclasses.dataclass(frozen=True)
class FaceCrop:
    """One face found in a photo, for the preview: its thumbnail, the detector's numbers, and
    whether it is the face that would be stored (``used``) or why not (``note``)."""

    number: int
    thumbnail: bytes
    det_score: float
    size: float
    used: bool
    note: str = ""


@dataclasses.dataclass
class PhotoCheck:
    """One photo checked for enrollment: the sample to store (``None`` when refused, with the
    ``reason``), every face found (at most :data:`MAX_FACES_SHOWN`), how many faces in all, and,
    once compared, what the face resembles."""

    source: str
    sample: NewSample | None
    reason: str = ""
    faces: list[FaceCrop] = dataclasses.field(default_factory=list)
    face_count: int = 0
    resemblance: Resemblance | None = None

    @property
    def look_alikes(self) -> list[LookAlike]:
        return [] if self.resemblance is None else self.resemblance.look_alikes


def check_photo(pipeline: FacePipeline, source: ImageInput, *, name: str | None = None,
                policy: EnrollmentPolicy | None = None, max_pixels: int | None = None) -> PhotoCheck:
    """Check one photo (nothing is stored): exactly one face of at least ``min_face_size``
    pixels, detected with at least ``min_det_score``. A refused photo has ``sample=None`` and the
    reason (naming the photo); the faces found are kept either way, for the preview."""
    policy = policy or EnrollmentPolicy()
    label = describe(source, name)
    short = _short_source(label)
    try:
        image = pipeline.read_image(source, name=label, max_pixels=max_pixels)
    except FacerecError as exc:
        return PhotoCheck(short, None, str(exc))
    faces = sorted(pipeline.detect(image), key=lambda f: -f.size)
    big = [f for f in faces if f.size >= policy.min_face_size]
    face = big[0] if len(big) == 1 and big[0].det_score >= policy.min_det_score else None

    def note(f: Face) -> str:
        if f is face:
            return ""
        if f.size < policy.min_face_size:
            return f"too small ({f.size:.0f} px, at least {policy.min_face_size:.0f} needed), ignored"
        if len(big) > 1:
            return "one of several faces"
        return f"unclear (detection score {f.det_score:.2f}, at least {policy.min_det_score:.2f} needed)"

    crops = [FaceCrop(i + 1, face_thumbnail(image, f.box, policy.thumbnail_size), float(f.det_score), float(f.size),
                      f is face, note(f)) for i, f in enumerate(faces[:MAX_FACES_SHOWN])]
    check = PhotoCheck(short, None, faces=crops, face_count=len(faces))
    if not faces:
        check.reason = f"{label}: no face found; use a sharp, well-lit photo facing the camera"
    elif len(big) > 1:
        check.reason = f"{label}: {len(big)} faces found; an enrollment photo must show exactly one person"
    elif not big:
        check.reason = (f"{label}: the face is too small ({faces[0].size:.0f} px; at least "
                        f"{policy.min_face_size:.0f} px needed): move closer or crop the photo")
    elif face is None:
        check.reason = (f"{label}: the face is unclear (detection score {big[0].det_score:.2f}, at least "
                        f"{policy.min_det_score:.2f} needed)")
    else:
        pipeline.embed(image, [face])
        check.sample = NewSample(embedding=np.asarray(face.embedding, dtype=np.float32),
                                 backbone=pipeline.backbone.name, det_score=float(face.det_score), source=short,
                                 content_hash=image_hash(image),
                                 thumbnail=face_thumbnail(image, face.box, policy.thumbnail_size))
    return check


def prepare_sample(pipeline: FacePipeline, source: ImageInput, *, name: str | None = None,
                   policy: EnrollmentPolicy | None = None, max_pixels: int | None = None) -> NewSample:
    """Check one photo and turn its face into a :class:`NewSample` (nothing is stored).

    Raises :class:`EnrollmentError` naming the photo and the reason when it is not an image,
    holds no face, several faces, or a face too small or unclear.
    """
    check = check_photo(pipeline, source, name=name, policy=policy, max_pixels=max_pixels)
    if check.sample is None:
        raise EnrollmentError(check.reason)
    return check.sample


@dataclasses.dataclass
class EnrollmentPlan:
    """What :func:`check_photos` found, before anything is stored: the person (``existing`` when
    photos are added to someone enrolled), one :class:`PhotoCheck` per photo, in order."""

    name: str
    notes: str | None
    existing: Person | None
    photos: list[PhotoCheck]

    @property
    def samples(self) -> list[NewSample]:
        return [p.sample for p in self.photos if p.sample is not None]

    @property
    def warnings(self) -> list[tuple[PhotoCheck, LookAlike]]:
        """Every (photo, look-alike) pair, best score first within a photo."""
        return [(p, la) for p in self.photos for la in p.look_alikes]

    @property
    def unlike(self) -> list[PhotoCheck]:
        """Photos that do not reach the threshold against the person they are added to."""
        return [p for p in self.photos if p.resemblance is not None and p.resemblance.unlike]


def check_photos(store: GalleryStore, pipeline: FacePipeline, name: str,
                 sources: Iterable[ImageInput | tuple[str, ImageInput]], *, notes: str | None = None,
                 policy: EnrollmentPolicy | None = None, max_pixels: int | None = None,
                 known: Sequence[IdentitySource] | None = None,
                 thresholds: Thresholds | None = None) -> EnrollmentPlan:
    """Check and embed every photo for ``name`` and compare each good face with everyone known;
    nothing is stored. ``known`` and ``thresholds`` default to the pipeline's own (a
    :class:`~facerec_core.recognizer.Recognizer`'s trained model and gallery, and its open-set
    thresholds); without them no comparison is made. Raises :class:`GalleryError` for a bad name."""
    name = clean_name(name)
    policy = policy or EnrollmentPolicy()
    photos = []
    for item in sources:
        label, src = item if isinstance(item, tuple) else (None, item)
        check = check_photo(pipeline, src, name=label, policy=policy, max_pixels=max_pixels)
        if check.sample is None:
            log.info("enrollment check: photo %d refused (%d faces found)", len(photos) + 1, check.face_count)
        photos.append(check)
    known = getattr(pipeline, "sources", ()) if known is None else known
    thresholds = getattr(pipeline, "thresholds", None) if thresholds is None else thresholds
    good = [p for p in photos if p.sample is not None]
    if good and known and thresholds is not None:
        X = np.stack([p.sample.embedding for p in good])
        for photo, resemblance in zip(good, compare_with_known(X, known, thresholds, name)):
            photo.resemblance = resemblance
    return EnrollmentPlan(name, notes, store.find_person(name), photos)


def store_plan(store: GalleryStore, plan: EnrollmentPlan, *,
               policy: EnrollmentPolicy | None = None) -> EnrollmentReport:
    """Store the good faces of ``plan`` in one transaction (duplicates are skipped then); a
    refused photo stores nothing, and if every photo was refused a new name is not created."""
    policy = policy or EnrollmentPolicy()
    good = plan.samples
    person, stored = store.add_samples(plan.name, good, notes=plan.notes, duplicate_cosine=policy.duplicate_cosine) \
        if good else (store.find_person(plan.name), [])
    stored_iter = iter(stored)
    outcomes = [next(stored_iter) if p.sample is not None else SampleOutcome(p.source, "refused", p.reason)
                for p in plan.photos]
    report = EnrollmentReport(person.name if person else plan.name, person, outcomes)
    log.info("enrollment: person %s: %d added, %d duplicates skipped, %d refused",
             person.id if person else "(none)", report.added, report.duplicates, report.refused)
    return report


def _short_source(label: str) -> str:
    """A file name rather than a full path (the store keeps no more about the original), made
    storable (:func:`~.checks.safe_source`: a photo is never refused for its file name)."""
    return safe_source(Path(label).name if ("/" in label or os.sep in label) and not label.startswith("<") else label)


def enroll(store: GalleryStore, pipeline: FacePipeline, name: str,
           sources: Iterable[ImageInput | tuple[str, ImageInput]], *, notes: str | None = None,
           policy: EnrollmentPolicy | None = None, max_pixels: int | None = None) -> EnrollmentReport:
    """Enroll ``name`` (new, or add samples to an existing person) from photos, without asking.

    Each source is an image input, or ``(label, input)`` to name it in messages. Photos are
    checked and embedded first; the good ones are then stored in one transaction. Refused photos
    store nothing; if every photo is refused a new name is not created. No look-alike check is
    made (:func:`check_photos` then :func:`store_plan` for that).
    """
    plan = check_photos(store, pipeline, name, sources, notes=notes, policy=policy, max_pixels=max_pixels, known=())
    return store_plan(store, plan, policy=policy)
