"""The Gallery page, driven in-process with Streamlit's AppTest: enroll a person from uploaded photos
and a webcam snapshot, see them recognized by the shared Recognizer at once, then delete them
(with confirmation). Uses the session's small trained model and a gallery of its own."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from facerec_core.gallery import GalleryStore, gallery_path
from facerec_core.settings import Settings
from tests.app.conftest import ACCOUNTS, access_services, sign_in_app
from tests.conftest import lfw_photo

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "gallery.py")
TIMEOUT = 180
ENV = ("FACEREC_LFW_DIR", "FACEREC_ARTIFACTS_DIR", "FACEREC_CACHE_DIR", "FACEREC_DATA_DIR", "FACEREC_MODELS_DIR",
       "FACEREC_DEVICE", "FACEREC_BACKBONE")


@pytest.fixture()
def gallery_env(monkeypatch, trained, recognizer, tmp_path) -> Settings:
    """The app's environment: the trained session model, a fresh data folder for the gallery."""
    settings, _ = trained
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    env = {"FACEREC_LFW_DIR": settings.lfw_dir, "FACEREC_ARTIFACTS_DIR": settings.artifacts_dir,
           "FACEREC_CACHE_DIR": settings.cache_dir, "FACEREC_DATA_DIR": tmp_path / "data",
           "FACEREC_MODELS_DIR": settings.models_dir, "FACEREC_DEVICE": "cpu", "FACEREC_BACKBONE": settings.backbone}
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    # The app's Recognizer.load runs for real but reuses the session's loaded detector and backbone.
    import facerec_core.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: recognizer.backbone)
    return Settings.from_env()


def open_gallery(role: str = "admin") -> AppTest:
    """The Gallery page on its own, signed in as the ``role`` test account (an administrator may
    open it; issue #16)."""
    return sign_in_app(AppTest.from_file(PAGE, default_timeout=TIMEOUT), role)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_enroll_from_uploads_and_a_snapshot_then_recognize_and_delete(gallery_env, lfw_dir):
    at = open_gallery()
    at.run()
    no_exception(at)
    assert at.title[0].value == "Gallery"
    assert "Nobody is enrolled yet" in texts(at.info)
    assert at.button(key="gallery_enroll").disabled  # nothing to enroll yet

    # three uploads, one of which has no face in it
    at.text_input(key="gallery_new_name").input("Jacques Chirac")
    files = [(f"chirac{i}.jpg", lfw_photo(lfw_dir, "Jacques_Chirac", i).read_bytes(), "image/jpeg") for i in (1, 2)]
    files.append(("cat.jpg", b"definitely not a jpeg", "image/jpeg"))
    at.file_uploader(key="gallery_uploads_0").set_value(files)
    at.run()
    no_exception(at)
    at.button(key="gallery_enroll").click()  # check the photos, then confirm
    at.run()
    no_exception(at)
    at.button(key="gallery_store").click()
    at.run()
    no_exception(at)
    assert "chirac1.jpg**: added" in texts(at.success) and "chirac2.jpg**: added" in texts(at.success)
    assert "cat.jpg**: refused" in texts(at.error) and "not an image" in texts(at.error)
    assert "is recognized from now on" in texts(at.success)
    assert at.selectbox(key="gallery_person").value == "Jacques Chirac"  # ready to add more photos

    # a webcam snapshot adds a sample to the same person
    at.toggle(key="gallery_camera").set_value(True)
    at.run()
    at.camera_input(key="gallery_snapshot_1").upload(
        "shot.jpg", lfw_photo(lfw_dir, "Jacques_Chirac", 3).read_bytes())
    at.run()
    no_exception(at)
    assert "1 snapshot(s) collected." in texts(at.caption)
    at.button(key="gallery_enroll").click()
    at.run()
    no_exception(at)
    at.button(key="gallery_store").click()
    at.run()
    no_exception(at)
    assert "snapshot 1.jpg**: added" in texts(at.success)

    store = GalleryStore(gallery_path(gallery_env))
    people = store.people()
    assert [(p.name, p.samples) for p in people] == [("Jacques Chirac", 3)]

    # the page's shared Recognizer (st.cache_resource) names him at once, no retraining
    from dashboard.resources import _load_recognizer

    recognizer = _load_recognizer(gallery_env)
    face = max(recognizer.recognize(lfw_photo(lfw_dir, "Jacques_Chirac", 4)), key=lambda f: f.size)
    assert face.identity == "Jacques Chirac"

    # deleting asks first
    person_id = people[0].id
    at.button(key=f"gallery_delete_{person_id}").click()
    at.run()
    assert "cannot be undone" in texts(at.warning)
    assert len(store.people()) == 1
    at.button(key=f"gallery_confirm_{person_id}").click()
    at.run()
    no_exception(at)
    assert "Forgot Jacques Chirac and 3 sample(s)." in texts(at.success)
    assert store.people() == []
    assert recognizer.recognize(lfw_photo(lfw_dir, "Jacques_Chirac", 4))[0].identity != "Jacques Chirac"
    store.close()
    # both changes went through the core's guard into the audit trail, with who made them
    with access_services() as (_, audit):
        done = [(e.action, e.target, e.where) for e in audit.events(actor=ACCOUNTS["admin"], outcome="ok")]
    assert ("enroll", "Jacques Chirac", "Gallery page") in done
    assert ("delete_person", "Jacques Chirac", "Gallery page") in done
