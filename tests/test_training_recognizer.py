"""Training on a real LFW subset, saved artifacts, and the Recognizer facade end to end."""
import json

import numpy as np
import pytest

from facerec_core.artifacts import MANIFEST, MODEL_FILE, deployed_dir, load_artifacts
from facerec_core.errors import ArtifactError, FacerecError, ImageError
from facerec_core.faces import UNKNOWN
from facerec_core.model_files import model_files
from facerec_core.recognizer import Recognizer
from tests.conftest import TEST_IMAGES_PER_PERSON, TEST_PEOPLE, lfw_photo
from tests.gallery.conftest import enroll_newcomers


def test_report_and_manifest(trained):
    settings, report = trained
    assert report["data"]["people"] == TEST_PEOPLE
    assert report["data"]["images"] == TEST_PEOPLE * TEST_IMAGES_PER_PERSON
    assert set(report["identifiers"]) == {"svm", "nn"}
    for metrics in report["identifiers"].values():
        assert metrics["accuracy"] >= 0.9  # 8 well-separated people
        assert {"macro_precision", "macro_recall", "macro_f1", "weighted_f1"} <= set(metrics)
    assert report["original_design"]["accuracy"] == 0.80
    assert len(report["per_person"]) == TEST_PEOPLE
    _, manifest, saved_report = load_artifacts(settings.artifacts_dir, backbone="facenet")
    assert manifest["backbone"] == "facenet" and manifest["classes"] == TEST_PEOPLE
    assert manifest["identifier"] == report["chosen_identifier"]
    assert -1 < manifest["thresholds"]["identify"] < 1
    assert 0 <= manifest["thresholds"]["cohort_weight"] <= 1
    open_set = report["open_set"]
    assert open_set["n_unknown"] == 40 and open_set["rank1"] >= 0.9
    assert 0 <= open_set["dir_at_far_0.01"] <= 1 and len(open_set["closest_unknowns"]) == 15
    assert open_set["merged_names"]  # LFW's one-person-two-names cases were merged
    assert set(manifest["files"]) == {*model_files(manifest["identifier"]), "report.json"} and MODEL_FILE in manifest["files"]
    assert saved_report["data"] == json.loads(json.dumps(report["data"]))


def test_artifacts_refuse_mismatch(trained, tmp_path):
    import shutil

    settings, _ = trained
    copy = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, copy)
    with pytest.raises(ArtifactError, match="backbone 'facenet', not 'dlib-resnet'"):
        load_artifacts(copy, backbone="dlib-resnet")
    with open(deployed_dir(copy) / MODEL_FILE, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ArtifactError, match="does not match the SHA-256"):
        load_artifacts(copy)
    (deployed_dir(copy) / MANIFEST).unlink()
    with pytest.raises(ArtifactError, match="no trained model"):
        load_artifacts(copy)
    with pytest.raises(ArtifactError, match="no trained model"):
        Recognizer.load(settings.replace(artifacts_dir=tmp_path / "empty"))


def test_threshold_round_trips_through_the_manifest(trained, recognizer):
    settings, report = trained
    _, manifest, _ = load_artifacts(settings.artifacts_dir)
    assert recognizer.threshold == pytest.approx(manifest["thresholds"]["identify"])
    assert recognizer.threshold == pytest.approx(report["open_set"]["threshold"])
    assert recognizer.thresholds.cohort_weight == pytest.approx(manifest["thresholds"]["cohort_weight"])


def test_names_a_known_person_in_a_held_out_photo(recognizer, held_out_photo):
    name, path = held_out_photo
    faces = recognizer.recognize(path)
    assert len(faces) >= 1
    face = max(faces, key=lambda f: f.size)
    assert face.identity == name
    assert face.confidence >= recognizer.threshold
    assert face.matches[0].name == name and face.embedding.shape == (128,)
    d = face.to_dict()
    assert d["identity"] == name and "embedding" not in d


def test_stranger_is_unknown(recognizer, stranger_photo):
    faces = recognizer.recognize(stranger_photo)
    assert faces and all(f.identity == UNKNOWN for f in faces)
    assert faces[0].matches  # the closest people are still reported, for transparency


def test_threshold_override(recognizer, held_out_photo):
    _, path = held_out_photo
    assert recognizer.recognize(path, threshold=1.01)[0].identity == UNKNOWN


def test_no_face_and_bad_input(recognizer, blank_image, tmp_path):
    assert recognizer.recognize(blank_image) == []
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageError, match="broken.jpg"):
        recognizer.recognize(broken)


def test_small_faces_are_not_guessed(recognizer, held_out_photo):
    from PIL import Image

    _, path = held_out_photo
    tiny = np.asarray(Image.open(path).resize((70, 70)))
    faces = recognizer.recognize(tiny, min_face_size=10)
    assert faces and faces[0].identity == UNKNOWN and "too small" in faces[0].note


def test_verify_pairs_from_pairs_txt(recognizer, lfw_dir, lfw_protocol_dir):
    from facerec_core.lfw import read_pairs

    pairs = read_pairs(lfw_protocol_dir / "pairs.txt")
    matched = next(p for p in pairs if p.same)
    mismatched = next(p for p in pairs if not p.same)
    same = recognizer.verify(lfw_photo(lfw_dir, matched.name1, matched.index1),
                             lfw_photo(lfw_dir, matched.name2, matched.index2))
    assert same.same and "same person" in same.verdict
    diff = recognizer.verify(lfw_photo(lfw_dir, mismatched.name1, mismatched.index1),
                             lfw_photo(lfw_dir, mismatched.name2, mismatched.index2))
    assert not diff.same and "different people" in diff.verdict
    assert diff.similarity < same.similarity


def test_verify_no_face(recognizer, lfw_dir, blank_image):
    with pytest.raises(FacerecError, match="no face found in the second image"):
        recognizer.verify(lfw_photo(lfw_dir, "Colin_Powell", 1), blank_image)


def test_recognizer_without_a_model(trained, tmp_path, held_out_photo):
    settings, _ = trained
    rec = Recognizer.load(settings.replace(artifacts_dir=tmp_path / "none"), require_model=False)
    assert not rec.has_model
    faces = rec.recognize(held_out_photo[1])
    assert faces and faces[0].identity is None and faces[0].embedding is not None


# ---------------------------------------------------------------------------------------------
# Retraining with the enrolled gallery folded in


@pytest.fixture()
def gallery_settings(trained, tmp_path):
    """The session's trained model with a gallery of its own (other tests' data dir stays clean)."""
    settings, _ = trained
    return settings.replace(data_dir=tmp_path / "data")


@pytest.fixture()
def enrolled(gallery_settings, recognizer, lfw_dir):
    """The gallery tests' three newcomers (tests/gallery), enrolled from 3 photos each."""
    return enroll_newcomers(gallery_settings, recognizer, lfw_dir)


@pytest.mark.slow
def test_retrain_folds_the_gallery_into_the_svm(trained, enrolled, gallery_settings, tmp_path):
    from facerec_core.training import TrainConfig, retrain

    settings = gallery_settings.replace(artifacts_dir=tmp_path / "artifacts")  # the session model stays as is
    config = TrainConfig(max_people=TEST_PEOPLE, max_images=TEST_IMAGES_PER_PERSON, verification=False,
                         open_set=False, identifier="svm", svm_grid={"C": [10.0], "gamma": [1.0]})
    report = retrain(settings, config)
    assert report["gallery"] == {"people": 3, "samples": 9}
    identifier, manifest, _ = load_artifacts(settings.artifacts_dir, backbone="facenet")
    assert {"Jacques Chirac", "Jean Chretien", "Andre Agassi"} <= set(identifier.classes_)
    assert manifest["classes"] == TEST_PEOPLE + 3
