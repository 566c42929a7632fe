"""Who is using the dashboard: the session's principal, the sign-in and first-administrator forms,
sign-out and expiry.

The accounts, sessions and audit trail are :mod:`facerec_core.access`, in the gallery's SQLite
file; this module only draws the forms and keeps the session's token in ``st.session_state``
(:data:`TOKEN_KEY`). Nothing else of the sign-in is kept in the session: every run resumes the
token through :meth:`~facerec_core.access.accounts.Accounts.resume` (which slides its expiry), so
a role changed, an account removed or a session ended elsewhere applies at the next click, and a
principal planted in the session state is never read.

Passwords are only ever passed to the core: the forms clear their fields on submit, and nothing
here logs, shows or stores them.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging

import streamlit as st

from dashboard.plain import code, plain
from facerec_core.access import (REQUIRED_ROLE, AccessStore, Accounts, Action, AuditLog, Principal, access_path,
                                 allowed, require)
from facerec_core.access.passwords import MIN_PASSWORD_LENGTH
from facerec_core.errors import AccessError, FacerecError, NotAllowedError, SessionExpiredError
from facerec_core.settings import Settings

log = logging.getLogger(__name__)

TOKEN_KEY = "facerec_session_token"
_NOTICE_KEY = "facerec_auth_notice"
EXPIRED = "Your session expired"
SIGNED_OUT = "You are signed out."
UNKNOWN_CLIENT = "unknown"
FIRST_ADMIN_COMMAND = "python -m facerec_core user add NAME --role admin"


@dataclasses.dataclass(frozen=True)
class Access:
    """The process-wide access services of one gallery file: accounts and the audit trail."""

    store: AccessStore
    audit: AuditLog
    accounts: Accounts


@st.cache_resource(show_spinner=False)
def _open_access(path: str, settings: Settings) -> Access:
    store = AccessStore(path)
    audit = AuditLog(store)
    return Access(store, audit, Accounts(store, audit, settings))


def get_access(settings: Settings) -> Access | None:
    """The shared access services of ``settings``' gallery file, or ``None`` after showing why they
    cannot be opened."""
    try:
        return _open_access(str(access_path(settings)), settings)
    except FacerecError as exc:
        st.error(f"The accounts could not be opened: {plain(exc)}")
        return None


# ---- where the client is ------------------------------------------------------------------------
def client_address() -> str | None:
    """The browser's address as Streamlit sees it; ``None`` for a client on this machine
    (Streamlit reports ``localhost`` connections as ``None``); :data:`UNKNOWN_CLIENT` when it
    cannot be told."""
    try:
        address = st.context.ip_address
    except Exception:  # no client context (a bare script run): not known to be this machine
        return UNKNOWN_CLIENT
    if address is None or isinstance(address, str):
        return address
    return UNKNOWN_CLIENT  # anything else (a test harness's stand-in) is not this machine


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is this machine: ``None`` (Streamlit's localhost), 127.0.0.0/8 or ::1
    (also as an IPv4-mapped IPv6 address). Anything unreadable is not."""
    if address is None:
        return True
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def client_label() -> str:
    """The client's address for the audit trail (``127.0.0.1`` for this machine)."""
    return client_address() or "127.0.0.1"


# ---- the session ----------------------------------------------------------------------------
def session_principal(access: Access) -> Principal | None:
    """Who this session is signed in as, resumed from its token now; ``None`` when signed out.
    An expired or ended session forgets its token and leaves a notice for the sign-in form."""
    token = st.session_state.get(TOKEN_KEY)
    if not isinstance(token, str) or not token:
        return None
    try:
        return access.accounts.resume(token)
    except SessionExpiredError as exc:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state[_NOTICE_KEY] = f"{EXPIRED}: {exc}."
        return None


def principal_now(settings: Settings) -> tuple[Principal | None, Access | None]:
    """The principal and access services at the moment of a click (for callbacks, which run before
    the page and must not trust a principal captured on an earlier run)."""
    access = get_access(settings)
    return (None, None) if access is None else (session_principal(access), access)


def require_sign_in(settings: Settings, access: Access) -> Principal:
    """This session's principal; otherwise draw the first-administrator or sign-in form and stop."""
    principal = session_principal(access)
    if principal is not None:
        return principal
    try:
        has_accounts = access.accounts.has_accounts()
    except FacerecError as exc:
        st.error(f"The accounts could not be read: {plain(exc)}")
        st.stop()
    if has_accounts:
        sign_in_form(access)
    else:
        first_admin_form(access)
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover (st.stop raises)


def sentence(text: str) -> str:
    """The core's message as a sentence: its first letter upper-case."""
    return text[:1].upper() + text[1:]


def _forget(*keys: str) -> None:
    """Drop password fields from the session state once read (the form clears the browser's)."""
    for key in keys:
        st.session_state.pop(key, None)


def _start_session(access: Access, name: str, password: str) -> None:
    signed = access.accounts.sign_in(name, password, client=client_label(), where="sign-in page")
    st.session_state[TOKEN_KEY] = signed.token
    st.session_state.pop(_NOTICE_KEY, None)


def sign_in_form(access: Access) -> None:
    """Name and password; one message for a wrong name or password, the core's for a lock."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Sign in")
        _sign_in_body(access)


def _sign_in_body(access: Access) -> None:
    notice = st.session_state.get(_NOTICE_KEY)
    if notice:
        st.info(plain(notice), icon=":material/info:")
    messages = st.container()
    with st.form("facerec_sign_in", clear_on_submit=True, enter_to_submit=True):
        name = st.text_input("Name", key="facerec_sign_in_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="facerec_sign_in_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if sso_configured():
        sso_button()
    if not submitted:
        return
    _forget("facerec_sign_in_password")
    if not name.strip() or not password:
        messages.error("Enter your name and password.")
        return
    try:
        _start_session(access, name.strip(), password)
    except AccessError as exc:
        messages.error(plain(sentence(str(exc))), icon=":material/lock:")
        return
    st.rerun()


def first_admin_form(access: Access) -> None:
    """No account exists yet: a client on this machine creates the first administrator; anyone
    else is told how to do it on the server."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Create the first administrator")
        _first_admin_body(access)


def _first_admin_body(access: Access) -> None:
    if not is_loopback(client_address()):
        st.warning("No account exists yet, and the first administrator can only be created from the server "
                   f"itself. On the server, run {code(FIRST_ADMIN_COMMAND)} (it asks for the password twice), "
                   "then reload this page and sign in.", icon=":material/lock:")
        return
    st.markdown("No account exists yet. Choose the name and password of the first **administrator**: this "
                "account can do everything (enroll and delete people, train and deploy models, manage accounts, "
                "read the audit trail) and creates the other accounts on the Accounts page. The password needs at "
                f"least {MIN_PASSWORD_LENGTH} characters (a passphrase of a few words is best) and must not be the "
                "name.")
    messages = st.container()
    with st.form("facerec_first_admin", clear_on_submit=True):
        name = st.text_input("Name", key="facerec_admin_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="facerec_admin_password",
                                 autocomplete="new-password")
        again = st.text_input("Password again", type="password", key="facerec_admin_password_again",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Create the administrator", type="primary",
                                          icon=":material/admin_panel_settings:")
    if not submitted:
        return
    _forget("facerec_admin_password", "facerec_admin_password_again")
    if password != again:
        messages.error("The two passwords differ: type the same password twice.")
        return
    try:
        access.accounts.create_first_admin(name.strip(), password, client_is_loopback=is_loopback(client_address()),
                                           where="first start page")
        _start_session(access, name.strip(), password)
    except AccessError as exc:
        messages.error(plain(sentence(str(exc))))
        return
    st.rerun()


def _sign_out(access: Access) -> None:
    token = st.session_state.pop(TOKEN_KEY, None)
    if isinstance(token, str) and token:
        try:
            access.accounts.sign_out(token, where="dashboard")
        except FacerecError as exc:  # the token is gone from this session either way
            log.warning("sign-out: %s", exc)
    st.session_state[_NOTICE_KEY] = SIGNED_OUT


def sidebar(principal: Principal, access: Access) -> None:
    """"Signed in as NAME (role)" and the Sign out button."""
    with st.sidebar:
        st.markdown(f"Signed in as **{plain(principal.name)}** ({plain(principal.role.value)})")
        st.button("Sign out", key="facerec_sign_out", icon=":material/logout:", on_click=_sign_out, args=(access,))


# ---- the guard ------------------------------------------------------------------------------
def refusal(page: str, action: Action, principal: Principal) -> str:
    """``not allowed: Gallery needs the admin role; you are signed in as NAME (viewer)``."""
    return (f"not allowed: {plain(page)} needs the {REQUIRED_ROLE[action].value} role; you are signed in as "
            f"{plain(principal.name)} ({principal.role.value})")


def guard_page(page: str, action: Action, principal: Principal, access: Access) -> None:
    """The shared guard for a page: stop with "not allowed" unless the principal may ``action``."""
    try:
        require(principal, action, access.audit, target=page, where=f"{page} page")
    except NotAllowedError:
        st.error(refusal(page, action, principal), icon=":material/block:")
        st.stop()


def may(principal: Principal | None, action: Action) -> bool:
    """Whether to offer a control (the core still checks when it is used)."""
    return principal is not None and allowed(principal.role, action)


def check(principal: Principal | None, access: Access | None, action: Action, *, target: str = "",
          where: str) -> str | None:
    """The core's guard for one press of a button: ``None`` when allowed, else the message to show
    (the refusal is audited by the core)."""
    if principal is None or access is None:
        return "You are not signed in any more: sign in again."
    try:
        require(principal, action, access.audit, target=target, where=where)
    except NotAllowedError as exc:
        return f"not allowed: {plain(exc)}"
    return None


# ---- optional single sign-on (Streamlit's OIDC) ---------------------------------------------
def sso_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (Streamlit's OIDC login)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def sso_button() -> None:
    """Streamlit's own OIDC login. The provider's e-mail must be the name of a local account, whose
    role applies; without such an account the session stays signed out."""
    st.caption("Or sign in with your organisation's identity provider; its e-mail address must be the name of "
               "an account here.")
    st.button("Sign in with single sign-on", key="facerec_sso", icon=":material/key:", on_click=st.login)
    _resume_sso()


def _resume_sso() -> None:
    try:
        user = st.user
        if not user.is_logged_in:
            return
        email = str(user.get("email") or "")
    except Exception:
        return
    st.info(f"The identity provider signed you in as {plain(email)}, but single sign-on cannot open a session in "
            "this version: sign in with the local account's password.", icon=":material/info:")


__all__ = ["Access", "TOKEN_KEY", "EXPIRED", "SIGNED_OUT", "get_access", "session_principal", "principal_now",
           "require_sign_in", "sign_in_form", "first_admin_form", "sidebar", "guard_page", "check", "may",
           "is_loopback", "client_address", "refusal", "sso_configured"]
