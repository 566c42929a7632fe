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
from typing import Any, Callable

import numpy as np

from .artifacts import load_artifacts
from .backbones import Backbone, load_backbone
from .backbones.specs import FewShotRule, spec_for
from .detect import FaceDetector
from .errors import ArtifactError, FacerecError, NoTrainedModelError
from .faces import UNKNOWN, Face, add_note, display_name
from .gallery.background import load_background
from .gallery.search import GallerySource
from .history.corrections import CorrectionSource
from .identity import (MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE, IdentitySource, ModelSource, PersonRule,
                       Thresholds, VerifyPreset, decide)
from .identity.corrections import CorrectionSet, apply_corrections
from .identity.sources import FittedIdentifier
from .images import ImageInput, LoadedImage, describe, open_image
from .runtime import keep_freed_memory, limit_blas_threads, use_interactive_threads
from .settings import Settings, resolve_device

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Verification:
    """The answer to "are these two faces the same person?" (or, for :meth:`Recognizer.verify_person`,
    "is this face that person?").

    ``similarity`` is the score compared with ``threshold``: the cosine of the two embeddings;
    with a trained model that measured it best, cohort-normalised (minus a calibrated share of the
    faces' mean cosine to their most similar known people, so it can be negative); ``scale`` says
    which, for people. ``preset`` names the rule the threshold comes from and ``far`` is the share
    of different-person pairs that threshold accepted where it was measured (``measured_on``);
    both are ``None`` for a threshold given by hand. For a claim, ``person`` is the person
    claimed and ``face_b`` is ``None``.
    """

    similarity: float
    threshold: float
    same: bool
    face_a: Face
    face_b: Face | None
    preset: str | None = None
    far: float | None = None
    measured_on: str = ""
    scale: str = ""
    person: str | None = None
    compared_photos: int = 1

    def at(self, threshold: float | None = None, preset: VerifyPreset | None = None) -> "Verification":
        """The same score decided at another threshold: a preset's, or one given by hand."""
        if preset is not None:
            return dataclasses.replace(self, threshold=preset.threshold, same=self.similarity >= preset.threshold,
                                       preset=preset.name, far=preset.far, measured_on=preset.measured_on)
        thr = float(threshold)
        return dataclasses.replace(self, threshold=thr, same=self.similarity >= thr, preset=None, far=None,
                                   measured_on="")

    @property
    def verdict(self) -> str:
        margin = abs(self.similarity - self.threshold)
        strength = "clearly" if margin > 0.15 else "probably" if margin > 0.05 else "borderline:"
        if self.person is None:
            what = "the same person" if self.same else "different people"
        else:
            what = f"{display_name(self.person)}" if self.same else f"not {display_name(self.person)}"
        sign = "≥" if self.same else "<"
        return f"{strength} {what} (score {self.similarity:.3f} {sign} threshold {self.threshold:.3f})"

    @property
    def rule(self) -> str:
        """Where the threshold comes from, for people."""
        if self.preset is None:
            return f"threshold {self.threshold:.3f}, set by hand (false-accept rate not measured)"
        if self.far is None:
            return f"{self.preset} threshold {self.threshold:.3f} ({self.measured_on})"
        what = "claims about a different person" if self.person is not None else "different-person pairs"
        return (f"{self.preset} threshold {self.threshold:.3f}: it accepted {self.far:.2%} of {what} "
                f"({self.measured_on})")

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "similarity": round(self.similarity, 4), "threshold": round(self.threshold, 4),
                "preset": self.preset, "false_accept_rate": self.far, "measured_on": self.measured_on,
                "score_meaning": self.scale, "verdict": self.verdict, "rule": self.rule,
                "person": self.person, "compared_photos": self.compared_photos,
                "face_a": self.face_a.to_dict(), "face_b": None if self.face_b is None else self.face_b.to_dict()}


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
        report: the model's training report (its View-2 figures give the verification presets).
        few_shot: the few-shot rule ``gallery`` searches with (its threshold and cohort weight
            apply when there is no ``identifier``), or ``None``.
        corrections: gives the people's corrections that take names back after each decision
            (:func:`~facerec_core.identity.corrections.apply_corrections`), or ``None``.
    """

    def __init__(self, detector: FaceDetector, backbone: Backbone, identifier: FittedIdentifier | None = None, *,
                 threshold: float | None = None, manifest: dict | None = None,
                 min_identify_size: float = MIN_IDENTIFY_FACE_SIZE, min_identify_score: float = MIN_IDENTIFY_DET_SCORE,
                 threads: int | None = None, settings: Settings | None = None,
                 gallery: GallerySource | None = None, report: dict | None = None,
                 few_shot: FewShotRule | None = None, corrections: Callable[[], CorrectionSet] | None = None) -> None:
        self.settings = settings or Settings()
        self.detector = detector
        self.backbone = backbone
        self.identifier = identifier
        self.manifest = manifest or {}
        self.thresholds = Thresholds.from_manifest(self.manifest, spec_for(backbone.name),
                                                   has_model=identifier is not None,
                                                   identify=threshold, report=report, few_shot=few_shot,
                                                   min_face_size=min_identify_size,
                                                   min_det_score=min_identify_score)
        self.model = None if identifier is None else ModelSource(
            identifier, PersonRule.from_thresholds(self.manifest.get("thresholds")))
        self.gallery = gallery
        self.corrections = corrections
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
        identifier, manifest, report, problem = None, None, None, None
        try:
            identifier, manifest, report = load_artifacts(settings.artifacts_dir, backbone=settings.backbone)
        except ArtifactError as exc:
            if require_model:
                raise
            if not isinstance(exc, NoTrainedModelError):
                problem = str(exc)
            log.info("no usable trained model in %s: recognition will not name anyone", settings.artifacts_dir)
        detector = FaceDetector(settings.min_face_size, settings.detection_threshold, device=device,
                                max_side=settings.max_detect_side)
        backbone = load_backbone(settings.backbone, settings, device=device)
        # without a trained model, the gallery decides by the backbone's few-shot rule where its
        # background cohort has been built (`facerec setup`), otherwise by the nearest sample;
        # beside a model, by the model's person rule
        rule = spec_for(backbone.name).few_shot if identifier is None else None
        background = None if rule is None else load_background(settings, backbone.name)
        rule = None if background is None else rule
        recognizer = cls(detector, backbone, identifier, manifest=manifest, settings=settings, report=report,
                         few_shot=rule, **{"corrections": CorrectionSource(settings, backbone.name), **kwargs})
        recognizer.gallery = GallerySource.for_settings(settings, backbone.name, rule=rule, background=background,
                                                        model=recognizer.model)
        recognizer.model_problem = problem
        return recognizer

    @classmethod
    def load_for_recognition(cls, settings: Settings | None = None, *, no_model: bool = False) -> "Recognizer":
        """What naming faces needs: the trained model (a damaged one raises), or with no model at
        all the enrolled gallery alone (its few-shot rule). With nobody to compare with,
        :class:`NoTrainedModelError` is raised unless ``no_model`` asks for detection and
        embedding only."""
        try:
            return cls.load(settings, require_model=not no_model)
        except NoTrainedModelError:
            recognizer = cls.load(settings, require_model=False)
            if recognizer.gallery is None or not len(recognizer.gallery):
                raise
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
        """The default 1:1 verification threshold: the strictest preset's (cohort-normalised
        scale when a model supplies it)."""
        return self.thresholds.verify

    @property
    def verify_presets(self) -> tuple[VerifyPreset, ...]:
        """The verification presets, strictest (the default) first."""
        return self.thresholds.verify_presets

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
        :func:`facerec_core.identity.decide`, then people's corrections
        (:func:`~facerec_core.identity.corrections.apply_corrections`)."""
        decide(faces, self.sources, self.thresholds, threshold=threshold, top_k=top_k)
        if self.corrections is not None:
            apply_corrections(faces, self.corrections())
        return faces

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
            why = (f"the image has {len(faces)} faces and only the {len(kept)} largest are identified "
                   "(FACEREC_MAX_FACES)")
            for face in (f for f in skipped if f.note is None):
                face.identity = UNKNOWN if named else face.identity
                face.note, face.reason = f"not identified: {why}", f"not identified: {why}"
        return add_note(faces, loaded.note)

    def _largest_face(self, label: str, src: ImageInput) -> Face:
        loaded = self.open_image(src)
        found = self.detect(loaded.pixels)
        if not found:
            what = label if isinstance(src, (bytes, np.ndarray)) else describe(src)
            raise FacerecError(f"no face found in the {label} image ({what})")
        return add_note(self.embed(loaded.pixels, found[:1]), loaded.note)[0]

    def verify(self, a: ImageInput, b: ImageInput, *, threshold: float | None = None,
               preset: str | None = None) -> Verification:
        """Compare the largest face of each image, at ``threshold`` if given, else at the
        verification preset ``preset`` (default: the strictest, see :attr:`verify_presets`)."""
        faces = [self._largest_face(label, src) for label, src in (("first", a), ("second", b))]
        sim = float(faces[0].embedding @ faces[1].embedding)
        if self.thresholds.verify_cohort_weight:
            pair = np.stack([faces[0].embedding, faces[1].embedding])
            sim -= self.thresholds.verify_cohort_weight * float(self.model.cohort(pair).mean())
        base = Verification(sim, self.verify_threshold, sim >= self.verify_threshold, faces[0], faces[1],
                            scale=self.thresholds.verify_scale)
        if threshold is not None:
            return base.at(threshold)
        return base.at(preset=self.thresholds.verify_preset(preset))

    @property
    def claimable_people(self) -> list[str]:
        """Everyone a photo can be checked against: the enrolled gallery's people, then the model's."""
        gallery = [] if self.gallery is None else self.gallery.people
        return list(dict.fromkeys(list(gallery) + self.known_people))

    def _person_samples(self, person: str) -> np.ndarray:
        """The stored embeddings of ``person``: the enrolled gallery's, else the model's training photos."""
        if self.gallery is not None:
            m = self.gallery.refresh()
            if m is not None and person in m.names:
                k = list(m.names).index(person)
                end = m.starts[k + 1] if k + 1 < len(m.starts) else len(m.X)
                return np.asarray(m.X[m.starts[k]:end])
        if self.model is not None and person in self.known_people:
            idx = self.identifier.encoder_.transform([person])[0]
            return np.asarray(self.identifier.gallery_[self.identifier.gallery_labels_ == idx])
        raise FacerecError(f"{person!r} is neither enrolled in the gallery nor known to the trained model")

    def verify_person(self, image: ImageInput, person: str, *, threshold: float | None = None,
                      preset: str | None = None) -> Verification:
        """"Is the largest face in ``image`` ``person``?" (an enrolled or a model person).

        The score is the cosine to ``person``'s nearest stored photo (plain cosine: the claim
        presets were measured that way, with 3 photos per person; a person with many more photos
        gives strangers more chances, so ``compared_photos`` is reported)."""
        samples = self._person_samples(person)
        face = self._largest_face("photo", image)
        sim = float(np.max(samples @ face.embedding))
        base = Verification(sim, 0.0, False, face, None, scale=(
            "the cosine similarity between this face and the person's closest stored photo, from -1 to 1"),
            person=person, compared_photos=int(len(samples)))
        if threshold is not None:
            return base.at(threshold)
        return base.at(preset=self.thresholds.verify_preset(preset, claim=True))
