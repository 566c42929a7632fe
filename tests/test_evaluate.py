"""Metrics and protocols: closed-set identification, LFW View-2 verification, open-set DIR/FAR."""
import numpy as np
import pytest

from facerec_core.evaluate import (best_threshold, closed_set_metrics, open_set_metrics, tar_at_far,
                                   verification_10fold)
from tests.support.embeddings import clusters


def test_closed_set_metrics():
    m = closed_set_metrics(["a", "a", "b", "c"], ["a", "b", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["macro_recall"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert m["macro_precision"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_verification_protocol():
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 300)
    scores = np.where(same, rng.normal(0.7, 0.1, 600), rng.normal(0.2, 0.1, 600))
    folds = np.tile(np.repeat(np.arange(10), 30), 2)
    res = verification_10fold(scores, same, folds)
    assert 0.98 < res["accuracy_mean"] <= 1.0 and len(res["fold_accuracies"]) == 10
    assert 0.3 < res["threshold"] < 0.6
    thr = best_threshold(scores, same)
    assert ((scores >= thr) == same).mean() >= res["accuracy_mean"] - 0.01
    assert tar_at_far(scores, same, 0.01) > 0.9
    assert tar_at_far(np.array([0.9, 0.1, 0.5]), np.array([True, False, False]), 0.0) == 1.0


def test_open_set_metrics():
    out = open_set_metrics(known_scores=[0.9, 0.8, 0.3], known_correct=[True, True, False],
                           unknown_scores=np.linspace(0, 0.85, 100))
    assert out["rank1"] == pytest.approx(2 / 3)
    assert out["dir_at_far_0.01"] == pytest.approx(1 / 3)  # only the 0.9 probe beats the top stranger


def test_verification_with_cohort_normalisation():
    from facerec_core.evaluate import verification_10fold_normalized

    rng = np.random.default_rng(3)
    same = np.repeat([True, False], 300)
    cohort = rng.uniform(0, 0.5, 600)
    # impostor pairs that look like everyone score high: the cohort term separates them
    raw = np.where(same, 0.6 + 0.1 * rng.normal(size=600), 0.2 + cohort + 0.05 * rng.normal(size=600))
    folds = np.tile(np.repeat(np.arange(10), 30), 2)
    plain = verification_10fold(raw, same, folds)
    norm = verification_10fold_normalized(raw, cohort, same, folds)
    assert norm["accuracy_mean"] > plain["accuracy_mean"]
    assert norm["cohort_weight"] > 0 and len(norm["weights"]) == 10


def test_project_2d():
    from facerec_core.evaluate import project_2d

    X, _ = clusters(n_people=4, per_person=5)
    for method in ("PCA", "t-SNE"):
        assert project_2d(X, method).shape == (20, 2)
    with pytest.raises(ValueError):
        project_2d(X, "UMAP")
