"""Issue #13 defect 11, the Gallery page driven with AppTest: the panel being edited stays open,
every number is labelled, enrollment previews the faces found and asks before storing, warns of
look-alikes (and lets the person go on or cancel), Export and Import are disabled with nothing to
act on. Real LFW photos, the session model, a gallery of each test's own."""
from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from facerec_core.gallery import GalleryStore, enroll, gallery_path
from tests.app.conftest import shown
from tests.app.test_gallery_page import gallery_env, no_exception, open_gallery, texts  # noqa: F401 (a fixture)
from tests.conftest import lfw_photo


def nodes(at: AppTest, kind: str) -> list:
    return [n for n in at._tree if type(n).__name__ == kind and getattr(n, "proto", None) is not None]


def images_shown(at: AppTest) -> int:
    return sum(len(list(n.proto.imgs)) for n in nodes(at, "Image"))


def export_button(at: AppTest):
    (button,) = [n for n in nodes(at, "DownloadButton") if n.proto.label == "Export gallery (JSON)"]
    return button.proto


def panel(at: AppTest, name: str):
    (found,) = [e for e in at.expander if name in shown(e.label)]
    return found


def test_enrolling_shows_the_faces_found_and_stores_only_when_confirmed(gallery_env, lfw_dir):
    at = open_gallery()
    at.run()
    no_exception(at)
    # nothing to export, nothing chosen to import: both disabled, saying why
    assert export_button(at).disabled and "Nothing to export" in export_button(at).help
    assert "Nothing to export: nobody is enrolled yet." in texts(at.caption)
    assert at.button(key="gallery_import").disabled
    assert "Choose a gallery export" in at.button(key="gallery_import").help

    at.text_input(key="gallery_new_name").input("Jacques Chirac")
    files = [(f"chirac{i}.jpg", lfw_photo(lfw_dir, "Jacques_Chirac", i).read_bytes(), "image/jpeg") for i in (1, 2)]
    files.append(("cat.jpg", b"definitely not a jpeg", "image/jpeg"))
    at.file_uploader(key="gallery_uploads_0").set_value(files)
    at.run()
    assert at.button(key="gallery_enroll").label == "Check 3 photos"
    at.button(key="gallery_enroll").click()
    at.run()
    no_exception(at)
    store = GalleryStore(gallery_path(gallery_env))
    assert store.people() == []  # checked, not stored
    captions = texts(at.caption)
    assert captions.count("face 1 of 1: stored; detection score ") == 2, captions
    assert images_shown(at) == 2  # the two face crops
    assert "cat.jpg**: refused" in texts(at.error)
    assert "Check before storing: Jacques Chirac" in texts(at.markdown)
    assert not at.warning  # nobody known looks like him
    store_button = at.button(key="gallery_store")
    assert store_button.label == "Store 2 faces as Jacques Chirac" and not store_button.disabled
    store_button.click()
    at.run()
    no_exception(at)
    assert [(p.name, p.samples) for p in store.people()] == [("Jacques Chirac", 2)]
    assert "is recognized from now on" in texts(at.success)
    assert not [b for b in at.button if b.key == "gallery_store"]  # the check is done with
    assert not export_button(at).disabled  # something to export now
    store.close()


def test_a_second_name_for_someone_enrolled_is_flagged_and_can_be_cancelled(gallery_env, recognizer, lfw_dir):
    store = GalleryStore(gallery_path(gallery_env))
    enroll(store, recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", i) for i in (1, 2, 3)])
    at = open_gallery()
    at.run()
    at.text_input(key="gallery_new_name").input("Chirac Twin")
    at.file_uploader(key="gallery_uploads_0").set_value(
        [("twin.jpg", lfw_photo(lfw_dir, "Jacques_Chirac", 4).read_bytes(), "image/jpeg")])
    at.run()
    at.button(key="gallery_enroll").click()
    at.run()
    no_exception(at)
    warning = shown(texts(at.warning))
    assert "**twin.jpg** looks like Jacques Chirac (enrolled in the gallery; similarity " in warning, warning
    assert f"≥ threshold {recognizer.threshold:.3f}): the same person under another name, or a look-alike?" in warning
    assert at.button(key="gallery_store").label == "Store anyway (1 face)"
    at.button(key="gallery_cancel_enroll").click()
    at.run()
    no_exception(at)
    assert [p.name for p in store.people()] == ["Jacques Chirac"]  # nothing stored
    assert not [b for b in at.button if b.key == "gallery_store"]
    assert at.button(key="gallery_enroll").label == "Check 1 photo"  # the photo is still there to change
    store.close()


def test_the_edited_panel_stays_open(gallery_env, recognizer, lfw_dir):
    store = GalleryStore(gallery_path(gallery_env))
    enroll(store, recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", i) for i in (1, 2, 3)])
    enroll(store, recognizer, "Jean Chretien", [lfw_photo(lfw_dir, "Jean_Chretien", 1)])
    chirac = store.person("Jacques Chirac")
    at = open_gallery()
    at.run()
    no_exception(at)
    assert not panel(at, "Jacques Chirac").proto.expanded

    at.text_input(key=f"gallery_rename_{chirac.id}").input("Jacques R. Chirac")
    at.button(key=f"gallery_rename_btn_{chirac.id}").click()
    at.run()
    no_exception(at)
    assert "Renamed to Jacques R. Chirac." in shown(texts(at.success))
    assert panel(at, "Jacques R. Chirac").proto.expanded  # still open after the rename
    assert not panel(at, "Jean Chretien").proto.expanded

    first = store.samples(chirac.id)[0]
    at.button(key=f"gallery_del_sample_{first.id}").click()
    at.run()
    no_exception(at)
    assert "Jacques R. Chirac** · 2 samples" in shown(panel(at, "Jacques R. Chirac").label)
    assert panel(at, "Jacques R. Chirac").proto.expanded  # and after deleting a sample

    # a file chosen: Import is enabled
    at.file_uploader(key="gallery_import_file").set_value([("g.json", b"{}", "application/json")])
    at.run()
    assert not at.button(key="gallery_import").disabled
    store.close()


def test_every_number_of_a_sample_is_labelled(gallery_env, recognizer, lfw_dir):
    store = GalleryStore(gallery_path(gallery_env))
    enroll(store, recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", 1)])
    at = open_gallery()
    at.run()
    no_exception(at)
    sample_captions = [c.value for c in at.caption if "Jacques_Chirac_0001.jpg" in shown(c.value)]
    assert sample_captions and re.search(r" · detection score [01]\.\d\d$", shown(sample_captions[0])), sample_captions
    assert "Detection score: how sure the face detector is that this is a face" in texts(at.caption)
    store.close()
