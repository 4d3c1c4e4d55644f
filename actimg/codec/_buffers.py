"""Recycled output buffers: a fresh result without the kernel's page zeroing.

A large new numpy array costs more than filling it: every page is faulted in and zeroed
by the kernel on first touch (``benchmarks/speed.py``: ``np.empty`` + ``fill(0)`` of
64 MB takes 6-9x the ``fill(0)`` alone). ``encode`` fills every byte of its result
anyway, so the memory of a result that its owner has dropped is kept here and handed to
the next call of the same size, already faulted in.

Safety: a result is a view of a numpy-made ``memoryview`` of a pooled block, and every
view of the result, however derived (slices, ``.T``, ``np.asarray``, ``.ctypes``,
``torch.from_numpy``), keeps that ``memoryview`` alive; the block returns to the pool
only when the ``memoryview`` is collected, i.e. when nothing can reach the memory any
more. So a result never aliases another live array. A forked child drops the pool (its
blocks are the parent's pages, copy-on-write: reusing them would copy, not save).

The pool holds at most ``ACTIMG_BUFFER_CACHE_MB`` MiB (default 256; 0 turns it off);
:func:`set_buffer_cache` changes that at run time. Only blocks of at least 4 MiB are
pooled: smaller ones come from the C allocator's own free lists, already faulted in.
"""

from __future__ import annotations

import math
import os
import threading
import weakref

import numpy as np

__all__ = ["empty", "set_buffer_cache"]

MIN_BYTES = 4 << 20
_DEFAULT_MB = 256


def _limit_from_env() -> int:
    env = os.environ.get("ACTIMG_BUFFER_CACHE_MB")
    if env is None or env == "":
        return _DEFAULT_MB << 20
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not math.isfinite(mb) or mb < 0:
        raise ValueError(f"ACTIMG_BUFFER_CACHE_MB must be a number of MiB >= 0, got {env!r}")
    return int(mb * (1 << 20))


# an RLock: a block can come back (a finalizer run by the garbage collector) inside our
# own critical section in the same thread
_lock = threading.RLock()
_free: list[np.ndarray] = []  # uint8 blocks nobody references, oldest first
_limit: int | None = None     # bytes; read from the environment on first use


def _max_bytes() -> int:
    global _limit
    if _limit is None:
        _limit = _limit_from_env()
    return _limit


def _trim(limit: int) -> None:
    total = cached_bytes()
    while _free and total > limit:
        total -= _free.pop(0).nbytes


def _give_back(block: np.ndarray) -> None:
    with _lock:
        limit = _max_bytes()
        if block.nbytes <= limit:
            _free.append(block)
            _trim(limit)


def set_buffer_cache(max_bytes: int) -> int:
    """Set how much memory of dropped ``encode`` results is kept for reuse.

    ``encode`` without ``out=`` returns a new array each call; the memory of results that
    are no longer referenced anywhere is kept (up to ``max_bytes``) and reused by the
    next call of the same size, which then skips the kernel's page faults and zeroing
    (a 64 MB result: ~5.5 ms -> ~2.2 ms here; ``benchmarks/speed.py``). Nothing still
    reachable is ever reused.

    Args:
        max_bytes: bytes to keep at most (``0`` turns reuse off and frees what is kept).
            The default is ``ACTIMG_BUFFER_CACHE_MB`` MiB, or 256 MiB.

    Returns:
        The previous limit in bytes.

    Raises:
        ValueError: ``max_bytes`` is negative. TypeError: it is not an integer.
    """
    global _limit
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
        raise TypeError(f"max_bytes must be an integer, got {type(max_bytes).__name__}")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    with _lock:
        prev = _max_bytes()
        _limit = int(max_bytes)
        _trim(_limit)
    return prev


def cached_bytes() -> int:
    """Bytes currently kept for reuse (for tests and diagnostics)."""
    with _lock:
        return sum(b.nbytes for b in _free)


def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array, from the pool when it is large.

    Callers must overwrite every element: a pooled block holds an old result.
    """
    dt = np.dtype(dtype)
    nbytes = math.prod(shape) * dt.itemsize
    if nbytes < MIN_BYTES or nbytes > _max_bytes():
        return np.empty(shape, dt)
    block = None
    with _lock:
        for i in range(len(_free) - 1, -1, -1):  # the most recently dropped first
            if _free[i].nbytes == nbytes:
                block = _free.pop(i)
                break
    if block is None:
        block = np.empty(nbytes, np.uint8)
    flat = np.frombuffer(memoryview(block), np.uint8)
    owner = flat.base  # numpy's own memoryview: the one object every view keeps alive
    while isinstance(owner, np.ndarray):  # pragma: no cover - numpy versions differ here
        owner = owner.base
    fin = weakref.finalize(owner, _give_back, block)
    fin.atexit = False
    return flat.view(dt).reshape(shape)


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.RLock()
    _free.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
