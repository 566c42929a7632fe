"""The History page in-process (AppTest): sightings recorded by the Recognize page (once per photo,
however often the page reruns), then shown as a timeline, per person and in a table; filtered;
downloaded; and found again by searching with another photo of the same person."""
from __future__ import annotations

import pytest

from facerec_core.history import SightingStore
from facerec_core.settings import Settings
from tests.app.conftest import apply_env, settings_env
from tests.app.test_pages import _navigation_mode, no_exception, open_page, texts  # noqa: F401
from tests.conftest import lfw_photo


@pytest.fixture()
def history_env(monkeypatch, trained, tmp_path) -> Settings:
    """The session's model, with a data folder of this test's own (its sightings only)."""
    settings = trained[0].replace(data_dir=tmp_path / "data")
    apply_env(monkeypatch, settings_env(settings))
    return Settings.from_env()


def test_an_empty_history(history_env):
    at = open_page("pages/history.py", "operator")
    no_exception(at)
    assert at.title[0].value == "History"
    assert "No sightings match these filters yet." in texts(at.info)


def test_recognize_records_once_and_history_shows_and_finds_it(history_env, lfw_dir):
    at = open_page("pages/recognize.py", "operator")
    photo = lfw_photo(lfw_dir, "Colin_Powell", 20)
    at.file_uploader[0].set_value(("powell.jpg", photo.read_bytes(), "image/jpeg")).run()
    no_exception(at)
    at.run()  # a rerun (any click) records nothing new
    store = SightingStore.open(history_env)
    [seen] = store.sightings(thumbnails=True)
    assert (seen.answer, seen.source, seen.place) == ("Colin_Powell", "recognize", "powell.jpg") and seen.thumbnail

    at.switch_page("pages/history.py").run()
    no_exception(at)
    assert "1 sightings" in [s.value for s in at.subheader]
    summary = next(d.value for d in at.dataframe if "how often" in d.value.columns)
    assert summary.to_dict("records")[0]["who"] == "Colin Powell" and summary["how often"].tolist() == [1]
    table = next(d.value for d in at.dataframe if "runner-up" in d.value.columns)
    assert table["face"][0].startswith("data:image/jpeg;base64,") and table["source"].tolist() == ["recognize"]
    assert len(at.get("plotly_chart")) == 1

    at.selectbox(key="history_person").set_value("unknown").run()
    assert "No sightings match these filters yet." in texts(at.info)
    at.selectbox(key="history_person").set_value("Colin_Powell").run()
    assert "1 sightings" in [s.value for s in at.subheader]

    other = lfw_photo(lfw_dir, "Colin_Powell", 21)
    at.file_uploader(key="history_search").set_value(("other.jpg", other.read_bytes(), "image/jpeg")).run()
    no_exception(at)
    found = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert found["who"].tolist() == ["Colin Powell"] and found["similarity"][0] > 0.5


def test_naming_a_frequent_visitor_enrolls_them(history_env, lfw_dir):
    from facerec_core.gallery import GalleryStore
    from facerec_core.history import record_sightings
    from facerec_core.recognizer import Recognizer

    rec = Recognizer.load(history_env)
    for name in ("Hans_Blix", "Nancy_Pelosi"):  # strangers to the test model, seen 5 times each
        for path in sorted((lfw_dir / name).glob("*.jpg"))[:5]:
            record_sightings(history_env, "cli", rec.recognize(path)[:1], image=rec.read_image(path), place=path.name,
                             backbone=rec.backbone.name)
    at = open_page("pages/history.py", "admin")
    visitors = [b for b in at.markdown if b.value.startswith("**Visitor ")]
    assert len(visitors) == 2 and all("5 sightings" in v.value for v in visitors), [v.value for v in visitors]
    number = visitors[0].value.split()[1].rstrip("*")
    at.text_input(key=f"visitor_{number}_name").set_value("New Visitor").run()
    at.button(key=f"visitor_{number}_enroll").click().run()
    no_exception(at)
    assert "New Visitor enrolled from 5 faces; the next photo of them is named." in texts(at.success)
    with GalleryStore.open(history_env) as gallery:
        assert len(gallery.samples(gallery.person("New Visitor").id)) == 5
    assert len([b for b in at.markdown if b.value.startswith("**Visitor ")]) == 1


def test_operators_see_the_visitors_but_cannot_edit_them(history_env, lfw_dir):
    from facerec_core.history import record_sightings
    from facerec_core.recognizer import Recognizer

    rec = Recognizer.load(history_env)
    for path in sorted((lfw_dir / "Hans_Blix").glob("*.jpg"))[:3]:
        record_sightings(history_env, "cli", rec.recognize(path)[:1], image=rec.read_image(path), place=path.name,
                         backbone=rec.backbone.name)
    at = open_page("pages/history.py", "operator")
    assert [b.value for b in at.markdown if b.value.startswith("**Visitor ")]
    assert not [t for t in at.text_input if t.key and t.key.startswith("visitor_")]


def test_not_this_person_on_recognize_changes_the_next_answer(history_env, lfw_dir):
    at = open_page("pages/recognize.py", "admin")
    photo = lfw_photo(lfw_dir, "Colin_Powell", 20)
    at.file_uploader[0].set_value(("powell.jpg", photo.read_bytes(), "image/jpeg")).run()
    at.selectbox(key="highlight_0").set_value(0).run()
    no_exception(at)
    at.button(key="correct_0_reject").click().run()
    no_exception(at)
    assert "Saved: sighting 1 rejected as Colin Powell. Later decisions use it." in texts(at.success)
    at.run()  # the same photo again: the rejected face is its own closest look-alike
    table = next(d.value for d in at.dataframe if "identity" in d.value.columns)
    assert table["identity"].tolist() == ["unknown"], table.to_dict("records")
