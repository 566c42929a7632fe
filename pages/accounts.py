"""Accounts (administrators): who may sign in, with which role; add, change the role, reset the
password, unlock, remove. Below them, the HTTP API's keys (add, shown once; revoke) and webhook
subscriptions (add, its signing secret shown once; remove).

Every change is :class:`facerec_core.access.Accounts`', :class:`facerec_core.api.keys.ApiKeys`' or
:class:`facerec_core.api.webhooks.Webhooks`' (their guard and audit trail); this page only lays out
the forms. The core refuses what must not happen (a weak password, a taken name, removing or
demoting the last administrator, a URL that is not http(s)) and its message is shown as it is.
"""
from __future__ import annotations

import streamlit as st

from dashboard.api_keys import RECENT_DELIVERIES, get_api, key_rows, webhook_rows
from dashboard.api_keys import when as _when
from dashboard.auth import check
from dashboard.page import page_preamble
from dashboard.plain import plain
from facerec_core.access import Action, Role
from facerec_core.access.passwords import MIN_PASSWORD_LENGTH
from facerec_core.api.keys import MAX_RATE
from facerec_core.api.webhooks import EVENTS
from facerec_core.errors import FacerecError

WHERE = "Accounts page"
_FLASH = "accounts_flash"
_CONFIRM = "accounts_confirm_remove"
_KEYS_FLASH = "accounts_api_keys_flash"
_HOOKS_FLASH = "accounts_api_hooks_flash"
_CONFIRM_REVOKE = "accounts_api_confirm_revoke"
_CONFIRM_UNHOOK = "accounts_api_confirm_unhook"
ROLES = [r.value for r in Role]
ROLE_HELP = ("admin: everything (people, models, thresholds, accounts, the audit trail); operator: recognize, "
             "verify, live webcam, no changes to people; viewer: Model Metrics and Dataset Explorer only.")
KEY_ROLE_HELP = ("What calls made with the key may do, as the same role on the dashboard. viewer: /v1/version; "
                 "operator: also recognize, detect, verify and the sightings; admin: also the people (enroll, "
                 "rename, delete, export, import) and webhooks.")


def flash(kind: str, message: str, *, into: str = _FLASH) -> None:
    """A message for the next run (``message`` is Markdown: user strings through plain()), shown at
    the top of the page, or of the API keys (``into=_KEYS_FLASH``) or webhooks section."""
    st.session_state.setdefault(into, []).append((kind, message))


def show_flashes(into: str) -> None:
    """The messages flashed ``into`` a place, each shown once; a secret (``"code"``) as plain text
    to copy."""
    for kind, message in st.session_state.pop(into, []):
        if kind == "code":
            st.code(message, language=None, wrap_lines=True)
        else:
            getattr(st, kind)(message)


def show_once(into: str, what: str, secret: str) -> None:
    """Flash a new key's or signing secret's text (``what`` is Markdown, user strings through
    plain()): shown on the next run and never again."""
    flash("warning", f"{what} It is shown only this once: copy it now and keep it where the client keeps "
                     "secrets. Nothing here can show it again; if it is lost, make a new one.", into=into)
    flash("code", secret, into=into)


def _run(what: str, change, *, into: str = _FLASH) -> bool:
    """Do one change; its refusal (the core's message) is flashed ``into`` a place. ``True`` when it
    was made."""
    try:
        change()
    except FacerecError as exc:
        flash("error", f"{plain(what)} refused: {plain(exc)}", into=into)
        return False
    return True


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble("Accounts", "Who may sign in, and what each role may do; the HTTP API's keys and webhooks. "
                     "Every change here is written to the audit trail.", action=Action.MANAGE_USERS)
accounts, by = page.access.accounts, page.principal
show_flashes(_FLASH)

try:
    everyone = accounts.list(by, where=WHERE)
except FacerecError as exc:
    st.error(f"The accounts cannot be listed: {plain(exc)}")
    st.stop()

st.subheader(f"Accounts ({len(everyone)})")
st.dataframe([{"name": a.name, "role": a.role.value, "created": _when(a.created),
               "last sign-in": _when(a.last_sign_in) or "never",
               "locked": f"until {_when(a.locked_until)}" if a.locked_until else "",
               "failed sign-ins": a.failed} for a in everyone], hide_index=True, key="accounts_table")
st.caption(ROLE_HELP)

with st.expander("Add an account", icon=":material/person_add:", expanded=len(everyone) == 1):
    with st.form("accounts_add", clear_on_submit=True):
        cols = st.columns(2)
        name = cols[0].text_input("Name", key="accounts_add_name")
        role = cols[1].selectbox("Role", ROLES, index=ROLES.index(Role.OPERATOR.value), key="accounts_add_role",
                                 help=ROLE_HELP)
        cols = st.columns(2)
        password = cols[0].text_input("Password", type="password", key="accounts_add_password",
                                      autocomplete="new-password",
                                      help=f"At least {MIN_PASSWORD_LENGTH} characters, not the name")
        again = cols[1].text_input("Password again", type="password", key="accounts_add_password_again",
                                   autocomplete="new-password")
        if st.form_submit_button("Add the account", type="primary", icon=":material/person_add:"):
            if password != again:
                flash("error", "Not added: the two passwords differ; type the same password twice.")
            elif _run("Adding the account", lambda: accounts.add(by, name.strip(), password, role, where=WHERE)):
                flash("success", f"Added {plain(name.strip())} as {plain(role)}.")
            st.rerun()

if everyone:
    st.subheader("Change an account")
    names = [a.name for a in everyone]
    chosen = st.selectbox("Account", names, key="accounts_chosen", format_func=str)
    account = next(a for a in everyone if a.name == chosen)
    st.caption(f"{plain(account.name)}: {account.role.value}, last signed in "
               f"{plain(_when(account.last_sign_in) or 'never')}"
               + (f", locked until {plain(_when(account.locked_until))}" if account.locked_until else "") + ".")
    role_tab, password_tab, unlock_tab, remove_tab = st.tabs(["Role", "Password", "Unlock", "Remove"])
    with role_tab:
        new_role = st.selectbox("New role", ROLES, index=ROLES.index(account.role.value), key="accounts_new_role",
                                help=ROLE_HELP)
        if st.button("Change the role", key="accounts_set_role", disabled=new_role == account.role.value):
            if _run("Changing the role", lambda: accounts.set_role(by, account.name, new_role, where=WHERE)):
                flash("success", f"{plain(account.name)} is now {plain(new_role)}; their sessions were ended, so the "
                                 "new role applies from their next sign-in.")
            st.rerun()
    with password_tab:
        with st.form("accounts_password", clear_on_submit=True):
            cols = st.columns(2)
            password = cols[0].text_input("New password", type="password", key="accounts_new_password",
                                          autocomplete="new-password",
                                          help=f"At least {MIN_PASSWORD_LENGTH} characters, not the name")
            again = cols[1].text_input("New password again", type="password", key="accounts_new_password_again",
                                       autocomplete="new-password")
            if st.form_submit_button("Reset the password", icon=":material/password:"):
                if password != again:
                    flash("error", "Not changed: the two passwords differ; type the same password twice.")
                elif _run("Resetting the password",
                          lambda: accounts.set_password(by, account.name, password, where=WHERE)):
                    flash("success", f"The password of {plain(account.name)} was reset and their sessions ended.")
                st.rerun()
    with unlock_tab:
        if account.locked_until or account.failed:
            st.caption(f"{account.failed} failed sign-in(s) in a row"
                       + (f"; locked until {plain(_when(account.locked_until))}" if account.locked_until else "") + ".")
        else:
            st.caption("Not locked: no failed sign-ins since the last good one.")
        if st.button("Unlock", key="accounts_unlock", disabled=not (account.locked_until or account.failed),
                     icon=":material/lock_open:"):
            if _run("Unlocking", lambda: accounts.unlock(by, account.name, where=WHERE)):
                flash("success", f"Unlocked {plain(account.name)}.")
            st.rerun()
    with remove_tab:
        if st.session_state.get(_CONFIRM) == account.name:
            st.warning(f"Remove the account **{plain(account.name)}**? They can no longer sign in and their sessions "
                       "end now. Their past actions stay in the audit trail.")
            yes, no = st.columns(2)
            if yes.button("Yes, remove", key="accounts_remove_yes", type="primary"):
                st.session_state.pop(_CONFIRM, None)
                if _run("Removing the account", lambda: accounts.remove(by, account.name, where=WHERE)):
                    flash("success", f"Removed {plain(account.name)}.")
                st.rerun()
            if no.button("Cancel", key="accounts_remove_no"):
                st.session_state.pop(_CONFIRM, None)
                st.rerun()
        elif st.button(f"Remove {plain(account.name)}…", key="accounts_remove", icon=":material/person_remove:"):
            st.session_state[_CONFIRM] = account.name
            st.rerun()

# ---- API keys and webhooks (the HTTP API, `facerec serve`) ---------------------------------------
st.divider()
refused = check(by, page.access, Action.MANAGE_API, target="API keys and webhooks", where=WHERE)
if refused:
    st.subheader("API keys and webhooks")
    st.error(refused, icon=":material/block:")
    st.stop()
api = get_api(page.settings, page.access)
if api is None:
    st.stop()
try:
    keys, hooks = api.keys.list(), api.webhooks.list()
    hook_table = webhook_rows(api.webhooks, hooks)
except FacerecError as exc:
    st.error(f"The API keys and webhooks cannot be listed: {plain(exc)}")
    st.stop()

valid = [k for k in keys if k.active]
revoked_count = len(keys) - len(valid)
st.subheader(f"API keys ({len(valid)} valid" + (f", {revoked_count} revoked" if revoked_count else "") + ")")
st.caption("Programs call the HTTP API (`facerec serve`) with a key in the `X-API-Key` header; each call acts with "
           "the key's role, within its requests a minute, and is audited as `api:NAME`. Only a hash of each key is "
           "kept.")
show_flashes(_KEYS_FLASH)
if keys:
    st.dataframe(key_rows(keys), hide_index=True, key="accounts_api_keys_table")
with st.expander("Add an API key", icon=":material/key:", expanded=not keys):
    with st.form("accounts_api_key_add", clear_on_submit=True):
        cols = st.columns([2, 1, 1])
        key_name = cols[0].text_input("Name", key="accounts_api_key_name",
                                      help="Who or what uses the key, e.g. door-camera; the audit trail names "
                                           "its calls `api:NAME`")
        key_role = cols[1].selectbox("Role", ROLES, index=ROLES.index(Role.OPERATOR.value), key="accounts_api_key_role",
                                     help=KEY_ROLE_HELP)
        key_rate = cols[2].number_input("Requests a minute", min_value=1, max_value=MAX_RATE,
                                        value=min(max(page.settings.api_rate, 1), MAX_RATE), step=1,
                                        key="accounts_api_key_rate",
                                        help="More calls in a minute are answered 429 (FACEREC_API_RATE is the "
                                             "default)")
        if st.form_submit_button("Add the key", type="primary", icon=":material/key:"):
            def add_key() -> None:
                key, secret = api.keys.add(by, key_name.strip(), key_role, rate_per_minute=int(key_rate), where=WHERE)
                show_once(_KEYS_FLASH, f"Added the API key {plain(key.name)} ({key.role.value}, "
                                       f"{key.rate_per_minute} requests a minute).", secret)
            _run("Adding the API key", add_key, into=_KEYS_FLASH)
            st.rerun()
if valid:
    cols = st.columns([3, 1], vertical_alignment="bottom")
    to_revoke = cols[0].selectbox("Revoke a key", [k.name for k in valid], key="accounts_api_revoke_chosen",
                                  format_func=str)
    if st.session_state.get(_CONFIRM_REVOKE) == to_revoke:
        st.warning(f"Revoke the API key **{plain(to_revoke)}**? Every call with it is refused from now on; this "
                   "cannot be undone (a new key can be made).")
        yes, no = st.columns(2)
        if yes.button("Yes, revoke", key="accounts_api_revoke_yes", type="primary"):
            st.session_state.pop(_CONFIRM_REVOKE, None)
            if _run("Revoking the API key", lambda: api.keys.revoke(by, to_revoke, where=WHERE), into=_KEYS_FLASH):
                flash("success", f"Revoked the API key {plain(to_revoke)}: calls with it are refused from now on.",
                      into=_KEYS_FLASH)
            st.rerun()
        if no.button("Cancel", key="accounts_api_revoke_no"):
            st.session_state.pop(_CONFIRM_REVOKE, None)
            st.rerun()
    elif cols[1].button("Revoke…", key="accounts_api_revoke", icon=":material/key_off:", width="stretch"):
        st.session_state[_CONFIRM_REVOKE] = to_revoke
        st.rerun()

st.subheader(f"Webhooks ({len(hooks)})")
st.caption("Each subscription receives the events it chose as JSON POSTs signed with its secret (the "
           "`X-Facerec-Signature` header; `facerec_core.api.webhooks.verify_signature` checks one), retried while "
           f"the receiver is down. The counts are of its last {RECENT_DELIVERIES} deliveries.")
show_flashes(_HOOKS_FLASH)
if hooks:
    st.dataframe(hook_table, hide_index=True, key="accounts_api_hooks_table")
with st.expander("Add a webhook", icon=":material/webhook:", expanded=not hooks):
    with st.form("accounts_api_hook_add", clear_on_submit=True):
        hook_url = st.text_input("URL", key="accounts_api_hook_url", placeholder="https://home.example/hooks/facerec",
                                 help="An absolute http:// or https:// address that accepts POST requests")
        hook_events = st.multiselect("Events", list(EVENTS), default=list(EVENTS), key="accounts_api_hook_events")
        if st.form_submit_button("Add the webhook", type="primary", icon=":material/add_link:"):
            def add_hook() -> None:
                hook, secret = api.webhooks.add(by, hook_url.strip(), list(hook_events), where=WHERE)
                show_once(_HOOKS_FLASH, f"Added webhook {hook.id} for {plain(', '.join(hook.events))}; its signing "
                                        "secret is below.", secret)
            if not hook_events:
                flash("error", "Not added: choose at least one event.", into=_HOOKS_FLASH)
            else:
                _run("Adding the webhook", add_hook, into=_HOOKS_FLASH)
            st.rerun()
if hooks:
    urls = {h.id: h.url for h in hooks}
    cols = st.columns([3, 1], vertical_alignment="bottom")
    to_remove = cols[0].selectbox("Remove a webhook", list(urls), key="accounts_api_hook_chosen",
                                  format_func=lambda hook_id: f"{hook_id}: {urls.get(hook_id, '')}")
    if st.session_state.get(_CONFIRM_UNHOOK) == to_remove:
        st.warning(f"Remove webhook {to_remove}? Nothing more is sent to it, and its pending deliveries are dropped.")
        st.text(urls[to_remove])
        yes, no = st.columns(2)
        if yes.button("Yes, remove", key="accounts_api_hook_remove_yes", type="primary"):
            st.session_state.pop(_CONFIRM_UNHOOK, None)
            if _run("Removing the webhook", lambda: api.webhooks.remove(by, to_remove, where=WHERE), into=_HOOKS_FLASH):
                flash("success", f"Removed webhook {to_remove}.", into=_HOOKS_FLASH)
            st.rerun()
        if no.button("Cancel", key="accounts_api_hook_remove_no"):
            st.session_state.pop(_CONFIRM_UNHOOK, None)
            st.rerun()
    elif cols[1].button("Remove…", key="accounts_api_hook_remove", icon=":material/link_off:",
                        width="stretch"):
        st.session_state[_CONFIRM_UNHOOK] = to_remove
        st.rerun()
