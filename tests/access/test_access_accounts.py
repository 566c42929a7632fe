"""Accounts on a real file with real Argon2id: first start, changes, lockout, delay, sessions."""
from __future__ import annotations

import logging

import pytest

from facerec_core.access import Principal, Role, cli_principal
from facerec_core.access.accounts import delay_after
from facerec_core.access.passwords import PARAMETERS, password_problem, verify_password
from facerec_core.errors import AccountError, NotAllowedError, SessionExpiredError, SignInError
from tests.access.conftest import PASSWORD, principal, rows


def outcomes(access, action="sign_in"):
    return [e.outcome for e in reversed(access.audit.events(action=action))]


# -- first start -----------------------------------------------------------------------------

def test_first_admin_only_from_loopback_and_only_without_accounts(access):
    assert not access.accounts.has_accounts()
    with pytest.raises(AccountError, match="only be created from this machine"):
        access.accounts.create_first_admin("Mallory", PASSWORD, client_is_loopback=False)
    assert not access.accounts.has_accounts()
    account = access.accounts.create_first_admin("Ada", PASSWORD, client_is_loopback=True)
    assert (account.name, account.role) == ("Ada", Role.ADMIN) and access.accounts.has_accounts()
    with pytest.raises(AccountError, match="an account exists already"):
        access.accounts.create_first_admin("Eve", PASSWORD, client_is_loopback=True)
    assert [(e.target, e.outcome) for e in reversed(access.audit.events(action="user_add"))] == \
           [("Mallory", "denied"), ("Ada", "ok"), ("Eve", "denied")]
    assert access.accounts.sign_in("ada", PASSWORD).principal == Principal("Ada", Role.ADMIN, "dashboard")


# -- managing accounts -----------------------------------------------------------------------

def test_add_list_role_remove_and_the_last_admin(access, admin):
    accounts = access.accounts
    accounts.add(admin, "Olive", "olive's long password", "operator")
    accounts.add(admin, "Vic", "vic's long password", Role.VIEWER)
    assert [(a.name, a.role) for a in accounts.list(admin)] == \
           [("Ada", Role.ADMIN), ("Olive", Role.OPERATOR), ("Vic", Role.VIEWER)]
    with pytest.raises(AccountError, match="exists already"):
        accounts.add(admin, "OLIVE", "another long password", "viewer")
    for who in (principal(Role.OPERATOR), principal(Role.VIEWER)):
        for call in (lambda: accounts.add(who, "X", "x's long password", "admin"),
                     lambda: accounts.remove(who, "Ada"), lambda: accounts.set_role(who, "Olive", "admin"),
                     lambda: accounts.list(who), lambda: accounts.unlock(who, "Ada"),
                     lambda: accounts.set_password(who, "Ada", "a new long password")):
            with pytest.raises(NotAllowedError, match="Managing accounts needs the admin role"):
                call()
    assert [a.role for a in accounts.list(admin)] == [Role.ADMIN, Role.OPERATOR, Role.VIEWER]
    with pytest.raises(AccountError, match="last administrator"):
        accounts.remove(admin, "Ada")
    with pytest.raises(AccountError, match="last administrator"):
        accounts.set_role(admin, "ada", "viewer")
    assert accounts.set_role(admin, "Olive", "admin").role == Role.ADMIN
    accounts.set_role(admin, "Ada", "viewer")  # another admin exists now
    accounts.remove(cli_principal(), "Vic")
    assert [(a.name, a.role) for a in accounts.list(cli_principal())] == [("Ada", Role.VIEWER), ("Olive", Role.ADMIN)]
    with pytest.raises(AccountError, match="no account named"):
        accounts.remove(cli_principal(), "Vic")
    denied = access.audit.events(outcome="denied", limit=100)
    assert len(denied) == 12 and {e.action for e in denied} == {"manage_users"}
    assert [e.action for e in reversed(access.audit.events(outcome="ok", limit=100))
            if e.action.startswith("user_")] == ["user_add", "user_add", "user_add", "user_role", "user_role",
                                                 "user_remove"]


@pytest.mark.parametrize("name, problem", [
    ("", "required"), ("x" * 65, "too long"), ("bad\x00name", "invisible"), ("a\u200bdmin", "invisible"),
    ("cli:root", "reserved for the command line"), ("anonymous", "reserved")])
def test_bad_names_are_refused(access, admin, name, problem):
    with pytest.raises(AccountError, match=problem):
        access.accounts.add(admin, name, "a long enough password", "viewer")


def test_weak_passwords_are_refused():
    assert "too short" in password_problem("short")
    assert "account name" in password_problem("Olive Oyl 1", "olive oyl 1")
    assert "control character" in password_problem("line\nbreak pass")
    assert "repeats" in password_problem("aaaaaaaaaaaa")
    assert password_problem("a long passphrase of words", "Olive") is None


def test_passwords_are_argon2id_and_never_stored_or_logged(access, admin, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "olive's secret passphrase"
    access.accounts.add(admin, "Olive", secret, "operator")
    with pytest.raises(SignInError):
        access.accounts.sign_in("Olive", secret + " typo")
    access.clock.advance(seconds=1)
    access.accounts.sign_in("Olive", secret)
    (encoded,) = rows(access.path, "SELECT password_hash FROM users WHERE name = 'Olive'")[0]
    assert encoded.startswith(f"$argon2id$v=19$m={PARAMETERS['memory_cost']},t={PARAMETERS['time_cost']},"
                              f"p={PARAMETERS['parallelism']}$")
    assert verify_password(encoded, secret) and not verify_password(encoded, "wrong")
    raw = b"".join(p.read_bytes() for p in access.path.parent.iterdir())
    assert secret.encode() not in raw and b"typo" not in raw
    assert secret not in caplog.text and "typo" not in caplog.text


def test_own_password_change_ends_every_session(access, admin):
    access.accounts.add(admin, "Olive", "olive's first password", "operator")
    session = access.accounts.sign_in("Olive", "olive's first password")
    olive = session.principal
    with pytest.raises(NotAllowedError):
        access.accounts.set_password(olive, "Ada", "taking over ada's account")
    access.accounts.set_password(olive, "Olive", "olive's second password")
    with pytest.raises(SessionExpiredError):
        access.accounts.resume(session.token)
    access.clock.advance(seconds=5)
    with pytest.raises(SignInError, match="wrong name or password"):
        access.accounts.sign_in("Olive", "olive's first password")
    access.clock.advance(seconds=5)
    assert access.accounts.sign_in("Olive", "olive's second password").principal == olive


# -- failed sign-ins -------------------------------------------------------------------------

def test_one_message_for_a_wrong_name_and_a_wrong_password(access, admin):
    with pytest.raises(SignInError) as wrong_password:
        access.accounts.sign_in("Ada", "not the password")
    with pytest.raises(SignInError) as wrong_name:
        access.accounts.sign_in("Nobody", "not the password")
    assert str(wrong_password.value) == str(wrong_name.value)
    assert str(wrong_name.value).startswith("wrong name or password")


def test_growing_delay_between_failed_attempts(access, admin):
    accounts, clock = access.accounts, access.clock
    assert [delay_after(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
    with pytest.raises(SignInError, match="next attempt can be made in 1 s"):
        accounts.sign_in("Ada", "wrong password 1")
    with pytest.raises(SignInError, match="wait 1 s before trying again"):
        accounts.sign_in("Ada", PASSWORD)  # even the right password waits: it is not checked
    clock.advance(seconds=1)
    with pytest.raises(SignInError, match="in 2 s"):
        accounts.sign_in("Ada", "wrong password 2")
    clock.advance(seconds=1.5)
    with pytest.raises(SignInError, match="wait 1 s"):
        accounts.sign_in("Ada", PASSWORD)
    clock.advance(seconds=0.5)
    assert accounts.sign_in("Ada", PASSWORD).principal.name == "Ada"
    assert accounts.get("Ada").failed == 0  # a success forgets the failures
    assert outcomes(access) == ["failed", "rate_limited", "failed", "rate_limited", "ok"]


def test_lockout_after_five_failures_refuses_the_right_password_until_it_passes(access, admin):
    accounts, clock = access.accounts, access.clock
    for i in range(5):
        with pytest.raises(SignInError, match="wrong name or password"):
            accounts.sign_in("Ada", f"wrong password {i}")
        clock.advance(seconds=delay_after(i + 1))
    assert accounts.get("Ada").failed == 5 and accounts.get("Ada").locked_until is not None
    for _ in range(3):
        with pytest.raises(SignInError, match=r"locked for \d+ more minutes"):
            accounts.sign_in("Ada", PASSWORD)
        clock.advance(minutes=4)
    clock.advance(minutes=3)  # 15 minutes and more since the lock
    assert accounts.get("Ada").locked_until is None
    assert accounts.sign_in("Ada", PASSWORD).principal.role == Role.ADMIN
    failed = access.audit.events(action="sign_in", outcome="failed")
    assert [e.detail["failures"] for e in reversed(failed)] == [1, 2, 3, 4, 5]
    assert failed[0].detail["locked_until"] and failed[0].actor == "anonymous" and failed[0].target == "Ada"
    assert outcomes(access) == ["failed"] * 5 + ["locked"] * 3 + ["ok"]


def test_unknown_names_lock_too_and_unlock_ends_a_lockout(access, admin):
    accounts, clock = access.accounts, access.clock
    for name in ("Ada", "Ghost"):
        for i in range(5):
            with pytest.raises(SignInError):
                accounts.sign_in(name, f"wrong password {i}")
            clock.advance(seconds=30)
        with pytest.raises(SignInError, match="locked"):
            accounts.sign_in(name, PASSWORD)
    with pytest.raises(NotAllowedError):
        accounts.unlock(principal(Role.OPERATOR), "Ada")
    accounts.unlock(cli_principal(), "Ada")
    assert accounts.sign_in("Ada", PASSWORD).principal.name == "Ada"
    unlock = access.audit.events(action="user_unlock")[0]
    assert (unlock.actor, unlock.source, unlock.target) == (cli_principal().name, "cli", "Ada")


def test_lockout_settings_are_honoured(access, admin):
    accounts = access.accounts
    accounts.settings = access.settings.replace(max_failed_sign_ins=2, lockout_minutes=1.0)
    for i in range(2):
        with pytest.raises(SignInError):
            accounts.sign_in("Ada", f"wrong password {i}")
        access.clock.advance(seconds=1)
    with pytest.raises(SignInError, match="locked for 1 more minute;"):
        accounts.sign_in("Ada", PASSWORD)
    access.clock.advance(seconds=60)
    accounts.sign_in("Ada", PASSWORD)


# -- sessions --------------------------------------------------------------------------------

def test_sessions_slide_expire_and_end_with_sign_out(access, admin):
    accounts, clock = access.accounts, access.clock
    session = accounts.sign_in("Ada", PASSWORD, client="127.0.0.1")
    assert session.expires == "2026-12-02T13:00:00.000+00:00"
    token_hash = rows(access.path, "SELECT token_hash FROM sessions")[0][0]
    assert session.token not in token_hash and len(session.token) >= 43
    for _ in range(3):  # used every 50 minutes: alive for 150 minutes
        clock.advance(minutes=50)
        assert accounts.resume(session.token) == session.principal
    clock.advance(minutes=61)
    with pytest.raises(SessionExpiredError, match="after 60 minutes without activity"):
        accounts.resume(session.token)
    with pytest.raises(SessionExpiredError):
        accounts.resume(session.token)  # stays ended
    second = accounts.sign_in("Ada", PASSWORD)
    accounts.sign_out(second.token)
    with pytest.raises(SessionExpiredError, match="ended"):
        accounts.resume(second.token)
    with pytest.raises(SessionExpiredError):
        accounts.resume("a made-up token")
    assert [e.action for e in reversed(access.audit.events()) if e.action != "user_add"] == \
           ["sign_in", "session_expired", "sign_in", "sign_out"]


def test_a_role_change_applies_at_once(access, admin):
    access.accounts.add(admin, "Olive", "olive's long password", "admin")
    session = access.accounts.sign_in("Olive", "olive's long password")
    access.accounts.set_role(admin, "Olive", "viewer")
    with pytest.raises(SessionExpiredError):
        access.accounts.resume(session.token)
    access.accounts.remove(admin, "Olive")
    with pytest.raises(SignInError):
        access.accounts.sign_in("Olive", "olive's long password")


def test_a_typed_name_is_recorded_as_plain_text(access, admin):
    with pytest.raises(SignInError):
        access.accounts.sign_in("Ada\x1b[31m\u202e", "not the password")
    (event,) = access.audit.events(action="sign_in")
    assert (event.target, event.actor, event.outcome) == ("Ada[31m", "anonymous", "failed")


def test_session_and_lockout_settings_come_from_the_environment(monkeypatch):
    from facerec_core.settings import Settings

    defaults = Settings()
    assert (defaults.session_minutes, defaults.max_failed_sign_ins, defaults.lockout_minutes) == (60.0, 5, 15.0)
    monkeypatch.setenv("FACEREC_SESSION_MINUTES", "0.5")
    monkeypatch.setenv("FACEREC_MAX_FAILED_SIGN_INS", "3")
    monkeypatch.setenv("FACEREC_LOCKOUT_MINUTES", "2")
    settings = Settings.from_env()
    assert (settings.session_minutes, settings.max_failed_sign_ins, settings.lockout_minutes) == (0.5, 3, 2.0)


def test_a_short_session_setting_is_honoured(access, admin):
    access.accounts.settings = access.settings.replace(session_minutes=0.5)
    session = access.accounts.sign_in("Ada", PASSWORD)
    access.clock.advance(seconds=29)
    access.accounts.resume(session.token)
    access.clock.advance(seconds=31)
    with pytest.raises(SessionExpiredError, match="after 0.5 minutes"):
        access.accounts.resume(session.token)
