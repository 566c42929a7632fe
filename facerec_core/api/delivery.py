"""Sending the outbox: :class:`WebhookDispatcher`, a background thread in ``facerec serve`` and in
any process that queued an event (:func:`dispatcher_for`); the signature (:func:`sign`).

Each due delivery is *leased* first (one UPDATE that only succeeds while no one else holds it), so
several processes — API workers, the dashboard — may run dispatchers on one gallery file and a
delivery is still sent by one of them at a time. A receiver that answers 2xx has it; anything else
(another status, a refused connection, a timeout) is retried after ``retry_s × 2^(attempt-1)``
(capped at 10 minutes), up to ``max_attempts`` tries, then recorded ``failed`` with the last
status or error. Redirects are not followed: a signed body goes only where it was subscribed.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

import requests

from ..access.audit import timestamp, utc_now
from ..errors import FacerecError
from ..settings import Settings
from .store import ApiStore

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 600.0
LEASE_S = 60.0
SIGNATURE_HEADER = "X-Facerec-Signature"
TIMESTAMP_HEADER = "X-Facerec-Timestamp"
EVENT_HEADER = "X-Facerec-Event"
DELIVERY_HEADER = "X-Facerec-Delivery"
_wakers: list[threading.Event] = []
_running: dict[Path, "WebhookDispatcher"] = {}
_running_lock = threading.Lock()


def sign(secret: str, body: bytes, stamp: int) -> str:
    """The signature header's value for ``body`` sent at Unix time ``stamp``: ``v1=<hex>``
    (HMAC-SHA256 with ``secret`` over ``f"{stamp}."`` and the body's bytes)."""
    mac = hmac.new(secret.encode("utf-8"), f"{int(stamp)}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def wake_dispatchers() -> None:
    """Tell this process's dispatchers that something was queued (they also poll)."""
    for event in list(_wakers):
        event.set()


def dispatcher_for(store: ApiStore, settings: Settings | None = None) -> "WebhookDispatcher":
    """This process's running dispatcher for the file of ``store``, started with the settings'
    attempts and retry delay (default: from the environment) when there is none."""
    path = Path(store.path).resolve()
    with _running_lock:
        running = _running.get(path)
        if running is None or not running.alive:
            settings = settings or Settings.from_env()
            running = _running[path] = WebhookDispatcher(store, max_attempts=settings.webhook_attempts,
                                                         retry_s=settings.webhook_retry_seconds).start()
        return running


class Poster(Protocol):
    """What sends one request: ``requests.post``'s shape (tests may pass their own)."""

    def __call__(self, url: str, *, data: bytes, headers: dict, timeout: float,
                 allow_redirects: bool) -> requests.Response: ...


class WebhookDispatcher:
    """Deliver the outbox of ``store`` until :meth:`stop`.

    Args:
        store: the API tables (the outbox and the subscriptions' URLs and secrets).
        max_attempts: tries per delivery before it is recorded ``failed`` (FACEREC_WEBHOOK_ATTEMPTS).
        retry_s: the first retry's delay; each later one doubles (FACEREC_WEBHOOK_RETRY_SECONDS).
        timeout_s: seconds to wait for a receiver's answer.
        poll_s: how often the outbox is looked at when nothing in this process woke the thread
            (events emitted by other processes: the CLI, another API worker).
    """

    def __init__(self, store: ApiStore, *, max_attempts: int = 6, retry_s: float = 2.0, timeout_s: float = 5.0,
                 poll_s: float = 1.0, post: Poster | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.max_attempts = max(1, int(max_attempts))
        self.retry_s = max(0.0, float(retry_s))
        self.timeout_s = float(timeout_s)
        self.poll_s = float(poll_s)
        self.clock = clock
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy from the environment for signed biometric events
        self._post: Poster = post or self._session.post
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "WebhookDispatcher":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            _wakers.append(self._wake)
            self._thread = threading.Thread(target=self._run, name="facerec-webhooks", daemon=True)
            self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._wake in _wakers:
            _wakers.remove(self._wake)
        with _running_lock:
            for path, running in list(_running.items()):
                if running is self:
                    del _running[path]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except (FacerecError, OSError) as exc:  # a busy or moved file: try again at the next poll
                log.warning("webhooks: the outbox could not be read (%s)", type(exc).__name__)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def deliver_due(self, limit: int = 20) -> int:
        """Send up to ``limit`` due deliveries (each leased first); returns how many were tried."""
        now = self.clock()
        with self.store.read() as conn:
            due = conn.execute("SELECT o.id FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
                               "WHERE o.status = 'pending' AND o.next_attempt <= ? AND w.removed IS NULL "
                               "AND (o.lease_until IS NULL OR o.lease_until < ?) ORDER BY o.id LIMIT ?",
                               (now, now, int(limit))).fetchall()
        tried = 0
        for row in due:
            job = self._lease(int(row["id"]))
            if job is not None:
                self._send(job)
                tried += 1
        return tried

    def _lease(self, delivery_id: int):
        now = self.clock()
        with self.store.write() as conn:
            taken = conn.execute("UPDATE webhook_outbox SET lease_until = ? WHERE id = ? AND status = 'pending' "
                                 "AND (lease_until IS NULL OR lease_until < ?)",
                                 (now + LEASE_S, delivery_id, now)).rowcount
            if not taken:
                return None
            return conn.execute("SELECT o.id, o.event, o.body, o.attempts, w.url, w.secret FROM webhook_outbox o "
                                "JOIN webhooks w ON w.id = o.webhook_id WHERE o.id = ?", (delivery_id,)).fetchone()

    def _send(self, job) -> None:
        body = job["body"].encode("utf-8")
        stamp = int(self.clock())
        headers = {"Content-Type": "application/json", "User-Agent": "facerec-webhooks/1",
                   EVENT_HEADER: job["event"], DELIVERY_HEADER: str(job["id"]),
                   TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(job["secret"], body, stamp)}
        status, error = None, None
        try:
            answer = self._post(job["url"], data=body, headers=headers, timeout=self.timeout_s, allow_redirects=False)
            status = int(answer.status_code)
            if not 200 <= status < 300:
                error = f"the receiver answered HTTP {status}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: could not reach the receiver"
        attempts = int(job["attempts"]) + 1
        with self.store.write() as conn:
            if error is None:
                conn.execute("UPDATE webhook_outbox SET status = 'delivered', attempts = ?, http_status = ?, "
                             "error = NULL, delivered = ?, lease_until = NULL WHERE id = ?",
                             (attempts, status, timestamp(utc_now()), job["id"]))
            elif attempts >= self.max_attempts:
                conn.execute("UPDATE webhook_outbox SET status = 'failed', attempts = ?, http_status = ?, error = ?, "
                             "lease_until = NULL WHERE id = ?", (attempts, status, error, job["id"]))
            else:
                delay = min(MAX_BACKOFF_S, self.retry_s * 2 ** (attempts - 1))
                conn.execute("UPDATE webhook_outbox SET attempts = ?, http_status = ?, error = ?, next_attempt = ?, "
                             "lease_until = NULL WHERE id = ?",
                             (attempts, status, error, self.clock() + delay, job["id"]))
        if error:
            log.info("webhook delivery %s: attempt %d failed (%s)", job["id"], attempts, error)
