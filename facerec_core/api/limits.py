"""What keeps one client from taking the server: per-key rate limits and the bounded work queue.

- :class:`RateLimiter`: a token bucket per key, ``rate`` requests a minute with a burst of a
  tenth of a minute's worth (at least 5); an empty bucket answers 429 with the seconds until the
  next token.
- :class:`WorkQueue`: model work (detection, embedding) runs on a small thread pool, never on
  the event loop, so a slow recognition does not hold up health checks or key lookups. At most
  ``workers`` run and ``depth`` wait; the next one is refused at once (503 with Retry-After)
  rather than queued without bound, because a door controller would rather retry than wait
  behind a minute of backlog.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class RateLimiter:
    """Token buckets by key id. Thread-safe; per process (each API worker keeps its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def burst(rate_per_minute: int) -> float:
        return max(5.0, rate_per_minute / 10.0)

    def take(self, key_id: int, rate_per_minute: int) -> float:
        """Spend a token of ``key_id``: 0 when allowed, else the seconds to wait."""
        per_s = rate_per_minute / 60.0
        burst = self.burst(rate_per_minute)
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key_id, (burst, now))
            tokens = min(burst, tokens + (now - then) * per_s)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / per_s


class QueueFull(Exception):
    """Every worker is busy and ``depth`` requests wait already."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in {retry_after} s")
        self.retry_after = retry_after


class WorkQueue:
    """A bounded pool for blocking work.

    Args:
        workers: threads running model work at once (FACEREC_API_THREADS). One is right on a
            small CPU: torch already uses the cores inside one call.
        depth: requests that may wait beyond those running (FACEREC_API_QUEUE).
    """

    def __init__(self, workers: int = 1, depth: int = 8) -> None:
        self.workers = max(1, int(workers))
        self.depth = max(0, int(depth))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="facerec-api")
        self._recent: list[float] = []
        self._taken = 0
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        """Every worker busy and every place taken: checked before a request's body is read, so a
        refusal costs no upload (:meth:`run` checks again, atomically)."""
        with self._lock:
            return self._taken >= self.workers + self.depth

    def check(self) -> None:
        """:class:`QueueFull` now when the queue is full."""
        if self.full:
            raise QueueFull(self._retry_after())

    def _retry_after(self) -> int:
        """Seconds a refused client should wait: the time the queue in front of it takes, from the
        recent calls' mean duration (at least 1)."""
        with self._lock:
            mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        return max(1, math.ceil(mean * (self.depth + self.workers) / self.workers))

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` on the pool; :class:`QueueFull` at once when the queue is full."""
        with self._lock:
            if self._taken >= self.workers + self.depth:
                refused = True
            else:
                refused, self._taken = False, self._taken + 1
        if refused:
            raise QueueFull(self._retry_after())
        try:
            job = self._pool.submit(self._timed, work)
        except RuntimeError:  # shut down
            self._release()
            raise
        # the place is given back when the work ends, not when the request does: a client that
        # leaves while its recognition runs must not let one more in beside it
        job.add_done_callback(lambda _: self._release())
        return await asyncio.wrap_future(job)

    def _release(self) -> None:
        with self._lock:
            self._taken -= 1

    def _timed(self, work: Callable[[], T]) -> T:
        """``work()``, noting how long it ran on its worker: the service time, not the wait in
        the queue before it (which would make Retry-After grow with the queue's length)."""
        start = time.monotonic()
        try:
            return work()
        finally:
            with self._lock:
                self._recent = (self._recent + [time.monotonic() - start])[-20:]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
