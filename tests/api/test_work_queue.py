"""The work queue's Retry-After comes from the time work runs, not the time it waited."""
import asyncio
import threading
import time

import pytest

from facerec_core.api.limits import QueueFull, WorkQueue


def test_retry_after_is_the_queue_drain_time_not_inflated_by_waiting():
    queue = WorkQueue(workers=1, depth=8)

    async def scenario():
        # 9 calls of 0.1 s at once: the last one waits 0.8 s in the queue before it runs
        await asyncio.gather(*(queue.run(lambda: time.sleep(0.1)) for _ in range(9)))
        blockers = [asyncio.ensure_future(queue.run(lambda: time.sleep(0.3))) for _ in range(9)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull) as refused:
            await queue.run(lambda: None)
        await asyncio.gather(*blockers)
        return refused.value.retry_after

    try:
        # 9 slots of 0.1 s each drain in about 1 s; measured with the waits it would say 5 s
        assert asyncio.run(scenario()) <= 2
    finally:
        queue.close()


def test_a_place_is_given_back_when_the_work_ends_not_when_its_client_leaves():
    queue = WorkQueue(workers=1, depth=0)
    release = threading.Event()

    async def scenario():
        running = asyncio.ensure_future(queue.run(release.wait))
        await asyncio.sleep(0.05)
        assert queue.full
        running.cancel()  # the client left; its recognition still runs on the worker
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            queue.check()
        release.set()
        await asyncio.sleep(0.1)
        assert not queue.full
        assert await queue.run(lambda: 7) == 7

    try:
        asyncio.run(scenario())
    finally:
        queue.close()
