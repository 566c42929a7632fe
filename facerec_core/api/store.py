"""Where API keys, webhook subscriptions and the webhook outbox live: own tables in the gallery's
SQLite file (one file to back up and keep private), with their own migration chain in
``api_meta`` (see :class:`~facerec_core.own_tables.OwnTables`).

Tables (:data:`MIGRATIONS`):

- ``api_keys(id, name, name_key UNIQUE, role, key_hash UNIQUE, hint, rate_per_minute, created,
  created_by, revoked, last_used)``: the SHA-256 of the key only; ``hint`` is its first characters,
  shown in listings so that an administrator can tell keys apart.
- ``webhooks(id, url, events, secret, created, created_by, removed)``: a subscription; ``secret``
  signs its deliveries (it must be readable to sign, so it is kept in this 0600 file).
- ``webhook_outbox(id, webhook_id, event, body, created, attempts, next_attempt, lease_until,
  status, http_status, error, delivered)``: one row per event and subscription, written by
  whichever process saw the event (the API, the dashboard, the CLI) and delivered by any running
  :class:`~.delivery.WebhookDispatcher`; ``status`` is ``pending``, ``delivered`` or ``failed``.
"""
from __future__ import annotations

from ..errors import ApiError
from ..own_tables import OwnTables
from ..settings import Settings

_ROLES = "('admin', 'operator', 'viewer')"

MIGRATIONS: list[list[str]] = [
    [
        f"""CREATE TABLE api_keys (
               id INTEGER PRIMARY KEY,
               name TEXT NOT NULL,
               name_key TEXT NOT NULL UNIQUE,
               role TEXT NOT NULL CHECK (role IN {_ROLES}),
               key_hash TEXT NOT NULL UNIQUE,
               hint TEXT NOT NULL,
               rate_per_minute INTEGER NOT NULL,
               created TEXT NOT NULL,
               created_by TEXT NOT NULL,
               revoked TEXT,
               last_used TEXT)""",
        """CREATE TABLE webhooks (
               id INTEGER PRIMARY KEY,
               url TEXT NOT NULL,
               events TEXT NOT NULL,
               secret TEXT NOT NULL,
               created TEXT NOT NULL,
               created_by TEXT NOT NULL,
               removed TEXT)""",
        """CREATE TABLE webhook_outbox (
               id INTEGER PRIMARY KEY,
               webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
               event TEXT NOT NULL,
               body TEXT NOT NULL,
               created TEXT NOT NULL,
               attempts INTEGER NOT NULL DEFAULT 0,
               next_attempt REAL NOT NULL,
               lease_until REAL,
               status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
               http_status INTEGER,
               error TEXT,
               delivered TEXT)""",
        "CREATE INDEX webhook_outbox_due ON webhook_outbox(status, next_attempt)",
        "CREATE INDEX webhook_outbox_hook ON webhook_outbox(webhook_id, id)",
    ],
]


class ApiStore(OwnTables):
    """A connection factory for the API's tables of one SQLite file (migrated on open)."""

    META = "api_meta"
    MIGRATIONS = MIGRATIONS
    LABEL = "the API keys database"
    ERROR = ApiError

    @classmethod
    def open(cls, settings: Settings | None = None) -> "ApiStore":
        """The API tables of the gallery under ``settings.data_dir`` (default: from the environment)."""
        from ..access.store import access_path

        return cls(access_path(settings or Settings.from_env()))
