"""The facade carries its Settings: every entry point takes its limits from there."""
import pytest

from facerec_core.errors import EnrollmentError, ImageError
from facerec_core.gallery import prepare_sample
from facerec_core.recognizer import Recognizer
from tests.conftest import lfw_photo


@pytest.fixture(scope="module")
def strict(recognizer) -> Recognizer:
    """The session's models, with a pixel limit below an LFW photo's 62,500 pixels."""
    return Recognizer(recognizer.detector, recognizer.backbone, recognizer.identifier, manifest=recognizer.manifest,
                      settings=recognizer.settings.replace(max_image_pixels=10_000), gallery=recognizer.gallery)


def test_recognize_verify_and_enroll_refuse_an_image_over_the_settings_limit(strict, recognizer, lfw_dir):
    photo, other = lfw_photo(lfw_dir, "Colin_Powell", 1), lfw_photo(lfw_dir, "Tony_Blair", 1)
    for call in (lambda: strict.recognize(photo), lambda: strict.recognize(photo.read_bytes(), name="upload.jpg"),
                 lambda: strict.verify(photo, other), lambda: strict.verify(other, photo)):
        with pytest.raises(ImageError, match="limit 10,000"):
            call()
    with pytest.raises(EnrollmentError, match="limit 10,000"):
        prepare_sample(strict, photo)
    assert strict.recognize(photo, max_pixels=100_000)  # a caller may still pass its own limit
    assert recognizer.recognize(photo) and recognizer.settings.max_image_pixels == 40_000_000


def test_the_facade_holds_its_settings_and_sources(recognizer, trained):
    settings, _ = trained
    assert recognizer.settings == settings
    assert recognizer.sources == [recognizer.model, recognizer.gallery]
    assert recognizer.known_people == recognizer.model.people and recognizer.has_model
    assert recognizer.threshold == recognizer.thresholds.identify
