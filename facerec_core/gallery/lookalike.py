"""Look-alikes: does a face about to be enrolled already look like someone known?

Before a new person (or a new photo of someone) is stored, its embedding is searched in every
identity source the recognizer uses (the trained model's people and the gallery) and scored the
way :func:`facerec_core.identity.decide` scores a face: ``cosine − cohort_weight × cohort``.
Anyone other than the person being enrolled whose score reaches the open-set threshold is a
:class:`LookAlike`: the face would be *named as them* on the Recognize page. That is either the
same person enrolled twice under two names (a duplicate) or a genuine look-alike; only a person can
tell, so the caller shows it and lets them go on or cancel.

When photos are added to someone already in the gallery, the opposite is checked too: a photo whose
score against that person stays below the threshold (:func:`unlike_score`) is probably of someone
else. Only scores and names are returned or logged, never an embedding.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np

from ..faces import display_name
from ..identity.decide import Thresholds
from ..identity.kernel import open_set_scores
from ..identity.sources import IdentitySource
from .checks import lookup_key
from .search import GallerySource

log = logging.getLogger(__name__)

GALLERY = "gallery"
MODEL = "trained model"
LOOK_ALIKE_TOP_K = 5
"""How many people of each source are compared per face: more than five above the threshold
would say more about the threshold than about the face."""


@dataclasses.dataclass(frozen=True)
class LookAlike:
    """A known person a new face would be named as.

    Attributes:
        name: who it looks like, as the source holds the name (LFW's ``Colin_Powell``).
        score: the face's open-set score against them (cosine to their nearest sample, minus the
            cohort share), on the same scale as ``threshold``.
        threshold: the open-set threshold the score reached.
        where: ``"gallery"`` or ``"trained model"``.
    """

    name: str
    score: float
    threshold: float
    where: str

    def message(self) -> str:
        """One sentence for people: who, where, both numbers named, and the two explanations."""
        where = "enrolled in the gallery" if self.where == GALLERY else "known to the trained model"
        return (f"looks like {display_name(self.name)} ({where}; similarity {self.score:.3f} ≥ threshold "
                f"{self.threshold:.3f}): the same person under another name, or a look-alike?")


def source_label(source: IdentitySource) -> str:
    return GALLERY if isinstance(source, GallerySource) else MODEL


def _same_person(a: str, b: str) -> bool:
    """Names compared the way the gallery compares them, LFW underscores as spaces."""
    return lookup_key(display_name(a)) == lookup_key(display_name(b))


@dataclasses.dataclass(frozen=True)
class Resemblance:
    """What one new face resembles.

    Attributes:
        look_alikes: the known people (other than the one being enrolled) it would be named as,
            best first.
        own_score: its open-set score against the gallery samples of the person being enrolled,
            or ``None`` when they have none yet (a new person).
        threshold: the open-set threshold both are compared with.
    """

    look_alikes: list[LookAlike]
    own_score: float | None
    threshold: float

    @property
    def unlike(self) -> bool:
        """The face does not reach the threshold against the person it is added to: perhaps a
        photo of someone else."""
        return self.own_score is not None and self.own_score < self.threshold


def compare_with_known(X: np.ndarray, sources: Sequence[IdentitySource], thresholds: Thresholds, name: str, *,
                       top_k: int = LOOK_ALIKE_TOP_K) -> list[Resemblance]:
    """For each row of ``X`` (unit embeddings of faces to be enrolled as ``name``): every person
    of every source, other than ``name`` (compared by name key), whose open-set score reaches
    ``thresholds.identify``, and the score against ``name``'s own gallery samples.

    Scores are those :func:`facerec_core.identity.decide` compares with the threshold. A source
    holding nobody has no opinion; with no source nothing is flagged.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float32))
    if len(X) == 0:
        return []
    threshold = float(thresholds.identify)
    answers = [(s, a) for s in sources if (a := s.search(X, top_k))]
    gallery = next((s for s in sources if isinstance(s, GallerySource)), None)
    own = _own_similarities(X, gallery, name)
    found = []
    for i in range(len(X)):
        # the cohort of the first source that holds one (the model), as decide() takes it
        cohort = next((a[i].cohort for _, a in answers if a[i].cohort is not None), 0.0)
        alikes = []
        for source, answer in answers:
            for match in answer[i].matches:
                score = float(open_set_scores(match.score, cohort, thresholds.cohort_weight))
                if score >= threshold and not _same_person(match.name, name):
                    alikes.append(LookAlike(match.name, score, threshold, source_label(source)))
        alikes.sort(key=lambda la: -la.score)
        own_score = None if own is None else float(open_set_scores(own[i], cohort, thresholds.cohort_weight))
        found.append(Resemblance(alikes, own_score, threshold))
    flagged = sum(bool(r.look_alikes) for r in found)
    if flagged or any(r.unlike for r in found):
        log.info("look-alike check: %d of %d faces resemble someone else, %d do not reach the person",
                 flagged, len(X), sum(r.unlike for r in found))
    return found


def _own_similarities(X: np.ndarray, gallery: GallerySource | None, name: str) -> np.ndarray | None:
    """Each row's cosine to ``name``'s nearest gallery sample (``None``: no samples of theirs)."""
    if gallery is None:
        return None
    sims, names = gallery.person_similarities(X)
    column = next((j for j, n in enumerate(names) if _same_person(n, name)), None)
    return None if column is None else sims[:, column]
