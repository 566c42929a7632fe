"""Issue #13 defect 11 in a real browser: `streamlit run` driven by Debian's Chromium. The panel a
person opened stays open through a rename and a sample deletion (the frontend, not only the
script, keeps it); enrollment shows the face found and the look-alike warning before storing.
Screenshots go to the test's tmp_path, or to $FACEREC_SHOTS_DIR when set."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from facerec_core.gallery import GalleryStore, enroll, gallery_path
from tests.app import test_browser
from tests.app.conftest import apply_env, chromium_page, goto_signed_in, settings_env, streamlit_server
from tests.conftest import lfw_photo

pytestmark = pytest.mark.browser

def _settle(page) -> None:
    test_browser._settle(page, after_ms=500)  # the gallery's panels redraw after the run ends


@contextlib.contextmanager
def _gallery_page(tmp_path, height: int):
    """Chromium on the Gallery page of a server started with the current environment, settled."""
    with streamlit_server(dict(os.environ), tmp_path / "streamlit.log") as app, \
            chromium_page([], {"width": 1300, "height": height}) as page:
        goto_signed_in(page, f"{app}/gallery", "admin")  # the Gallery is an administrator's
        page.get_by_text("Export / import").first.wait_for(state="visible")
        _settle(page)
        _no_exception(page)
        yield page


def _shots_dir(tmp_path) -> Path:
    shots = Path(os.environ.get("FACEREC_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def _panel(page, name: str):
    return page.locator('[data-testid="stExpander"]').filter(has=page.locator("summary", has_text=name))


def _is_open(page, name: str) -> bool:
    return bool(_panel(page, name).locator("details").first.evaluate("d => d.open"))


def test_gallery_editing_in_chromium(trained, recognizer, lfw_dir, tmp_path, monkeypatch):
    shots = _shots_dir(tmp_path)
    settings = trained[0].replace(data_dir=tmp_path / "data")
    store = GalleryStore(gallery_path(settings))
    enroll(store, recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", i) for i in (1, 2, 3)])
    enroll(store, recognizer, "Jean Chretien", [lfw_photo(lfw_dir, "Jean_Chretien", i) for i in (1, 2)])
    apply_env(monkeypatch, settings_env(settings))
    with _gallery_page(tmp_path, 2400) as page:
        assert not _is_open(page, "Jacques Chirac")
        _panel(page, "Jacques Chirac").locator("summary").click()
        _settle(page)
        assert _is_open(page, "Jacques Chirac")

        # rename: the label changes, the panel stays open
        name_box = _panel(page, "Jacques Chirac").get_by_label("Name")
        name_box.fill("Jacques R. Chirac")
        name_box.press("Enter")
        _settle(page)
        _panel(page, "Jacques Chirac").get_by_role("button", name="Rename").click()
        _settle(page)
        _no_exception(page)
        page.get_by_text("Renamed to Jacques R. Chirac.").first.wait_for(state="visible")
        assert _is_open(page, "Jacques R. Chirac")
        assert not _is_open(page, "Jean Chretien")

        # delete a sample: the count in the label changes, the panel stays open
        _panel(page, "Jacques R. Chirac").get_by_role("button", name="Delete", exact=True).first.click()
        _settle(page)
        _no_exception(page)
        page.get_by_text("Deleted the sample").first.wait_for(state="visible")
        assert "2 samples" in _panel(page, "Jacques R. Chirac").locator("summary").inner_text()
        assert _is_open(page, "Jacques R. Chirac")
        assert "detection score" in _panel(page, "Jacques R. Chirac").inner_text()
        page.screenshot(path=str(shots / "gallery_panel_after_edits.png"), full_page=True)

        # a new name for someone enrolled: the face found, the warning, and a choice
        page.get_by_label("Name").first.fill("Chirac Twin")
        page.get_by_label("Name").first.press("Enter")
        _settle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            str(lfw_photo(lfw_dir, "Jacques_Chirac", 4)))
        _settle(page)
        page.get_by_role("button", name="Check 1 photo").click()
        _settle(page)
        _no_exception(page)
        page.get_by_text("looks like Jacques R. Chirac").first.wait_for(state="visible")
        assert page.get_by_role("button", name="Store anyway (1 face)").is_visible()
        assert page.get_by_text("face 1 of 1: stored; detection score").first.is_visible()
        page.screenshot(path=str(shots / "gallery_look_alike_warning.png"), full_page=True)
        page.get_by_role("button", name="Cancel").first.click()
        _settle(page)
        page.screenshot(path=str(shots / "gallery_after_cancel.png"), full_page=True)
        _no_exception(page)
        page.get_by_role("button", name="Check 1 photo").wait_for(state="visible", timeout=30_000)
        assert page.get_by_role("button", name="Store anyway (1 face)").count() == 0
    assert [p.name for p in store.people()] == ["Jacques R. Chirac", "Jean Chretien"]
    store.close()


def test_empty_gallery_in_chromium_disables_export_and_import(trained, tmp_path, monkeypatch):
    shots = _shots_dir(tmp_path)
    apply_env(monkeypatch, settings_env(trained[0].replace(data_dir=tmp_path / "data")))
    with _gallery_page(tmp_path, 1800) as page:
        assert page.get_by_role("button", name="Export gallery (JSON)").is_disabled()
        assert page.get_by_role("button", name="Import").is_disabled()
        assert page.get_by_text("Nothing to export: nobody is enrolled yet.").first.is_visible()
        page.screenshot(path=str(shots / "gallery_empty.png"), full_page=True)
