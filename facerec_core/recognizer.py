"""The facade: build once, then ``recognize(image) → [Face]`` and ``verify(a, b)``.

>>> rec = Recognizer.load()                       # doctest: +SKIP
>>> [f.identity for f in rec.recognize("photo.jpg")]   # doctest: +SKIP
['Colin_Powell', 'unknown']

A Recognizer is safe to share between threads (one per process in the dashboard): detection and
embedding run under their own locks and identification only reads the fitted model.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import numpy as np

from .artifacts import load_artifacts
from .backbones import Backbone, load_backbone
from .detect import FaceDetector
from .errors import ArtifactError, FacerecError
from .faces import UNKNOWN, Face
from .identify import identify
from .images import ImageInput, load_image
from .runtime import keep_freed_memory, limit_blas_threads, use_interactive_threads
from .settings import Settings, resolve_device

log = logging.getLogger(__name__)

# Cosine thresholds for 1:1 verification when no trained model supplies one; measured on LFW
# View-2 (mean of the 10 fold thresholds) by bench/accuracy.py.
DEFAULT_VERIFY_THRESHOLDS = {"facenet": 0.41, "dlib-resnet": 0.90}


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
    """Detector + backbone + (optionally) a trained identifier with its open-set threshold.

    Args:
        detector: a :class:`FaceDetector`.
        backbone: a :class:`~facerec_core.backbones.Backbone`.
        identifier: a fitted identifier from :mod:`facerec_core.identify`, or ``None`` (then
            faces are detected and embedded but not named).
        threshold: open-set cosine threshold; defaults to the manifest's calibrated value.
        manifest: the artifact manifest the identifier came with.
        min_identify_size, min_identify_score: faces smaller (pixels) or less certain than
            this are answered "unknown" with a note instead of a guess.
        threads: torch threads per request (0 = automatic, see :mod:`facerec_core.runtime`).
    """

    def __init__(self, detector: FaceDetector, backbone: Backbone, identifier=None, *,
                 threshold: float | None = None, manifest: dict | None = None,
                 min_identify_size: float = 40.0, min_identify_score: float = 0.95, threads: int = 0,
                 settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.detector = detector
        self.backbone = backbone
        self.identifier = identifier
        self.manifest = manifest or {}
        thresholds = self.manifest.get("thresholds", {})
        if threshold is None and "identify" not in thresholds:
            from .gallery import default_threshold  # no trained model: the gallery's documented default

            threshold = default_threshold(backbone.name)
        self.threshold = float(threshold if threshold is not None else thresholds["identify"])
        self.cohort_weight = float(thresholds.get("cohort_weight", 0.0))
        # 1:1 verification: cohort-normalised when a trained model supplies the cohort (its gallery)
        self.verify_cohort_weight = float(thresholds.get("verify_cohort_weight", 0.0)) if identifier is not None else 0.0
        self.verify_threshold = float(thresholds.get("verify_normalised") if self.verify_cohort_weight else
                                      thresholds.get("verify", DEFAULT_VERIFY_THRESHOLDS.get(backbone.name, 0.5)))
        self.min_identify_size = min_identify_size
        self.min_identify_score = min_identify_score
        self.threads = threads
        limit_blas_threads(1)
        keep_freed_memory()
        self.extra_galleries: list = []  # objects with .identify(embeddings) (e.g. the enrolled gallery)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings | None = None, *, require_model: bool = True, **kwargs) -> "Recognizer":
        """Build from settings: detector, backbone and the trained artifacts (checked against the
        manifest). With ``require_model=False`` a missing model is allowed (detection, embedding
        and verification still work)."""
        settings = settings or Settings.from_env()
        device = resolve_device(settings.device)
        identifier, manifest = None, None
        try:
            identifier, manifest, _ = load_artifacts(settings.artifacts_dir, backbone=settings.backbone)
        except ArtifactError:
            if require_model:
                raise
            log.info("no trained model in %s: recognition will not name anyone", settings.artifacts_dir)
        detector = FaceDetector(settings.min_face_size, settings.detection_threshold, device=device)
        backbone = load_backbone(settings.backbone, settings, device=device)
        kwargs.setdefault("threads", settings.threads)
        rec = cls(detector, backbone, identifier, manifest=manifest, settings=settings, **kwargs)
        from .gallery import GalleryIdentifier  # the enrolled gallery (opened lazily, never created here)

        rec.extra_galleries.append(GalleryIdentifier.for_recognizer(rec, settings))
        return rec

    @property
    def gallery(self):
        """The enrolled gallery searched beside the model (``None`` when there is none)."""
        return self.extra_galleries[0] if self.extra_galleries else None

    @property
    def has_model(self) -> bool:
        return self.identifier is not None

    @property
    def known_people(self) -> list[str]:
        return [] if self.identifier is None else [str(c) for c in self.identifier.classes_]

    def detect(self, image: np.ndarray, *, min_face_size: int | None = None) -> list[Face]:
        use_interactive_threads(self.threads)
        return self.detector.detect(image, min_face_size=min_face_size)

    def embed(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Fill ``face.embedding`` for each face (in place) and return the faces."""
        if faces:
            use_interactive_threads(self.threads)
            for face, emb in zip(faces, self.backbone.embed(image, faces)):
                face.embedding = emb
        return faces

    def identify(self, faces: list[Face], *, threshold: float | None = None, top_k: int = 3) -> list[Face]:
        """Fill ``identity``, ``confidence`` and ``matches`` of embedded faces (in place)."""
        thr = self.threshold if threshold is None else float(threshold)
        todo = []
        for face in faces:
            if face.size < self.min_identify_size:
                face.identity, face.note = UNKNOWN, f"face too small to identify ({face.size:.0f} px)"
            elif face.det_score < self.min_identify_score:
                face.identity, face.note = UNKNOWN, f"face unclear (detection score {face.det_score:.2f})"
            elif face.embedding is not None:
                todo.append(face)
        if not todo:
            return faces
        X = np.stack([f.embedding for f in todo])
        candidates: list[list[tuple[str, float, list]]] = [[] for _ in todo]
        cohort = np.zeros(len(todo), np.float32)
        if self.identifier is not None:
            names, scores, matches, cohort = identify(self.identifier, X, thr, top_k, self.cohort_weight)
            for c, n, s, m in zip(candidates, names, scores, matches):
                c.append((n, float(s), m))
        for gallery in self.extra_galleries:
            # galleries answer with raw cosines; put them on the model's (cohort-normalised) scale
            for c, cw, (n, s, m) in zip(candidates, cohort, gallery.identify(X, top_k=top_k)):
                score = float(s) - self.cohort_weight * float(cw)
                c.append((m[0].name if m and score >= thr else UNKNOWN, score, m))
        for face, cands in zip(todo, candidates):
            if not cands:
                face.identity, face.confidence = None, None
                continue
            known = [c for c in cands if c[0] != UNKNOWN]
            name, score, _ = max(known or cands, key=lambda c: c[1])
            face.identity, face.confidence = name, score
            face.matches = sorted((m for c in cands for m in c[2]), key=lambda m: -m.score)[:top_k]
        return faces

    def recognize(self, source: ImageInput, *, threshold: float | None = None, min_face_size: int | None = None,
                  top_k: int = 3, name: str | None = None, max_pixels: int | None = None) -> list[Face]:
        """Every face in ``source`` (a path, bytes, file object or array), detected, embedded and
        named (or ``"unknown"``). Raises :class:`~facerec_core.errors.ImageError` for bad input."""
        image = source if isinstance(source, np.ndarray) and source.dtype == np.uint8 and source.ndim == 3 \
            else load_image(source, name=name, **({"max_pixels": max_pixels} if max_pixels else {}))
        faces = self.detect(image, min_face_size=min_face_size)
        self.embed(image, faces)
        return self.identify(faces, threshold=threshold, top_k=top_k)

    def verify(self, a: ImageInput, b: ImageInput, *, threshold: float | None = None) -> Verification:
        """Compare the largest face of each image."""
        faces = []
        for label, src in (("first", a), ("second", b)):
            image = load_image(src)
            found = self.detect(image)
            if not found:
                raise FacerecError(f"no face found in the {label} image ({getattr(src, 'name', src) if not isinstance(src, (bytes, np.ndarray)) else label})")
            faces.append(self.embed(image, found[:1])[0])
        sim = float(faces[0].embedding @ faces[1].embedding)
        if self.verify_cohort_weight:
            from .identify import cohort_means

            pair = np.stack([faces[0].embedding, faces[1].embedding])
            sim -= self.verify_cohort_weight * float(cohort_means(self.identifier.class_similarities(pair)).mean())
        thr = self.verify_threshold if threshold is None else float(threshold)
        return Verification(sim, thr, sim >= thr, faces[0], faces[1])
