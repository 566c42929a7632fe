"""Issue #15: the few-shot gallery protocol and the few-sample decision rule, on real LFW photos.

A fixed small split (40 people with >= 4 photos, 200 one-photo strangers): embeddings come from
the shared bulk cache (warm for the default backbone), so this takes seconds."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from facerec_core import fewshot as fs
from facerec_core.embeddings import extract_embeddings
from facerec_core.faces import Face
from facerec_core.gallery import GalleryStore
from facerec_core.backbones.specs import spec_for
from facerec_core.gallery.search import GallerySource
from facerec_core.identity.decide import Thresholds, decide
from facerec_core.lfw import scan_lfw
from facerec_core.settings import Settings

DEFAULT = Settings().backbone  # the weighted fusion facenet+dlib-w15


def _small_split(lfw_dir, backbone: str):
    # in-process embedding (workers=1): on a cold cache deep in the full suite a spawned worker
    # was killed (the same death as tests/test_embeddings.py's pool test), taking every test here
    settings = Settings.from_env().replace(lfw_dir=lfw_dir, backbone=backbone, device="cpu", workers=1)
    split = fs.make_split(scan_lfw(lfw_dir), seed=7, max_people=40, max_single=200)
    es = extract_embeddings(split.all_paths() + split.background, settings, progress=False)
    records = fs.Records.from_embedding_set(es)
    background = np.stack([records.embedding[p] for p in split.background if records.found[p]])
    return settings, split, records, background


@pytest.fixture(scope="module")
def small(lfw_dir):
    return _small_split(lfw_dir, "facenet")


def test_the_split_keeps_enrolled_people_strangers_and_background_apart(small):
    _, split, _, _ = small
    name = split.name_of
    enrolled = set(split.enrolled)
    choose = {name[p] for p in split.strangers_choose}
    report = {name[p] for p in split.strangers_report}
    background = {name[p] for p in split.background}
    assert len(enrolled) == 20 and not enrolled & (choose | report | background)
    assert not choose & report and not background & (choose | report)
    people, probes = split.enrollment(3)
    assert all(len(v) == 3 for v in people.values()) and probes
    assert not set(probes) & {p for v in people.values() for p in v}


def _counts(split, records, background, rule, k=3, allowed_false_accepts=1, backbone="facenet"):
    """Probes named correctly at the threshold that lets ``allowed_false_accepts`` of all the
    strangers through (both halves: a small split has too few to halve for a rate)."""
    people, probes = split.enrollment(k)
    strangers = split.strangers_choose + split.strangers_report
    with tempfile.TemporaryDirectory() as tmp:
        store = GalleryStore(Path(tmp) / "g.sqlite", key_file=None)
        fs.enroll_records(store, people, records, backbone)
        gallery = GallerySource(store, backbone, template=rule.template,
                                background=background if rule.background else None,
                                person_cohort_weight=rule.person_cohort_weight, cohort_size=rule.cohort_size)
        thr = Thresholds(identify=0.0, cohort_weight=rule.cohort_weight)
        d_probe = fs.decide_all(probes, records, [gallery], thr)
        d_str = fs.decide_all(strangers, records, [gallery], thr)
        store.close()
    threshold = np.nextafter(np.sort(d_str.scores)[::-1][allowed_false_accepts], np.inf)
    truth = [split.name_of[p] for p in probes]
    s = fs.summarise(truth, d_probe, d_str, threshold)
    assert s["strangers_accepted"] <= allowed_false_accepts
    return s["correct"], s["wrong"], len(probes)


def test_template_and_background_cohort_name_more_probes_at_the_same_false_accepts(small):
    """With no stranger accepted, on this fixed split (measured: k = 1: 98 -> 110 of 115 probes,
    k = 3: 70 -> 73 of 75; on other small splits the two can tie or swap by a probe or two, the
    full protocol is bench/fewshot.py)."""
    _, split, records, background = small
    new_rule = fs.Rule("new", template=True, background=True, cohort_weight=0.5)
    gained = 0
    for k in (1, 3):
        old = _counts(split, records, background, fs.Rule("before"), k, 0)
        new = _counts(split, records, background, new_rule, k, 0)
        assert new[0] >= old[0] and new[1] <= old[1], (k, old, new)
        gained += new[0] - old[0]
    assert gained >= 5


def test_the_protocol_reports_every_k_and_far_with_refusals_by_reason(small):
    _, split, records, background = small
    out = fs.evaluate_rule(split, records, fs.Rule("new", template=True, background=True, cohort_weight=0.5),
                           "facenet", background=background)
    assert set(out["k"]) == {"1", "3", "5"}
    for row in out["k"].values():
        for far, s in row["at_far"].items():
            assert s["far"] <= 3 * float(far) + 0.01  # chosen on the other half of the strangers
            assert s["correct"] + s["wrong"] + sum(s["refused"].values()) == s["probes"]
            assert set(s["refused"]) == set(fs.REFUSALS)


def test_the_gallery_answers_a_background_cohort_that_decide_subtracts(small):
    _, split, records, background = small

    people, probes = split.enrollment(3)
    with tempfile.TemporaryDirectory() as tmp:
        store = GalleryStore(Path(tmp) / "g.sqlite", key_file=None)
        counts = fs.enroll_records(store, people, records, "facenet")
        assert counts["added"] == 3 * len(people)
        plain = GallerySource(store, "facenet")
        rich = GallerySource(store, "facenet", template=True, background=background)
        x = records.embedding[probes[0]][None, :]
        c_plain, c_rich = plain.search(x)[0], rich.search(x)[0]
        assert c_plain.cohort is None and c_rich.cohort is not None and 0 < c_rich.cohort < c_plain.score
        members = [p for p in people[c_plain.name]]
        nearest = max(float(records.embedding[p] @ x[0]) for p in members)
        template = np.mean([records.embedding[p] for p in members], axis=0)
        expected = 0.5 * (nearest + float(template @ x[0]) / float(np.linalg.norm(template)))
        assert c_plain.score == pytest.approx(nearest, abs=1e-5) and c_rich.score == pytest.approx(expected, abs=1e-5)
        face = Face(box=(0, 0, 100, 100), det_score=0.99, embedding=records.embedding[probes[0]])
        decide([face], [rich], Thresholds(identify=-1.0, cohort_weight=0.5))
        assert face.confidence == pytest.approx(c_rich.score - 0.5 * c_rich.cohort, abs=1e-5)
        store.close()


def test_enrollment_refuses_small_and_unclear_faces_as_the_gallery_does(small, tmp_path):
    _, split, records, _ = small
    people, _ = split.enrollment(1)
    (name, (photo,)), = list(people.items())[:1]
    records.size[photo], keep = 30.0, records.size[photo]
    try:
        store = GalleryStore(tmp_path / "g.sqlite", key_file=None)
        counts = fs.enroll_records(store, {name: [photo]}, records, "facenet")
        assert counts == {"refused: face too small": 1} and store.find_person(name) is None
        store.close()
    finally:
        records.size[photo] = keep


def test_the_shipped_few_shot_rule_names_more_probes_at_the_same_false_accepts(small):
    """The rule a recognizer without a model uses (the backbone's FewShotRule), against the
    nearest sample, with no stranger accepted (measured: k = 1: 98 -> 112 of 115, k = 3: 70 -> 73
    of 75); and at its own shipped threshold."""
    _, split, records, background = small
    shipped = fs.Rule.shipped("shipped", spec_for("facenet").few_shot)
    for k in (1, 3):
        old = _counts(split, records, background, fs.Rule("before"), k, 0)
        new = _counts(split, records, background, shipped, k, 0)
        assert new[0] >= old[0] + (10 if k == 1 else 3) and new[1] == old[1] == 0, (k, old, new)
    out = fs.evaluate_rule(split, records, shipped, "facenet", ks=(3,), background=background)
    at_shipped = out["k"]["3"]["at_fixed"]  # measured at 0.32: 68 of 75 named, none wrongly, 0 of 150 strangers
    assert at_shipped["threshold"] == spec_for("facenet").few_shot.threshold
    assert at_shipped["correct"] >= 0.85 * at_shipped["probes"] and at_shipped["wrong"] == 0
    assert at_shipped["strangers_accepted"] == 0


def test_a_small_face_is_identified_against_the_raised_threshold(small):
    """Under 40 px the few-shot rule identifies a face against threshold + its margin; without a
    margin (the trained model's rule) the face is refused as too small."""
    _, split, records, background = small
    rule = spec_for("facenet").few_shot
    people, probes = split.enrollment(3)
    with tempfile.TemporaryDirectory() as tmp:
        store = GalleryStore(Path(tmp) / "g.sqlite", key_file=None)
        fs.enroll_records(store, people, records, "facenet")
        gallery = GallerySource(store, "facenet", template=True, background=background,
                                person_cohort_weight=rule.person_cohort_weight, cohort_size=rule.cohort_size)

        def face(size: float) -> Face:
            return Face(box=(0, 0, size, size), det_score=0.99, embedding=records.embedding[probes[0]])

        def thresholds(identify: float, margin: float | None = rule.small_face_margin) -> Thresholds:
            return Thresholds(identify=identify, cohort_weight=rule.cohort_weight, small_face_margin=margin)

        big = decide([face(100)], [gallery], thresholds(float("-inf")))[0]
        score = big.confidence
        between = decide([face(30)], [gallery], thresholds(score - rule.small_face_margin / 2))[0]
        assert between.identity == "unknown" and between.confidence == pytest.approx(score)
        assert between.threshold == pytest.approx(score + rule.small_face_margin / 2)
        assert "threshold raised by 0.02" in between.reason
        clear = decide([face(30)], [gallery], thresholds(score - 1.5 * rule.small_face_margin))[0]
        assert clear.identity == big.identity and "threshold raised" in clear.reason
        assert decide([face(100)], [gallery], thresholds(score - rule.small_face_margin / 2))[0].identity == big.identity
        refused = decide([face(30)], [gallery], thresholds(score - 1.0, margin=None))[0]
        assert refused.identity == "unknown" and "too small" in refused.note
        store.close()


@pytest.fixture(scope="module")
def small_fusion(lfw_dir):
    return _small_split(lfw_dir, DEFAULT)


def test_the_default_fusion_rule_names_more_at_its_shipped_threshold(small, small_fusion):
    """The default backbone's (the weighted fusion's) few-shot rule (threshold 0.23) against
    FaceNet's (0.32), each at its own shipped threshold on this split (measured: 70 against 68 of
    75 probes, no wrong name, none of 150 strangers accepted), and against the fusion's own nearest
    sample at no false accept."""
    at_fixed = {}
    for backbone, (_, split, records, background) in (("facenet", small), (DEFAULT, small_fusion)):
        rule = fs.Rule.shipped("shipped", spec_for(backbone).few_shot)
        at_fixed[backbone] = fs.evaluate_rule(split, records, rule, backbone, ks=(3,),
                                              background=background)["k"]["3"]["at_fixed"]
    fusion, facenet = at_fixed[DEFAULT], at_fixed["facenet"]
    assert fusion["threshold"] == spec_for(DEFAULT).few_shot.threshold == 0.23
    assert fusion["correct"] > facenet["correct"] and fusion["correct"] >= 0.9 * fusion["probes"]
    assert fusion["wrong"] == 0 and fusion["strangers_accepted"] == 0
    _, split, records, background = small_fusion
    shipped = fs.Rule.shipped("shipped", spec_for(DEFAULT).few_shot)
    old = _counts(split, records, background, fs.Rule("before"), 1, 0, DEFAULT)
    new = _counts(split, records, background, shipped, 1, 0, DEFAULT)
    assert new[0] >= old[0] + 5 and new[1] == 0, (old, new)  # measured: 100 -> 112 of 115
