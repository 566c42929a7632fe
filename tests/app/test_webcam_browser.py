"""Live Webcam in a real browser: Chromium's fake camera plays a .y4m video of LFW people the test
model knows; the page must send the video back annotated and list those people "in view".

Runs ``streamlit run streamlit_app.py`` (the page is reached through its navigation) and Debian's
Chromium through Playwright; skipped when /usr/bin/chromium is missing.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from facerec_core.images import load_image
from tests.support.scenes import background, moving_scene, write_y4m
from tests.app.conftest import (ACCOUNTS, access_services, chromium_page, goto_signed_in, is_requested_640x480,
                                returned_video_size, streamlit_server)
from tests.conftest import lfw_photo

# Held-out photos (past the 12 the test model trained on) of people it knows.
PEOPLE = (("Colin_Powell", 20), ("Tony_Blair", 20))
FPS = 10
SECONDS_PER_PERSON = 4

log = logging.getLogger(__name__)

pytestmark = pytest.mark.browser


@pytest.fixture()
def fake_camera(tmp_path, lfw_dir, known_people) -> Path:
    """A .y4m clip: each person in turn swaying a little for a few seconds, 1 s of empty room between."""
    missing = [name for name, _ in PEOPLE if name not in known_people]
    if missing:
        pytest.skip(f"the test model does not know {missing}")
    n = FPS * SECONDS_PER_PERSON
    frames = []
    for name, index in PEOPLE:  # one leaves the room before the next comes in
        frames += [background()] * FPS + moving_scene([load_image(lfw_photo(lfw_dir, name, index))], n)
    return write_y4m(tmp_path / "camera.y4m", frames, fps=FPS)


def _app_env(settings) -> dict[str, str]:
    """This process's environment with FACEREC_* pointing at the test model, no ICE servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEREC_")}
    env.update(FACEREC_ARTIFACTS_DIR=str(settings.artifacts_dir), FACEREC_CACHE_DIR=str(settings.cache_dir),
               FACEREC_DATA_DIR=str(settings.data_dir), FACEREC_MODELS_DIR=str(settings.models_dir),
               FACEREC_DEVICE=settings.device, FACEREC_LFW_DIR=str(settings.lfw_dir), FACEREC_BACKBONE=settings.backbone)
    return env


@pytest.fixture(scope="module")
def webcam_server(trained, tmp_path_factory):
    """``streamlit run streamlit_app.py`` on a free port, with the trained model and no ICE servers."""
    log_file = tmp_path_factory.mktemp("webcam_server") / "streamlit.log"
    with streamlit_server(_app_env(trained[0]), log_file) as url:
        yield url, log_file, trained[0]


def _chromium(args: list[str]):
    """A context manager yielding a Chromium page launched with ``args``."""
    return chromium_page(args, {"width": 1400, "height": 1100})


@pytest.fixture()
def camera_page(fake_camera):
    """A Chromium page whose camera is the fake clip, permission granted."""
    with _chromium(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={fake_camera}"]) as page:
        yield page


def _open_live_page(page, url: str, settings):
    """Sign in as an operator and go to Live Webcam through the app's navigation; returns the
    WebRTC component's frame."""
    goto_signed_in(page, url, "operator", settings)
    page.get_by_role("link", name="Live Webcam").first.click()
    page.get_by_role("heading", name="Live Webcam").wait_for()
    page.get_by_text("Camera off").wait_for()
    assert "live_webcam" in page.url
    return page.frame_locator('iframe[title*="webrtc"]').first


def _in_view_text(page) -> str:
    panel = page.locator(".st-key-in_view_now")
    return panel.first.inner_text() if panel.count() else ""


def test_live_webcam_names_people_in_view(webcam_server, camera_page, tmp_path):
    url, log_file, settings = webcam_server
    page = camera_page
    with access_services(settings) as (_, audit):
        before = audit.count()
    component = _open_live_page(page, url, settings)
    component.get_by_role("button", name="Start").click()

    wanted = {name.replace("_", " ") for name, _ in PEOPLE}
    seen: set[str] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and seen != wanted:
        text = _in_view_text(page)
        seen |= {name for name in wanted if name in text}
        page.wait_for_timeout(400)
    page.screenshot(path=str(tmp_path / "live_webcam.png"), full_page=True)
    assert seen == wanted, f"in view: {sorted(seen)}; server log:\n{log_file.read_text()[-2000:]}"

    # the video comes back: the page's <video> is playing the annotated stream
    assert is_requested_640x480(size := returned_video_size(component)), size
    assert page.locator('[data-testid="stMetricValue"]').count() >= 2

    component.get_by_role("button", name="Stop").click()
    page.get_by_text("Camera off").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0

    # each track's decision is in the audit trail, once when it was named (or changed), never per frame
    with access_services(settings) as (_, audit):
        decisions = [e for e in audit.events(actor=ACCOUNTS["operator"], action="identify") if e.id > before]
    named = {e.target.replace("_", " ") for e in decisions}
    assert wanted <= named, named
    assert all(e.where == "Live Webcam page" for e in decisions)
    assert len(decisions) < 10 * len(wanted), len(decisions)  # far fewer than the frames analysed


CAMERA_FAILURES = {
    # what the browser does → the error the component shows, and the page's explanation of it
    "refused": (["--use-fake-device-for-media-stream", "--deny-permission-prompts"], "NotAllowedError",
                "camera access was refused"),
    "no camera": (["--use-fake-ui-for-media-stream"], "NotFoundError", "no camera was found"),
}


@pytest.mark.parametrize("case", sorted(CAMERA_FAILURES))
def test_camera_failure_gets_a_clear_message(webcam_server, case, tmp_path):
    url, _, settings = webcam_server
    args, error, explanation = CAMERA_FAILURES[case]
    with _chromium(args) as page:
        component = _open_live_page(page, url, settings)
        component.get_by_role("button", name="Start").click()
        component.get_by_text(error).wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "camera_failure.png"), full_page=True)
        # the page says what that means and what to do; no stack trace, the stream stays off
        assert page.get_by_text(explanation).count() == 1
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("Camera off").count() == 1
