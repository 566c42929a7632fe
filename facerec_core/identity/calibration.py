"""Calibration of the open-set rule on training data only.

Scores: every embedding is unit length, so similarities are cosines in ``[-1, 1]``. The open-set
rule accepts the chosen person only when the probe's score (the cosine to that person's nearest
stored embedding minus a weight × its cohort mean, :func:`~.kernel.open_set_scores`) reaches the
threshold; the weight and threshold are chosen here for a target false-accept rate and stored
with the model.
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder

from ..evaluate import open_set_metrics, threshold_at_far
from .identifiers import NearestNeighborIdentifier
from .kernel import cohort_means, open_set_scores, per_person_max, similarities


def leave_one_out_scores(X: np.ndarray, y) -> dict[str, np.ndarray]:
    """Open-set scores simulated inside a training set, for calibration without test data.

    Each sample is a probe against all the others: as a *known* probe (its own other photos stay
    in the gallery; samples of people with a single photo are skipped) and as a *stranger* (its
    person removed). Returns best cosines, cohort means and, for known probes, whether the best
    person was right.
    """
    X = np.asarray(X, dtype=np.float32)
    enc = LabelEncoder().fit(y)
    y_idx = enc.transform(y)
    nn = NearestNeighborIdentifier().fit(X, y)
    counts = np.bincount(y_idx)
    out = {k: [] for k in ("known_best", "known_cohort", "known_correct", "unknown_best", "unknown_cohort")}
    for start in range(0, len(X), 512):
        block = slice(start, min(start + 512, len(X)))
        sims = similarities(X[block], nn.gallery_)
        rows = np.arange(sims.shape[0])
        own = y_idx[block]
        sims[rows, nn.gallery_position_[block]] = -1.0  # the probe is not its own neighbour
        cls = per_person_max(sims, nn._starts)
        known = counts[own] >= 2
        best_idx = cls.argmax(axis=1)
        out["known_best"].append(cls[rows, best_idx][known])
        out["known_cohort"].append(cohort_means(cls)[known])
        out["known_correct"].append((best_idx == own)[known])
        cls[rows, own] = -1.0  # the person leaves the gallery: the probe is now a stranger
        out["unknown_best"].append(cls.max(axis=1))
        out["unknown_cohort"].append(cohort_means(cls))
    return {k: np.concatenate(v) for k, v in out.items()}


def calibrate_open_set(X: np.ndarray, y, far: float = 0.01,
                       weights=(0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> dict:
    """Choose the cohort weight and the threshold on training data only.

    The weight maximises the simulated detection-and-identification rate at ``far`` and at
    ``far / 10``; the threshold then accepts at most ``far`` of the simulated strangers.
    """
    loo = leave_one_out_scores(X, y)
    best = None
    for w in weights:
        m = open_set_metrics(open_set_scores(loo["known_best"], loo["known_cohort"], w), loo["known_correct"],
                             open_set_scores(loo["unknown_best"], loo["unknown_cohort"], w), fars=(far, far / 10))
        value = m[f"dir_at_far_{far:g}"] + m[f"dir_at_far_{far / 10:g}"]
        if best is None or value > best[0] + 1e-9:
            best = (value, w, m)
    _, weight, metrics = best
    threshold = calibrate_threshold(open_set_scores(loo["unknown_best"], loo["unknown_cohort"], weight), far)
    return {"cohort_weight": float(weight), "threshold": threshold, "target_far": far,
            "simulated_dir": {k: v for k, v in metrics.items() if k.startswith("dir_at")},
            "calibration": "leave-one-out within the training data (each person in turn plays the stranger)"}


def calibrate_threshold(impostors: np.ndarray, far: float = 0.01) -> float:
    """The smallest threshold at which at most ``far`` of the impostor scores are accepted."""
    if len(impostors) == 0:
        raise ValueError("no impostor scores to calibrate on")
    return threshold_at_far(impostors, far)
