"""Accounts (administrators): who may sign in, with which role; add, change the role, reset the
password, unlock, remove.

Every change is :class:`facerec_core.access.Accounts`' (its guard and audit trail); this page only
lays out the forms. The core refuses what must not happen (a weak password, a taken name, removing
or demoting the last administrator) and its message is shown as it is.
"""
from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard.page import page_preamble
from dashboard.plain import plain
from facerec_core.access import Action, Role
from facerec_core.access.passwords import MIN_PASSWORD_LENGTH
from facerec_core.errors import FacerecError

WHERE = "Accounts page"
_FLASH = "accounts_flash"
_CONFIRM = "accounts_confirm_remove"
ROLES = [r.value for r in Role]
ROLE_HELP = ("admin: everything (people, models, thresholds, accounts, the audit trail); operator: recognize, "
             "verify, live webcam, no changes to people; viewer: Model Metrics and Dataset Explorer only.")


def flash(kind: str, message: str) -> None:
    """A message for the next run (``message`` is Markdown: user strings through plain())."""
    st.session_state.setdefault(_FLASH, []).append((kind, message))


def _when(value: str | None) -> str:
    if not value:
        return ""
    try:
        return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


def _run(what: str, change) -> bool:
    """Do one change; its refusal (the core's message) is flashed. ``True`` when it was made."""
    try:
        change()
    except FacerecError as exc:
        flash("error", f"{plain(what)} refused: {plain(exc)}")
        return False
    return True


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble("Accounts", "Who may sign in, and what each role may do. Every change here is written to the "
                     "audit trail.", action=Action.MANAGE_USERS)
accounts, by = page.access.accounts, page.principal
for kind, message in st.session_state.pop(_FLASH, []):
    getattr(st, kind)(message)

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
