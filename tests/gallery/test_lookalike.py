"""Issue #13 defect 11, in the core: before storing, enrollment compares each new face with
everyone known (the gallery and the trained model) and says who it looks like; the preview keeps
the face crops it found. Real LFW photos, the session model, a gallery of this module's own."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from facerec_core.faces import display_name
from facerec_core.gallery import GalleryStore, check_photo, check_photos, enroll, store_plan
from facerec_core.images import load_image
from tests.conftest import lfw_photo
from tests.gallery.conftest import PROBE_PHOTO, jpeg_bytes


def _check(settings, recognizer, name, photos):
    store = GalleryStore.open(settings)
    try:
        return check_photos(store, recognizer, name, photos)
    finally:
        store.close()


def test_the_same_person_under_a_second_name_is_flagged_before_anything_is_stored(
        enrolled, app_recognizer, gallery_settings, lfw_dir):
    store = GalleryStore.open(gallery_settings)
    before = store.generation()
    plan = check_photos(store, app_recognizer, "J. Chirac",
                                      [lfw_photo(lfw_dir, "Jacques_Chirac", PROBE_PHOTO["Jacques_Chirac"])])
    assert store.generation() == before  # checking stores nothing
    assert plan.existing is None and len(plan.samples) == 1
    (photo, alike), *_ = plan.warnings
    assert alike.name == "Jacques Chirac" and alike.where == "gallery"
    assert alike.score >= alike.threshold == app_recognizer.threshold
    message = alike.message()
    assert "looks like Jacques Chirac" in message
    assert f"{alike.score:.3f} ≥ threshold {alike.threshold:.3f}" in message
    assert "look-alike" in message
    # the person decides: storing the plan stores exactly the checked face, under the new name
    report = store_plan(store, plan)
    assert report.added == 1 and report.person.name == "J. Chirac"
    store.delete_person("J. Chirac")
    store.close()


def test_different_people_are_not_flagged(enrolled, app_recognizer, gallery_settings, lfw_dir, stranger_photo):
    # a stranger (one LFW photo, never trained on or enrolled) and two photos of a newcomer not
    # yet enrolled: nobody known resembles them
    plan = _check(gallery_settings, app_recognizer, "Aaron Eckhart",
                  [stranger_photo, lfw_photo(lfw_dir, "Jean_Chretien", PROBE_PHOTO["Jean_Chretien"])])
    chretien = plan.photos[1]
    assert plan.photos[0].sample is not None and plan.photos[0].look_alikes == [], plan.photos[0].look_alikes
    # Chrétien is enrolled, so his photo under another name is flagged as him, and as nobody else
    assert [la.name for la in chretien.look_alikes] == ["Jean Chretien"]


def test_adding_photos_to_the_right_person_warns_of_nothing_and_of_someone_else_does(
        enrolled, app_recognizer, gallery_settings, lfw_dir):
    plan = _check(gallery_settings, app_recognizer, "andre agassi",  # name key: the same person
                  [lfw_photo(lfw_dir, "Andre_Agassi", PROBE_PHOTO["Andre_Agassi"]),
                   lfw_photo(lfw_dir, "Jacques_Chirac", PROBE_PHOTO["Jacques_Chirac"])])
    assert plan.existing is not None and plan.existing.name == "Andre Agassi"
    own, other = plan.photos
    assert own.look_alikes == [] and not own.resemblance.unlike
    assert own.resemblance.own_score >= app_recognizer.threshold
    assert [la.name for la in other.look_alikes] == ["Jacques Chirac"]
    assert other.resemblance.unlike and plan.unlike == [other]  # not Agassi: say so


def test_a_person_the_trained_model_knows_is_flagged_with_the_model_named(
        enrolled, app_recognizer, gallery_settings, held_out_photo):
    person, photo = held_out_photo
    plan = _check(gallery_settings, app_recognizer, "Somebody New", [photo])
    alikes = plan.photos[0].look_alikes
    assert alikes and alikes[0].name == person and alikes[0].where == "trained model", alikes
    assert f"looks like {display_name(person)} (known to the trained model" in alikes[0].message()
    # under the model's own name it is not a look-alike of themselves
    same = _check(gallery_settings, app_recognizer, display_name(person), [photo])
    assert all(la.name != person for la in same.photos[0].look_alikes)


def test_the_preview_keeps_every_face_found_and_says_which_one_is_used(app_recognizer, store, lfw_dir):
    left = load_image(lfw_photo(lfw_dir, "Jacques_Chirac", 1))
    right = load_image(lfw_photo(lfw_dir, "Jean_Chretien", 1))
    canvas = Image.new("RGB", (left.shape[1] + right.shape[1], left.shape[0]))
    canvas.paste(Image.fromarray(left), (0, 0))
    canvas.paste(Image.fromarray(right), (left.shape[1], 0))
    pair = check_photo(app_recognizer, jpeg_bytes(np.asarray(canvas)), name="pair.jpg")
    assert pair.sample is None and "2 faces found" in pair.reason
    assert pair.face_count == 2 and [f.number for f in pair.faces] == [1, 2]
    assert not any(f.used for f in pair.faces) and all(f.note == "one of several faces" for f in pair.faces)
    for crop in pair.faces:
        assert Image.open(io.BytesIO(crop.thumbnail)).size == (96, 96)
    one = check_photo(app_recognizer, lfw_photo(lfw_dir, "Jacques_Chirac", 1))
    assert one.sample is not None and [f.used for f in one.faces][0] is True
    assert one.faces[0].thumbnail == one.sample.thumbnail and one.faces[0].det_score == one.sample.det_score
    unreadable = check_photo(app_recognizer, b"not a picture", name="x.jpg")
    assert unreadable.sample is None and unreadable.faces == [] and "not an image" in unreadable.reason
    # enroll() (the command line) still stores at once, without the comparison
    report = enroll(store, app_recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", 1)])
    assert report.added == 1
