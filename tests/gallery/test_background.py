"""Issue #15: the background cohort behind the few-shot gallery rule — built by `facerec setup`
from real LFW photos, owner-only, checked when read (a damaged, foreign or pickled file is not
used), and what the recognizer does with it and without it."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from facerec_core.backbones.specs import spec_for
from facerec_core.faces import UNKNOWN
from facerec_core.gallery import GalleryStore, enroll
from facerec_core.gallery.background import background_path, build_background, load_background
from facerec_core.identity.decide import FEW_SHOT
from facerec_core.recognizer import Recognizer
from facerec_core.settings import Settings
from tests.conftest import lfw_photo
from tests.gallery.conftest import ENROLL_PHOTOS, NEWCOMERS, PROBE_PHOTO

RULE = spec_for("facenet").few_shot


@pytest.fixture(scope="module")
def background_settings(base_settings, tmp_path_factory):
    """No trained model, a gallery of its own, and a background of the first 150 photos of LFW's
    people with 2 or 3 photos (in-process embedding)."""
    root = tmp_path_factory.mktemp("background")
    settings = base_settings.replace(artifacts_dir=root / "artifacts", data_dir=root / "data",
                                     cache_dir=root / "cache", workers=1)
    build_background(settings, max_photos=150, progress=False)
    return settings


def test_the_background_is_owner_only_unit_embeddings(background_settings):
    path = background_path(background_settings, "facenet")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = load_background(background_settings, "facenet")
    assert rows.dtype == np.float32 and rows.shape[1] == 128 and 100 <= len(rows) <= 150
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-3)


def _rewrite(path, **arrays):
    with open(path, "wb") as out:
        np.savez(out, **arrays)


@pytest.mark.parametrize("damage", ["foreign", "nan", "pickle", "truncated", "few"])
def test_a_damaged_or_foreign_background_is_not_used(background_settings, tmp_path, damage, caplog):
    settings = background_settings.replace(cache_dir=tmp_path)
    good = background_path(background_settings, "facenet")
    path = background_path(settings, "facenet")
    with np.load(good, allow_pickle=False) as z:
        rows, key = z["embeddings"].copy(), z["key"]
    marker = tmp_path / "ran"
    if damage == "foreign":
        _rewrite(path, embeddings=rows, key=np.array("dlib-resnet"))
    elif damage == "nan":
        rows[3, 5] = np.nan
        _rewrite(path, embeddings=rows, key=key)
    elif damage == "pickle":
        class Payload:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))
        _rewrite(path, embeddings=np.array([Payload()], dtype=object), key=key)
    elif damage == "truncated":
        path.write_bytes(good.read_bytes()[:5000])
    else:
        _rewrite(path, embeddings=rows[:20], key=key)
    assert load_background(settings, "facenet") is None
    assert not marker.exists()
    assert "rebuild it with `facerec setup`" in caplog.text


def test_a_world_readable_background_is_tightened_and_used(background_settings, tmp_path):
    settings = background_settings.replace(cache_dir=tmp_path)
    path = background_path(settings, "facenet")
    path.write_bytes(background_path(background_settings, "facenet").read_bytes())
    path.chmod(0o644)
    assert load_background(settings, "facenet") is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_a_model_the_gallery_decides_by_the_few_shot_rule(background_settings, lfw_dir, stranger_photo):
    rec = Recognizer.load(background_settings, require_model=False)
    assert not rec.has_model and rec.thresholds.source == FEW_SHOT
    assert rec.threshold == RULE.threshold and rec.thresholds.cohort_weight == RULE.cohort_weight
    assert rec.gallery.template and rec.gallery.person_cohort_weight == RULE.person_cohort_weight
    assert "average face" in rec.thresholds.identify_scale and rec.thresholds.small_face_margin == 0.02
    store = GalleryStore.open(background_settings)
    try:
        for name in NEWCOMERS:
            enroll(store, rec, name.replace("_", " "), [lfw_photo(lfw_dir, name, i) for i in ENROLL_PHOTOS[name]])
    finally:
        store.close()
    for name in NEWCOMERS:
        face = max(rec.recognize(lfw_photo(lfw_dir, name, PROBE_PHOTO[name])), key=lambda f: f.size)
        assert face.identity == name.replace("_", " "), face.to_dict()
        assert face.confidence >= RULE.threshold and face.reason.startswith("score")
    assert [f.identity for f in rec.recognize(stranger_photo)] == [UNKNOWN]


def test_without_a_background_the_gallery_keeps_the_nearest_sample_rule(background_settings, tmp_path):
    rec = Recognizer.load(background_settings.replace(cache_dir=tmp_path / "empty"), require_model=False)
    assert rec.threshold == spec_for("facenet").identify_threshold and rec.thresholds.cohort_weight == 0.0
    assert rec.gallery.background is None and not rec.gallery.template


def test_setup_builds_the_background_from_the_people_with_two_or_three_photos(lfw_dir, tmp_path, monkeypatch, capsys):
    """`facerec setup` on a small LFW-layout folder: only the people with 2 or 3 photos are
    embedded; a second run keeps the good file; without an LFW folder it says what is missing."""
    from facerec_core.cli import main
    from facerec_core.lfw import scan_lfw

    people = scan_lfw(lfw_dir).people
    chosen = [n for n in sorted(people) if 2 <= len(people[n]) <= 3][:48] + ["Jacques_Chirac"]  # 52 photos: left out
    small = tmp_path / "lfw"
    for name in chosen:
        (small / name).mkdir(parents=True)
        for photo in people[name]:
            (small / name / photo.name).symlink_to(photo)
    monkeypatch.setenv("FACEREC_WORKERS", "1")
    assert main(["setup", "-q", "--lfw-dir", str(small), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "background cohort built" in capsys.readouterr().out
    settings = base_settings_for(tmp_path / "cache")
    rows = load_background(settings, Settings().backbone)  # setup builds the default backbone's
    expected = sum(len(people[n]) for n in chosen[:-1])
    assert rows is not None and expected - 3 <= len(rows) <= expected  # a photo without a face is left out
    assert main(["setup", "-q", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "background cohort ready" in capsys.readouterr().out
    monkeypatch.delenv("FACEREC_LFW_DIR", raising=False)
    assert main(["setup", "-q", "--cache-dir", str(tmp_path / "other")]) == 0
    assert "FACEREC_LFW_DIR is not set" in capsys.readouterr().out


def base_settings_for(cache_dir):
    return Settings.from_env().replace(cache_dir=cache_dir, backbone="facenet", device="cpu")


def test_predict_names_enrolled_people_without_a_model(background_settings, lfw_dir, tmp_path, monkeypatch, capsys):
    """The command line a user lives in: enroll from 3 photos, then `predict` with no trained
    model names them by the few-shot rule (before, it refused to run without a model)."""
    import json

    from facerec_core.cli import main

    for key, value in {"FACEREC_CACHE_DIR": background_settings.cache_dir, "FACEREC_DATA_DIR": tmp_path / "data",
                       "FACEREC_ARTIFACTS_DIR": tmp_path / "no-model", "FACEREC_WORKERS": "1",
                       "FACEREC_BACKBONE": background_settings.backbone}.items():
        monkeypatch.setenv(key, str(value))
    name = "Jean_Chretien"
    photos = [str(lfw_photo(lfw_dir, name, i)) for i in ENROLL_PHOTOS[name]]
    assert main(["predict", "-q", photos[0]]) == 2  # nobody to compare with: said, as before
    assert "no trained model" in capsys.readouterr().err
    assert main(["enroll", "-q", "Jean Chretien", *photos]) == 0
    capsys.readouterr()
    probe, stranger = lfw_photo(lfw_dir, name, PROBE_PHOTO[name]), lfw_photo(lfw_dir, "Aaron_Eckhart", 1)
    assert main(["predict", "-q", str(probe), str(stranger)]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [f["identity"] for f in answers[0]["faces"]] == ["Jean Chretien"]
    assert [f["identity"] for f in answers[1]["faces"]] == [UNKNOWN]
    assert answers[0]["faces"][0]["threshold"] == RULE.threshold
