"""Enrollment from real LFW photos: open-set recognition together with the trained model and
without it, refusals, mixed batches, and the command line (enroll/people/forget/export/import)."""
from __future__ import annotations

import io
import json
import stat

import numpy as np
import pytest
from PIL import Image

from facerec_core.backbones.specs import spec_for
from facerec_core.faces import UNKNOWN
from facerec_core.gallery import EnrollmentError, GallerySource, enroll, prepare_sample
from facerec_core.identity.decide import CALIBRATED
from facerec_core.images import load_image
from facerec_core.recognizer import Recognizer
from tests.conftest import lfw_photo
from tests.gallery.conftest import NEWCOMERS, PROBE_PHOTO, jpeg_bytes, rows


def test_enrolled_people_are_recognized_at_once_with_the_model(enrolled, app_recognizer, lfw_dir, known_people,
                                                               stranger_photo, held_out_photo):
    for name, report in enrolled.items():
        assert report.added == 3 and report.refused == 0 and report.person.samples == 3, report.outcomes
    gallery = app_recognizer.gallery
    assert isinstance(gallery, GallerySource)
    assert app_recognizer.thresholds.source == CALIBRATED  # the model's calibrated threshold, for the gallery too
    assert not set(NEWCOMERS) & set(known_people)
    for name in NEWCOMERS:
        faces = app_recognizer.recognize(lfw_photo(lfw_dir, name, PROBE_PHOTO[name]))
        face = max(faces, key=lambda f: f.size)
        assert face.identity == name.replace("_", " "), (name, face.to_dict())
        assert face.confidence >= app_recognizer.threshold
        assert face.matches[0].name == face.identity
    stranger = app_recognizer.recognize(stranger_photo)
    assert [f.identity for f in stranger] == [UNKNOWN]
    # people of the trained model are still named by it
    person, photo = held_out_photo
    assert max(app_recognizer.recognize(photo), key=lambda f: f.size).identity == person


def test_gallery_alone_names_people_without_a_trained_model(enrolled, app_recognizer, gallery_settings, lfw_dir):
    rec = Recognizer(app_recognizer.detector, app_recognizer.backbone,  # no model, no manifest
                     gallery=GallerySource.for_settings(gallery_settings))
    assert rec.threshold == spec_for("facenet").identify_threshold
    face = rec.recognize(lfw_photo(lfw_dir, "Jacques_Chirac", PROBE_PHOTO["Jacques_Chirac"]))[0]
    assert face.identity == "Jacques Chirac"
    # an empty gallery has no opinion: without a model nothing is named, as before
    empty = Recognizer(app_recognizer.detector, app_recognizer.backbone,
                       gallery=GallerySource(gallery_settings.data_dir / "none.sqlite3", "facenet"))
    assert empty.recognize(lfw_photo(lfw_dir, "Jacques_Chirac", 4))[0].identity is None
    assert not (gallery_settings.data_dir / "none.sqlite3").exists()  # searching never creates a file


def two_faces(lfw_dir) -> np.ndarray:
    left = load_image(lfw_photo(lfw_dir, "Jacques_Chirac", 1))
    right = load_image(lfw_photo(lfw_dir, "Jean_Chretien", 1))
    canvas = Image.new("RGB", (left.shape[1] + right.shape[1], max(left.shape[0], right.shape[0])))
    canvas.paste(Image.fromarray(left), (0, 0))
    canvas.paste(Image.fromarray(right), (left.shape[1], 0))
    return np.asarray(canvas)


def test_refused_photos_store_nothing(app_recognizer, store, lfw_dir, blank_image):
    before = store.generation()
    truncated = lfw_photo(lfw_dir, "Jacques_Chirac", 1).read_bytes()[:600]
    tiny = np.asarray(Image.open(lfw_photo(lfw_dir, "Jacques_Chirac", 2)).resize((90, 90)))
    cases = {
        "no face": (("blank.png", blank_image), "no face"),
        "two faces": (("pair.jpg", jpeg_bytes(two_faces(lfw_dir))), "2 faces"),
        "corrupt": (("broken.jpg", truncated), "corrupt or truncated"),
        "not an image": (("notes.jpg", b"hello, not a picture"), "not an image"),
        "too small": (("tiny.png", tiny), "px"),
    }
    for case, (photo, reason) in cases.items():
        with pytest.raises(EnrollmentError, match=reason):
            prepare_sample(app_recognizer, photo[1], name=photo[0])
        report = enroll(store, app_recognizer, f"Someone {case}", [photo])
        assert report.refused == 1 and report.person is None, case
        assert photo[0] in report.outcomes[0].reason
    assert store.people() == [] and store.generation() == before
    assert rows(store.path, "SELECT COUNT(*) FROM samples") == [(0,)]


def test_a_mixed_batch_keeps_the_good_photos_and_skips_duplicates(app_recognizer, store, lfw_dir, blank_image):
    good = lfw_photo(lfw_dir, "Jacques_Chirac", 1)
    report = enroll(store, app_recognizer, "Chirac", [good, ("blank.png", blank_image),
                                                      ("copy.jpg", good.read_bytes())])
    assert [o.status for o in report.outcomes] == ["added", "refused", "duplicate"]
    assert report.person.samples == 1
    again = enroll(store, app_recognizer, "chirac", [good])  # names match case-insensitively
    assert again.duplicates == 1 and again.person.samples == 1
    other = enroll(store, app_recognizer, "Somebody Else", [good])
    assert other.refused == 1 and "already enrolled as 'Chirac'" in other.outcomes[0].reason
    assert [p.name for p in store.people()] == ["Chirac"]
    sample = store.samples("Chirac")[0]
    assert sample.source == good.name and sample.det_score > 0.95
    assert Image.open(io.BytesIO(sample.thumbnail)).size == (96, 96)  # a thumbnail, not the original


def test_cli_enroll_people_forget_export_import(gallery_settings, lfw_dir, tmp_path, monkeypatch, capsys,
                                                reuse_models):
    from facerec_core.cli import main

    data = tmp_path / "cli-data"
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(gallery_settings.artifacts_dir))
    monkeypatch.setenv("FACEREC_DEVICE", "cpu")
    monkeypatch.setenv("FACEREC_BACKBONE", gallery_settings.backbone)
    common = ["--data-dir", str(data)]
    photos = [str(lfw_photo(lfw_dir, "Vicente_Fox", i)) for i in (1, 3)]
    assert main(["enroll", "Vicente Fox", *photos, str(tmp_path / "missing.jpg"), "--notes", "cli", *common]) == 0
    out = capsys.readouterr().out
    assert out.count("added") >= 2 and "refused" in out and "no such file" in out
    assert stat.S_IMODE((data / "gallery.sqlite3").stat().st_mode) == 0o600

    assert main(["people", "--json", *common]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["samples"], p["notes"]) for p in listed] == [("Vicente Fox", 2, "cli")]

    export = tmp_path / "fox.json"
    assert main(["export", str(export), *common]) == 0
    assert main(["forget", "vicente fox", *common]) == 0
    assert "forgot Vicente Fox (2 samples deleted)" in capsys.readouterr().out
    assert main(["forget", "Vicente Fox", *common]) == 2  # unknown name: a clear error
    assert "nobody enrolled" in capsys.readouterr().err
    assert main(["people", *common]) == 0 and "nobody enrolled yet" in capsys.readouterr().out
    assert main(["import", str(export), *common]) == 0
    assert "imported 1 new people" in capsys.readouterr().out
    assert main(["import", str(export), "--backbone", "dlib-resnet", *common]) == 2
    assert "not 'dlib-resnet'" in capsys.readouterr().err
    assert main(["people", *common]) == 0 and "Vicente Fox" in capsys.readouterr().out
    # the predict command names the enrolled person through the gallery the Recognizer loads
    monkeypatch.setenv("FACEREC_DATA_DIR", str(data))
    assert main(["predict", str(lfw_photo(lfw_dir, "Vicente_Fox", 4))]) == 0
    faces = json.loads(capsys.readouterr().out)[0]["faces"]
    assert "Vicente Fox" in [f["identity"] for f in faces]
    # nothing refused outright: enrolling only bad photos is an error status
    assert main(["enroll", "Nobody", str(tmp_path / "missing.jpg"), *common]) == 1
