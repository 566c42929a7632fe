"""The Accounts page's API keys and webhooks, driven in-process with AppTest: an administrator
adds a key (shown once, accepted by ``ApiKeys.check``) and revokes it (refused from then on), adds
a webhook (its signing secret shown once) and removes it; names and URLs are shown as text, never
as Markdown; refusals of the core are messages; operators and viewers get neither the section nor
its controls."""
from __future__ import annotations

import contextlib
import time

import pytest

from facerec_core.access import REQUIRED_ROLE, Action, Principal, Role
from facerec_core.api.keys import ApiKeys
from facerec_core.api.store import ApiStore
from facerec_core.api.webhooks import EVENTS, Webhooks
from facerec_core.errors import NotAllowedError
from facerec_core.settings import Settings
from tests.app.conftest import ACCOUNTS, access_services, ensure_account
from tests.app.test_access_pages import app, button, refused
from tests.app.test_pages import _navigation_mode, no_exception, texts  # noqa: F401 (autouse: st.navigation mode)

ACCOUNTS_PAGE = "pages/accounts.py"
HOSTILE = "![x](http://127.0.0.1:9/x) *door* <b>cam</b>"
"""A key name that is Markdown (an image fetched from a URL, emphasis) and HTML."""
MARKDOWN_ELEMENTS = ("markdown", "caption", "subheader", "header", "title", "success", "info", "warning", "error")


@contextlib.contextmanager
def api_services():
    """``(keys, webhooks)`` on the API tables of the environment's gallery file."""
    settings = Settings.from_env()
    with access_services(settings) as (_, audit):
        store = ApiStore.open(settings)
        try:
            yield ApiKeys(store, audit), Webhooks(store, audit)
        finally:
            store.close()


def accounts_page(role: str = "admin"):
    at = app(role)
    at.switch_page(ACCOUNTS_PAGE).run()
    no_exception(at)
    return at


def table(at, column: str):
    """The dataframe that has ``column`` (the accounts table is the first; the keys and webhooks
    tables follow)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def secrets_shown(at, prefix: str) -> list[str]:
    return [c.value for c in at.code if str(c.value).startswith(prefix)]


def markdown_sources(at) -> str:
    """The Markdown source of every element that Streamlit renders as Markdown."""
    return "\n".join(str(e.value) for kind in MARKDOWN_ELEMENTS for e in at.get(kind))


def api_widget_keys(at) -> set[str]:
    keys = {w.key for kind in ("text_input", "selectbox", "multiselect", "number_input", "button")
            for w in at.get(kind) if getattr(w, "key", None)}
    return {k for k in keys if k.startswith("accounts_api")}


def add_key(at, name: str, role: str = "operator", rate: int = 30):
    at.text_input(key="accounts_api_key_name").input(name)
    at.selectbox(key="accounts_api_key_role").set_value(role)
    at.number_input(key="accounts_api_key_rate").set_value(rate)
    button(at, "Add the key").click().run()
    no_exception(at)


# ---- keys -----------------------------------------------------------------------------------------
def test_an_administrator_adds_a_key_shown_once_and_revokes_it(empty_env):
    ensure_account("admin")
    at = accounts_page()
    assert "API keys (0 valid)" in texts(at.subheader)
    assert at.number_input(key="accounts_api_key_rate").value == empty_env.api_rate  # FACEREC_API_RATE
    assert at.selectbox(key="accounts_api_key_role").value == "operator"

    add_key(at, "door-camera", "operator", 30)
    (key,) = secrets_shown(at, "frk_")
    assert "shown only this once" in texts(at.warning)
    assert "Added the API key door-camera (operator, 30 requests a minute)." in texts(at.warning)
    with api_services() as (keys, _):
        checked = keys.check(key)
    assert checked is not None
    assert (checked.name, checked.role, checked.rate_per_minute) == ("door-camera", Role.OPERATOR, 30)
    rows = table(at, "hint")
    assert list(rows.columns) == ["name", "role", "hint", "rate/min", "created", "last used", "revoked"]
    assert rows.iloc[0].to_dict() | {"created": ""} == {"name": "door-camera", "role": "operator",
                                                       "hint": f"{key[:8]}…", "rate/min": 30, "created": "",
                                                       "last used": "never", "revoked": ""}
    assert key not in rows.to_string()
    assert "API keys (1 valid)" in texts(at.subheader)

    at.run()  # any later run: the key is gone from the page
    no_exception(at)
    assert not secrets_shown(at, "frk_") and key not in markdown_sources(at)
    assert "shown only this once" not in texts(at.warning)

    # a taken name is refused with the core's message, not a traceback
    add_key(at, "door-camera")
    assert "Adding the API key refused: a key named 'door-camera' exists already" in texts(at.error)
    assert not secrets_shown(at, "frk_")

    # revoke, with confirmation; Cancel first
    at.selectbox(key="accounts_api_revoke_chosen").set_value("door-camera").run()
    at.button(key="accounts_api_revoke").click().run()
    assert "Revoke the API key door-camera?" in texts(at.warning).replace("**", "")
    at.button(key="accounts_api_revoke_no").click().run()
    with api_services() as (keys, _):
        assert keys.check(key) is not None
    at.button(key="accounts_api_revoke").click().run()
    at.button(key="accounts_api_revoke_yes").click().run()
    no_exception(at)
    assert "Revoked the API key door-camera" in texts(at.success)
    with api_services() as (keys, _):
        assert keys.check(key) is None
    assert table(at, "hint").iloc[0]["revoked"].endswith("UTC")
    assert "API keys (0 valid, 1 revoked)" in texts(at.subheader)
    assert "accounts_api_revoke_chosen" not in api_widget_keys(at)  # nothing left to revoke

    with access_services() as (_, audit):
        done = [(e.actor, e.action, e.target, e.outcome, e.where) for e in audit.events(limit=50)
                if e.action.startswith("api_key")]
        assert audit.verify().ok  # the page's keys write to the accounts' one trail
    assert sorted(done) == [(ACCOUNTS["admin"], "api_key_add", "door-camera", "ok", "Accounts page"),
                            (ACCOUNTS["admin"], "api_key_revoke", "door-camera", "ok", "Accounts page")]


def test_key_names_are_shown_as_text(empty_env):
    ensure_account("admin")
    at = accounts_page()
    add_key(at, HOSTILE)
    (key,) = secrets_shown(at, "frk_")
    assert f"Added the API key {HOSTILE} (operator" in texts(at.warning)
    assert list(table(at, "hint")["name"]) == [HOSTILE]
    at.selectbox(key="accounts_api_revoke_chosen").set_value(HOSTILE).run()
    at.button(key="accounts_api_revoke").click().run()
    assert f"Revoke the API key **{HOSTILE}**?" in texts(at.warning)
    at.button(key="accounts_api_revoke_yes").click().run()
    assert f"Revoked the API key {HOSTILE}:" in texts(at.success)
    add_key(at, HOSTILE)  # refused: the name is taken; the message quotes it
    assert "exists already" in texts(at.error)
    sources = markdown_sources(at)
    assert "](" not in sources and "<b>" not in sources and "*door*" not in sources
    with api_services() as (keys, _):
        assert keys.check(key) is None


# ---- webhooks -------------------------------------------------------------------------------------
def test_an_administrator_adds_a_webhook_sees_its_secret_once_and_removes_it(empty_env):
    ensure_account("admin")
    at = accounts_page()
    assert "Webhooks (0)" in texts(at.subheader)
    assert at.multiselect(key="accounts_api_hook_events").value == list(EVENTS)  # all by default

    # refusals: not an http(s) URL (the core's message), no event chosen
    at.text_input(key="accounts_api_hook_url").input("ftp://hooks.example/x")
    button(at, "Add the webhook").click().run()
    no_exception(at)
    assert "Adding the webhook refused: not a webhook URL" in texts(at.error)
    at.text_input(key="accounts_api_hook_url").input("https://hooks.example/facerec")
    at.multiselect(key="accounts_api_hook_events").set_value([])
    button(at, "Add the webhook").click().run()
    assert "choose at least one event" in texts(at.error)
    assert "Webhooks (0)" in texts(at.subheader)

    url = "https://hooks.example/facerec?x=![y](http://127.0.0.1:9/y)"
    at.text_input(key="accounts_api_hook_url").input(url)
    at.multiselect(key="accounts_api_hook_events").set_value(["person.recognized", "face.unknown"])
    button(at, "Add the webhook").click().run()
    no_exception(at)
    (secret,) = secrets_shown(at, "whsec_")
    assert "shown only this once" in texts(at.warning)
    assert "Added webhook 1 for person.recognized, face.unknown" in texts(at.warning)
    rows = table(at, "URL")
    assert list(rows.columns) == ["id", "URL", "events", "created", "delivered", "pending", "failed"]
    assert rows.iloc[0][["id", "URL", "events", "delivered", "pending", "failed"]].tolist() == \
        [1, url, "person.recognized, face.unknown", 0, 0, 0]
    assert secret not in rows.to_string() and "](" not in markdown_sources(at)
    with api_services() as (_, hooks):
        (hook,) = hooks.list()
        with hooks.store.read() as conn:  # the secret shown is the one that signs
            assert conn.execute("SELECT secret FROM webhooks WHERE id = ?", (hook.id,)).fetchone()[0] == secret
        with hooks.store.write() as conn:  # a delivery not yet due (no dispatcher sends it in this test)
            conn.execute("INSERT INTO webhook_outbox(webhook_id, event, body, created, next_attempt) "
                         "VALUES (?, 'face.unknown', '{}', '2025-01-01T00:00:00.000+00:00', ?)",
                         (hook.id, time.time() + 3600))
    at.run()
    assert not secrets_shown(at, "whsec_")
    assert table(at, "URL").iloc[0][["delivered", "pending", "failed"]].tolist() == [0, 1, 0]

    at.selectbox(key="accounts_api_hook_chosen").set_value(1).run()
    at.button(key="accounts_api_hook_remove").click().run()
    assert "Remove webhook 1?" in texts(at.warning)
    assert url in [t.value for t in at.text]  # the URL as plain text
    at.button(key="accounts_api_hook_remove_yes").click().run()
    no_exception(at)
    assert "Removed webhook 1." in texts(at.success)
    assert "Webhooks (0)" in texts(at.subheader)
    with api_services() as (_, hooks):
        assert hooks.list() == []
        assert [d.status for d in hooks.deliveries(1)] == ["failed"]  # its pending delivery was dropped
    with access_services() as (_, audit):
        done = sorted((e.action, e.outcome) for e in audit.events(limit=50) if e.action.startswith("webhook"))
    assert done == [("webhook_add", "ok"), ("webhook_remove", "ok")]


# ---- who may -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_get_no_api_section(empty_env, role):
    ensure_account("admin")
    name, _ = ensure_account(role)
    at = accounts_page(role)
    assert refused(at) == [f"not allowed: Accounts needs the admin role; you are signed in as {name} ({role})"]
    assert not api_widget_keys(at) and not at.code and len(at.dataframe) == 0
    assert "API keys" not in texts(at.subheader)
    # the core refuses them too, whatever a page would offer, and audits the refusal
    who = Principal(name, Role(role), "dashboard")
    with api_services() as (keys, hooks):
        with pytest.raises(NotAllowedError):
            keys.add(who, "sneaky", "admin", where="test")
        with pytest.raises(NotAllowedError):
            hooks.add(who, "https://hooks.example/x", "all", where="test")
        assert keys.list() == [] and hooks.list() == []
    with access_services() as (_, audit):
        assert {e.action for e in audit.events(actor=name, outcome="denied")} >= {"manage_users", "manage_api"}


def test_the_section_has_its_own_guard(empty_env, monkeypatch):
    """Were accounts opened to operators, the API section would still be refused (manage_api)."""
    ensure_account("admin")
    name, _ = ensure_account("operator")
    monkeypatch.setitem(REQUIRED_ROLE, Action.MANAGE_USERS, Role.OPERATOR)
    at = accounts_page("operator")
    assert refused(at) == [f"not allowed: Managing API keys and webhooks needs the admin role; {name} is operator: "
                           "ask an administrator"]
    assert "Accounts (" in texts(at.subheader)  # the accounts part is drawn
    assert not api_widget_keys(at) and not at.code
    with access_services() as (_, audit):
        denied = [(e.action, e.target) for e in audit.events(actor=name, outcome="denied")]
    assert ("manage_api", "API keys and webhooks") in denied

