"""Authenticate in a real browser: Chromium's fake camera plays a still photo of a person the test
model knows (a print held up to the camera). The page must show the prompt, refuse the attempt with
a reason, put the attempt in the audit trail and send it to a webhook subscriber."""
from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from facerec_core.access import cli_principal
from facerec_core.api.store import ApiStore
from facerec_core.api.webhooks import Webhooks, verify_signature
from facerec_core.images import load_image
from tests.api.conftest import Receiver
from tests.app.conftest import (ACCOUNTS, access_services, chromium_page, goto_signed_in, is_requested_640x480,
                                returned_video_size, streamlit_server)
from tests.app.test_webcam_browser import _app_env
from tests.conftest import lfw_photo
from tests.support.scenes import background, write_y4m

PERSON = ("Colin_Powell", 20)  # held out: past the 12 photos the test model trained on
FPS = 30  # a webcam's rate: the panel's video rate is then what the page keeps up with
PROMPTS = ("Look straight at the camera", "Blink", "Turn your head to your left", "Turn your head to your right",
           "Look up")

log = logging.getLogger(__name__)

pytestmark = pytest.mark.browser


@pytest.fixture()
def still_photo_camera(tmp_path, lfw_dir, known_people):
    """A .y4m clip of one photo, not moving: what a print held to the camera looks like."""
    if PERSON[0] not in known_people:
        pytest.skip(f"the test model does not know {PERSON[0]}")
    frame = background().copy()
    photo = load_image(lfw_photo(lfw_dir, *PERSON))
    h, w = photo.shape[:2]
    top, left = (frame.shape[0] - h) // 2, (frame.shape[1] - w) // 2
    frame[top:top + h, left:left + w] = photo
    return write_y4m(tmp_path / "still.y4m", [frame] * (FPS * 2), fps=FPS)


@pytest.fixture()
def street_clip_camera(tmp_path, video_dir):
    """The real street clip (../shared/data/video), 640×360, as the browser's fake camera."""
    from PIL import Image

    from tests.liveness.conftest import CLIP
    from tests.support.tracks import frames_of

    if not (video_dir / CLIP).is_file():
        pytest.skip(f"the real clip is not at {video_dir / CLIP}")
    frames = [np.asarray(Image.fromarray(f).resize((640, 360), Image.BILINEAR)) for f in frames_of(video_dir / CLIP)]
    return write_y4m(tmp_path / "street.y4m", frames, fps=25)


@pytest.fixture(scope="module")
def auth_server(trained, tmp_path_factory):
    log_file = tmp_path_factory.mktemp("auth_server") / "streamlit.log"
    with streamlit_server(_app_env(trained[0]), log_file) as url:
        yield url, log_file, trained[0]


def _panel(page) -> str:
    panel = page.locator(".st-key-auth_state")
    return panel.first.inner_text() if panel.count() else ""


def _attempt(page, url, settings, tmp_path, name: str):
    """Open Authenticate as an operator, start the (fake) camera and watch the panel until a
    refusal (90 s at most): whether a prompt was shown, the refusal's text, the WebRTC frame."""
    goto_signed_in(page, url, "operator", settings)
    page.get_by_role("link", name="Authenticate").first.click()
    page.get_by_role("heading", name="Authenticate").wait_for()
    page.get_by_text("Camera off").wait_for()
    component = page.frame_locator('iframe[title*="webrtc"]').first
    component.get_by_role("button", name="Start camera").click()
    prompted, refused, deadline = False, "", time.monotonic() + 90
    while time.monotonic() < deadline and not refused:
        text = _panel(page)
        prompted |= any(p in text for p in PROMPTS)
        if "Refused" in text:
            refused = text
        page.wait_for_timeout(300)
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    return prompted, refused, component


def _camera(path):
    return chromium_page(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-video-capture={path}"], {"width": 1400, "height": 1100})


def test_a_still_photo_is_prompted_refused_with_a_reason_and_recorded(auth_server, still_photo_camera, tmp_path):
    url, log_file, settings = auth_server
    receiver = Receiver()  # a subscriber to the verdicts: the dashboard's process delivers them
    with access_services(settings) as (_, audit), ApiStore.open(settings) as store:
        before = audit.count()
        hook, secret = Webhooks(store, audit).add(cli_principal(), receiver.url, "authentication.result")
    try:
        _still_photo_attempt(url, log_file, settings, still_photo_camera, tmp_path)
        (headers, body), = receiver.wait_for(1)[:1]
    finally:
        with access_services(settings) as (_, audit), ApiStore.open(settings) as store:
            Webhooks(store, audit).remove(cli_principal(), hook.id)
        receiver.close()
    assert verify_signature(secret, body, headers["x-facerec-timestamp"], headers["x-facerec-signature"])
    event = json.loads(body)
    assert event["event"] == "authentication.result" and event["data"]["verdict"] == "refused"
    assert event["data"]["by"] == ACCOUNTS["operator"] and event["data"]["reason"]
    with access_services(settings) as (_, audit):
        events = [e for e in audit.events(actor=ACCOUNTS["operator"], action="authenticate") if e.id > before]
    assert events and events[0].outcome == "refused", events
    assert events[0].where == "Authenticate page"
    assert events[0].detail["reason"] and events[0].detail["actions"]


def _still_photo_attempt(url, log_file, settings, still_photo_camera, tmp_path) -> None:
    with _camera(still_photo_camera) as page:
        prompted, refused, component = _attempt(page, url, settings, tmp_path, "authenticate")
        assert prompted, f"no prompt; server log:\n{log_file.read_text()[-2000:]}"
        assert refused, f"no verdict; panel: {_panel(page)!r}; server log:\n{log_file.read_text()[-2000:]}"
        # Recognized (the prompt came), then refused by a liveness check. Which one depends on the
        # video: WebRTC's first seconds at a low bitrate can blur the face away ("no face").
        assert any(why in refused for why in ("timed out", "action not seen", "looks flat", "no face",
                                               "face changed")), refused
        assert is_requested_640x480(size := returned_video_size(component)), size
        rates = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
        log.info("Authenticate: video, analysed %s (camera file: %d fps)", rates, FPS)  # the README quotes it
        assert page.locator('[data-testid="stException"]').count() == 0


def test_the_real_street_clip_is_refused_without_crashing(auth_server, street_clip_camera, tmp_path):
    """Real people walking past, nobody asked anything and nobody enrolled among them."""
    url, log_file, settings = auth_server
    with access_services(settings) as (_, audit):
        before = audit.count()
    with _camera(street_clip_camera) as page:
        _, refused, _ = _attempt(page, url, settings, tmp_path, "authenticate_street")
        assert refused, f"no verdict; server log:\n{log_file.read_text()[-2000:]}"
        assert page.locator('[data-testid="stException"]').count() == 0
    with access_services(settings) as (_, audit):
        events = [e for e in audit.events(actor=ACCOUNTS["operator"], action="authenticate") if e.id > before]
    assert events and all(e.outcome == "refused" for e in events), events
