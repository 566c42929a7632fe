"""The enrolled gallery: enrollment from real LFW photos, open-set recognition together with the
trained model, refusals, persistence, management, export/import, concurrency, crash safety, CLI."""
from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec_core.faces import UNKNOWN
from facerec_core.gallery import (SCHEMA_VERSION, EnrollmentError, GalleryError, GalleryIdentifier, GalleryStore,
                                  NewSample, PersonNotFoundError, default_threshold, enroll, prepare_sample)
from facerec_core.images import load_image
from facerec_core.recognizer import Recognizer
from tests.conftest import lfw_photo

# Not among the 8 people of the session model; each has >= 4 photos with one clear face.
NEWCOMERS = ["Jacques_Chirac", "Jean_Chretien", "Andre_Agassi"]
ENROLL_PHOTOS = {"Jacques_Chirac": [1, 2, 3], "Jean_Chretien": [1, 2, 3], "Andre_Agassi": [1, 2, 4]}
PROBE_PHOTO = {"Jacques_Chirac": 4, "Jean_Chretien": 4, "Andre_Agassi": 5}
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def unit_vectors(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def gallery_settings(trained, tmp_path_factory):
    """The session's trained model with a gallery of its own (other tests' data dir stays clean)."""
    settings, _ = trained
    return settings.replace(data_dir=tmp_path_factory.mktemp("gallery") / "data")


@pytest.fixture(scope="module")
def app_recognizer(gallery_settings):
    """A Recognizer built by ``Recognizer.load`` before anyone is enrolled: it must pick the
    enrollments up by itself (the hook attaches the gallery identifier)."""
    return Recognizer.load(gallery_settings)


@pytest.fixture(scope="module")
def enrolled(gallery_settings, app_recognizer, lfw_dir):
    """Three newcomers enrolled from 3 photos each, through a store of its own (as another session)."""
    store = GalleryStore.open(gallery_settings)
    reports = {name: enroll(store, app_recognizer, name.replace("_", " "),
                            [lfw_photo(lfw_dir, name, i) for i in ENROLL_PHOTOS[name]])
               for name in NEWCOMERS}
    store.close()
    return reports


@pytest.fixture()
def store(tmp_path):
    with GalleryStore(tmp_path / "g.sqlite3") as s:
        yield s


# ---------------------------------------------------------------------------------------------
# Enrollment and recognition with real photos


def test_enrolled_people_are_recognized_at_once_with_the_model(enrolled, app_recognizer, lfw_dir, known_people,
                                                               stranger_photo, held_out_photo):
    for name, report in enrolled.items():
        assert report.added == 3 and report.refused == 0 and report.person.samples == 3, report.outcomes
    gallery = app_recognizer.extra_galleries[-1]
    assert isinstance(gallery, GalleryIdentifier)
    assert gallery.threshold == pytest.approx(app_recognizer.threshold)  # the model's calibrated threshold
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
    rec = Recognizer(app_recognizer.detector, app_recognizer.backbone)  # no model, no manifest
    rec.extra_galleries.append(GalleryIdentifier.for_recognizer(rec, gallery_settings))
    assert rec.extra_galleries[0].threshold == default_threshold("facenet")
    face = rec.recognize(lfw_photo(lfw_dir, "Jacques_Chirac", PROBE_PHOTO["Jacques_Chirac"]))[0]
    assert face.identity == "Jacques Chirac"
    # an empty gallery has no opinion: without a model nothing is named, as before
    empty = Recognizer(app_recognizer.detector, app_recognizer.backbone)
    empty.extra_galleries.append(GalleryIdentifier(gallery_settings.data_dir / "none.sqlite3", "facenet"))
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


# ---------------------------------------------------------------------------------------------
# The store: persistence, schema, management, export/import


def test_store_survives_a_restart_private_wal_and_versioned(tmp_path):
    path = tmp_path / "data" / "gallery.sqlite3"
    X = unit_vectors(4)
    with GalleryStore(path) as store:
        store.add_samples("Ada", [NewSample(X[0], "facenet", 0.99, "a.jpg"), NewSample(X[1], "facenet", 0.98, "b.jpg")],
                          notes="friend")
        store.add_samples("Bob", [NewSample(X[2], "facenet", 0.99, "c.jpg")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    with GalleryStore(path) as store:  # "restart"
        assert [(p.name, p.samples, p.notes) for p in store.people()] == [("Ada", 2, "friend"), ("Bob", 1, "")]
        names = [r[0] for r in GalleryIdentifier(store, "facenet", threshold=0.5).identify(X[:3])]
        assert names == ["Ada", "Ada", "Bob"]
        assert store.check() == []


def test_newer_schema_or_garbage_file_is_refused(tmp_path):
    path = tmp_path / "g.sqlite3"
    GalleryStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(GalleryError, match="newer facerec"):
        GalleryStore(path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GalleryError, match="not a usable gallery"):
        GalleryStore(junk)
    # recognition goes on without the gallery (logged once, retried later) instead of failing
    assert GalleryIdentifier(junk, "facenet").identify(unit_vectors(1)) == []


def test_rename_delete_sample_and_person_show_up_in_search(store):
    X = unit_vectors(3, seed=1)
    ident = GalleryIdentifier(store, "facenet", threshold=0.9)
    store.add_samples("Ada", [NewSample(X[0], "facenet", 0.99, "a"), NewSample(X[1], "facenet", 0.99, "b")])
    assert [r[0] for r in ident.identify(X)] == ["Ada", "Ada", UNKNOWN]
    store.rename_person("ada", "Ada Lovelace")
    assert ident.identify(X[:1])[0][0] == "Ada Lovelace"
    with pytest.raises(GalleryError, match="reserved"):
        store.rename_person("Ada Lovelace", "Unknown")
    store.create_person("Bob")
    with pytest.raises(GalleryError, match="already enrolled"):
        store.rename_person("Bob", "ada lovelace")
    store.set_notes("Bob", "no samples yet")
    sample = store.samples("Ada Lovelace")[1]
    store.delete_sample(sample.id)
    assert [r[0] for r in ident.identify(X)] == ["Ada Lovelace", UNKNOWN, UNKNOWN]
    assert store.delete_person("Ada Lovelace") == 1
    assert ident.identify(X) == []  # Bob has no samples: the gallery is empty for search
    assert [(p.name, p.samples, p.notes) for p in store.people()] == [("Bob", 0, "no samples yet")]
    with pytest.raises(PersonNotFoundError, match="nobody enrolled"):
        store.delete_person("Ada Lovelace")


def test_export_import_roundtrip_merges_and_refuses_another_backbone(tmp_path, store):
    X = unit_vectors(4, seed=2)
    store.add_samples("Ada", [NewSample(X[0], "facenet", 0.99, "a", "h0", b"\xff\xd8thumb"),
                              NewSample(X[1], "facenet", 0.98, "b", "h1")], notes="n")
    store.add_samples("Dlib Only", [NewSample(unit_vectors(1, 64, 3)[0], "dlib-resnet", 0.99, "d")])
    path = store.export_file(tmp_path / "out.json", "facenet")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["format"] == "facerec-gallery" and doc["backbone"] == "facenet" and doc["embedding_size"] == 128
    ada = next(p for p in doc["people"] if p["name"] == "Ada")
    assert len(ada["samples"]) == 2 and ada["notes"] == "n"

    with GalleryStore(tmp_path / "other.sqlite3") as other:
        other.add_samples("ada", [NewSample(X[0], "facenet", 0.99, "same photo", "h0")])
        report = other.import_file(path, "facenet")
        assert (report.people_added, report.people_merged, report.samples_added, report.samples_skipped) == (1, 1, 1, 1)
        assert {p.name: p.samples for p in other.people()} == {"ada": 2, "Dlib Only": 0}
        assert other.samples("ada")[0].thumbnail is None and other.samples("ada")[1].source == "b"
        generation = other.generation()
        with pytest.raises(GalleryError, match="backbone 'facenet', not 'dlib-resnet'"):
            other.import_file(path, "dlib-resnet")
        doc["people"][0]["samples"][0]["embedding"] = "!!not base64!!"
        with pytest.raises(GalleryError, match="nothing was imported"):
            other.import_data(json.dumps(doc), "facenet")
        with pytest.raises(GalleryError, match="not a gallery export"):
            other.import_data(b"{}", "facenet")
        assert other.generation() == generation  # refused imports change nothing


def test_search_shapes_threshold_and_top_k(store):
    X = unit_vectors(6, seed=4)
    for i, name in enumerate(["A", "B", "C"]):
        store.add_samples(name, [NewSample(X[2 * i], "facenet", 1.0), NewSample(X[2 * i + 1], "facenet", 1.0)])
    ident = GalleryIdentifier(store, "facenet", threshold=0.99)
    probe = X[[3, 5]] + 0.01 * unit_vectors(2, seed=5)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    results = ident.identify(probe, top_k=2)
    assert [r[0] for r in results] == ["B", "C"]
    assert all(len(r[2]) == 2 and r[2][0].score >= r[2][1].score and r[2][0].score == r[1] for r in results)
    assert ident.identify(probe, top_k=10)[0][2][0].name == "B" and len(ident.identify(probe, top_k=10)[0][2]) == 3
    assert [r[0] for r in ident.identify(unit_vectors(2, seed=6))] == [UNKNOWN, UNKNOWN]
    sims, names = ident.person_similarities(probe)
    assert sims.shape == (2, 3) and names == ["A", "B", "C"]
    assert GalleryIdentifier(store, "dlib-resnet").identify(probe) == []  # other backbones' samples are separate


# ---------------------------------------------------------------------------------------------
# Concurrency and crash safety


def test_two_sessions_enroll_and_recognize_at_once(tmp_path):
    """Threads as browser sessions: two share one store (cache_resource), one has its own
    connection (another process); every enrollment is kept and seen by every identifier."""
    path = tmp_path / "g.sqlite3"
    shared, separate = GalleryStore(path), GalleryStore(path)
    X = unit_vectors(3 * 15 * 2, seed=7)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def session(worker: int, store: GalleryStore, other: GalleryStore) -> None:
        try:
            ident = GalleryIdentifier(other, "facenet", threshold=0.9)  # sees changes made elsewhere
            start.wait()
            for i in range(15):
                k = (worker * 15 + i) * 2
                name = f"w{worker}-{i}"
                store.add_samples(name, [NewSample(X[k], "facenet", 1.0), NewSample(X[k + 1], "facenet", 1.0)])
                assert ident.identify(X[k:k + 1])[0][0] == name
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    def searcher() -> None:
        try:
            ident = GalleryIdentifier(shared, "facenet", threshold=0.9)
            start.wait()
            for _ in range(200):
                ident.identify(X[:4])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(0, shared, separate)),
               threading.Thread(target=session, args=(1, shared, shared)),
               threading.Thread(target=session, args=(2, separate, shared)),
               threading.Thread(target=searcher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(shared.people()) == 45 and all(p.samples == 2 for p in separate.people())
    assert [r[0] for r in GalleryIdentifier(path, "facenet", threshold=0.9).identify(X[::2])] == \
        [f"w{w}-{i}" for w in range(3) for i in range(15)]
    shared.close()
    separate.close()


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from facerec_core.gallery import GalleryStore, NewSample
    store = GalleryStore(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    thumb = bytes(rng.integers(0, 256, 4000, dtype=np.uint8))
    i = 0
    while True:
        X = rng.normal(size=(25, 128)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        store.add_samples(f"p{sys.argv[2]}-{i}", [NewSample(x, "facenet", 0.99, f"s{j}", None, thumb)
                                                  for j, x in enumerate(X)])
        i += 1
        if i == 3:
            print("ready", flush=True)
""")


def test_killing_a_writer_mid_enrollment_leaves_the_store_consistent(tmp_path):
    path = tmp_path / "g.sqlite3"
    GalleryStore(path).close()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(round_)], stdout=subprocess.PIPE,
                                env=env, cwd=PROJECT_ROOT)
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(0.05 + 0.1 * round_)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        with GalleryStore(path) as store:
            assert store.check() == []
            assert rows(path, "PRAGMA integrity_check") == [("ok",)]
            people = store.people()
            assert len(people) >= 3 * (round_ + 1)
            assert all(p.samples == 25 for p in people), [p for p in people if p.samples != 25]
            assert rows(path, "SELECT COUNT(*) FROM samples WHERE person_id NOT IN (SELECT id FROM people)") == [(0,)]
            # and it still takes writes
            store.add_samples(f"after-{round_}", [NewSample(unit_vectors(1, seed=round_)[0], "facenet", 1.0)])
            store.delete_person(f"after-{round_}")


# ---------------------------------------------------------------------------------------------
# Command line and retraining


@pytest.fixture()
def reuse_models(monkeypatch, app_recognizer):
    """``Recognizer.load`` runs as usual but takes the already loaded detector and backbone
    (loading them again costs seconds per command)."""
    import facerec_core.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: app_recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: app_recognizer.backbone)


def test_cli_enroll_people_forget_export_import(gallery_settings, lfw_dir, tmp_path, monkeypatch, capsys,
                                                reuse_models):
    from facerec_core.cli import main

    data = tmp_path / "cli-data"
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(gallery_settings.artifacts_dir))
    monkeypatch.setenv("FACEREC_DEVICE", "cpu")
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
    # the predict command names the enrolled person through the Recognizer hook
    monkeypatch.setenv("FACEREC_DATA_DIR", str(data))
    assert main(["predict", str(lfw_photo(lfw_dir, "Vicente_Fox", 4))]) == 0
    faces = json.loads(capsys.readouterr().out)[0]["faces"]
    assert "Vicente Fox" in [f["identity"] for f in faces]
    # nothing refused outright: enrolling only bad photos is an error status
    assert main(["enroll", "Nobody", str(tmp_path / "missing.jpg"), *common]) == 1


@pytest.mark.slow
def test_retrain_folds_the_gallery_into_the_svm(trained, enrolled, gallery_settings, tmp_path):
    from facerec_core.artifacts import load_artifacts
    from facerec_core.gallery import retrain
    from facerec_core.training import TrainConfig
    from tests.conftest import TEST_IMAGES_PER_PERSON, TEST_PEOPLE

    settings = gallery_settings.replace(artifacts_dir=tmp_path / "artifacts")  # the session model stays as is
    config = TrainConfig(max_people=TEST_PEOPLE, max_images=TEST_IMAGES_PER_PERSON, verification=False,
                         open_set=False, identifier="svm", svm_grid={"C": [10.0], "gamma": [1.0]})
    report = retrain(settings, config)
    assert report["gallery"] == {"people": 3, "samples": 9}
    identifier, manifest, _ = load_artifacts(settings.artifacts_dir, backbone="facenet")
    assert {"Jacques Chirac", "Jean Chretien", "Andre Agassi"} <= set(identifier.classes_)
    assert manifest["classes"] == TEST_PEOPLE + 3
