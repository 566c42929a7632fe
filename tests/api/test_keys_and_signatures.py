"""API keys, rate limits and webhook signatures without a server: keys are stored hashed in the
private gallery file, the buckets refill, signatures bind the body and the time."""
from __future__ import annotations

import os
import stat
import time

import pytest

from facerec_core.access import AccessStore, AuditLog, cli_principal
from facerec_core.access.accounts import clean_account_name
from facerec_core.access.principal import Principal
from facerec_core.access.roles import Role
from facerec_core.api.delivery import sign
from facerec_core.api.keys import ApiKeys
from facerec_core.api.limits import RateLimiter
from facerec_core.api.store import ApiStore
from facerec_core.api.webhooks import EVENTS, check_events, emit, verify_signature
from facerec_core.errors import AccountError, ApiError, NotAllowedError


@pytest.fixture()
def keys(tmp_path):
    path = tmp_path / "data" / "gallery.sqlite3"
    store, access = ApiStore(path), AccessStore(path)
    yield ApiKeys(store, AuditLog(access), default_rate=120)
    store.close()
    access.close()


def test_a_key_is_shown_once_and_stored_only_as_a_hash(keys):
    record, key = keys.add(cli_principal(), "Front door", "operator")
    assert key.startswith("frk_") and len(key) == 47 and record.hint == key[:8]
    assert record.role is Role.OPERATOR and record.rate_per_minute == 120
    assert keys.check(key).name == "Front door" and keys.check(key[:-1] + "x") is None and keys.check("") is None
    raw = keys.store.path.read_bytes() + b"".join(p.read_bytes() for p in keys.store.path.parent.glob("*-wal"))
    assert key.encode() not in raw and key[8:].encode() not in raw
    assert stat.S_IMODE(os.stat(keys.store.path).st_mode) == 0o600


def test_names_roles_and_rates_are_checked(keys):
    keys.add(cli_principal(), "door", "viewer")
    for name, role, rate, problem in (("DOOR", "viewer", None, "exists already"), ("x", "boss", None, "unknown role"),
                                      ("cli:me", "viewer", None, "may not start"), ("y", "viewer", 0, "the rate"),
                                      ("", "viewer", None, "required")):
        with pytest.raises(ApiError, match=problem):
            keys.add(cli_principal(), name, role, rate_per_minute=rate)


def test_only_an_administrator_manages_keys_and_revoking_is_final(keys):
    with pytest.raises(NotAllowedError):
        keys.add(Principal("op", Role.OPERATOR, "dashboard"), "door", "viewer")
    _, key = keys.add(cli_principal(), "door", "viewer")
    assert keys.revoke(cli_principal(), "door").revoked is not None
    assert keys.check(key) is None
    with pytest.raises(ApiError, match="revoked already"):
        keys.revoke(cli_principal(), "door")
    assert [e.action for e in keys.audit.events(limit=3)][:2] == ["api_key_revoke", "api_key_add"]


def test_account_names_cannot_pose_as_api_keys():
    with pytest.raises(AccountError, match="api:"):
        clean_account_name("api:door")


def test_the_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take(1, 30) for _ in range(5)] == [0.0] * 5  # a burst of 5
    assert limiter.take(1, 30) == pytest.approx(2.0)  # then 30 a minute: one every 2 s
    assert limiter.take(2, 30) == 0.0  # another key has its own bucket
    now[0] += 2.0
    assert limiter.take(1, 30) == 0.0 and limiter.take(1, 30) > 0


def test_a_signature_binds_the_body_the_secret_and_the_time():
    body, now = b'{"event":"face.unknown"}', time.time()
    header = sign("whsec_a", body, int(now))
    assert verify_signature("whsec_a", body, int(now), header)
    assert not verify_signature("whsec_a", body + b"x", int(now), header)
    assert not verify_signature("whsec_b", body, int(now), header)
    assert not verify_signature("whsec_a", body, int(now) + 1, header)
    assert not verify_signature("whsec_a", body, int(now), header, now=now + 301)  # a replay, too late
    assert not verify_signature("whsec_a", body, "yesterday", header)


def test_events_are_checked_and_nothing_is_queued_without_subscribers(tmp_path):
    assert check_events("all") == EVENTS and check_events("face.unknown, face.unknown") == ("face.unknown",)
    with pytest.raises(ApiError, match="door.opened"):
        check_events("door.opened")
    assert emit(tmp_path / "g.sqlite3", "face.unknown", {"score": 0.1}) == 0


def test_the_readme_documents_every_error_code_and_setting():
    from pathlib import Path

    from facerec_core.api.problems import ERROR_CODES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert not [code for code in ERROR_CODES if f"`{code}`" not in readme]
    for variable in ("FACEREC_API_HOST", "FACEREC_API_QUEUE", "FACEREC_API_RATE", "FACEREC_API_MAX_BODY_BYTES",
                     "FACEREC_WEBHOOK_ATTEMPTS", "FACEREC_WEBHOOK_RETRY_SECONDS"):
        assert f"`{variable}`" in readme
