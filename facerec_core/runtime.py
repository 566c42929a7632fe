"""CPU use: how many threads torch may use for the work started on the calling thread, and
two process settings that keep other libraries from slowing it down.

torch's CPU kernels run on OpenMP, which keeps the thread count per calling thread. The rules,
each measured on a 2-core machine:

- Bulk work uses one process per core with one thread each (see :mod:`.embeddings`).
- numpy's OpenBLAS keeps a pool of its own threads that spin for a while after each matrix
  product, taking the cores from torch: a request after an identification (probes × gallery)
  ran 2× slower. Those products are small, so :func:`limit_blas_threads` keeps OpenBLAS on
  the calling thread.
- glibc hands large blocks (every activation tensor) back to the kernel when they are freed,
  so the next image faults the same pages in again: 8% of bulk CPU time went to the kernel.
  :func:`keep_freed_memory` keeps freed memory in the process for reuse (bulk: 52 -> 57 img/s).
- An interactive request (a photo, a verification) uses every core when the machine is free:
  2 threads answer a 640×480 photo in ~50 ms against ~75 ms with one. When the cores are busy,
  OpenMP threads that share them wait on each other (p95 rose about 5× with the other core busy), so while
  a bulk job of this process runs, requests drop to one thread; live video pins its own worker
  thread to one (:func:`pin_threads`).
- Other processes count too. With the machine's cores taken by others (load average 6-9 on 2
  cores), a request on 2 threads took 1.6-3.6 s p50 against 0.16-0.19 s on one: each of torch's
  parallel regions ends at a barrier where one thread waits, spinning, for the other to be given
  a core again. So a request uses only the cores that nobody else is using
  (:func:`busy_elsewhere`: the run queue now, or the 1-minute load average, whichever is
  higher), at least one; on an idle machine that is every core, as before.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

_local = threading.local()
_bulk_lock = threading.Lock()
_bulk_jobs = 0


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def busy_elsewhere(loadavg: str | None = None) -> int:
    """How many cores other work keeps busy now: the larger of the runnable tasks other than the
    caller (``/proc/loadavg``'s 4th field, which reacts at once) and the 1-minute load average
    rounded down (which smooths a quiet moment between another process's bursts). ``0`` where
    the system does not say (not Linux). ``loadavg`` is that file's text (for tests)."""
    if loadavg is None:
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                loadavg = f.read()
        except OSError:
            return 0
    try:
        fields = loadavg.split()
        running = int(fields[3].split("/")[0])
        return max(running - 1, int(float(fields[0])), 0)
    except (IndexError, ValueError):
        return 0


def interactive_threads(setting: int = 0, *, busy: int | None = None) -> int:
    """Threads for one interactive request: ``setting`` when positive; else one while a bulk
    job of this process keeps the cores busy; otherwise the cores this process may use that
    other work leaves free (``busy``, default :func:`busy_elsewhere`), at least one and at most
    8 (beyond that a single photo gains nothing)."""
    if setting > 0:
        return int(setting)
    if bulk_jobs_running():
        return 1
    cores = available_cores()
    free = cores - (busy_elsewhere() if busy is None else busy)
    return max(1, min(free, cores, 8))


def use_interactive_threads(setting: int = 0) -> None:
    """Set the calling thread's torch threads by :func:`interactive_threads`, unless the thread
    was pinned with :func:`pin_threads`."""
    if getattr(_local, "pinned", None) is None:
        _set_torch_threads(interactive_threads(setting))


def pin_threads(n: int | None) -> None:
    """Fix the calling thread's torch threads at ``n`` (``None``: release the pin)."""
    _local.pinned = n
    if n is not None:
        _set_torch_threads(n)


def limit_blas_threads(n: int = 1) -> None:
    """Keep numpy's BLAS at ``n`` threads in this process (see the module's notes)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n, user_api="blas")


def keep_freed_memory() -> None:
    """Ask glibc to reuse freed memory instead of returning it to the kernel after each tensor
    (no effect elsewhere). The process keeps its peak size, which it reaches again anyway."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or "libc" not in name:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 1 << 30)     # serve big blocks from the heap, not fresh mappings
    mallopt(m_trim_threshold, (1 << 31) - 1)  # and do not give the heap's top back


def bulk_jobs_running() -> bool:
    return _bulk_jobs > 0


@contextlib.contextmanager
def bulk_job() -> Iterator[None]:
    """Mark a bulk job (worker processes busy on every core) for the duration of the block."""
    global _bulk_jobs
    with _bulk_lock:
        _bulk_jobs += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk_jobs -= 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch at ``n`` threads on the calling thread for the block, then as before: for one-off
    work that more threads do not speed up (building the int8 model)."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    _set_torch_threads(n)
    try:
        yield
    finally:
        _set_torch_threads(before)


def _set_torch_threads(n: int) -> None:
    try:
        import torch
    except ImportError:  # a recognizer without torch
        return
    if torch.get_num_threads() != n:
        torch.set_num_threads(int(n))
