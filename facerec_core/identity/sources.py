"""What an identity source answers, and the trained model as one.

A source holds known people and answers, for each probe embedding, the person it would name
with the raw cosine behind it (:class:`Candidate`). It does not apply a threshold: that is
:func:`~facerec_core.identity.decide.decide`'s job, once, for every source together.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

from ..faces import Match
from .kernel import cohort_means, hub_means, similarities, top_matches


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One source's answer for one probe.

    Attributes:
        name: the person this source would name.
        score: the probe's similarity to that person: the cosine to their nearest stored sample,
            or the source's rule built on it (:class:`PersonRule`, the few-shot gallery rule).
        matches: the source's top-k people by that similarity, best first.
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

    def class_templates(self) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class PersonRule:
    """How a trained model scores a probe against a person, as calibrated with it
    (:func:`~facerec_core.identity.calibration.calibrate_open_set`, stored in the manifest).

    A person's similarity is ``(1 − template_mix) ×`` the cosine to their nearest photo ``+
    template_mix ×`` the cosine to their mean embedding (template), ``− hub_weight ×`` the
    template's mean cosine to the ``hub_size`` nearest other people's templates: a person who
    looks like many others (a *hub*) attracts strangers. The defaults are the nearest photo alone
    (models trained before this rule).
    """

    template_mix: float = 0.0
    hub_weight: float = 0.0
    hub_size: int = 5

    @classmethod
    def from_thresholds(cls, thresholds: Mapping[str, Any] | None) -> "PersonRule":
        """The rule a manifest's ``thresholds`` store (the defaults where they store none)."""
        t = thresholds or {}
        return cls(float(t.get("template_mix", 0.0)), float(t.get("hub_weight", 0.0)), int(t.get("hub_size", 5)))

    @property
    def plain(self) -> bool:
        """Whether this is the nearest photo's cosine alone."""
        return not self.template_mix and not self.hub_weight


class ModelSource:
    """The trained identifier as an identity source.

    The person named is the identifier's prediction (for the SVM not always the nearest person);
    its score is that person's similarity by ``rule`` (:class:`PersonRule`: by default the cosine
    to their nearest training embedding), and the cohort is the probe's mean cosine to its
    runner-up people among the model's classes (nearest photos).
    """

    def __init__(self, identifier: FittedIdentifier, rule: PersonRule | None = None) -> None:
        self.identifier = identifier
        self.rule = rule or PersonRule()
        self._templates: tuple[np.ndarray, np.ndarray] | None = None
        self._column: dict[str, int] | None = None

    @property
    def templates(self) -> np.ndarray:
        """Each class's unit mean training embedding, in ``classes_`` order."""
        return self._person_terms()[0]

    def _person_terms(self) -> tuple[np.ndarray, np.ndarray]:
        if self._templates is None:
            templates = self.identifier.class_templates()
            hubs = hub_means(templates, templates, self.rule.hub_size, exclude_self=True)
            self._templates = (templates, hubs)
        return self._templates

    def _columns(self) -> dict[str, int]:
        if self._column is None:
            self._column = {str(c): j for j, c in enumerate(self.identifier.classes_)}
        return self._column

    def person_similarities(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rule similarities, nearest-photo cosines)``, each ``(n, n_classes)``."""
        nearest = self.identifier.class_similarities(X)
        if self.rule.plain:
            return nearest, nearest
        templates, hubs = self._person_terms()
        mix = np.float32(self.rule.template_mix)
        person = (1 - mix) * nearest + mix * similarities(X, templates) - np.float32(self.rule.hub_weight) * hubs
        return person, nearest

    @property
    def people(self) -> list[str]:
        return [str(c) for c in self.identifier.classes_]

    def search(self, X: np.ndarray, top_k: int) -> list[Candidate]:
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if len(X) == 0:
            return []
        sims, nearest = self.person_similarities(X)
        chosen = self.identifier.predict(X)
        chosen_idx = self.identifier.encoder_.transform(chosen)
        cohort = cohort_means(nearest)
        matches = top_matches(sims, self.identifier.classes_, top_k)
        if not self.rule.plain:  # each match keeps the plain cosine behind its similarity
            column = self._columns()
            matches = [[dataclasses.replace(m, cosine=float(nearest[i, column[m.name]])) for m in row]
                       for i, row in enumerate(matches)]
        return [Candidate(str(chosen[i]), float(sims[i, chosen_idx[i]]), matches[i], float(cohort[i]))
                for i in range(len(X))]

    def cohort(self, X: np.ndarray) -> np.ndarray:
        """Each probe's cohort mean (see :func:`~.kernel.cohort_means`)."""
        return cohort_means(self.identifier.class_similarities(np.atleast_2d(np.asarray(X, np.float32))))
