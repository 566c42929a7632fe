"""Identifiers over face embeddings, shaped like scikit-learn estimators, and the open-set rule.

Scores: every embedding is unit length, so similarities are cosines in ``[-1, 1]`` (1 = the
same vector). The open-set rule accepts the chosen person only when the probe's cosine to the
nearest stored embedding of that person reaches the threshold; otherwise the answer is
``"unknown"``. The threshold is calibrated for a target false-accept rate (see
:func:`calibrate_threshold`) and stored with the model.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import SVC

from .faces import UNKNOWN, Match

log = logging.getLogger(__name__)


def _softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class _GalleryMixin:
    """Keeps the training embeddings, grouped by class, for the open-set rule and top-k matches."""

    def _store_gallery(self, X: np.ndarray, y_idx: np.ndarray) -> None:
        order = np.argsort(y_idx, kind="stable")
        self.gallery_ = np.ascontiguousarray(np.asarray(X, dtype=np.float32)[order])
        self.gallery_labels_ = np.asarray(y_idx)[order]
        self.gallery_position_ = np.empty_like(order)
        self.gallery_position_[order] = np.arange(len(order))  # where sample i of X ended up
        # start of each class's block, for a fast per-class max with reduceat
        self._starts = np.flatnonzero(np.r_[True, self.gallery_labels_[1:] != self.gallery_labels_[:-1]])

    def class_similarities(self, X: np.ndarray) -> np.ndarray:
        """``(n, n_classes)``: each probe's cosine to the nearest stored embedding of each class."""
        sims = np.asarray(X, dtype=np.float32) @ self.gallery_.T
        return np.maximum.reduceat(sims, self._starts, axis=1)


class NearestNeighborIdentifier(_GalleryMixin, ClassifierMixin, BaseEstimator):
    """Cosine nearest neighbour: a probe is the person whose stored embeddings are closest.

    The ranking score of a person is the cosine to their nearest stored embedding plus
    ``centroid_weight`` × the cosine to the mean of their embeddings (the mean is steadier for
    people with many photos; the nearest photo catches unusual poses).

    Args:
        centroid_weight: weight of the centroid term (0 = plain 1-nearest-neighbour).
        temperature: scale of the softmax that turns ranking scores into ``predict_proba``.
    """

    def __init__(self, centroid_weight: float = 1.0, temperature: float = 0.05) -> None:
        self.centroid_weight = centroid_weight
        self.temperature = temperature

    def fit(self, X: np.ndarray, y) -> "NearestNeighborIdentifier":
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self._store_gallery(X, self.encoder_.transform(y))
        sums = np.add.reduceat(self.gallery_, self._starts, axis=0)
        self.centroids_ = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        scores = self.class_similarities(X)
        if self.centroid_weight:
            scores = (scores + self.centroid_weight * (X @ self.centroids_.T)) / (1.0 + self.centroid_weight)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _softmax(self.decision_function(X) / self.temperature)


class SVMIdentifier(_GalleryMixin, ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM (the original design) with ``C`` and ``gamma`` chosen by stratified
    cross-validation on the training data only.

    Args:
        C, gamma: fixed hyperparameters; when either is ``None`` both are searched over
            ``param_grid`` with ``cv``-fold stratified cross-validation.
        param_grid: candidate values, ``{"C": [...], "gamma": [...]}``.
        cv: number of folds.
        search_min_samples: the search runs on the people with at least this many training
            samples (every fold then holds each of them; a one-vs-one SVM over all of LFW's 1,680
            people takes minutes per fit, too slow to search). The final fit uses every sample.
        n_jobs: parallel fits during the search.
        random_state: seed of the fold shuffling.
    """

    def __init__(self, C: float | None = None, gamma: float | None = None, param_grid: dict | None = None,
                 cv: int = 3, search_min_samples: int = 6, n_jobs: int = 1, random_state: int = 0,
                 temperature: float = 0.05) -> None:
        self.C = C
        self.search_min_samples = search_min_samples
        self.gamma = gamma
        self.param_grid = param_grid
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.temperature = temperature

    def fit(self, X: np.ndarray, y) -> "SVMIdentifier":
        import warnings

        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        y_idx = self.encoder_.transform(y)
        self._store_gallery(X, y_idx)
        if self.C is None or self.gamma is None:
            grid = self.param_grid or {"C": [1.0, 10.0, 100.0], "gamma": [0.5, 1.0, 2.0]}
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            search = GridSearchCV(SVC(kernel="rbf"), grid, cv=folds, n_jobs=self.n_jobs, scoring="accuracy")
            counts = np.bincount(y_idx)
            rows = counts[y_idx] >= max(self.search_min_samples, self.cv)
            if len(np.unique(y_idx[rows])) < 2:
                rows = counts[y_idx] >= self.cv
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The least populated class")
                search.fit(np.asarray(X)[rows], y_idx[rows])
            self.search_samples_ = int(rows.sum())
            self.best_params_ = dict(search.best_params_)
            self.cv_results_ = {k: np.asarray(v).tolist() for k, v in search.cv_results_.items()
                                if k in ("params", "mean_test_score", "std_test_score")}
            log.info("SVM grid search: best %s (cv accuracy %.4f)", self.best_params_, search.best_score_)
        else:
            self.best_params_ = {"C": self.C, "gamma": self.gamma}
        self.svc_ = SVC(kernel="rbf", decision_function_shape="ovr", **self.best_params_).fit(X, y_idx)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.svc_.decision_function(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.svc_.predict(X)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities from the one-vs-rest decision values (a softmax; not Platt-calibrated,
        which is too costly with thousands of classes and one or two samples per class)."""
        d = self.decision_function(X)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1)
        return _softmax(d / max(self.temperature, 1e-6) / 20.0)


COHORT_SIZE = 20


def cohort_means(class_sims: np.ndarray, k: int = COHORT_SIZE) -> np.ndarray:
    """Mean similarity of each probe to its runner-up people (ranks 2 to k+1).

    A stranger who resembles many people scores high against all of them; subtracting part of
    this mean (see :func:`open_set_scores`) keeps such probes from being accepted.
    """
    n_classes = class_sims.shape[1]
    if n_classes < 2:
        return np.zeros(len(class_sims), np.float32)
    k = min(k, n_classes - 1)
    top = -np.partition(-class_sims, k, axis=1)[:, :k + 1]
    top.sort(axis=1)
    return top[:, :-1].mean(axis=1)  # all but the best


def open_set_scores(best: np.ndarray, cohort: np.ndarray, cohort_weight: float) -> np.ndarray:
    """The score compared with the threshold: cosine to the chosen person, minus
    ``cohort_weight`` × the probe's mean cosine to its runner-up people."""
    return np.asarray(best, np.float32) - np.float32(cohort_weight) * np.asarray(cohort, np.float32)


def identify(classifier, X: np.ndarray, threshold: float, top_k: int = 3, cohort_weight: float = 0.0):
    """Open-set decisions for probes ``X``.

    Returns ``(names, scores, matches, cohort)``: the chosen name or ``"unknown"``; the score
    (cosine between the probe and the nearest stored embedding of the chosen person, minus
    ``cohort_weight`` × the probe's cohort mean); the ``top_k`` people by cosine; and the
    cohort means (so other galleries can be scored on the same scale).
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float32))
    if len(X) == 0:
        return [], np.zeros(0, np.float32), [], np.zeros(0, np.float32)
    sims = classifier.class_similarities(X)
    chosen = classifier.predict(X)
    chosen_idx = classifier.encoder_.transform(chosen)
    cohort = cohort_means(sims)
    scores = open_set_scores(sims[np.arange(len(X)), chosen_idx], cohort, cohort_weight)
    names = [str(c) if s >= threshold else UNKNOWN for c, s in zip(chosen, scores)]
    k = min(top_k, sims.shape[1])
    order = np.argsort(-sims, axis=1)[:, :k]
    matches = [[Match(str(classifier.classes_[j]), float(sims[i, j])) for j in order[i]] for i in range(len(X))]
    return names, scores, matches, cohort


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
        sims = X[block] @ nn.gallery_.T
        rows = np.arange(sims.shape[0])
        own = y_idx[block]
        sims[rows, nn.gallery_position_[block]] = -1.0  # the probe is not its own neighbour
        cls = np.maximum.reduceat(sims, nn._starts, axis=1)
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
    from .evaluate import open_set_metrics

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
    from .evaluate import threshold_at_far

    if len(impostors) == 0:
        raise ValueError("no impostor scores to calibrate on")
    return threshold_at_far(impostors, far)
