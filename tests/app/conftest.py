"""Fixtures for the dashboard tests: the environment the app reads its settings from."""
from __future__ import annotations

import contextlib
import http.server
import io
import os
import re
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dashboard.plain import WORD_JOINER
from facerec_core.settings import Settings

SETTINGS_ENV = ("FACEREC_LFW_DIR", "FACEREC_LFW_PROTOCOL_DIR", "FACEREC_ARTIFACTS_DIR", "FACEREC_CACHE_DIR",
                "FACEREC_DATA_DIR", "FACEREC_MODELS_DIR", "FACEREC_DEVICE", "FACEREC_BACKBONE")


def shown(markdown: str) -> str:
    """The text a browser shows for Markdown made by :func:`dashboard.plain.plain` (AppTest holds
    the Markdown source): backslash escapes resolved, word joiners invisible."""
    return re.sub(r"\\([" + re.escape(string.punctuation) + "])", r"\1", markdown).replace(WORD_JOINER, "")


def settings_env(settings: Settings, *, with_lfw: bool = True) -> dict[str, str]:
    """FACEREC_* variables that make ``Settings.from_env()`` in the app equal to ``settings``."""
    env = {"FACEREC_ARTIFACTS_DIR": str(settings.artifacts_dir), "FACEREC_CACHE_DIR": str(settings.cache_dir),
           "FACEREC_DATA_DIR": str(settings.data_dir), "FACEREC_MODELS_DIR": str(settings.models_dir),
           "FACEREC_DEVICE": settings.device, "FACEREC_BACKBONE": settings.backbone}
    if with_lfw and settings.lfw_dir is not None:
        env["FACEREC_LFW_DIR"] = str(settings.lfw_dir)
        protocol = settings.lfw_protocol_dir_resolved
        if protocol is not None:
            env["FACEREC_LFW_PROTOCOL_DIR"] = str(protocol)
    return env


def apply_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture()
def empty_env(monkeypatch, tmp_path) -> Settings:
    """No LFW and no trained model: the first-run state."""
    settings = Settings.from_env().replace(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache",
                                           data_dir=tmp_path / "data", device="cpu")
    env = settings_env(settings, with_lfw=False)
    apply_env(monkeypatch, env)
    return Settings.from_env()


@pytest.fixture()
def trained_env(monkeypatch, trained) -> Settings:
    """The session's trained model and LFW, as the app will see them."""
    settings, _ = trained
    apply_env(monkeypatch, settings_env(settings))
    return Settings.from_env()


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture()
def blank_png(blank_image) -> bytes:
    return encode(blank_image)


@pytest.fixture()
def run_env() -> dict[str, str]:
    """A copy of the process environment (for subprocesses, after the env fixtures ran)."""
    return dict(os.environ)


# ---- real server and browser (test_browser.py, test_webcam_browser.py) ------------------------
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
BASE_CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Model loading and CPU detection on a small shared machine: be patient, in milliseconds.
SLOW_MS = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log_file: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log_file.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s:\n{log_file.read_text()[-3000:]}")


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_file: Path, app: Path = PROJECT_ROOT / "streamlit_app.py"):
    """``streamlit run`` of ``app`` (the dashboard unless told) on a free port; yields its URL.
    Afterwards the server log must hold no traceback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "dashboard.server", str(app),
               "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log_file, "w") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, process, log_file)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    text = log_file.read_text()
    assert "Traceback" not in text, text[-3000:]


@contextlib.contextmanager
def chromium_page(extra_args: list[str], viewport: dict[str, int]):
    """Debian's Chromium through Playwright (never `playwright install`); skips when missing."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BASE_CHROMIUM_ARGS + extra_args)
        try:
            page = browser.new_page(viewport=viewport)
            page.set_default_timeout(SLOW_MS)
            yield page
        finally:
            browser.close()


def returned_video_size(component) -> tuple[int, int]:
    """The width and height of the video the camera component plays back (the annotated stream)."""
    return tuple(component.locator("video").first.evaluate("v => [v.videoWidth, v.videoHeight]"))


def is_requested_640x480(size: tuple[int, int]) -> bool:
    """The 640×480 the pages ask for, or one of the steps WebRTC's encoder scales it down to when
    the CPU is busy (3/4, then 1/2: seen as 480×360 under CI load); the 4:3 shape is kept."""
    return size in {(640, 480), (480, 360), (320, 240)}


# ---- accounts and signed-in sessions (issue #16) -----------------------------------------------
# One account per role, created through the core API in the gallery file of the environment's
# FACEREC_DATA_DIR (Settings.from_env() when called: after the env fixtures ran).
ACCOUNTS = {"admin": "Ada Admin", "operator": "Otto Operator", "viewer": "Vera Viewer"}


def password_of(name: str) -> str:
    """The test accounts' passwords: long enough, not the name."""
    return f"{name.split()[0].lower()} keeps a long test passphrase"


@contextlib.contextmanager
def access_services(settings: Settings | None = None):
    """``(accounts, audit)`` on the access tables of ``settings`` (the environment's unless told)."""
    from facerec_core.access import AccessStore, Accounts, AuditLog

    settings = settings or Settings.from_env()
    store = AccessStore.open(settings)
    try:
        audit = AuditLog(store)
        yield Accounts(store, audit, settings), audit
    finally:
        store.close()


def ensure_account(role: str = "admin", settings: Settings | None = None) -> tuple[str, str]:
    """The test account of ``role`` (created the first time: the first one as the first
    administrator, the others by the CLI's principal); returns ``(name, password)``."""
    from facerec_core.access import Role, cli_principal

    name = ACCOUNTS[role]
    with access_services(settings) as (accounts, _):
        if not accounts.has_accounts():
            accounts.create_first_admin(ACCOUNTS["admin"], password_of(ACCOUNTS["admin"]), client_is_loopback=True)
        if accounts.get(name) is None:
            accounts.add(cli_principal(), name, password_of(name), Role(role))
    return name, password_of(name)


def session_token(role: str = "admin", settings: Settings | None = None) -> str:
    """A signed-in session of the ``role`` test account, as the sign-in form would make it."""
    name, password = ensure_account(role, settings)
    with access_services(settings) as (accounts, _):
        return accounts.sign_in(name, password, client="127.0.0.1").token


def sign_in_app(at, role: str = "admin", settings: Settings | None = None):
    """Put a signed-in session of ``role`` into an AppTest before its first run; returns ``at``."""
    from dashboard.auth import TOKEN_KEY

    at.session_state[TOKEN_KEY] = session_token(role, settings)
    return at


def sign_in_browser(page, role: str = "admin", settings: Settings | None = None) -> None:
    """Fill the dashboard's sign-in form (already on screen) as the ``role`` test account."""
    name, password = ensure_account(role, settings)
    fill_sign_in(page, name, password)
    page.get_by_text("Signed in as").first.wait_for(state="visible")


def fill_sign_in(page, name: str, password: str) -> None:
    form = page.locator('[data-testid="stForm"]').first
    form.wait_for(state="visible")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()


def goto_signed_in(page, url: str, role: str = "admin", settings: Settings | None = None) -> None:
    """Open ``url`` in a fresh browser session (a reload starts one) and sign in as ``role``; the
    page asked for is shown once signed in. The account is made first: with no account at all the
    page would ask for the first administrator instead."""
    ensure_account(role, settings)
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(state="visible")
    sign_in_browser(page, role, settings)


# ---- a local server that counts what browsers fetch from it (hostile-name tests) -------------
class _CountingHandler(http.server.BaseHTTPRequestHandler):
    PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.PNG)))
        self.end_headers()
        self.wfile.write(self.PNG)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def counting_server():
    """An HTTP server on 127.0.0.1 that records every request path; yields ``(port, paths)``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _CountingHandler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.paths
    finally:
        server.shutdown()
        server.server_close()
