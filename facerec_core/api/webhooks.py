"""Webhook subscriptions, their signatures, and the outbox events are written to.

**Events** (:data:`EVENTS`): ``person.recognized`` and ``face.unknown`` (once per sighting: per
photo from Recognize, ``predict`` and the API, per track and answer from Live Webcam),
``enrollment.changed`` (a person enrolled, renamed, deleted, photos added or deleted, an import),
``authentication.result`` (every verdict of the Authenticate page). Bodies are JSON with names,
scores, boxes and sources, never a face image or an embedding.

**Signature**: every delivery carries ``X-Facerec-Timestamp: T`` (Unix seconds) and
``X-Facerec-Signature: v1=HEX``, where ``HEX = HMAC-SHA256(secret, f"{T}." + body)`` over the raw
body bytes. A receiver recomputes it with the subscription's secret, compares in constant time,
and refuses a timestamp more than a few minutes old (a replayed delivery):
:func:`verify_signature` does exactly that and is what the README's receiver example calls.

**Outbox**: :func:`emit` writes one row per matching subscription in the gallery file, in the
process that saw the event, and makes sure that process runs a
:class:`~.delivery.WebhookDispatcher` (``facerec serve`` always runs one, which also sends what
other processes queued). It sends them, retries with backoff and records the outcome. An event is
not lost because a receiver or the server was down, and emitting never waits for a network. A
delivery may arrive twice (a process that stopped mid-send): receivers deduplicate by the
``X-Facerec-Delivery`` id.
"""
from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..access.audit import AuditLog, timestamp, utc_now
from ..access.guard import require
from ..access.principal import Principal
from ..access.roles import Action
from ..errors import ApiError, FacerecError
from ..settings import Settings
from .delivery import (DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, dispatcher_for, sign,
                       wake_dispatchers)
from .store import ApiStore

__all__ = ["DELIVERY_HEADER", "EVENTS", "EVENT_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Webhook", "Webhooks",
           "emit", "emit_all", "emit_faces", "emit_for", "face_events", "sign", "verify_signature"]

log = logging.getLogger(__name__)

EVENTS = ("person.recognized", "face.unknown", "enrollment.changed", "authentication.result")
MAX_URL = 2000
TOLERANCE_S = 300


def verify_signature(secret: str, body: bytes, stamp: str | int, signature: str, *,
                     tolerance_s: float = TOLERANCE_S, now: float | None = None) -> bool:
    """Whether a delivery is genuine: ``signature`` is :func:`sign` of ``body`` at ``stamp`` with
    ``secret`` (compared in constant time) and ``stamp`` is within ``tolerance_s`` of now."""
    try:
        sent = int(stamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, sent), str(signature))


@dataclasses.dataclass(frozen=True)
class Webhook:
    """A subscription: where to, which events, since when (the secret is shown only when made)."""

    id: int
    url: str
    events: tuple[str, ...]
    created: str
    created_by: str
    removed: str | None


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One event to one subscription and what became of it."""

    id: int
    webhook_id: int
    event: str
    created: str
    attempts: int
    status: str
    http_status: int | None
    error: str | None
    delivered: str | None


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; ApiError naming the problem."""
    url = str(url).strip()
    parts = urllib.parse.urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"not a webhook URL: {url[:100]!r}; give an absolute http:// or https:// address "
                       "such as https://home.example/hooks/facerec")
    if parts.username or parts.password:
        raise ApiError("a webhook URL may not hold a user name or password; the signature authenticates "
                       "deliveries")
    return url


def check_events(events: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The events asked for (comma-separated or a list; ``all`` for every one), known ones only."""
    wanted = [e.strip() for e in (events.split(",") if isinstance(events, str) else events) if e.strip()]
    if wanted == ["all"]:
        return EVENTS
    bad = [e for e in wanted if e not in EVENTS]
    if bad or not wanted:
        raise ApiError(f"unknown webhook event {', '.join(bad) or '(none)'}; use some of {', '.join(EVENTS)}, "
                       "or all")
    return tuple(dict.fromkeys(wanted))


def _hook(row) -> Webhook:
    return Webhook(int(row["id"]), row["url"], tuple(row["events"].split(",")), row["created"], row["created_by"],
                   row["removed"])


class Webhooks:
    """Subscriptions of one gallery file: add, list, remove (guarded ``manage_api``, audited) and
    their deliveries."""

    def __init__(self, store: ApiStore, audit: AuditLog) -> None:
        self.store = store
        self.audit = audit

    def add(self, by: Principal, url: str, events: str | list[str] = "all", *,
            where: str = "") -> tuple[Webhook, str]:
        """Subscribe ``url`` to ``events``: ``(the subscription, its signing secret)``; the secret
        is shown this once (the README says how receivers verify it)."""
        require(by, Action.MANAGE_API, self.audit, target=str(url)[:200], where=where)
        url, events = check_url(url), check_events(events)
        secret = "whsec_" + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            hook_id = conn.execute("INSERT INTO webhooks(url, events, secret, created, created_by) VALUES "
                                   "(?, ?, ?, ?, ?)", (url, ",".join(events), secret, timestamp(utc_now()),
                                                       by.name)).lastrowid
        self.audit.record(by, "webhook_add", target=url, detail={"webhook": hook_id, "events": list(events)},
                          where=where)
        return self.get(hook_id), secret

    def get(self, hook_id: int) -> Webhook:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM webhooks WHERE id = ?", (int(hook_id),)).fetchone()
        if row is None:
            raise ApiError(f"no webhook {hook_id}: `facerec webhook list` shows them")
        return _hook(row)

    def list(self, *, removed: bool = False) -> list[Webhook]:
        sql = "SELECT * FROM webhooks" + ("" if removed else " WHERE removed IS NULL") + " ORDER BY id"
        with self.store.read() as conn:
            return [_hook(r) for r in conn.execute(sql)]

    def remove(self, by: Principal, hook_id: int, *, where: str = "") -> Webhook:
        """Stop delivering to subscription ``hook_id``; its pending deliveries are dropped (failed)."""
        require(by, Action.MANAGE_API, self.audit, target=f"webhook {hook_id}", where=where)
        hook = self.get(hook_id)
        if hook.removed:
            raise ApiError(f"webhook {hook_id} was removed already ({hook.removed})")
        with self.store.write() as conn:
            conn.execute("UPDATE webhooks SET removed = ? WHERE id = ?", (timestamp(utc_now()), hook.id))
            conn.execute("UPDATE webhook_outbox SET status = 'failed', error = 'subscription removed' "
                         "WHERE webhook_id = ? AND status = 'pending'", (hook.id,))
        self.audit.record(by, "webhook_remove", target=hook.url, detail={"webhook": hook.id}, where=where)
        return self.get(hook.id)

    def deliveries(self, hook_id: int | None = None, *, limit: int = 100) -> list[Delivery]:
        """The newest deliveries (of one subscription when given), newest first."""
        sql, args = "SELECT * FROM webhook_outbox", []
        if hook_id is not None:
            sql, args = sql + " WHERE webhook_id = ?", [int(hook_id)]
        with self.store.read() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, int(limit)]).fetchall()
        return [Delivery(int(r["id"]), int(r["webhook_id"]), r["event"], r["created"], int(r["attempts"]),
                         r["status"], r["http_status"], r["error"], r["delivered"]) for r in rows]


_stores: dict[Path, ApiStore] = {}
_stores_lock = threading.Lock()


def outbox_store(path: str | Path) -> ApiStore:
    """One shared :class:`ApiStore` per gallery file in this process (emitting opens no new
    connection per event)."""
    path = Path(path).resolve()
    with _stores_lock:
        if path not in _stores:
            _stores[path] = ApiStore(path)
        return _stores[path]


def emit(path: str | Path, event: str, data: Mapping[str, Any]) -> int:
    """Queue ``event`` with ``data`` for every live subscription to it in the gallery file
    ``path``; returns how many deliveries were queued (see :func:`emit_all`)."""
    return emit_all(path, [(event, data)])


def emit_all(path: str | Path, events: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
    """Queue each ``(event, data)`` for every live subscription to it in the gallery file
    ``path``: one read of the subscriptions and one transaction for them all. Returns how many
    deliveries were queued. Never raises for the outbox: a broken one is logged and the caller's
    work (a recognition, an enrollment) goes on."""
    events = list(events)
    unknown = [event for event, _ in events if event not in EVENTS]
    if unknown:
        raise ValueError(f"unknown webhook event {unknown[0]!r}")
    if not events:
        return 0
    try:
        store = outbox_store(path)
        with store.read() as conn:
            hooks = [(r["id"], r["events"].split(","))
                     for r in conn.execute("SELECT id, events FROM webhooks WHERE removed IS NULL")]
        now, rows = timestamp(utc_now()), []
        for event, data in events:
            wanted = [hook for hook, chosen in hooks if event in chosen]
            if wanted:
                body = json.dumps({"event": event, "time": now, "data": dict(data)},
                                  ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
                rows.extend((hook, event, body, now, time.time()) for hook in wanted)
        if not rows:
            return 0
        with store.write() as conn:
            conn.executemany("INSERT INTO webhook_outbox(webhook_id, event, body, created, next_attempt) "
                             "VALUES (?, ?, ?, ?, ?)", rows)
        dispatcher_for(store)  # this process delivers what it queued (a server, if one runs, may too)
    except (FacerecError, OSError) as exc:
        log.warning("webhooks: %d event(s) not queued (%s)", len(events), type(exc).__name__)
        return 0
    wake_dispatchers()
    return len(rows)


def emit_for(settings: Settings, event: str, data: Mapping[str, Any]) -> int:
    """:func:`emit` into the gallery file of ``settings``."""
    from ..access.store import access_path

    return emit(access_path(settings), event, data)


def emit_faces(settings: Settings, faces, *, source: str, place: str = "") -> int:
    """The decisions of ``faces`` (:func:`face_events`) queued together into the gallery file of
    ``settings``; nothing is opened when no face was identified."""
    from ..access.store import access_path

    found = face_events(faces, source=source, place=place)
    return emit_all(access_path(settings), found) if found else 0


def face_events(faces, *, source: str, place: str = "") -> list[tuple[str, dict]]:
    """The ``person.recognized`` / ``face.unknown`` events of identified faces (faces the
    decision did not reach, ``identity`` None, send none)."""
    out = []
    for face in faces:
        if face.identity is None:
            continue
        named = face.identity != "unknown"
        out.append(("person.recognized" if named else "face.unknown",
                    {"name": face.identity if named else None, "score": _rounded(face.confidence),
                     "threshold": _rounded(face.threshold), "box": [round(float(v), 1) for v in face.box],
                     "source": source, "place": place}))
    return out


def _rounded(value) -> float | None:
    return None if value is None else round(float(value), 4)
