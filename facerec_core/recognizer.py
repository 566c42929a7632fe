"""The facade, composition only: settings + detector + backbone + identity sources. Build once,
then ``recognize(image) → [Face]`` and ``verify(a, b)``.

>>> rec = Recognizer.load()                       # doctest: +SKIP
>>> [f.identity for f in rec.recognize("photo.jpg")]   # doctest: +SKIP
['Colin_Powell', 'unknown']

A Recognizer is safe to share between threads (one per process in the dashboard): detection and
embedding run under their own locks and identification only reads the fitted model.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from .artifacts import load_artifacts
from .backbones import Backbone, load_backbone
from .backbones.specs import spec_for
from .detect import FaceDetector
from .errors import ArtifactError, FacerecError, NoTrainedModelError
from .faces import UNKNOWN, Face, add_note
from .gallery.search import GallerySource
from .identity import (MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE, IdentitySource, ModelSource, Thresholds,
                       decide)
from .identity.sources import FittedIdentifier
from .images import ImageInput, LoadedImage, describe, open_image
from .runtime import keep_freed_memory, limit_blas_threads, use_interactive_threads
from .settings import Settings, resolve_device

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Verification:
    """The answer to "are these two faces the same person?".

    ``similarity`` is the cosine of the two embeddings; with a trained model it is
    cohort-normalised (minus a calibrated share of the faces' mean cosine to their most similar
    known people), which is what LFW View-2 measured best.
    """

    similarity: float
    threshold: float
    same: bool
    face_a: Face
    face_b: Face

    @property
    def verdict(self) -> str:
        margin = abs(self.similarity - self.threshold)
        strength = "clearly" if margin > 0.15 else "probably" if margin > 0.05 else "borderline:"
        what = "the same person" if self.same else "different people"
        return f"{strength} {what} (similarity {self.similarity:.3f}, threshold {self.threshold:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "similarity": round(self.similarity, 4), "threshold": round(self.threshold, 4),
                "verdict": self.verdict, "face_a": self.face_a.to_dict(), "face_b": self.face_b.to_dict()}


class Recognizer:
    """Detector + backbone + the identity sources (a trained identifier, the enrolled gallery).

    Args:
        detector: a :class:`FaceDetector`.
        backbone: a :class:`~facerec_core.backbones.Backbone`.
        identifier: a fitted identifier from :mod:`facerec_core.identity`, or ``None`` (then only
            the gallery, if any, names faces).
        threshold: open-set threshold; defaults to the manifest's calibrated value, else the
            backbone's documented default (:class:`~facerec_core.identity.Thresholds`).
        manifest: the artifact manifest the identifier came with.
        min_identify_size, min_identify_score: faces smaller (pixels) or less certain than
            this are answered "unknown" with a note instead of a guess.
        threads: torch threads per request (default: the settings'; 0 = automatic, see
            :mod:`facerec_core.runtime`).
        settings: the settings every entry point takes its limits from (default: built-in).
        gallery: the enrolled gallery searched beside the model, or ``None``.
    """

    def __init__(self, detector: FaceDetector, backbone: Backbone, identifier: FittedIdentifier | None = None, *,
                 threshold: float | None = None, manifest: dict | None = None,
                 min_identify_size: float = MIN_IDENTIFY_FACE_SIZE, min_identify_score: float = MIN_IDENTIFY_DET_SCORE,
                 threads: int | None = None, settings: Settings | None = None,
                 gallery: GallerySource | None = None) -> None:
        self.settings = settings or Settings()
        self.detector = detector
        self.backbone = backbone
        self.identifier = identifier
        self.manifest = manifest or {}
        self.thresholds = Thresholds.from_manifest(self.manifest, spec_for(backbone.name), has_model=identifier is not None,
                                                   identify=threshold, min_face_size=min_identify_size,
                                                   min_det_score=min_identify_score)
        self.model = None if identifier is None else ModelSource(identifier)
        self.gallery = gallery
        self.threads = self.settings.threads if threads is None else threads
        self.model_problem: str | None = None
        """Why the trained model in the artifacts folder could not be used (damaged, swapped,
        another backbone's), or ``None`` when it was loaded or there is none."""
        limit_blas_threads(1)
        keep_freed_memory()

    @classmethod
    def load(cls, settings: Settings | None = None, *, require_model: bool = True, **kwargs) -> "Recognizer":
        """Build from settings: detector, backbone, the trained artifacts (checked against the
        manifest) and the enrolled gallery (opened lazily, never created here). With
        ``require_model=False`` a missing model is allowed (detection, embedding, verification
        and the gallery still work)."""
        settings = settings or Settings.from_env()
        device = resolve_device(settings.device)
        identifier, manifest, problem = None, None, None
        try:
            identifier, manifest, _ = load_artifacts(settings.artifacts_dir, backbone=settings.backbone)
        except ArtifactError as exc:
            if require_model:
                raise
            if not isinstance(exc, NoTrainedModelError):
                problem = str(exc)
            log.info("no usable trained model in %s: recognition will not name anyone", settings.artifacts_dir)
        detector = FaceDetector(settings.min_face_size, settings.detection_threshold, device=device,
                                max_side=settings.max_detect_side)
        backbone = load_backbone(settings.backbone, settings, device=device)
        recognizer = cls(detector, backbone, identifier, manifest=manifest, settings=settings,
                         gallery=GallerySource.for_settings(settings, backbone.name), **kwargs)
        recognizer.model_problem = problem
        return recognizer

    @property
    def sources(self) -> list[IdentitySource]:
        """Where known people come from, searched in this order: the model, then the gallery."""
        return [s for s in (self.model, self.gallery) if s is not None]

    @property
    def threshold(self) -> float:
        """The open-set threshold a face's score must reach to be named."""
        return self.thresholds.identify

    @property
    def verify_threshold(self) -> float:
        """The 1:1 verification threshold (cohort-normalised scale when a model supplies it)."""
        return self.thresholds.verify

    @property
    def has_model(self) -> bool:
        return self.identifier is not None

    @property
    def known_people(self) -> list[str]:
        return [] if self.model is None else self.model.people

    def detect(self, image: np.ndarray, *, min_face_size: int | None = None) -> list[Face]:
        """Every face in ``image`` (RGB uint8), in its pixels; an image larger than the settings'
        ``max_detect_side`` is searched on a shrunk copy (see :class:`FaceDetector`)."""
        use_interactive_threads(self.threads)
        return self.detector.detect(image, min_face_size=min_face_size, max_side=self.settings.max_detect_side)

    def embed(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Fill ``face.embedding`` for each face (in place) and return the faces."""
        if faces:
            use_interactive_threads(self.threads)
            for face, emb in zip(faces, self.backbone.embed(image, faces)):
                face.embedding = emb
        return faces

    def identify(self, faces: list[Face], *, threshold: float | None = None, top_k: int = 3) -> list[Face]:
        """Fill ``identity``, ``confidence`` and ``matches`` of embedded faces (in place); see
        :func:`facerec_core.identity.decide`."""
        return decide(faces, self.sources, self.thresholds, threshold=threshold, top_k=top_k)

    def read_image(self, source: ImageInput, *, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
        """``source`` (a path, bytes, file object, PIL image or array) as an RGB array, refused
        (:class:`~facerec_core.errors.ImageError`) when it is not an image, is a larger file than
        the settings' ``max_image_bytes`` or has more pixels than ``max_pixels`` (default: the
        settings' limit). A ``uint8`` ``(H, W, 3)`` array comes back as it is."""
        return self.open_image(source, name=name, max_pixels=max_pixels).pixels

    def open_image(self, source: ImageInput, *, name: str | None = None,
                   max_pixels: int | None = None) -> LoadedImage:
        """:meth:`read_image`, with the frame count (see :func:`facerec_core.images.open_image`)."""
        return open_image(source, name=name, max_pixels=max_pixels or self.settings.max_image_pixels,
                          max_bytes=self.settings.max_image_bytes)

    def recognize(self, source: ImageInput, *, threshold: float | None = None, min_face_size: int | None = None,
                  top_k: int = 3, name: str | None = None, max_pixels: int | None = None) -> list[Face]:
        """Every face in ``source`` (a path, bytes, file object or array), detected, embedded and
        named (or ``"unknown"``). Raises :class:`~facerec_core.errors.ImageError` for bad input."""
        loaded = self.open_image(source, name=name, max_pixels=max_pixels)
        faces = self.detect(loaded.pixels, min_face_size=min_face_size)
        kept, skipped = faces[:self.settings.max_faces], faces[self.settings.max_faces:]
        self.embed(loaded.pixels, kept)  # largest first: the skipped ones are the smallest
        self.identify(faces, threshold=threshold, top_k=top_k)
        if skipped:
            named = any(f.identity is not None for f in kept)
            for face in skipped:
                face.identity = UNKNOWN if named else face.identity
            add_note([f for f in skipped if f.note is None],
                     f"not identified: the image has {len(faces)} faces and only the {len(kept)} largest are "
                     "identified (FACEREC_MAX_FACES)")
        return add_note(faces, loaded.note)

    def verify(self, a: ImageInput, b: ImageInput, *, threshold: float | None = None) -> Verification:
        """Compare the largest face of each image."""
        faces = []
        for label, src in (("first", a), ("second", b)):
            loaded = self.open_image(src)
            found = self.detect(loaded.pixels)
            if not found:
                what = label if isinstance(src, (bytes, np.ndarray)) else describe(src)
                raise FacerecError(f"no face found in the {label} image ({what})")
            faces.append(add_note(self.embed(loaded.pixels, found[:1]), loaded.note)[0])
        sim = float(faces[0].embedding @ faces[1].embedding)
        if self.thresholds.verify_cohort_weight:
            pair = np.stack([faces[0].embedding, faces[1].embedding])
            sim -= self.thresholds.verify_cohort_weight * float(self.model.cohort(pair).mean())
        thr = self.verify_threshold if threshold is None else float(threshold)
        return Verification(sim, thr, sim >= thr, faces[0], faces[1])
