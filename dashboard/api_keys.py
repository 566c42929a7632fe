"""The Accounts page's API keys and webhooks: the shared :class:`~facerec_core.api.keys.ApiKeys`
and :class:`~facerec_core.api.webhooks.Webhooks` of the gallery file, and the rows of their
tables.

Every change goes through those classes (their guard, ``manage_api``, and their audit trail);
this module only opens them once per process (``st.cache_resource``, like the accounts) and turns
what they list into table rows. The rows hold user- and file-supplied text (key names, URLs) as
it is: they are for ``st.dataframe``, which shows cells as plain text, never for Markdown.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Iterable

import streamlit as st

from dashboard.auth import Access
from dashboard.plain import plain
from facerec_core.access import AuditLog, access_path
from facerec_core.api.keys import ApiKey, ApiKeys
from facerec_core.api.store import ApiStore
from facerec_core.api.webhooks import Delivery, Webhook, Webhooks
from facerec_core.errors import FacerecError
from facerec_core.settings import Settings

RECENT_DELIVERIES = 100
"""The webhook table counts the outcomes of each subscription's newest deliveries, this many."""
STATUSES = ("delivered", "pending", "failed")


@dataclasses.dataclass(frozen=True)
class ApiServices:
    """The API keys and webhook subscriptions of one gallery file."""

    keys: ApiKeys
    webhooks: Webhooks


@st.cache_resource(show_spinner=False)
def _open_api(path: str, default_rate: int, _audit: AuditLog) -> ApiServices:
    store = ApiStore(path)
    return ApiServices(ApiKeys(store, _audit, default_rate=default_rate), Webhooks(store, _audit))


def get_api(settings: Settings, access: Access) -> ApiServices | None:
    """The shared keys and webhooks of ``settings``' gallery file (audited in ``access``' trail),
    or ``None`` after showing why they cannot be opened."""
    try:
        return _open_api(str(access_path(settings)), settings.api_rate, access.audit)
    except FacerecError as exc:
        st.error(f"The API keys and webhooks could not be opened: {plain(exc)}")
        return None


def when(value: str | None) -> str:
    """A stored UTC time as ``2025-01-31 14:05 UTC`` (empty for none)."""
    if not value:
        return ""
    try:
        return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


def key_rows(keys: Iterable[ApiKey]) -> list[dict]:
    """One row per key, for ``st.dataframe``: never the key, only its first characters."""
    return [{"name": k.name, "role": k.role.value, "hint": f"{k.hint}…", "rate/min": k.rate_per_minute,
             "created": when(k.created), "last used": when(k.last_used) or "never", "revoked": when(k.revoked)}
            for k in keys]


def tally(deliveries: Iterable[Delivery]) -> dict[str, int]:
    """How many of ``deliveries`` were delivered, are pending, failed."""
    found = [d.status for d in deliveries]
    return {status: found.count(status) for status in STATUSES}


def webhook_rows(webhooks: Webhooks, hooks: Iterable[Webhook]) -> list[dict]:
    """One row per subscription, for ``st.dataframe``, with the outcomes of its
    :data:`RECENT_DELIVERIES` newest deliveries (the signing secret is never listed)."""
    return [{"id": h.id, "URL": h.url, "events": ", ".join(h.events), "created": when(h.created),
             **tally(webhooks.deliveries(h.id, limit=RECENT_DELIVERIES))} for h in hooks]
