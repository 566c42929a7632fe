"""Issue #13 (5): one score per face. The confidence, the best matches and the threshold are on
one scale; the person named is the first match; an unknown face has no match at or above the
threshold; every face says why it was named or not. And (4): the verification presets are
measured false-accept points. Hand-made sources and scores: no LFW, no weights."""
from __future__ import annotations

import numpy as np
import pytest

from facerec_core.backbones.specs import spec_for
from facerec_core.errors import FacerecError
from facerec_core.evaluate import VERIFY_PRESETS, equal_error_threshold, verification_presets
from facerec_core.faces import UNKNOWN, Face, Match
from facerec_core.identity import Candidate, Thresholds, decide


class Source:
    def __init__(self, name: str, score: float, matches: list[Match], cohort: float | None = None) -> None:
        self.candidate = Candidate(name, score, matches, cohort)

    def search(self, X: np.ndarray, top_k: int) -> list[Candidate]:
        return [self.candidate for _ in range(len(X))]


def face() -> Face:
    return Face(box=(0.0, 0.0, 100.0, 100.0), det_score=0.99, embedding=np.ones(4, np.float32) / 2)


def test_confidence_and_best_matches_are_one_scale():
    # cosine 1.00 to a photo, cohort 0.60, weight 0.5: the score is 0.70, and so is the match
    model = Source("Colin_Powell", 1.0, [Match("Colin_Powell", 1.0), Match("Tony_Blair", 0.5)], cohort=0.6)
    f = decide([face()], [model], Thresholds(identify=0.44, cohort_weight=0.5))[0]
    assert f.identity == "Colin_Powell" and f.confidence == pytest.approx(0.70)
    assert [(m.name, round(m.score, 4)) for m in f.matches] == [("Colin_Powell", 0.70), ("Tony_Blair", 0.20)]
    assert f.matches[0].cosine == pytest.approx(1.0)  # the plain cosine stays available
    assert f.reason == "score 0.700 ≥ threshold 0.440"
    assert f.threshold == pytest.approx(0.44)
    assert f.to_dict()["reason"] == f.reason and f.to_dict()["matches"][0]["score"] == pytest.approx(0.70)


def test_an_unknown_face_has_no_match_at_or_above_the_threshold():
    # Matthew Perry: cosine 0.59 to his nearest photo, but the cohort-discounted score is 0.39
    model = Source("Matthew_Perry", 0.59, [Match("Matthew_Perry", 0.59), Match("Ann", 0.41)], cohort=0.4)
    f = decide([face()], [model], Thresholds(identify=0.44, cohort_weight=0.5))[0]
    assert f.identity == UNKNOWN
    assert all(m.score < 0.44 for m in f.matches)
    assert f.confidence == pytest.approx(f.matches[0].score)
    assert f.reason == "closest to Matthew Perry (0.390) but below threshold 0.440"


def test_the_person_named_is_the_first_match_even_when_the_model_chose_someone_further():
    # an SVM (or the centroid rule) chose Adrien_Brody, whose nearest photo is not the nearest
    matches = [Match("Colin_Farrell", 0.35), Match("Andre_Agassi", 0.33), Match("Shia_LaBeouf", 0.32)]
    f = decide([face()], [Source("Adrien_Brody", 0.30, matches)], Thresholds(identify=0.20), top_k=3)[0]
    assert f.identity == "Adrien_Brody"
    assert f.matches[0].name == "Adrien_Brody" and f.matches[0].score == pytest.approx(f.confidence)
    assert len(f.matches) == 3
    assert "chosen by the model" in f.reason and "Colin Farrell" in f.reason


def test_a_nearest_photo_at_the_threshold_names_the_face_when_the_models_choice_falls_short():
    matches = [Match("Colin_Farrell", 0.50), Match("Adrien_Brody", 0.30)]
    f = decide([face()], [Source("Adrien_Brody", 0.30, matches)], Thresholds(identify=0.44))[0]
    assert f.identity == "Colin_Farrell" and f.confidence == pytest.approx(0.50)
    assert f.matches[0].name == "Colin_Farrell"


def test_every_face_says_why():
    small = Face(box=(0.0, 0.0, 20.0, 20.0), det_score=0.99, embedding=np.ones(4, np.float32) / 2)
    out = decide([small], [Source("A", 0.9, [Match("A", 0.9)])], Thresholds(identify=0.5))
    assert out[0].reason == "not identified: face too small to identify (20 px)"
    assert decide([face()], [], Thresholds(identify=0.5))[0].reason.startswith("nobody to compare with")


# ---- verification presets -----------------------------------------------------------------------

def _pairs(seed: int = 0, n: int = 3000):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(0.75, 0.1, n), rng.normal(0.1, 0.12, n)])
    same = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    folds = np.tile(np.repeat(np.arange(10), n // 10), 2)
    return scores, same, folds


def test_presets_accept_at_most_their_false_accept_rate():
    scores, same, folds = _pairs()
    presets = verification_presets(scores, same, folds)
    assert list(presets) == [name for name, _ in VERIFY_PRESETS] == ["strict", "balanced", "lenient"]
    for name, target in VERIFY_PRESETS:
        p = presets[name]
        assert p["far"] == pytest.approx((scores[~same] >= p["threshold"]).mean())
        assert target / 2 <= p["far"] <= target  # measured, not a guess
        assert p["cv_far"] <= 3 * target  # on held-out folds: near the target
        assert p["tar"] == pytest.approx((scores[same] >= p["threshold"]).mean())
    assert presets["strict"]["threshold"] > presets["balanced"]["threshold"] > presets["lenient"]["threshold"]
    t = equal_error_threshold(scores, same)
    assert abs((scores[~same] >= t).mean() - (scores[same] < t).mean()) < 0.01  # FAR ≈ FRR there


def test_presets_come_from_the_models_report_else_the_backbone_measurement():
    scores, same, folds = _pairs()
    report = {"verification": {"presets": verification_presets(scores, same, folds),
                               "cohort_normalised": {"presets": verification_presets(scores - 0.2, same, folds)}}}
    manifest = {"thresholds": {"identify": 0.5, "verify": 0.42, "verify_normalised": 0.1, "verify_cohort_weight": 0.5}}
    t = Thresholds.from_manifest(manifest, spec_for("facenet"), has_model=True, report=report)
    strict = report["verification"]["cohort_normalised"]["presets"]["strict"]
    assert t.verify == strict["threshold"] and t.verify_preset().name == "strict"  # strict is the default
    assert t.verify_preset("balanced").far <= 0.01
    assert "measured when this model was trained" in t.verify_preset().measured_on
    assert "-1 to 1" in t.verify_scale and "below 0" in t.verify_scale  # a negative score is explained
    with pytest.raises(FacerecError, match="choose one of: strict, balanced, lenient"):
        t.verify_preset("loose")
    bare = Thresholds.from_manifest(None, spec_for("facenet"), has_model=False)
    measured = spec_for("facenet").verify_presets
    assert [p.name for p in bare.verify_presets] == list(measured) == ["strict", "balanced", "lenient"]
    assert bare.verify == measured["strict"]["threshold"] and bare.verify_cohort_weight == 0
    assert bare.verify_preset().far <= 0.001 and "LFW View-2" in bare.verify_preset().measured_on
    assert [p.name for p in bare.claim_presets] == ["strict", "balanced", "lenient"]
