"""The API's documentation in Chromium, offline: Swagger UI renders every endpoint from files this
server serves, and no request leaves the machine."""
from __future__ import annotations

from urllib.parse import urlparse

from tests.app.conftest import chromium_page


def test_docs_render_offline_in_chromium(api, tmp_path):
    requests: list[str] = []
    with chromium_page([], {"width": 1300, "height": 1600}) as page:
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{api.base}/docs")
        page.locator(".swagger-ui .info .title", has_text="facerec").wait_for(state="visible")
        page.locator(".opblock-summary-path", has_text="/v1/recognize").first.wait_for(state="visible")
        paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
    assert {"/v1/recognize", "/v1/verify", "/v1/people", "/v1/sightings", "/v1/webhooks"} <= {p.strip() for p in paths}
    assert not [u for u in requests if urlparse(u).hostname not in ("127.0.0.1", None)], requests
