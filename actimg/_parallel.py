"""How kernels use several cores: our own thread pool over ``nogil`` numba kernels.

Why not numba's ``parallel=True``: its threading layer decides thread and fork safety,
and the layers that ship with a plain ``pip install numba`` are not both (``workqueue``
aborts on concurrent calls from several threads; GNU OpenMP is not safe in a child
forked after the parent used it, which is what a PyTorch DataLoader does). Our kernels
are serial, compiled with ``nogil=True``, and we split images over a
``ThreadPoolExecutor`` that is rebuilt in a forked child, so concurrent calls and
forked workers are safe by construction, and numba's threading layer is never loaded.

``ACTIMG_NUM_THREADS`` caps the thread count (default: the CPUs this process may use).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def num_threads() -> int:
    """Threads a call may use: ``ACTIMG_NUM_THREADS`` or the CPUs available to us."""
    env = os.environ.get("ACTIMG_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"ACTIMG_NUM_THREADS must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"ACTIMG_NUM_THREADS must be a positive integer, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _reset_after_fork() -> None:
    # the parent's worker threads do not exist in the child: forget the pool
    global _pool, _lock
    _pool = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < n:  # type: ignore[attr-defined]
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="actimg")
        return _pool


def _n_threads(n_items: int, min_items: int) -> int:
    n = min(num_threads(), n_items // max(1, min_items)) if n_items > 0 else 0
    if threading.current_thread().name.startswith("actimg"):
        return 1  # a kernel call from inside our own pool runs serially
    return n


def run_from_both_ends(kernel: Callable[..., Any], n_items: int, *args: Any, min_items: int = 2) -> None:
    """Call ``kernel(*args, counters, end)`` on threads that share ``n_items`` items.

    The kernel takes items one at a time with ``_llvm.take_item(counters, n_items,
    end)``; threads alternate ends (``end`` 0: from the front of the kernel's order, 1:
    from the back), so that, when the items are ordered by kind, threads start on
    different kinds and meet where the work runs out (load balanced, like any dynamic
    schedule). The encoder orders images open gripper first: those are non-zero in every
    byte and bound by memory writes, the closed ones mostly zeros and bound by drawing on
    machines that write zero lines faster; one thread on each kind overlaps the two.
    """
    counters = np.zeros(3, np.int64)
    n = _n_threads(n_items, min_items)
    if n <= 1:
        kernel(*args, counters, 0)
        return
    pool = _get_pool(n)
    futures = [pool.submit(kernel, *args, counters, i % 2) for i in range(1, n)]
    kernel(*args, counters, 0)  # the caller's thread takes from the front
    for f in futures:
        f.result()


def run_chunks(kernel: Callable[..., Any], n_items: int, *args: Any, min_items: int = 2) -> None:
    """Call ``kernel(*args, start, stop)`` over ``[0, n_items)`` split across threads."""
    n = _n_threads(n_items, min_items)
    if n <= 1:
        kernel(*args, 0, n_items)
        return
    bounds = [n_items * i // n for i in range(n + 1)]
    pool = _get_pool(n)
    futures = [pool.submit(kernel, *args, bounds[i], bounds[i + 1]) for i in range(1, n)]
    kernel(*args, bounds[0], bounds[1])  # the caller's thread does one share
    for f in futures:
        f.result()
