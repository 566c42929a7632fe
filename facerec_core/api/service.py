"""One API process's state: the settings, its Recognizer (loaded once, in the background, so that
``/health`` answers at once and ``/ready`` says when it can recognize), the gallery, the keys,
the rate limiter, the work queue and the webhook dispatcher."""
from __future__ import annotations

import logging
import threading
import time

from ..access.audit import AuditLog
from ..access.store import AccessStore
from ..errors import FacerecError
from ..settings import Settings
from .delivery import WebhookDispatcher, dispatcher_for
from .keys import ApiKeys
from .limits import RateLimiter, WorkQueue
from .store import ApiStore
from .webhooks import Webhooks

log = logging.getLogger(__name__)

TOUCH_EVERY_S = 60.0
"""A key's ``last_used`` is written at most this often (not one write per request)."""


class ApiService:
    """Everything the routes share.

    Args:
        settings: limits, folders, the API's settings.
        recognizer: a ready Recognizer (tests share one); ``None`` loads one from ``settings`` in
            the background when :meth:`start` runs.
        dispatch: run a webhook dispatcher in this process.
    """

    def __init__(self, settings: Settings, recognizer=None, *, dispatch: bool = True) -> None:
        self.settings = settings
        self.access = AccessStore.open(settings)
        self.audit = AuditLog(self.access)
        self.store = ApiStore.open(settings)
        self.keys = ApiKeys(self.store, self.audit, default_rate=settings.api_rate)
        self.webhooks = Webhooks(self.store, self.audit)
        self.limiter = RateLimiter()
        self.queue = WorkQueue(settings.api_threads, settings.api_queue)
        self.dispatch = dispatch
        self.dispatcher: WebhookDispatcher | None = None
        self.recognizer = recognizer
        self.load_problem: str | None = None
        self._gallery = None
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.dispatch:  # also sends what other processes (the CLI, the dashboard) queued
            self.dispatcher = dispatcher_for(self.store, self.settings)
        if self.recognizer is None:
            threading.Thread(target=self._load, name="facerec-api-load", daemon=True).start()

    def _load(self) -> None:
        from ..recognizer import Recognizer

        start = time.monotonic()
        try:
            self.recognizer = Recognizer.load(self.settings, require_model=False)
            log.info("API: models loaded in %.1f s", time.monotonic() - start)
        except FacerecError as exc:
            self.load_problem = str(exc)
            log.error("API: the models could not be loaded: %s", exc)

    @property
    def ready(self) -> bool:
        return self.recognizer is not None

    def gallery(self):
        """The gallery store (thread-safe, one per process), opened on first use."""
        with self._lock:
            if self._gallery is None:
                from ..gallery import GalleryStore

                self._gallery = GalleryStore.open(self.settings)
            return self._gallery

    def touch(self, key_id: int) -> None:
        """Note that a key was used; written when a minute has passed since the last write."""
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
                return
            self._touched[key_id] = now
        self.keys.touch(key_id)

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self.queue.close()
        for thing in (self._gallery, self.store, self.access):
            if thing is not None:
                thing.close()
