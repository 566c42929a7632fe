"""The real thing: `streamlit run` in a subprocess, driven by Debian's Chromium through Playwright.

Visits every page, uploads a real LFW photo on Recognize and two on Verify, checks the answers
and that no Streamlit exception box appears anywhere; saves a screenshot of each page in the
test's tmp_path.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.app.conftest import SLOW_MS, chromium_page, goto_signed_in, streamlit_server

CHROMIUM_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

log = logging.getLogger(__name__)

pytestmark = pytest.mark.browser


@pytest.fixture()
def server(trained_env, tmp_path, run_env):
    """``streamlit run streamlit_app.py`` on a free port with the trained model's settings."""
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url:
        yield url


@pytest.fixture()
def browser_page():
    with chromium_page(CHROMIUM_ARGS, {"width": 1400, "height": 2600}) as page:
        yield page


# While a script runs, Streamlit shows a running icon and marks the previous run's elements stale.
BUSY = ('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"], '
        '[data-stale="true"]')


def _settle(page, after_ms: int = 300) -> None:
    """Wait until the current script run is over, then ``after_ms`` more for the page to draw."""
    page.wait_for_timeout(500)
    page.wait_for_function(f"() => !document.querySelector({BUSY!r})", timeout=SLOW_MS)
    page.wait_for_timeout(after_ms)


def _visit(page, url: str, marker: str, shots: Path, name: str) -> None:
    goto_signed_in(page, url, "admin")  # a new browser session: sign in (issue #16)
    page.get_by_text(marker, exact=False).first.wait_for(state="visible")
    _settle(page)
    _check_and_shoot(page, shots, name)


def _check_and_shoot(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{name}: {exceptions.first.inner_text()}"


def test_every_page_in_chromium(server, browser_page, tmp_path, held_out_photo, lfw_dir, trained):
    page = browser_page
    shots = tmp_path / "screenshots"
    shots.mkdir()
    name, photo = held_out_photo
    person = name.replace("_", " ")
    _, report = trained

    # A page opened directly on a fresh server still goes through the app's navigation
    # (Streamlit would otherwise run pages/model_metrics.py bare, as an old-style pages/ app).
    _visit(page, f"{server}/model_metrics", "Against the original design", shots, "model_metrics")
    page.locator(".js-plotly-plot").first.wait_for()
    nav = page.locator('[data-testid="stSidebar"]')
    assert nav.get_by_text("Understand").count() == 1 and nav.get_by_text("streamlit app").count() == 0
    assert nav.get_by_text("Signed in as Ada Admin (admin)").count() == 1
    assert page.get_by_text("Most confused people").count() == 1
    assert page.locator('[data-testid="stTable"]').first.get_by_text("80.0%").count() == 1
    _check_and_shoot(page, shots, "model_metrics")

    _visit(page, server, "The model", shots, "home")
    assert page.get_by_text("People known").count() == 1
    assert page.locator('[data-testid="stMetricValue"]', has_text=str(report["data"]["people"])).count() >= 1

    # Recognize: reached through the sidebar navigation, then a real upload.
    page.get_by_role("link", name="Recognize").first.click()
    page.get_by_text("Upload one or more photos to start.").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    page.locator('[data-testid="stMarkdownContainer"] strong', has_text=person).first.wait_for()
    _settle(page)
    assert page.locator('[data-testid="stImage"] img').count() >= 1
    assert page.get_by_role("button", name="Annotated image (PNG)").count() == 1
    _check_and_shoot(page, shots, "recognize")

    _visit(page, f"{server}/verify", "Upload a photo on each side", shots, "verify_empty")
    inputs = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    inputs.nth(0).set_input_files(str(photo))
    inputs.nth(1).set_input_files(str(lfw_dir / name / f"{name}_0001.jpg"))
    page.locator('[data-testid="stMetricValue"]', has_text="Same person").wait_for()
    assert page.get_by_text("Upload a photo on each side").count() == 0
    _settle(page)
    _check_and_shoot(page, shots, "verify")

    _visit(page, f"{server}/dataset_explorer", "At a glance", shots, "dataset_explorer_top")
    page.locator(".js-plotly-plot").nth(1).wait_for()
    page.get_by_label("Name").fill("colin powell")
    page.get_by_label("Name").press("Enter")
    page.locator('[data-testid="stImage"] img').first.wait_for()
    _settle(page)
    # The embedding map of 3 people × 6 photos: all in the session's embedding cache, so quick.
    for label, value in (("People (most images first)", "3"), ("Images per person", "6")):
        page.get_by_role("spinbutton", name=label).fill(value)
        page.get_by_role("spinbutton", name=label).press("Enter")
        _settle(page)
    page.get_by_role("button", name="Show the embedding map").click()
    page.locator(".js-plotly-plot").nth(2).wait_for()
    _settle(page)
    assert page.get_by_text("18 of 18 photos").count() == 1
    _check_and_shoot(page, shots, "dataset_explorer")

    log.info("screenshots in %s", shots)
    assert sorted(p.name for p in shots.iterdir()) == sorted(
        f"{n}.png" for n in ("home", "recognize", "verify_empty", "verify", "dataset_explorer_top",
                             "dataset_explorer", "model_metrics"))
