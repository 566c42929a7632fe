"""decide() and the search kernel with small hand-made sources: no LFW, no weights."""
from __future__ import annotations

import numpy as np
import pytest

from facerec_core.backbones.specs import spec_for
from facerec_core.faces import UNKNOWN, Face, Match
from facerec_core.identity import Candidate, IdentitySource, Thresholds, decide
from facerec_core.identity.decide import CALIBRATED
from facerec_core.identity.kernel import GEMV_PROBES, cohort_means, per_person_max, similarities, top_matches
from facerec_core.settings import Settings


class FixedSource:
    """Answers the same candidate for every probe and records how often it was searched."""

    def __init__(self, name: str, score: float, cohort: float | None = None, others: tuple = ()) -> None:
        self.candidate = Candidate(name, score, [Match(name, score), *others], cohort)
        self.searched = 0

    def search(self, X: np.ndarray, top_k: int) -> list[Candidate]:
        self.searched += 1
        return [self.candidate for _ in range(len(X))]


class EmptySource:
    def search(self, X: np.ndarray, top_k: int) -> list[Candidate]:
        return []


def face(size: float = 100.0, det_score: float = 0.99, embedding=True) -> Face:
    emb = np.ones(4, np.float32) / 2 if embedding else None
    return Face(box=(0.0, 0.0, size, size), det_score=det_score, embedding=emb)


def test_sources_satisfy_the_protocol():
    assert isinstance(FixedSource("a", 0.5), IdentitySource)
    assert isinstance(EmptySource(), IdentitySource)


def test_the_best_candidate_above_the_threshold_names_the_face():
    model, gallery = FixedSource("Ada", 0.70, others=(Match("Bob", 0.2),)), FixedSource("Cy", 0.80)
    f = decide([face()], [model, gallery], Thresholds(identify=0.6))[0]
    assert (f.identity, f.confidence, f.note) == ("Cy", pytest.approx(0.80), None)
    assert [m.name for m in f.matches] == ["Cy", "Ada", "Bob"]  # every source's matches, best first


def test_below_the_threshold_is_unknown_with_the_best_score():
    f = decide([face()], [FixedSource("Ada", 0.50), FixedSource("Cy", 0.55)], Thresholds(identify=0.6))[0]
    assert f.identity == UNKNOWN and f.confidence == pytest.approx(0.55)
    assert [m.name for m in f.matches] == ["Cy", "Ada"]
    f = decide([face()], [FixedSource("Ada", 0.50)], Thresholds(identify=0.6), threshold=0.45)[0]
    assert f.identity == "Ada"  # a given threshold overrides the record's


def test_whichever_source_comes_first_the_passing_candidate_wins():
    sources = [FixedSource("Ada", 0.65), FixedSource("Cy", 0.62)]
    assert decide([face()], sources, Thresholds(identify=0.63))[0].identity == "Ada"
    assert decide([face()], sources[::-1], Thresholds(identify=0.63))[0].identity == "Ada"


def test_the_models_cohort_shifts_every_source_onto_one_scale():
    model, gallery = FixedSource("Ada", 0.70, cohort=0.40), FixedSource("Cy", 0.75)
    f = decide([face()], [model, gallery], Thresholds(identify=0.5, cohort_weight=0.5))[0]
    assert f.identity == "Cy" and f.confidence == pytest.approx(0.75 - 0.5 * 0.40, abs=1e-6)
    f = decide([face()], [gallery], Thresholds(identify=0.5, cohort_weight=0.5))[0]
    assert f.confidence == pytest.approx(0.75)  # no source holds a cohort: nothing subtracted


def test_quality_gates_answer_unknown_with_a_note_and_search_nothing():
    source = FixedSource("Ada", 0.99)
    small, unclear, unembedded = face(size=30), face(det_score=0.9), face(embedding=False)
    out = decide([small, unclear, unembedded], [source], Thresholds(identify=0.5))
    assert [f.identity for f in out] == [UNKNOWN, UNKNOWN, None]
    assert out[0].note == "face too small to identify (30 px)"
    assert out[1].note == "face unclear (detection score 0.90)"
    assert source.searched == 0
    assert decide([face(size=30)], [source], Thresholds(identify=0.5, min_face_size=20))[0].identity == "Ada"


def test_no_source_with_anyone_leaves_identity_unset():
    f = decide([face()], [EmptySource()], Thresholds(identify=0.5))[0]
    assert f.identity is None and f.confidence is None and f.matches == []
    f = decide([face()], [EmptySource(), FixedSource("Ada", 0.9)], Thresholds(identify=0.5))[0]
    assert f.identity == "Ada"  # an empty gallery changes nothing


def test_thresholds_from_a_manifest_or_the_backbone_defaults():
    spec = spec_for("facenet")
    manifest = {"thresholds": {"identify": 0.53, "cohort_weight": 0.6, "verify": 0.42,
                               "verify_normalised": 0.3, "verify_cohort_weight": 0.7}}
    t = Thresholds.from_manifest(manifest, spec, has_model=True)
    assert (t.identify, t.cohort_weight, t.verify, t.verify_cohort_weight, t.source) == (0.53, 0.6, 0.3, 0.7, CALIBRATED)
    strict = spec.verify_presets["strict"]["threshold"]  # measured by bench/verify_presets.py
    t = Thresholds.from_manifest(manifest, spec, has_model=False)  # no model: no verification cohort
    assert (t.verify, t.verify_cohort_weight) == (strict, 0.0)
    t = Thresholds.from_manifest(None, spec, has_model=False)
    assert (t.identify, t.verify, t.cohort_weight, t.source) == (0.63, strict, 0.0, "default for facenet")
    t = Thresholds.from_manifest(None, spec_for("dlib-resnet"), has_model=False)  # nothing measured: one default
    assert [(p.name, p.threshold, p.far) for p in t.verify_presets] == [("default", 0.90, None)]
    assert Thresholds.from_manifest(None, spec_for("dlib-resnet"), has_model=False).identify == 0.90
    assert Thresholds.from_manifest(manifest, spec, has_model=True, identify=0.7).identify == 0.7
    fusion = spec_for("facenet+dlib-weighted")  # its own measured gallery, verify and few-shot thresholds
    t = Thresholds.from_manifest(None, fusion, has_model=False)
    assert (t.identify, t.verify) == (0.90, fusion.verify_presets["strict"]["threshold"])
    t = Thresholds.from_manifest(None, fusion, has_model=False, few_shot=fusion.few_shot)
    assert (t.identify, t.cohort_weight, t.small_face_margin) == (0.23, 0.6, 0.01)
    default = spec_for(Settings().backbone)  # the default fusion: its own measured thresholds too
    assert default.name == "facenet+dlib-w15"
    t = Thresholds.from_manifest(None, default, has_model=False)
    assert (t.identify, t.verify) == (0.91, 0.8577)
    t = Thresholds.from_manifest(None, default, has_model=False, few_shot=default.few_shot)
    assert (t.identify, t.cohort_weight, t.small_face_margin) == (0.23, 0.6, 0.03)


def test_kernel_per_person_max_top_k_and_cohort():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(7, 8)).astype(np.float32)
    samples /= np.linalg.norm(samples, axis=1, keepdims=True)
    starts = np.array([0, 2, 5])  # three people: rows 0-1, 2-4, 5-6
    X = samples[[3, 6]] + 0.01
    sims = similarities(X, samples)
    np.testing.assert_allclose(sims, X @ samples.T, rtol=1e-5, atol=1e-6)
    many = np.repeat(X, GEMV_PROBES, axis=0)  # the matrix-product path gives the same numbers
    np.testing.assert_allclose(similarities(many, samples)[::GEMV_PROBES], sims, atol=1e-6)
    person = per_person_max(sims, starts)
    assert person.shape == (2, 3) and person[0].argmax() == 1 and person[1].argmax() == 2
    matches = top_matches(person, ["a", "b", "c"], top_k=2)
    expected = [["abc"[j] for j in np.argsort(-row)[:2]] for row in person]
    assert [[m.name for m in row] for row in matches] == expected
    assert [m.score for m in matches[0]] == pytest.approx(sorted(person[0], reverse=True)[:2])
    assert len(top_matches(person, ["a", "b", "c"], top_k=10)[0]) == 3
    assert cohort_means(np.array([[0.9, 0.5, 0.3, 0.1]], np.float32), k=2)[0] == pytest.approx(0.4)
