"""Issue #16, web hardening: the launcher (``python -m dashboard.server``) serving the real dashboard.

Real server, real HTTP, real websocket handshakes over a socket, Debian's Chromium: the security
headers on every kind of response, the websocket refusing a missing or foreign Origin and taking
the page's own, uploads refused without the XSRF token, an app error shown to visitors without its
detail (which the server log keeps), and every page, Live Webcam's camera included, still working
under the Content-Security-Policy.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dashboard.server import origin_allowed
from facerec_core.settings import Settings
from tests.app.conftest import (PROJECT_ROOT, SLOW_MS, _wait_healthy, chromium_page, free_port, goto_signed_in,
                                settings_env, streamlit_server)

pytestmark = pytest.mark.browser

HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "SAMEORIGIN", "referrer-policy": "no-referrer"}
BUSY = ('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"], '
        '[data-stale="true"]')
# URL path → the page's title (as tests/app/test_offline_browser.py)
PAGES = {"": "facerec", "recognize": "Recognize", "verify": "Verify", "gallery": "Gallery",
         "live_webcam": "Live Webcam", "dataset_explorer": "Dataset Explorer", "model_metrics": "Model Metrics"}
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _settings(root: Path) -> Settings:
    """Fresh, empty facerec folders under ``root`` (no model), LFW kept when set."""
    return Settings.from_env().replace(artifacts_dir=root / "artifacts", cache_dir=root / "cache",
                                       data_dir=root / "data", device="cpu")


def _env(root: Path) -> dict[str, str]:
    """This process's environment with :func:`_settings` and no ICE servers (Live Webcam stays on
    this machine)."""
    settings = _settings(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEREC_")}
    env.update(settings_env(settings))
    return env


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The real dashboard through the launcher (conftest's streamlit_server); yields (url, log file)."""
    root = tmp_path_factory.mktemp("web_hardening")
    log_file = root / "streamlit.log"
    with streamlit_server(_env(root), log_file) as url:
        yield url, log_file, _settings(root)


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: (status, headers with lower-case names, body), error statuses included."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _check_security_headers(what: str, headers: dict[str, str]) -> None:
    for name, value in HEADERS.items():
        assert headers.get(name) == value, f"{what}: {name} is {headers.get(name)!r}"
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'self'" in csp, f"{what}: {csp!r}"
    assert "default-src 'self'" in csp and "'unsafe-eval'" not in csp, f"{what}: {csp!r}"
    assert "camera=(self)" in headers.get("permissions-policy", ""), what
    assert "microphone=()" in headers.get("permissions-policy", ""), what


def test_security_headers_on_page_health_static_and_errors(dashboard):
    url, _, _ = dashboard
    status, headers, body = _get(f"{url}/")
    assert status == 200
    _check_security_headers("/", headers)
    assert headers.get("cache-control") == "no-store"

    status, headers, _ = _get(f"{url}/_stcore/health")
    assert status == 200
    _check_security_headers("/_stcore/health", headers)
    assert headers.get("cache-control") == "no-store"

    # a content-hashed bundle named by the page itself: it keeps its long cache, and the headers
    bundle = re.search(r'src="\./(static/js/index\.[^"]+\.js)"', body.decode())
    assert bundle, body[:2000]
    status, headers, _ = _get(f"{url}/{bundle.group(1)}")
    assert status == 200
    _check_security_headers(bundle.group(1), headers)
    assert "immutable" in headers.get("cache-control", ""), headers.get("cache-control")

    # an error answer gets them too
    status, headers, _ = _get(f"{url}/_stcore/no-such-route")
    _check_security_headers(f"404 ({status})", headers)

    # the policy allows the page's own inline scripts, by hash, and nothing else inline
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", body.decode(), re.DOTALL)
    assert inline, "the page has no inline script to check against the policy"
    csp = _get(f"{url}/")[1]["content-security-policy"]
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def _upgrade(url: str, origin: str | None) -> tuple[int, dict[str, str]]:
    """A raw websocket handshake on /_stcore/stream: (HTTP status, response headers)."""
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /_stcore/stream HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in head[1:]))
    if head[0].split()[1] == "101":  # a real acceptance of this handshake, not some 101 answer
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == expected
    return int(head[0].split()[1]), headers


def test_websocket_refuses_missing_and_foreign_origin(dashboard):
    url, log_file, _ = dashboard
    host = urlsplit(url).netloc
    assert _upgrade(url, None)[0] == 403
    assert _upgrade(url, "http://evil.example")[0] == 403
    assert _upgrade(url, "null")[0] == 403                                   # sandboxed frames, file://
    assert _upgrade(url, f"http://localhost:{free_port()}")[0] == 403         # another local web app
    assert _upgrade(url, url)[0] == 101                                       # the page's own origin
    log = log_file.read_text()
    assert f"origin=None, host={host}" in log and "origin=http://evil.example" in log


def test_origin_rule():
    """The rule the handshakes above go through, including server.corsAllowedOrigins."""
    host = "127.0.0.1:8501"
    assert origin_allowed("http://127.0.0.1:8501", host) and origin_allowed("https://127.0.0.1:8501", host)
    for origin in (None, "", "null", "http://127.0.0.1:8502", "http://localhost:8501", "ws://127.0.0.1:8501",
                   "http://127.0.0.1:8501.evil.example"):
        assert not origin_allowed(origin, host), origin
    allowed = ["https://faces.example.org/"]
    assert origin_allowed("https://faces.example.org", host, allowed)
    assert not origin_allowed("http://faces.example.org", host, allowed)
    assert not origin_allowed("https://faces.example.org.evil.example", host, allowed)


def test_upload_without_xsrf_token_is_refused(dashboard):
    url, _, _ = dashboard
    boundary = "----facerec"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + b"\x89PNG\r\n" + f"\r\n--{boundary}--\r\n".encode()
    status, headers, _ = _get(f"{url}/_stcore/health")  # the server hands out an XSRF cookie here
    cookie = headers.get("set-cookie", "").split(";", 1)[0]
    assert cookie.startswith("_streamlit_xsrf="), headers
    for extra in ({}, {"Cookie": cookie}, {"Cookie": cookie, "X-Xsrftoken": "forged"}):
        request = urllib.request.Request(f"{url}/_stcore/upload_file/{secrets.token_hex(8)}/{secrets.token_hex(8)}",
                                         data=body, method="PUT",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                  "Origin": url, **extra})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 403, extra
        assert b"XSRF" in refused.value.read(), extra


def _settle(page) -> None:
    """Wait until the current script run is over and the page has drawn."""
    page.wait_for_timeout(500)
    page.wait_for_function(f"() => !document.querySelector({BUSY!r})", timeout=SLOW_MS)
    page.wait_for_timeout(1000)


def _policy_problems(page) -> list[str]:
    """Console lines of every frame that report a blocked load or script (CSP, Permissions-Policy,
    frame options) or an uncaught script error; grows as the page runs."""
    problems: list[str] = []
    pattern = re.compile(r"Content Security Policy|Content-Security-Policy|Permissions.Policy|X-Frame-Options|"
                         r"Refused to", re.IGNORECASE)
    page.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}") if pattern.search(msg.text) else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def test_every_page_renders_under_the_policy(dashboard, tmp_path):
    url, _, settings = dashboard
    with chromium_page(FAKE_CAMERA, {"width": 1400, "height": 1400}) as page:
        problems = _policy_problems(page)
        for path, title in PAGES.items():  # the sign-in form (a new session each time) under the policy too
            goto_signed_in(page, f"{url}/{path}", "admin", settings)
            page.locator("h1", has_text=title).first.wait_for(state="visible")
            _settle(page)
            page.screenshot(path=str(tmp_path / f"{path or 'home'}.png"))
            assert page.locator('[data-testid="stException"]').count() == 0, path
            if path == "live_webcam":  # the streamlit-webrtc frame (same origin) drew its button
                page.frame_locator('iframe[title*="webrtc"]').first.get_by_role("button", name="Start").wait_for()
    assert not problems, sorted(set(problems))


def test_live_webcam_camera_works_under_the_policy(dashboard, tmp_path):
    url, _, settings = dashboard
    with chromium_page(FAKE_CAMERA, {"width": 1400, "height": 1100}) as page:
        problems = _policy_problems(page)
        goto_signed_in(page, f"{url}/live_webcam", "admin", settings)
        page.get_by_role("heading", name="Live Webcam").wait_for()
        page.get_by_text("Camera off").wait_for()
        component = page.frame_locator('iframe[title*="webrtc"]').first
        component.get_by_role("button", name="Start").click()
        video = component.locator("video").first
        video.wait_for(state="attached")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not video.evaluate("v => v.videoWidth"):
            page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "live_webcam.png"), full_page=True)
        assert video.evaluate("v => v.videoWidth") > 0, "the camera's video never came back"
        component.get_by_role("button", name="Stop").click()
        page.get_by_text("Camera off").wait_for()
    assert not problems, sorted(set(problems))


def test_app_error_shows_visitors_no_detail(tmp_path):
    secret = f"secret-{secrets.token_hex(8)}"
    app = tmp_path / "failing_app.py"
    app.write_text("import streamlit as st\n\nst.title('Before the error')\n"
                   f"raise RuntimeError('{secret} in /home/someone/people.db')\n")
    log_file = tmp_path / "streamlit.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # conftest's streamlit_server fails on a traceback in the log: here one is the point.
    command = [sys.executable, "-m", "dashboard.server", str(app), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    with open(log_file, "w") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=_env(tmp_path), stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, process, log_file)
        with chromium_page([], {"width": 1200, "height": 900}) as page:
            page.goto(url)
            page.get_by_text("Before the error").wait_for()
            page.locator('[data-testid="stException"], [data-testid="stAlert"]').first.wait_for()
            _settle(page)
            text = page.locator("body").inner_text()
            html = page.content()  # link targets too ("Ask Google" carries the shown message)
            page.screenshot(path=str(tmp_path / "error.png"))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "encountered an error" in text, text
    for leak in (secret, "RuntimeError", "Traceback", "people.db", str(app)):
        assert leak not in text and leak not in html, leak
    log = log_file.read_text()
    assert secret in log and "Traceback" in log and "RuntimeError" in log, log[-3000:]
