"""Corrections that change later decisions: people's "not this person" and "this is NAME".

A rejected face is kept as an *impostor* sample of the person it was wrongly given, a confirmed one
as a *genuine* sample. After the usual decision (:func:`~.decide.decide`), :func:`apply_corrections`
takes a name back when

- the face is closer (plain cosine) to one of that person's impostors than to the person (their
  nearest stored photo, or a confirmed sample): "closer to a rejected look-alike"; or
- the face's score is below that person's own threshold. A person gets one once they have at least
  :data:`MIN_IMPOSTORS` impostor scores and :data:`MIN_GENUINE` confirmed ones: just above their
  highest impostor score, but never above their confirmed scores' median (confirmed faces keep their
  name) and never below the global threshold (a correction only makes naming someone stricter).
  Confirmations are required because, measured on LFW (``bench/history_corrections.py``), raising
  a person's threshold from rejections alone cost known people more names than raising the global
  threshold to the same false-accept rate.

Pure numpy: the corrections themselves are read by :mod:`facerec_core.history.corrections`.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from ..faces import UNKNOWN, Face, display_name

MIN_IMPOSTORS = 2
"""Impostor scores a person needs before their own threshold is set."""
MIN_GENUINE = 2
"""Confirmed (genuine) scores a person needs before their own threshold is set."""
STEP = 0.005
"""How far above the highest impostor score a person's threshold goes."""


@dataclasses.dataclass(frozen=True)
class LabelledSamples:
    """One person's corrections: embeddings (unit rows) and the scores they were decided with."""

    embeddings: np.ndarray
    scores: np.ndarray


@dataclasses.dataclass(frozen=True)
class CorrectionSet:
    """Every person's corrections, for one backbone."""

    impostors: Mapping[str, LabelledSamples] = dataclasses.field(default_factory=dict)
    genuine: Mapping[str, LabelledSamples] = dataclasses.field(default_factory=dict)
    version: tuple = ()
    """Changes whenever a correction is added or removed (for caches of decisions)."""

    @property
    def empty(self) -> bool:
        return not self.impostors and not self.genuine

    def person_threshold(self, name: str, base: float) -> float | None:
        """``name``'s own threshold on the decision scale, or ``None`` (the global one decides)."""
        impostors, genuine = self.impostors.get(name), self.genuine.get(name)
        rejected = _finite(impostors)
        confirmed = _finite(genuine)
        if len(rejected) < MIN_IMPOSTORS or len(confirmed) < MIN_GENUINE:
            return None
        own = min(float(rejected.max()) + STEP, float(np.median(confirmed)))
        return own if own > base else None


def _finite(samples: LabelledSamples | None) -> np.ndarray:
    """The scores that were measured (a confirmation of a face named someone else has none)."""
    if samples is None:
        return np.zeros(0)
    return samples.scores[np.isfinite(samples.scores)]


def apply_corrections(faces: list[Face], corrections: CorrectionSet) -> list[Face]:
    """Take back the names that the corrections say are wrong (in place); see the module's rules.
    Faces keep their score; ``reason`` says which rule decided."""
    if corrections.empty:
        return faces
    for face in faces:
        name = face.identity
        if name in (None, UNKNOWN) or face.embedding is None or face.confidence is None:
            continue
        probe = np.asarray(face.embedding, dtype=np.float64)
        impostors = corrections.impostors.get(name)
        if impostors is not None and len(impostors.embeddings):
            to_person = _cosine_to_person(face, name, probe, corrections.genuine.get(name))
            nearest = float((impostors.embeddings @ probe).max())
            if to_person is not None and nearest > to_person:
                _unname(face, f"closer to a face rejected as {display_name(name)} ({nearest:.3f}) than to "
                              f"{display_name(name)} ({to_person:.3f})")
                continue
        own = corrections.person_threshold(name, face.threshold if face.threshold is not None else -np.inf)
        if own is not None and face.confidence < own:
            _unname(face, f"score {face.confidence:.3f} below {display_name(name)}'s threshold {own:.3f} "
                          "(set by corrections)")
    return faces


def _cosine_to_person(face: Face, name: str, probe: np.ndarray, genuine: LabelledSamples | None) -> float | None:
    """The face's plain cosine to ``name``: the decision's (nearest stored photo), or a confirmed
    sample's when closer."""
    best = next((m.cosine if m.cosine is not None else m.score for m in face.matches if m.name == name), None)
    if genuine is not None and len(genuine.embeddings):
        confirmed = float((genuine.embeddings @ probe).max())
        best = confirmed if best is None else max(best, confirmed)
    return best


def _unname(face: Face, why: str) -> None:
    face.identity = UNKNOWN
    face.reason = f"not named: {why}"
