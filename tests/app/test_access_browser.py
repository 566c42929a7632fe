"""Issue #16 in a real browser: `streamlit run` driven by Debian's Chromium through Playwright.

The first start creates the administrator through the form; each role signs in and is checked
for what it may and may not open (a viewer typing the Gallery page's URL gets "not allowed");
five wrong passwords lock the account, and then the right one is refused with the lock message;
an idle session expires; sign-out ends the session. Screenshots go to the test's tmp_path, or to
$FACEREC_SHOTS_DIR when set (to be looked at).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from facerec_core.access.accounts import delay_after
from tests.app.conftest import (ACCOUNTS, chromium_page, ensure_account, fill_sign_in, goto_signed_in, password_of,
                                streamlit_server)
from tests.app.test_browser import _settle

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1300, "height": 1100}


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("FACEREC_SHOTS_DIR") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def _sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def _refusal(page, what: str, needs: str, role: str):
    return page.get_by_text(f"not allowed: {what} needs the {needs} role; you are signed in as {ACCOUNTS[role]} "
                            f"({role})", exact=True)


def _open(page, url: str, role: str, heading: str) -> None:
    goto_signed_in(page, url, role)
    page.locator("h1", has_text=heading).first.wait_for(state="visible")
    _settle(page)
    _no_exception(page)


def test_first_start_creates_the_administrator_then_sign_out(empty_env, tmp_path, run_env):
    shots = _shots(tmp_path)
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url, chromium_page([], VIEWPORT) as page:
        page.goto(url)
        page.get_by_text("Create the first administrator").first.wait_for(state="visible")
        _settle(page)
        assert page.get_by_text("Signed in as").count() == 0
        page.screenshot(path=str(shots / "first_admin.png"), full_page=True)
        form = page.locator('[data-testid="stForm"]').first
        form.get_by_label("Name", exact=True).fill("Ada Admin")
        form.get_by_label("Password", exact=True).fill(password_of("Ada Admin"))
        form.get_by_label("Password again", exact=True).fill(password_of("Ada Admin"))
        form.get_by_role("button", name="Create the administrator").click()
        _sidebar(page).get_by_text("Signed in as Ada Admin (admin)").wait_for(state="visible")
        page.locator("h1", has_text="facerec").first.wait_for(state="visible")
        _settle(page)
        _no_exception(page)
        assert page.get_by_text(password_of("Ada Admin")).count() == 0

        _sidebar(page).get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for(state="visible")
        _settle(page)
        assert page.get_by_role("button", name="Sign in").is_visible()
        assert page.get_by_text("Create the first administrator").count() == 0  # an account exists now
        page.screenshot(path=str(shots / "sign_in.png"), full_page=True)
        # a reload is a new session: signed out, the sign-in form again
        page.goto(f"{url}/model_metrics")
        page.get_by_role("button", name="Sign in").wait_for(state="visible")


def test_each_role_opens_what_it_may_and_is_refused_the_rest(empty_env, lfw_dir, monkeypatch, tmp_path, run_env):
    shots = _shots(tmp_path)
    run_env["FACEREC_LFW_DIR"] = str(lfw_dir)
    for role in ACCOUNTS:
        ensure_account(role)
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url, chromium_page([], VIEWPORT) as page:
        # viewer: Model Metrics and Dataset Explorer; the Gallery's URL typed in is refused
        _open(page, f"{url}/model_metrics", "viewer", "Model Metrics")
        nav = _sidebar(page)
        assert nav.get_by_text("Signed in as Vera Viewer (viewer)").is_visible()
        for label in ("Home", "Dataset Explorer", "Model Metrics"):
            assert nav.get_by_role("link", name=label, exact=True).count() == 1, label
        for label in ("Recognize", "Verify", "Gallery", "Live Webcam", "Accounts", "Audit"):
            assert nav.get_by_role("link", name=label, exact=True).count() == 0, label
        nav.get_by_role("link", name="Dataset Explorer").click()
        page.locator("h1", has_text="Dataset Explorer").first.wait_for(state="visible")
        _settle(page)
        _no_exception(page)
        _open(page, f"{url}/gallery", "viewer", "Gallery")
        _refusal(page, "Gallery", "admin", "viewer").wait_for(state="visible")
        assert page.get_by_text("Export / import").count() == 0
        page.screenshot(path=str(shots / "viewer_gallery_refused.png"), full_page=True)
        for path, title in (("recognize", "Recognize"), ("accounts", "Accounts")):
            _open(page, f"{url}/{path}", "viewer", title)
            _refusal(page, title, "admin" if path == "accounts" else "operator", "viewer").wait_for(state="visible")

        # operator: Recognize (the models load), not the Gallery nor the Accounts
        _open(page, f"{url}/recognize", "operator", "Recognize")
        page.get_by_text("Upload one or more photos to start.").wait_for(state="visible")
        assert _sidebar(page).get_by_role("link", name="Gallery").count() == 0
        for path, title in (("gallery", "Gallery"), ("accounts", "Accounts"), ("audit", "Audit")):
            _open(page, f"{url}/{path}", "operator", title)
            _refusal(page, title, "admin", "operator").wait_for(state="visible")

        # admin: the Accounts and Audit pages
        _open(page, f"{url}/accounts", "admin", "Accounts")
        page.get_by_text("Change an account").first.wait_for(state="visible")
        assert page.locator('[data-testid="stDataFrame"]').count() >= 1
        page.screenshot(path=str(shots / "accounts.png"), full_page=True)
        _sidebar(page).get_by_role("link", name="Audit").click()
        page.locator("h1", has_text="Audit").first.wait_for(state="visible")
        _settle(page)
        page.get_by_role("button", name="Verify the chain").click()
        page.get_by_text("The chain is intact").wait_for(state="visible")
        _settle(page)
        _no_exception(page)
        assert page.get_by_role("button", name="Download the trail (CSV)").is_enabled()
        page.screenshot(path=str(shots / "audit.png"), full_page=True)


def test_five_wrong_passwords_lock_the_account(empty_env, tmp_path, run_env):
    shots = _shots(tmp_path)
    name, password = ensure_account("operator")
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url, chromium_page([], VIEWPORT) as page:
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(state="visible")
        for attempt in range(1, 6):
            fill_sign_in(page, name, f"wrong password number {attempt}")
            page.get_by_text("wrong name or password").first.wait_for(state="visible")
            _settle(page)
            if attempt < 5:
                assert page.get_by_text("locked").count() == 0
                time.sleep(delay_after(attempt) + 0.5)  # the rate limit: the next attempt waits this long
        assert page.get_by_text("this name is locked for 15 minutes").count() == 1
        fill_sign_in(page, name, password)  # the right password, refused while locked
        page.get_by_text("it is locked for 15 more minutes").wait_for(state="visible")
        _settle(page)
        assert page.get_by_text("Signed in as").count() == 0
        page.screenshot(path=str(shots / "locked.png"), full_page=True)


def test_an_idle_session_expires(empty_env, tmp_path, run_env):
    ensure_account("viewer")
    # 15 s: long enough that signing in and drawing the first page (each request restarts the
    # clock) never outlasts it on a loaded machine, short enough for a test
    run_env["FACEREC_SESSION_MINUTES"] = "0.25"
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url, chromium_page([], VIEWPORT) as page:
        _open(page, f"{url}/model_metrics", "viewer", "Model Metrics")
        time.sleep(17)
        _sidebar(page).get_by_role("link", name="Home").click()  # the next click after the idle time
        page.get_by_text("Your session expired").first.wait_for(state="visible")
        _settle(page)  # the run that found the session expired has finished (no stale sidebar left)
        assert page.get_by_role("button", name="Sign in").is_visible()
        assert page.get_by_text("Signed in as").count() == 0
        _no_exception(page)
