"""The enrolled gallery as an identity source.

Search is the identity kernel over the embeddings held in memory as one float32 matrix, reloaded
whenever the store's change counter moves (another session or process enrolled or deleted
someone), so new enrollments count at once (``bench/gallery_search.py``: about 2 ms per probe at
100k samples, 2 cores). The gallery answers raw cosines; the threshold and the cohort shift are
applied by :func:`facerec_core.identity.decide`, for the gallery and the trained model alike.

Three options serve galleries of few photos per person (measured by :mod:`facerec_core.fewshot`,
``bench/fewshot.py``; together they are the backbone's
:class:`~facerec_core.backbones.specs.FewShotRule`, used without a trained model):
``template`` scores a person by the mean of the cosine to their nearest sample and the cosine to
their mean template (one odd photo weighs less, and k photos average out instead of the maximum
of k chances rising with k); ``background`` is a matrix of embeddings of people who are never
enrolled (:mod:`facerec_core.gallery.background`), whose top-``cohort_size`` mean cosine becomes
the candidate's cohort, so the cohort shift of the open-set rule works without a trained model (a
stranger who resembles everybody is discounted); ``person_cohort_weight`` discounts each enrolled
person the same way, by their template's mean cosine to their nearest background faces (a person
who resembles everybody attracts strangers).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from ..backbones.specs import FewShotRule
from ..errors import FacerecError
from ..identity.kernel import COHORT_SIZE, per_person_max, similarities, top_matches, top_means
from ..identity.sources import Candidate, ModelSource
from ..settings import Settings
from .records import GalleryMatrix
from .store import FROM_SETTINGS, GalleryStore, gallery_path

log = logging.getLogger(__name__)


class GallerySource:
    """Nearest-neighbour search over the enrolled people of one backbone.

    Args:
        store: a :class:`GalleryStore`, or the path of its file (opened when it exists; until then
            the gallery is empty and nothing is created).
        backbone: only samples of this backbone are searched.
        key_file: the gallery's encryption key (see :class:`GalleryStore`), for a path.
        template: score each person by the mean of the nearest-sample cosine and the cosine to
            the person's mean template (see the module's docstring) instead of the nearest sample.
        background: unit embeddings of people never enrolled (this backbone's): the probe's mean
            cosine to its ``cohort_size`` nearest rows is every candidate's cohort.
        person_cohort_weight: with ``background``, each person's similarity is lowered by this
            share of their mean template's mean cosine to its ``cohort_size`` nearest rows.
        cohort_size: background rows averaged for a cohort.
        template_mix: with ``template``, the template cosine's share of a person's similarity
            (the rest is the nearest sample's cosine).
    """

    RETRY_SECONDS = 30

    def __init__(self, store: GalleryStore | str | os.PathLike, backbone: str, *,
                 key_file: str | os.PathLike | None | object = FROM_SETTINGS, template: bool = False,
                 background: np.ndarray | None = None, person_cohort_weight: float = 0.0,
                 cohort_size: int = COHORT_SIZE, template_mix: float = 0.5) -> None:
        self._key_file = key_file
        self.template = bool(template)
        self.template_mix = float(template_mix)
        self.background = None if background is None else np.ascontiguousarray(background, dtype=np.float32)
        self.person_cohort_weight = float(person_cohort_weight) if self.background is not None else 0.0
        self.cohort_size = int(cohort_size)
        self._templates: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self._store = store if isinstance(store, GalleryStore) else None
        self.path = store.path if isinstance(store, GalleryStore) else Path(store)
        self.backbone = backbone
        self._matrix: GalleryMatrix | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._warned = False

    @classmethod
    def for_settings(cls, settings: Settings, backbone: str | None = None, *, rule: FewShotRule | None = None,
                     background: np.ndarray | None = None, model: ModelSource | None = None) -> "GallerySource":
        """The gallery of ``settings`` (opened lazily, never created here); with a few-shot
        ``rule`` and its ``background`` cohort, searched by that rule. Beside a trained ``model``
        whose :class:`~facerec_core.identity.sources.PersonRule` mixes templates or discounts hubs,
        the gallery's people are scored the same way (their hubs are the model's people), so that
        both sources' candidates lie on one scale."""
        options: dict = {}
        if model is not None and not model.rule.plain:
            options = {"template": model.rule.template_mix > 0, "template_mix": model.rule.template_mix,
                       "background": model.templates, "person_cohort_weight": model.rule.hub_weight,
                       "cohort_size": model.rule.hub_size}
        elif rule is not None and background is not None:
            options = {"template": True, "background": background, "person_cohort_weight": rule.person_cohort_weight,
                       "cohort_size": rule.cohort_size}
        return cls(gallery_path(settings), backbone or settings.backbone, key_file=settings.gallery_key_file,
                   **options)

    def _open(self) -> GalleryStore | None:
        if self._store is None and self.path.is_file():
            self._store = GalleryStore(self.path, key_file=self._key_file)
        return self._store

    def refresh(self) -> GalleryMatrix | None:
        """The current search matrix, reloaded if the store changed (``None``: no gallery yet).
        A store that cannot be read leaves the last good matrix in use (logged)."""
        with self._lock:
            if time.monotonic() < self._retry_at:
                return self._matrix
            try:
                store = self._open()
                if store is None:
                    return self._matrix
                if self._matrix is None or store.generation() != self._matrix.generation:
                    self._matrix = store.matrix(self.backbone)
                    log.debug("gallery reloaded: %d samples of %d people", len(self._matrix.X),
                              len(self._matrix.names))
            except (sqlite3.Error, FacerecError) as exc:
                # searched for every video frame: say it once, then try again in a while
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
                log.error("the gallery %s cannot be read (%s); using what was loaded before, retrying in %d s",
                          self.path, exc, self.RETRY_SECONDS)
            return self._matrix

    @property
    def generation(self) -> int | None:
        """The store's change counter at the last load (``None``: no gallery yet): anything
        cached from a search is stale when it moves."""
        m = self.refresh()
        return None if m is None else m.generation

    def __len__(self) -> int:
        m = self.refresh()
        return 0 if m is None else len(m.X)

    @property
    def people(self) -> list[str]:
        m = self.refresh()
        return [] if m is None else list(m.names)

    def person_similarities(self, X: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """``(n, n_people)`` similarity of each probe to each person, and the names: the cosine to
        the person's nearest sample, or with the options of the few-shot rule (see the module's
        docstring) that mixed with the template cosine and lowered by the person's cohort."""
        m = self.refresh()
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if m is None or not m.names:
            return np.zeros((len(X), 0), np.float32), []
        if X.shape[1] != m.X.shape[1]:  # probes of another backbone: no opinion rather than a crash
            if not self._warned:
                self._warned = True
                log.error("gallery %s: probes have %d values but its %s samples %d; the gallery is not searched",
                          self.path, X.shape[1], self.backbone, m.X.shape[1])
            return np.zeros((len(X), 0), np.float32), []
        person = per_person_max(similarities(X, m.X), m.starts)
        if self.template or self.person_cohort_weight:
            templates, person_cohorts = self._mean_templates(m)
            if self.template:
                mix = np.float32(self.template_mix)
                person = (1 - mix) * person + mix * similarities(X, templates)
            if person_cohorts is not None:
                person = person - np.float32(self.person_cohort_weight) * person_cohorts
        return person, m.names

    def _mean_templates(self, m: GalleryMatrix) -> tuple[np.ndarray, np.ndarray | None]:
        """Each person's unit mean embedding and, with a person cohort weight, its mean cosine to
        its nearest background rows; cached per gallery generation."""
        if self._templates is None or self._templates[0] != m.generation:
            sums = np.add.reduceat(m.X, m.starts, axis=0)
            templates = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            cohorts = self.cohort(templates) if self.person_cohort_weight else None
            self._templates = (m.generation, templates, cohorts)
        return self._templates[1], self._templates[2]

    def cohort(self, X: np.ndarray) -> np.ndarray | None:
        """Each row's mean cosine to its ``cohort_size`` nearest background rows (``None``: no
        background)."""
        if self.background is None or len(self.background) == 0:
            return None
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if X.shape[1] != self.background.shape[1]:
            return None
        return top_means(similarities(X, self.background), self.cohort_size)

    def search(self, X: np.ndarray, top_k: int = 3) -> list[Candidate]:
        """Per probe row, the nearest person with the cosine to their nearest sample and the
        top-k people. An empty gallery returns ``[]`` (it has no opinion, so a decision is
        exactly what it would be without a gallery)."""
        sims, names = self.person_similarities(X)
        if not names:
            return []
        cohort = self.cohort(X)
        return [Candidate(m[0].name, m[0].score, m, None if cohort is None else float(cohort[i]))
                for i, m in enumerate(top_matches(sims, names, top_k))]
