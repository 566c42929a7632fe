"""Issue #15: the trained model's person rule (template mix and hub discount), calibrated
leave-one-out on training data only, on real LFW photos (embeddings from the bulk cache)."""
from __future__ import annotations

import numpy as np
import pytest

from facerec_core.artifacts import thresholds_problem
from facerec_core.embeddings import extract_embeddings
from facerec_core.evaluate import open_set_metrics
from facerec_core.gallery import GalleryStore
from facerec_core.gallery.records import NewSample
from facerec_core.gallery.search import GallerySource
from facerec_core.identity import ModelSource, NearestNeighborIdentifier, PersonRule, calibrate_open_set
from facerec_core.identity.calibration import COHORT_WEIGHTS, HUB_SIZES, HUB_WEIGHTS, TEMPLATE_MIXES
from facerec_core.identity.kernel import open_set_scores
from facerec_core.lfw import name_variants, scan_lfw
from facerec_core.settings import Settings


@pytest.fixture(scope="module")
def lfw_sets(lfw_dir):
    """80 people with >= 6 photos (5 to train, 1 held out), 10 more as a gallery-only group, and
    400 one-photo strangers: the first in name order, so the cache is warm from other tests."""
    settings = Settings.from_env().replace(lfw_dir=lfw_dir, backbone="facenet", device="cpu", workers=1)
    data = scan_lfw(lfw_dir)
    data = data.merge(name_variants(data.people))
    many = sorted(n for n, ps in data.people.items() if len(ps) >= 6)[:90]
    singles = sorted(n for n, ps in data.people.items() if len(ps) == 1)[:400]
    paths = [str(p) for n in many for p in data.people[n][:6]] + [str(data.people[n][0]) for n in singles]
    es = extract_embeddings(paths, settings, progress=False)
    emb = {p: es.embeddings[i] for i, p in enumerate(es.paths) if es.usable[i]}

    def rows(names, photos):
        keep = [(n, str(p)) for n in names for p in photos(n) if str(p) in emb]
        return np.stack([emb[p] for _, p in keep]), np.array([n for n, _ in keep])

    train = rows(many[:80], lambda n: data.people[n][:5])
    held = rows(many[:80], lambda n: data.people[n][5:6])
    extra = rows(many[80:], lambda n: data.people[n][:6])
    strangers = np.stack([emb[str(data.people[n][0])] for n in singles if str(data.people[n][0]) in emb])
    return train, held, extra, strangers


@pytest.fixture(scope="module")
def calibrated(lfw_sets):
    (X, y), *_ = lfw_sets
    return NearestNeighborIdentifier().fit(X, y), calibrate_open_set(X, y)


def test_calibration_chooses_the_rule_from_its_grids_on_training_data(calibrated):
    _, cal = calibrated
    assert cal["template_mix"] in TEMPLATE_MIXES and cal["hub_weight"] in HUB_WEIGHTS
    assert cal["hub_size"] in HUB_SIZES and cal["cohort_weight"] in COHORT_WEIGHTS
    assert cal["simulated_dir"]["dir_at_far_0.01"] > 0.5 and -2 < cal["threshold"] < 2
    stored = {"identify": cal["threshold"], "cohort_weight": cal["cohort_weight"], "target_far": 0.01,
              **vars(PersonRule.from_thresholds(cal))}
    assert thresholds_problem(stored) is None  # what training writes, the artifact check accepts
    assert "hub_weight" in thresholds_problem({**stored, "hub_weight": 3.0})
    assert "identify" in thresholds_problem({**stored, "identify": 3.5})


def test_scores_follow_the_rule_and_discount_hubs(calibrated, lfw_sets):
    clf, _ = calibrated
    _, (Xh, _), _, strangers = lfw_sets
    rule = PersonRule(template_mix=0.5, hub_weight=0.4, hub_size=3)
    model, plain = ModelSource(clf, rule), ModelSource(clf)
    templates = clf.class_templates()
    between = templates @ templates.T
    np.fill_diagonal(between, -1)
    hubs = np.sort(between, axis=1)[:, -3:].mean(axis=1)  # mean cosine to the 3 nearest other people
    for x, got, before in zip(Xh[:20], model.search(Xh[:20], 3), plain.search(Xh[:20], 3)):
        j = list(clf.classes_).index(got.name)
        nearest = float(clf.class_similarities(x[None])[0, j])
        assert before.score == pytest.approx(nearest, abs=1e-5)
        assert got.score == pytest.approx(0.5 * nearest + 0.5 * float(x @ templates[j]) - 0.4 * hubs[j], abs=1e-5)
        assert got.cohort == pytest.approx(before.cohort, abs=1e-6)  # the cohort stays on nearest photos
        assert got.matches[0].score >= got.matches[-1].score
    # the person most like the others loses the most: a stranger near them is discounted most
    hub = int(hubs.argmax())
    assert hubs[hub] > np.median(hubs) + 0.05


def test_the_calibrated_rule_names_more_held_out_photos_at_the_same_false_accepts(calibrated, lfw_sets):
    clf, cal = calibrated
    _, (Xh, yh), _, strangers = lfw_sets

    def dir_at(source, weight, far):
        k, u = source.search(Xh, 3), source.search(strangers, 3)
        ks = open_set_scores([c.score for c in k], [c.cohort for c in k], weight)
        us = open_set_scores([c.score for c in u], [c.cohort for c in u], weight)
        return open_set_metrics(ks, clf.predict(Xh) == yh, us, fars=(far,))[f"dir_at_far_{far:g}"]

    plain = calibrate_open_set(*lfw_sets[0], mixes=(0.0,), hub_weights=(0.0,))
    new = dir_at(ModelSource(clf, PersonRule.from_thresholds(cal)), cal["cohort_weight"], 0.01)
    before = dir_at(ModelSource(clf), plain["cohort_weight"], 0.01)
    assert new >= before and new > 0.8


def test_the_gallery_beside_the_model_scores_on_the_model_scale(calibrated, lfw_sets, tmp_path):
    clf, _ = calibrated
    _, _, (Xe, ye), _ = lfw_sets
    rule = PersonRule(template_mix=0.5, hub_weight=0.4, hub_size=3)
    model = ModelSource(clf, rule)
    settings = Settings().replace(data_dir=tmp_path, gallery_key_file=None)
    store = GalleryStore(tmp_path / "gallery.sqlite", key_file=None)
    name = str(ye[0])
    photos = Xe[ye == name]
    store.add_samples(name, [NewSample(np.asarray(v, np.float32), "facenet", 0.99, f"{i}.jpg") for i, v in
                             enumerate(photos[:-1])])
    gallery = GallerySource(store, "facenet", template=True, template_mix=0.5, background=model.templates,
                            person_cohort_weight=0.4, cohort_size=3)
    assert GallerySource.for_settings(settings, "facenet", model=model).person_cohort_weight == 0.4
    probe = photos[-1]
    template = photos[:-1].sum(axis=0)
    template /= np.linalg.norm(template)
    hub = np.sort(model.templates @ template)[-3:].mean()
    expected = 0.5 * float((photos[:-1] @ probe).max()) + 0.5 * float(template @ probe) - 0.4 * hub
    got = gallery.search(probe[None], 1)[0]
    assert got.name == name and got.score == pytest.approx(expected, abs=1e-4)
    store.close()


def test_matches_keep_the_plain_cosine_that_corrections_compare(calibrated, lfw_sets):
    from facerec_core.faces import Face
    from facerec_core.identity import Thresholds, decide

    clf, _ = calibrated
    _, (Xh, _), _, _ = lfw_sets
    model = ModelSource(clf, PersonRule(template_mix=0.5, hub_weight=0.4, hub_size=3))
    face = decide([Face(box=(0, 0, 100, 100), det_score=0.99, embedding=Xh[0])], [model],
                  Thresholds(identify=0.2, cohort_weight=0.5))[0]
    nearest = clf.class_similarities(Xh[:1])[0]
    for m in face.matches:
        assert m.cosine == pytest.approx(float(nearest[list(clf.classes_).index(m.name)]), abs=1e-5)
        assert m.score < m.cosine  # the rule's similarity, less the cohort, is on the decision scale
