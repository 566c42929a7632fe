"""Identifiers, threshold calibration and metrics."""
import numpy as np
import pytest

from facerec_core.evaluate import (best_threshold, closed_set_metrics, open_set_metrics, tar_at_far,
                                   verification_10fold)
from facerec_core.faces import UNKNOWN
from facerec_core.identify import (NearestNeighborIdentifier, SVMIdentifier, calibrate_open_set,
                                   calibrate_threshold, cohort_means, identify,
                                   leave_one_out_scores)


def clusters(n_people=5, per_person=6, dim=16, spread=0.15, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    X = np.repeat(centres, per_person, axis=0) + spread * rng.normal(size=(n_people * per_person, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.repeat([f"person_{i}" for i in range(n_people)], per_person)
    return X.astype(np.float32), y


@pytest.mark.parametrize("make", [lambda: NearestNeighborIdentifier(),
                                  lambda: SVMIdentifier(param_grid={"C": [1, 10], "gamma": [0.5, 1]}, cv=2)])
def test_identifiers_are_sklearn_shaped(make):
    X, y = clusters()
    clf = make().fit(X[::2], y[::2])
    assert clf.score(X[1::2], y[1::2]) == 1.0
    proba = clf.predict_proba(X[1::2])
    assert proba.shape == (15, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (clf.classes_[proba.argmax(axis=1)] == clf.predict(X[1::2])).all()
    sims = clf.class_similarities(X[:1])
    assert sims.shape == (1, 5) and sims.max() <= 1.0001


def test_svm_search_uses_training_data_only():
    X, y = clusters()
    clf = SVMIdentifier(param_grid={"C": [0.1, 10], "gamma": [1]}, cv=2).fit(X, y)
    assert set(clf.best_params_) == {"C", "gamma"} and len(clf.cv_results_["params"]) == 2
    fixed = SVMIdentifier(C=10, gamma=1).fit(X, y)
    assert fixed.best_params_ == {"C": 10, "gamma": 1}


def test_open_set_rule():
    X, y = clusters()
    clf = NearestNeighborIdentifier().fit(X, y)
    stranger = -X[:1]  # far from everyone
    names, scores, matches, cohort = identify(clf, np.concatenate([X[:1], stranger]), threshold=0.5)
    assert names == [y[0], UNKNOWN]
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert matches[0][0].name == y[0] and len(matches[0]) == 3
    # the cohort term lowers the score of a probe that resembles many people
    _, normalised, _, _ = identify(clf, X[:1], threshold=0.5, cohort_weight=0.5)
    assert normalised[0] == pytest.approx(scores[0] - 0.5 * cohort[0], abs=1e-6)


def test_threshold_calibration_hits_the_target_far():
    rng = np.random.default_rng(1)
    impostors = rng.uniform(0, 1, 10_000)
    thr = calibrate_threshold(impostors, far=0.01)
    assert (impostors >= thr).mean() <= 0.01
    assert (impostors >= thr - 0.002).mean() > 0.009
    X, y = clusters()
    imp = leave_one_out_scores(X, y)["unknown_best"]  # each person in turn plays the stranger
    assert imp.shape == (30,) and (imp < 0.9).all()  # nearest other person is far in these clusters


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


def test_leave_one_out_calibration():
    X, y = clusters(n_people=30, per_person=4, spread=0.3)
    loo = leave_one_out_scores(X, y)
    assert len(loo["unknown_best"]) == 120 and len(loo["known_best"]) == 120
    assert loo["known_correct"].mean() > 0.9
    # a probe's own photo never counts: known probes score below 1
    assert (loo["known_best"] < 0.999).all()
    assert (loo["unknown_best"] < loo["known_best"]).mean() > 0.9
    cal = calibrate_open_set(X, y, far=0.05)
    assert cal["cohort_weight"] in (0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert -1 < cal["threshold"] < 1


def test_cohort_means():
    sims = np.array([[0.9, 0.5, 0.3, 0.1]], np.float32)
    assert cohort_means(sims, k=2)[0] == pytest.approx(0.4)
    assert cohort_means(sims[:, :1])[0] == 0


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
