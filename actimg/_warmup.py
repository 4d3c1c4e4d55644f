"""Compile (or load from numba's cache) every kernel once: :func:`warmup`.

Kernels are compiled lazily, on the first call that needs them, and cached on disk
(``cache=True``: in ``__pycache__`` next to the sources, or under ``NUMBA_CACHE_DIR``,
or numba's per-user cache directory when the package directory is read-only). The API
canonicalises its inputs (``actimg._validate.kernel_input``: C-contiguous, native byte
order, read-only; float64 images become float32) so that one compiled signature per
kernel and image dtype serves every input variant, and :func:`warmup` compiles exactly
those signatures, in parallel processes when several are missing
(:func:`actimg._compile.prepare`).
"""

from __future__ import annotations

import time

import numpy as np

from ._compile import COMPILE_NOTE, UNITS, prepare

__all__ = ["warmup", "COMPILE_NOTE"]


def _warm_calls() -> None:
    """One call of each public entry point per compiled variant, on a tiny scene."""
    from .codec.decoder import decode
    from .codec.encoder import encode, project_actions
    from .geometry.triangulation import triangulate
    from .scenes import default_scene

    rig, actions = default_scene(n_views=2, n_frames=3, height=64, width=64)
    project_actions(actions, rig)
    pix, _ = project_actions(actions, rig)
    triangulate(pix[:, :, 0], rig)
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.float32):
        images = encode(actions, rig, dtype=dtype)
        decode(images, rig)
        # frame 0 seen by one view only: the single-view (P3P) path
        one = images.copy()
        one[1, 0] = one[1, 0].min()
        decode(one, rig)
        # a second blob per point in view 0 (frame 0's drawn over frame 2): ambiguous
        # detections, the ray search
        ghost = images.copy()
        ghost[0, 2] = np.maximum(ghost[0, 2], ghost[0, 0])
        decode(ghost, rig)
        # noisy images: the intensity refits and the channel cross-talk test
        noise = rng.normal(0.0, 0.02 * (255 if dtype == np.uint8 else 1), images.shape)
        hi = 255 if dtype == np.uint8 else 1.0
        decode(np.clip(images + noise, 0, hi).astype(dtype), rig)


def warmup() -> float:
    """Compile (or load from numba's on-disk cache) every kernel, so later calls do not.

    Runs encode, decode (uint8 and float images, clean and noisy, multi-view and single
    view, unique and ambiguous detections), ``project_actions`` and ``triangulate`` once
    on a tiny scene. After it, no input variant compiles again: uint8, float32 or
    float64 images, read-only, strided, Fortran-order or big-endian arrays, one frame,
    one view, static or per-frame cameras. A warm cache makes this fast; returns the
    seconds it took.
    """
    t0 = time.perf_counter()
    prepare(list(UNITS))  # in parallel processes where the cache is cold
    _warm_calls()
    return time.perf_counter() - t0
