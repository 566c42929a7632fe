"""The identifiers, the trained model as a source, open-set calibration and cohort means, on small
hand-made clusters (no LFW, no weights)."""
import numpy as np
import pytest

from facerec_core.faces import UNKNOWN, Face
from facerec_core.identity import (ModelSource, NearestNeighborIdentifier, SVMIdentifier, Thresholds,
                                   calibrate_open_set, calibrate_threshold, cohort_means, decide,
                                   leave_one_out_scores)
from tests.support.embeddings import clusters


def probes(X) -> list[Face]:
    """Embedded faces that pass the quality gates."""
    return [Face(box=(0, 0, 100, 100), det_score=0.99, embedding=x) for x in X]


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
    model = ModelSource(NearestNeighborIdentifier().fit(X, y))
    stranger = -X[:1]  # far from everyone
    faces = decide(probes(np.concatenate([X[:1], stranger])), [model], Thresholds(identify=0.5))
    assert [f.identity for f in faces] == [y[0], UNKNOWN]
    assert faces[0].confidence == pytest.approx(1.0, abs=1e-5)
    assert faces[0].matches[0].name == y[0] and len(faces[0].matches) == 3
    # the cohort term lowers the score of a probe that resembles many people
    cohort = model.search(X[:1], top_k=3)[0].cohort
    normalised = decide(probes(X[:1]), [model], Thresholds(identify=0.5, cohort_weight=0.5))[0]
    assert normalised.confidence == pytest.approx(faces[0].confidence - 0.5 * cohort, abs=1e-6)


def test_threshold_calibration_hits_the_target_far():
    rng = np.random.default_rng(1)
    impostors = rng.uniform(0, 1, 10_000)
    thr = calibrate_threshold(impostors, far=0.01)
    assert (impostors >= thr).mean() <= 0.01
    assert (impostors >= thr - 0.002).mean() > 0.009
    X, y = clusters()
    imp = leave_one_out_scores(X, y)["unknown_best"]  # each person in turn plays the stranger
    assert imp.shape == (30,) and (imp < 0.9).all()  # nearest other person is far in these clusters


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
