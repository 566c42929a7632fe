"""The one search kernel: probe-to-sample cosines, the per-person maximum, top-k people and
cohort means. Every identity source (the trained model, the gallery) searches with these.

Embeddings are unit length, so a dot product is a cosine in ``[-1, 1]``. Samples are stored
grouped by person: person ``i`` owns rows ``starts[i]:starts[i + 1]``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..faces import Match

COHORT_SIZE = 20
"""How many runner-up people make a probe's cohort (see :func:`cohort_means`)."""

GEMV_PROBES = 8
"""Up to this many probes are compared one at a time: on a busy 2-core machine one
single-threaded pass over the samples per probe is several times faster than a BLAS product
whose threads wait for each other. More probes (evaluation, calibration) use one matrix product."""


def similarities(X: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """``(n_probes, n_samples)`` float32 cosines of each probe row to each stored sample."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float32))
    samples = np.asarray(samples, dtype=np.float32)
    if len(X) > GEMV_PROBES:
        return X @ samples.T
    sims = np.empty((len(X), len(samples)), np.float32)
    for i, x in enumerate(X):
        np.einsum("ij,j->i", samples, x, out=sims[i])
    return sims


def per_person_max(sims: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``(n_probes, n_people)``: each probe's cosine to the nearest sample of each person."""
    return np.maximum.reduceat(sims, starts, axis=1)


def top_matches(person_sims: np.ndarray, names: Sequence[str], top_k: int) -> list[list[Match]]:
    """The ``top_k`` people of each probe by cosine, best first (ties keep the people's order)."""
    k = min(max(int(top_k), 1), len(names))
    if k < len(names):
        top = np.argpartition(-person_sims, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(len(names)), person_sims.shape)
    out = []
    for i in range(len(person_sims)):
        order = top[i][np.argsort(-person_sims[i, top[i]], kind="stable")]
        out.append([Match(str(names[j]), float(person_sims[i, j])) for j in order])
    return out


def cohort_means(person_sims: np.ndarray, k: int = COHORT_SIZE) -> np.ndarray:
    """Mean similarity of each probe to its runner-up people (ranks 2 to k+1).

    A stranger who resembles many people scores high against all of them; subtracting part of
    this mean (see :func:`open_set_scores`) keeps such probes from being accepted.
    """
    n_people = person_sims.shape[1]
    if n_people < 2:
        return np.zeros(len(person_sims), np.float32)
    k = min(k, n_people - 1)
    top = -np.partition(-person_sims, k, axis=1)[:, :k + 1]
    top.sort(axis=1)
    return top[:, :-1].mean(axis=1)  # all but the best


def top_means(sims: np.ndarray, k: int) -> np.ndarray:
    """Each row's mean of its ``k`` largest values (``k`` at least 1, at most the row's length)."""
    k = min(max(int(k), 1), sims.shape[1])
    return -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)


def unit_means(samples: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each person's unit mean embedding (their *template*), samples grouped as in :func:`per_person_max`."""
    sums = np.add.reduceat(np.asarray(samples, np.float32), starts, axis=0)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def hub_means(templates: np.ndarray, others: np.ndarray, k: int, *, exclude_self: bool = False) -> np.ndarray:
    """Each template's mean cosine to its ``k`` nearest rows of ``others`` (with ``exclude_self``,
    ``others`` is ``templates`` and a row is not its own neighbour). A person whose face lies close
    to many others (a *hub*) attracts strangers; the open-set rule discounts them by this."""
    available = len(others) - int(exclude_self)
    if available < 1 or len(templates) == 0:
        return np.zeros(len(templates), np.float32)
    sims = similarities(templates, others)
    if exclude_self:
        np.fill_diagonal(sims, -1.0)
    return top_means(sims, min(int(k), available))


def open_set_scores(best, cohort, cohort_weight: float) -> np.ndarray:
    """The score compared with the threshold: cosine to the chosen person, minus
    ``cohort_weight`` × the probe's mean cosine to its runner-up people (float32)."""
    return np.asarray(best, np.float32) - np.float32(cohort_weight) * np.asarray(cohort, np.float32)
