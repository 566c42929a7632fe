"""Identifiers over face embeddings, shaped like scikit-learn estimators.

Both keep their training embeddings grouped by person, so the open-set rule and the top-k
matches (:class:`~.sources.ModelSource`) can use each probe's cosine to the nearest stored
embedding of each person; ``predict`` is the identifier's own choice.
"""
from __future__ import annotations

import logging
import warnings
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import ParameterGrid, StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import SVC

from .kernel import per_person_max, similarities, unit_means

log = logging.getLogger(__name__)


def _check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise InterruptedError("cancelled during the SVM fit")


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

    def _restore_gallery(self, gallery: np.ndarray, labels: np.ndarray, position: np.ndarray) -> None:
        """Set the stored embeddings as :meth:`_store_gallery` left them (already grouped by class),
        for a model read back from disk (:mod:`facerec_core.model_files`)."""
        self.gallery_ = np.ascontiguousarray(gallery, dtype=np.float32)
        self.gallery_labels_ = np.asarray(labels, dtype=np.int64)
        self.gallery_position_ = np.asarray(position, dtype=np.int64)
        self._starts = np.flatnonzero(np.r_[True, self.gallery_labels_[1:] != self.gallery_labels_[:-1]])

    def class_similarities(self, X: np.ndarray) -> np.ndarray:
        """``(n, n_classes)``: each probe's cosine to the nearest stored embedding of each class."""
        return per_person_max(similarities(X, self.gallery_), self._starts)

    def class_templates(self) -> np.ndarray:
        """``(n_classes, d)``: each class's unit mean stored embedding (its template)."""
        return unit_means(self.gallery_, self._starts)


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
        self.centroids_ = self.class_templates()
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

    def fit(self, X: np.ndarray, y, *, progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> "SVMIdentifier":
        """Fit, searching C and gamma first when they are not set.

        Args:
            progress: ``fn(done, total)`` after each of the search's fits (and the final one).
            should_stop: polled before each fit; returning True raises InterruptedError.
        """
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        y_idx = self.encoder_.transform(y)
        self._store_gallery(X, y_idx)
        if self.C is None or self.gamma is None:
            grid = self.param_grid or {"C": [1.0, 10.0, 100.0], "gamma": [0.5, 1.0, 2.0]}
            counts = np.bincount(y_idx)
            rows = counts[y_idx] >= max(self.search_min_samples, self.cv)
            if len(np.unique(y_idx[rows])) < 2:
                rows = counts[y_idx] >= self.cv
            self._search(np.asarray(X)[rows], y_idx[rows], grid, progress, should_stop)
            self.search_samples_ = int(rows.sum())
        else:
            self.best_params_ = {"C": self.C, "gamma": self.gamma}
        total = self._fits_planned
        _check(should_stop)
        self.svc_ = SVC(kernel="rbf", decision_function_shape="ovr", **self.best_params_).fit(X, y_idx)
        if progress is not None:
            progress(total, total)
        return self

    @property
    def _fits_planned(self) -> int:
        return len(getattr(self, "cv_results_", {}).get("params", [])) * self.cv + 1

    def _search(self, X: np.ndarray, y_idx: np.ndarray, grid: dict, progress, should_stop) -> None:
        """GridSearchCV's choice (mean accuracy over stratified folds, the first best in grid
        order), one fit at a time so that progress is reported and a stop is seen between fits."""
        params = list(ParameterGrid(grid))
        folds = list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(X, y_idx))
        total, done = len(params) * len(folds) + 1, 0
        scores = np.zeros((len(params), len(folds)))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class")
            for i, p in enumerate(params):
                for j, (train, test) in enumerate(folds):
                    _check(should_stop)
                    svc = SVC(kernel="rbf", **p).fit(X[train], y_idx[train])
                    scores[i, j] = float((svc.predict(X[test]) == y_idx[test]).mean())
                    done += 1
                    if progress is not None:
                        progress(done, total)
        mean = scores.mean(axis=1)
        best = int(np.flatnonzero(mean == mean.max())[0])
        self.best_params_ = dict(params[best])
        self.cv_results_ = {"params": params, "mean_test_score": mean.tolist(),
                            "std_test_score": scores.std(axis=1).tolist()}
        log.info("SVM grid search: best %s (cv accuracy %.4f)", self.best_params_, mean[best])

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
