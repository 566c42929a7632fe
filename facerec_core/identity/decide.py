"""One decision for every face: quality gates, then the open-set rule over all sources' candidates.

A face is named only when its **score** reaches the threshold, otherwise it is ``"unknown"``.
The score is the cosine between the face and the nearest stored sample of the chosen person,
minus ``cohort_weight`` × the face's mean cosine to its runner-up people in the trained model
(a stranger who resembles everybody is discounted); every source's candidates are put on that
one scale and the best named candidate wins. Faces too small or too unclear to identify are
answered ``"unknown"`` with a note instead of a guess.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from ..backbones.specs import BackboneSpec
from ..faces import UNKNOWN, Face
from .kernel import open_set_scores
from .sources import Candidate, IdentitySource

MIN_IDENTIFY_FACE_SIZE = 40.0
"""Faces whose shorter side is smaller (pixels) are not identified; enrollment refuses them too."""
MIN_IDENTIFY_DET_SCORE = 0.95
"""Faces the detector is less sure of are not identified; enrollment refuses them too."""

CALIBRATED = "calibrated (trained model, 1% FAR)"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Every threshold and gate a decision uses, from one place.

    Attributes:
        identify: the open-set score a face needs to be named.
        cohort_weight: the share of the cohort mean subtracted from every candidate's cosine.
        verify: the 1:1 verification threshold.
        verify_cohort_weight: the cohort share subtracted in verification (0: plain cosine).
        min_face_size, min_det_score: the quality gates.
        source: where ``identify`` came from, for people (calibrated, given, or a default).
    """

    identify: float
    cohort_weight: float = 0.0
    verify: float = 0.5
    verify_cohort_weight: float = 0.0
    min_face_size: float = MIN_IDENTIFY_FACE_SIZE
    min_det_score: float = MIN_IDENTIFY_DET_SCORE
    source: str = "given"

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any] | None, spec: BackboneSpec, *, has_model: bool,
                      identify: float | None = None, **gates: float) -> "Thresholds":
        """The thresholds a trained model's manifest stores, or the backbone's documented defaults
        (:class:`~facerec_core.backbones.specs.BackboneSpec`) where it stores none. ``identify``
        overrides the open-set threshold; ``gates`` the quality gates. The verification cohort is
        only used with a model (its classes are the cohort)."""
        stored = dict((manifest or {}).get("thresholds", {}))
        if identify is not None:
            value, source = float(identify), "given"
        elif "identify" in stored:
            value, source = float(stored["identify"]), CALIBRATED
        else:
            value, source = spec.identify_threshold, f"default for {spec.name}"
        verify_weight = float(stored.get("verify_cohort_weight", 0.0)) if has_model else 0.0
        verify = float(stored["verify_normalised"] if verify_weight else stored.get("verify", spec.verify_threshold))
        return cls(identify=value, cohort_weight=float(stored.get("cohort_weight", 0.0)), verify=verify,
                   verify_cohort_weight=verify_weight, source=source, **gates)

    def quality_note(self, face: Face) -> str | None:
        """Why ``face`` cannot be identified, or ``None`` when it passes the gates."""
        if face.size < self.min_face_size:
            return f"face too small to identify ({face.size:.0f} px)"
        if face.det_score < self.min_det_score:
            return f"face unclear (detection score {face.det_score:.2f})"
        return None


def decide(faces: list[Face], sources: Sequence[IdentitySource], thresholds: Thresholds, *,
           threshold: float | None = None, top_k: int = 3) -> list[Face]:
    """Fill ``identity``, ``confidence``, ``matches`` and ``note`` of embedded faces (in place).

    Faces that fail a quality gate are ``"unknown"`` with a note. The others are searched in
    every source; each candidate is scored as ``cosine − cohort_weight × cohort`` (the cohort of
    the first source that holds one, else 0) and the best candidate reaching ``threshold``
    (default ``thresholds.identify``) names the face; otherwise it is ``"unknown"`` with the best
    score. ``matches`` merges every source's top-k. With no source holding anyone, ``identity``
    stays ``None`` (nobody can be named).
    """
    thr = thresholds.identify if threshold is None else float(threshold)
    todo = []
    for face in faces:
        note = thresholds.quality_note(face)
        if note is not None:
            face.identity, face.note = UNKNOWN, note
        elif face.embedding is not None:
            todo.append(face)
    if not todo:
        return faces
    X = np.stack([f.embedding for f in todo])
    answers = [a for a in (source.search(X, top_k) for source in sources) if a]
    for i, face in enumerate(todo):
        candidates: list[Candidate] = [a[i] for a in answers]
        if not candidates:
            face.identity, face.confidence = None, None
            continue
        cohort = next((c.cohort for c in candidates if c.cohort is not None), 0.0)
        scored = [(c, float(open_set_scores(c.score, cohort, thresholds.cohort_weight))) for c in candidates]
        named = [cs for cs in scored if cs[1] >= thr]
        best, score = max(named or scored, key=lambda cs: cs[1])
        face.identity, face.confidence = (best.name if named else UNKNOWN), score
        face.matches = sorted((m for c in candidates for m in c.matches), key=lambda m: -m.score)[:top_k]
    return faces
