"""Issue #16: trained models are stored without pickles; a swapped file carrying a payload is
refused without running it; manifests without their file list or with impossible thresholds are
refused naming the problem."""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

from facerec_core.artifacts import (FORMAT_VERSION, LEGACY_MODEL_FILE, MANIFEST, MODEL_FILE, REPORT_FILE,
                                    load_artifacts, save_artifacts)
from facerec_core.errors import ArtifactError
from facerec_core.hashing import sha256_file
from facerec_core.identity.identifiers import NearestNeighborIdentifier, SVMIdentifier
from facerec_core.model_files import PARAMS_FILE, SVC_FILE, model_files
from tests.support.embeddings import clusters

THRESHOLDS = {"identify": 0.4, "cohort_weight": 0.5, "target_far": 0.01}


class Payload:
    """Unpickling (or constructing) this writes a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("code ran",))

    def __setstate__(self, state):
        Path(state["marker"]).write_text("code ran")


def _fitted(kind: str):
    X, y = clusters(n_people=6, per_person=5, dim=16, seed=3)
    if kind == "nn":
        return NearestNeighborIdentifier(centroid_weight=0.7).fit(X, y), X
    return SVMIdentifier(C=10.0, gamma=1.0).fit(X, y), X


def _save(tmp_path: Path, kind: str = "nn") -> Path:
    identifier, _ = _fitted(kind)
    directory = tmp_path / "artifacts"
    save_artifacts(directory, identifier, {"backbone": "facenet", "classes": len(identifier.classes_),
                                           "thresholds": dict(THRESHOLDS)}, {"note": "test"})
    return directory


def _rehash(directory: Path, files: list[str] | None = None, **changes) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    names = files if files is not None else list(manifest["files"])
    manifest["files"] = {n: sha256_file(directory / n) for n in names}
    manifest.update(changes)
    (directory / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("kind", ["nn", "svm"])
def test_the_rebuilt_identifier_answers_exactly_as_the_saved_one(tmp_path, kind):
    identifier, X = _fitted(kind)
    save_artifacts(tmp_path / "a", identifier, {"backbone": "facenet", "thresholds": dict(THRESHOLDS)}, {})
    loaded, manifest, _ = load_artifacts(tmp_path / "a")
    assert manifest["identifier"] == kind and manifest["format_version"] == FORMAT_VERSION == 3
    assert set(manifest["files"]) == {*model_files(kind), REPORT_FILE}
    probes = np.concatenate([X, clusters(n_people=4, per_person=3, dim=16, seed=9)[0]])
    assert np.array_equal(loaded.predict(probes), identifier.predict(probes))
    assert np.array_equal(loaded.class_similarities(probes), identifier.class_similarities(probes))
    assert np.array_equal(loaded.decision_function(probes), identifier.decision_function(probes))
    assert np.array_equal(loaded.predict_proba(probes), identifier.predict_proba(probes))
    names = identifier.classes_
    assert np.array_equal(loaded.encoder_.transform(names), identifier.encoder_.transform(names))
    assert not list((tmp_path / "a").glob("*.joblib"))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    directory = _save(tmp_path, "svm")

    def refuse(*a, **k):
        raise AssertionError("a pickle was loaded")

    for module, name in ((pickle, "load"), (pickle, "loads"), (joblib, "load")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    load_artifacts(directory)


def test_an_old_joblib_model_with_a_payload_is_refused_unread(tmp_path):
    """Format 2 as it was: identifier.joblib + report + a manifest whose hash vouches for it."""
    marker = tmp_path / "marker"
    directory = tmp_path / "old"
    directory.mkdir()
    joblib.dump(Payload(str(marker)), directory / LEGACY_MODEL_FILE)
    (directory / REPORT_FILE).write_text("{}")
    (directory / MANIFEST).write_text(json.dumps({
        "format_version": 2, "backbone": "facenet", "identifier": "nn", "thresholds": THRESHOLDS,
        "files": {n: sha256_file(directory / n) for n in (LEGACY_MODEL_FILE, REPORT_FILE)}}))
    with pytest.raises(ArtifactError) as caught:
        load_artifacts(directory)
    message = str(caught.value)
    assert "identifier.joblib" in message and "pickle" in message
    assert "python -m facerec_core train" in message and "Home page" in message
    assert not marker.exists()
    # without the files list (which once turned every hash check off): still refused, unread
    manifest = json.loads((directory / MANIFEST).read_text())
    del manifest["files"]
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="pickle"):
        load_artifacts(directory)
    assert not marker.exists()


def test_a_pickle_dropped_beside_a_new_model_is_refused(tmp_path):
    marker = tmp_path / "marker"
    directory = _save(tmp_path)
    joblib.dump(Payload(str(marker)), directory / LEGACY_MODEL_FILE)
    with pytest.raises(ArtifactError, match="old pickle-based format.*retrain"):
        load_artifacts(directory)
    assert not marker.exists()
    save_artifacts(directory, _fitted("nn")[0], {"backbone": "facenet", "thresholds": dict(THRESHOLDS)}, {})
    assert not (directory / LEGACY_MODEL_FILE).exists()  # a new save removes the old pickle
    load_artifacts(directory)


def test_an_npz_with_an_object_array_payload_is_refused_unrun(tmp_path):
    marker = tmp_path / "marker"
    directory = _save(tmp_path)
    with np.load(directory / MODEL_FILE) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["classes"] = np.array([Payload(str(marker))] * len(arrays["classes"]), dtype=object)
    np.savez(directory / MODEL_FILE, **arrays)  # an object array is stored as a pickle
    _rehash(directory)
    with pytest.raises(ArtifactError, match="is not a readable model.*retrain"):
        load_artifacts(directory)
    assert not marker.exists()


def test_an_npz_member_that_is_a_raw_pickle_is_refused_unrun(tmp_path):
    marker = tmp_path / "marker"
    directory = _save(tmp_path)
    with zipfile.ZipFile(directory / MODEL_FILE) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["centroids.npy"] = pickle.dumps(Payload(str(marker)))
    with zipfile.ZipFile(directory / MODEL_FILE, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    _rehash(directory)
    with pytest.raises(ArtifactError, match="is not a readable model"):
        load_artifacts(directory)
    assert not marker.exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused_unrun(tmp_path):
    import skops.io

    marker = tmp_path / "marker"
    directory = _save(tmp_path, "svm")
    skops.io.dump(Payload(str(marker)), directory / SVC_FILE)
    _rehash(directory)
    with pytest.raises(ArtifactError, match="names types that are not trusted.*Payload.*retrain"):
        load_artifacts(directory)
    assert not marker.exists()


def test_a_skops_file_holding_another_estimator_is_refused(tmp_path):
    import skops.io
    from sklearn.linear_model import LogisticRegression

    directory = _save(tmp_path, "svm")
    X, y = clusters(n_people=6, per_person=5, dim=16, seed=3)
    skops.io.dump(LogisticRegression().fit(X, np.arange(len(y)) % 6), directory / SVC_FILE)
    _rehash(directory)
    with pytest.raises(ArtifactError, match="holds a LogisticRegression, not an SVC"):
        load_artifacts(directory)


def _edit(directory: Path, change) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    change(manifest)
    (directory / MANIFEST).write_text(json.dumps(manifest))


MANIFEST_CASES = [
    ("no files list", lambda m: m.pop("files"), "lacks 'files'"),
    ("files without the parameters", lambda m: m["files"].pop(PARAMS_FILE), "'files' must give the SHA-256"),
    ("files with an extra name", lambda m: m["files"].__setitem__("x.bin", "0" * 64), "names files other than"),
    ("nn files for an svm", lambda m: m.__setitem__("identifier", "svm"), "'files' must give the SHA-256"),
    ("unknown identifier", lambda m: m.__setitem__("identifier", "forest"), "'identifier' must be one of"),
    ("identify -5", lambda m: m["thresholds"].__setitem__("identify", -5), "threshold 'identify' is -5, outside"),
    ("identify 1.8 with weight 0.5", lambda m: m["thresholds"].__setitem__("identify", 1.8),
     "outside its valid range [-1.5, 1.5]"),
    ("verify 1.2", lambda m: m["thresholds"].__setitem__("verify", 1.2), "threshold 'verify' is 1.2"),
    ("cohort weight 3", lambda m: m["thresholds"].__setitem__("cohort_weight", 3), "'cohort_weight' is 3"),
    ("target FAR 2", lambda m: m["thresholds"].__setitem__("target_far", 2), "'target_far' is 2"),
    ("no identify", lambda m: m["thresholds"].pop("identify"), "lacks 'identify'"),
    ("unknown threshold", lambda m: m["thresholds"].__setitem__("anything", 0.1), "which training never writes"),
]


@pytest.mark.parametrize("change,expected", [c[1:] for c in MANIFEST_CASES], ids=[c[0] for c in MANIFEST_CASES])
def test_a_manifest_not_as_training_writes_it_is_refused_naming_the_problem(tmp_path, change, expected):
    directory = _save(tmp_path)
    _edit(directory, change)
    with pytest.raises(ArtifactError) as caught:
        load_artifacts(directory)
    assert expected in str(caught.value) and "retrain" in str(caught.value)


def test_thresholds_at_their_bounds_are_accepted(tmp_path):
    directory = _save(tmp_path)
    _edit(directory, lambda m: m["thresholds"].update(identify=-1.5, verify=1.0, verify_normalised=-1.0,
                                                       verify_cohort_weight=0.0))
    assert load_artifacts(directory)[1]["thresholds"]["identify"] == -1.5
