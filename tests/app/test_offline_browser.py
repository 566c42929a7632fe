"""Issue #13 defect 8: everything the dashboard shows comes from its own server.

Chromium opens every page of a real `streamlit run` and records every request it makes (and the
tab icon each page sets); none may go to a host other than 127.0.0.1. Streamlit turned the
``:material/...:`` page icons into a favicon link to fonts.gstatic.com.
"""
from __future__ import annotations

import logging
from urllib.parse import urlparse

import pytest

from tests.app.conftest import SLOW_MS, apply_env, chromium_page, goto_signed_in, settings_env, streamlit_server

log = logging.getLogger(__name__)

pytestmark = pytest.mark.browser

# URL path → the page's title
PAGES = {"": "facerec", "recognize": "Recognize", "verify": "Verify", "gallery": "Gallery",
         "live_webcam": "Live Webcam", "dataset_explorer": "Dataset Explorer", "model_metrics": "Model Metrics",
         "accounts": "Accounts", "audit": "Audit"}
BUSY = ('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"], '
        '[data-stale="true"]')
LOCAL = {"127.0.0.1"}


@pytest.fixture()
def lfw_no_model_env(empty_env, monkeypatch, lfw_dir):
    """No trained model, but the LFW folder: every page draws what it can, charts included,
    without training one first."""
    apply_env(monkeypatch, settings_env(empty_env.replace(lfw_dir=lfw_dir)))


def test_every_page_loads_only_from_this_server(lfw_no_model_env, tmp_path, run_env):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    requests: list[tuple[str, str]] = []
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url, \
            chromium_page(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
                          {"width": 1400, "height": 1400}) as page:
        page.on("request", lambda request: requests.append((page.url, request.url)))
        icons = {}
        # the sign-in page (a new browser session on each page) is served by this server too
        for path, title in PAGES.items():
            goto_signed_in(page, f"{url}/{path}", "admin")
            page.locator("h1", has_text=title).first.wait_for(state="visible")
            page.wait_for_timeout(500)
            page.wait_for_function(f"() => !document.querySelector({BUSY!r})", timeout=SLOW_MS)
            page.wait_for_timeout(1500)  # late requests: component iframes, fonts, the favicon
            icons[path or "home"] = page.eval_on_selector_all(
                'link[rel~="icon"], link[rel="shortcut icon"], link[rel="apple-touch-icon"]',
                "links => links.map(l => l.href)")
            page.screenshot(path=str(shots / f"{path or 'home'}.png"))
    log.info("screenshots in %s", shots)
    assert len(requests) > 20, requests  # the recorder saw the app load
    foreign = sorted({(where, what) for where, what in requests
                      if urlparse(what).scheme in ("http", "https", "ws", "wss")
                      and urlparse(what).hostname not in LOCAL})
    assert not foreign, foreign
    for name, hrefs in icons.items():
        assert hrefs, f"{name}: no tab icon"
        for href in hrefs:
            parsed = urlparse(href)
            assert parsed.scheme == "data" or parsed.hostname in LOCAL, f"{name}: tab icon from {href}"
