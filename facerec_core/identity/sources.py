"""What an identity source answers, and the trained model as one.

A source holds known people and answers, for each probe embedding, the person it would name
with the raw cosine behind it (:class:`Candidate`). It does not apply a threshold: that is
:func:`~facerec_core.identity.decide.decide`'s job, once, for every source together.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..faces import Match
from .kernel import cohort_means, top_matches


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One source's answer for one probe.

    Attributes:
        name: the person this source would name.
        score: the probe's cosine to that person's nearest stored sample.
        matches: the source's top-k people by cosine, best first.
        cohort: the probe's mean cosine to the source's runner-up people (its background
            cohort), for sources that hold one (the trained model); ``None`` otherwise.
    """

    name: str
    score: float
    matches: list[Match]
    cohort: float | None = None


@runtime_checkable
class IdentitySource(Protocol):
    """Anything that can be searched for known people."""

    def search(self, X: np.ndarray, top_k: int) -> list[Candidate]:
        """One :class:`Candidate` per row of ``X`` (unit embeddings), or ``[]`` when the source
        holds nobody (it then has no opinion)."""
        ...


class FittedIdentifier(Protocol):
    """A fitted identifier of :mod:`.identifiers` (scikit-learn shaped)."""

    classes_: np.ndarray
    encoder_: Any

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def class_similarities(self, X: np.ndarray) -> np.ndarray: ...


class ModelSource:
    """The trained identifier as an identity source.

    The person named is the identifier's prediction (for the SVM not always the nearest person);
    its score is the cosine to that person's nearest training embedding, and the cohort is the
    probe's mean cosine to its runner-up people among the model's classes.
    """

    def __init__(self, identifier: FittedIdentifier) -> None:
        self.identifier = identifier

    @property
    def people(self) -> list[str]:
        return [str(c) for c in self.identifier.classes_]

    def search(self, X: np.ndarray, top_k: int) -> list[Candidate]:
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if len(X) == 0:
            return []
        sims = self.identifier.class_similarities(X)
        chosen = self.identifier.predict(X)
        chosen_idx = self.identifier.encoder_.transform(chosen)
        cohort = cohort_means(sims)
        matches = top_matches(sims, self.identifier.classes_, top_k)
        return [Candidate(str(chosen[i]), float(sims[i, chosen_idx[i]]), matches[i], float(cohort[i]))
                for i in range(len(X))]

    def cohort(self, X: np.ndarray) -> np.ndarray:
        """Each probe's cohort mean (see :func:`~.kernel.cohort_means`)."""
        return cohort_means(self.identifier.class_similarities(np.atleast_2d(np.asarray(X, np.float32))))
