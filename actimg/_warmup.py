"""Compile (or load from numba's cache) every kernel once, on a tiny scene."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["warmup"]


def warmup() -> float:
    """Run encode and decode once on a tiny scene so later calls do not compile.

    Kernels are compiled lazily (never on import) and cached on disk
    (``cache=True``), so a warm cache makes this fast. Returns the seconds it took.
    """
    from .codec.decoder import decode
    from .codec.encoder import encode
    from .scenes import default_scene

    t0 = time.perf_counter()
    rig, actions = default_scene(n_views=2, n_frames=2, height=64, width=64)
    for dtype in (np.uint8, np.float32):
        decode(encode(actions, rig, dtype=dtype), rig)
    return time.perf_counter() - t0
