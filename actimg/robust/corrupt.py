"""Seeded corruptions of action images: what a video model does to them.

A video model never draws a perfect action image. These functions degrade ``(V, T, H, W, 3)``
action images (``uint8``, or ``float32``/``float64`` in [0, 1]) in controlled, reproducible
ways, so that code built on :mod:`actimg` (a decoder, a gripper read-out, a policy) can be
tested against realistic input::

    import actimg
    from actimg import corrupt

    rig, actions = actimg.default_scene(n_views=2, n_frames=41)
    images = actimg.encode(actions, rig)
    bad = corrupt.gaussian_noise(corrupt.blur(images, sigma_px=6.0), sigma=0.08, seed=0)

Every function returns a **new** array of the same shape and dtype as its input (never the
input, never a view of it, and the input is never written to). Float images are computed in
their own precision (``float32`` for ``uint8`` input) and clipped to [0, 1]; ``uint8``
results are ``round(255 x)``. Random functions take ``seed``: an ``int`` (the same seed
gives the same output), a :class:`numpy.random.Generator` (consumed), or ``None`` (fresh
entropy).

Strengths have physical units, and "strength 0" is the identity where that is meaningful.
A *middle* strength, what a video model plausibly produces at 512x512:

==========================  ====================================================
:func:`gaussian_noise`      ``sigma=0.08`` (intensity units, 1 = full scale)
:func:`blur`                ``sigma_px=6`` (about a quarter of the blob sigma)
:func:`resample`            ``factor=4`` (a video VAE's 4x or 8x spatial latent)
:func:`jpeg`                ``quality=40``
:func:`video_codec`         H.264 ``quantizer`` (CRF) about 35
:func:`ghost_blob`          ``relative_brightness=1`` (as bright as the true blob)
:func:`drop_blob`           one view of one point (occlusion, out of frame)
:func:`channel_crosstalk`   ``amount=0.1`` (10 % of each channel leaks into the others)
:func:`color_mixing`        ``strength=0.1`` (unequal 3x3 leaks, 10 % per channel on average)
:func:`motion_blur`         ``length_px=10`` (a line kernel; fast motion at 30 fps)
:func:`shift_view`          ``dx, dy`` of 1-2 px in one view (a generator's spatial drift)
:func:`tone_curve`          ``brightness=0.05, contrast=0.9, gamma=1.2``
:func:`noisy_floor`         ``sigma=0.05``, ``correlation_px=8``
==========================  ====================================================

The blob sigma is the format's ``s = 0.05 * min(H, W)`` px (from ``spec``, default
:class:`~actimg.ActionImageSpec`), 25.6 px at 512x512.
"""

from __future__ import annotations

import functools
import io
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import cv2
import numpy as np

from ..codec.spec import ActionImageSpec, resolve_spec

__all__ = [
    "VIDEO_CODECS", "VideoCodecInfo", "available_video_codecs", "blur", "channel_crosstalk", "color_mixing",
    "drop_blob", "gaussian_noise", "ghost_blob", "jpeg", "motion_blur", "noisy_floor", "random_mixing_matrix",
    "resample", "shift_view", "tone_curve", "video_codec",
]

Seed = Union[int, np.integer, np.random.Generator, None]
Channel = Union[str, int]
Index = Union[int, Sequence[int], np.ndarray, None]

_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
_CHANNELS = {"R": 0, "G": 1, "B": 2}


# ============================================================ validation helpers
def _check_images(images: object) -> np.ndarray:
    """``images`` as given, after checking it is a ``(V, T, H, W, 3)`` action-image array."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array of shape (V, T, H, W, 3), got {type(images).__name__}")
    if images.dtype not in _DTYPES:
        raise TypeError(f"images must have dtype uint8, float32 or float64, got {images.dtype}")
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (V, T, H, W, 3), got {images.shape}")
    if images.size == 0:
        raise ValueError(f"images is empty (shape {images.shape})")
    if images.dtype.kind == "f":
        lo, hi = float(np.min(images)), float(np.max(images))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("float images must be finite; found NaN or inf")
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float images must be in [0, 1]; found values in [{lo:g}, {hi:g}]")
    return images


def _real(name: str, x: object, lo: float | None = None, hi: float | None = None, *,
          lo_open: bool = False) -> float:
    """``x`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    bad_lo = lo is not None and (v < lo or (lo_open and v == lo))
    bad_hi = hi is not None and v > hi
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf)" if hi is None else f"{hi:g}]"
        raise ValueError(f"{name} must be in {left}{lo_s}, {hi_s}, got {v:g}")
    return v


def _integer(name: str, x: object, lo: int, hi: int) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    if not lo <= int(x) <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {int(x)}")
    return int(x)


def _rng(seed: object) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {int(seed)}")
    return np.random.default_rng(int(seed))


def _channel(channel: object) -> int:
    if isinstance(channel, str):
        if channel.upper() in _CHANNELS:
            return _CHANNELS[channel.upper()]
        raise ValueError(f"channel must be 'R', 'G', 'B' or 0, 1, 2, got {channel!r}")
    if isinstance(channel, (bool, np.bool_)) or not isinstance(channel, (int, np.integer)):
        raise TypeError(f"channel must be 'R', 'G', 'B' or 0, 1, 2, got {type(channel).__name__}")
    if not 0 <= int(channel) <= 2:
        raise ValueError(f"channel must be 'R', 'G', 'B' or 0, 1, 2, got {int(channel)}")
    return int(channel)


def _indices(name: str, sel: object, n: int) -> np.ndarray:
    """Sorted unique indices in ``[0, n)`` from an int or a sequence of ints (``None``: all)."""
    if sel is None:
        return np.arange(n)
    if isinstance(sel, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got bool")
    a = np.atleast_1d(np.asarray(sel))
    if a.ndim != 1 or a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        if a.size == 0 and a.ndim == 1:
            raise ValueError(f"{name} is empty")
        raise TypeError(f"{name} must be an int or a sequence of ints, got {sel!r}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if (a < 0).any() or (a >= n).any():
        raise ValueError(f"{name} must be in [0, {n}), got {a.tolist()}")
    return np.unique(a)


# ============================================================== dtype helpers
def _work_dtype(dt: np.dtype) -> type:
    return np.float64 if dt == np.float64 else np.float32


def _to_float(images: np.ndarray) -> np.ndarray:
    """A new float array in [0, 1] (``float32`` for uint8 input, else the input's dtype)."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) * np.float32(1.0 / 255.0)
    return images.astype(images.dtype, copy=True)


def _from_float(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip a float array to [0, 1] in place and return it as ``dtype`` (uint8: ``round(255 x)``)."""
    np.clip(x, 0.0, 1.0, out=x)
    if dtype == np.uint8:
        return np.rint(x * 255.0).astype(np.uint8)
    return x.astype(dtype, copy=False)


def _to_u8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    return np.rint(images * 255.0).astype(np.uint8)


def _from_u8(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return x
    return (x.astype(dtype) / dtype.type(255.0)).astype(dtype, copy=False)


def _per_frame(images: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to every ``(H, W, 3)`` frame; a new C-contiguous array of the same dtype."""
    out = np.empty(images.shape, dtype=images.dtype)
    V, T = images.shape[:2]
    for v in range(V):
        for t in range(T):
            out[v, t] = fn(np.ascontiguousarray(images[v, t]))
    return out


def _copy(images: np.ndarray) -> np.ndarray:
    return np.array(images, dtype=images.dtype, order="C", copy=True)


# ============================================================ pixel corruptions
def gaussian_noise(images: np.ndarray, sigma: float, seed: Seed = 0) -> np.ndarray:
    """Add independent Gaussian noise to every pixel and channel, then clip to [0, 1].

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        sigma: noise standard deviation in intensity units, in [0, 1] (1 = full scale,
            255 levels of ``uint8``). ``0`` returns an exact copy. Middle strength: 0.08.
        seed: ``int``, ``numpy.random.Generator`` or ``None``.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype (``uint8`` rounds).
    """
    images = _check_images(images)
    sigma = _real("sigma", sigma, 0.0, 1.0)
    rng = _rng(seed)
    if sigma == 0.0:
        return _copy(images)
    x = _to_float(images)
    x += rng.standard_normal(x.shape, dtype=x.dtype) * x.dtype.type(sigma)
    return _from_float(x, images.dtype)


def blur(images: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of every frame (``cv2.GaussianBlur``, reflected borders).

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        sigma_px: standard deviation of the blur kernel in pixels (``>= 0``; ``0``: exact
            copy). Middle strength: about 6 px at 512x512 (``0.012 * min(H, W)``). A blob
            of sigma ``s`` becomes one of sigma ``sqrt(s^2 + sigma_px^2)`` with a lower peak.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype. Borders use
        ``cv2.BORDER_REFLECT_101``, so a constant blue floor stays constant.
    """
    images = _check_images(images)
    sigma_px = _real("sigma_px", sigma_px, 0.0)
    if sigma_px == 0.0:
        return _copy(images)
    return _per_frame(images, lambda f: cv2.GaussianBlur(f, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px,
                                                         borderType=cv2.BORDER_REFLECT_101))


def resample(images: np.ndarray, factor: float) -> np.ndarray:
    """Down-sample every frame by ``factor`` then up-sample back, as a video VAE does.

    Down-sampling to ``(max(1, round(H / factor)), max(1, round(W / factor)))`` uses
    ``cv2.INTER_AREA`` (pixel-area averaging); up-sampling back to ``(H, W)`` uses
    ``cv2.INTER_LINEAR``. Both keep pixel centres aligned, so blobs do not shift.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        factor: linear down-sampling factor, ``>= 1`` (``1``: exact copy). Middle
            strength: 4 (a latent at a quarter of the resolution); video VAEs use 8.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.
    """
    images = _check_images(images)
    factor = _real("factor", factor, 1.0)
    if factor == 1.0:
        return _copy(images)
    H, W = images.shape[2:4]
    small = (max(1, round(W / factor)), max(1, round(H / factor)))  # cv2 wants (width, height)

    def down_up(f: np.ndarray) -> np.ndarray:
        s = cv2.resize(f, small, interpolation=cv2.INTER_AREA)
        up = cv2.resize(s, (W, H), interpolation=cv2.INTER_LINEAR)
        return up.reshape(H, W, 3)

    return _per_frame(images, down_up)


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of every frame (``cv2.imencode`` / ``cv2.imdecode``, 4:2:0 chroma).

    Channel order is kept: frames are converted RGB -> BGR before encoding and back
    after decoding. Float images are quantised to 8 bits first (``round(255 x)``) and
    come back as ``uint8 / 255`` in their own dtype.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        quality: libjpeg quality, integer in [0, 100] (100 = best; still lossy: the
            colour planes are sub-sampled 2x). Middle strength: 40.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.

    Raises:
        RuntimeError: if OpenCV fails to encode or decode a frame.
    """
    images = _check_images(images)
    quality = _integer("quality", quality, 0, 100)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), quality]

    def round_trip(f: np.ndarray) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise RuntimeError(f"cv2.imencode failed to JPEG-encode a {f.shape} frame")
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if dec is None or dec.shape != f.shape:
            raise RuntimeError(f"cv2.imdecode returned {None if dec is None else dec.shape}, expected {f.shape}")
        return cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)

    return _from_u8(_per_frame(_to_u8(images), round_trip), images.dtype)


def channel_crosstalk(images: np.ndarray, amount: float) -> np.ndarray:
    """Colour bleeding: each channel leaks ``amount`` of its intensity into the other two.

    Per pixel ``out = M @ [R, G, B]`` with ``M = (1 - amount) I + amount / 2 (J - I)``
    (``J`` all ones): every channel keeps ``1 - amount`` of itself and receives
    ``amount / 2`` of each other channel. Rows and columns of ``M`` sum to 1, so grey
    stays grey and the total ``R + G + B`` is preserved; the result is clipped to [0, 1].

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        amount: fraction in [0, 1]; ``0``: exact copy; ``2/3``: complete mixing (every
            channel is the mean of the three); ``1``: each channel is replaced by the mean
            of the other two. Middle strength: 0.1.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.
    """
    images = _check_images(images)
    amount = _real("amount", amount, 0.0, 1.0)
    if amount == 0.0:
        return _copy(images)
    x = _to_float(images)
    M = ((1.0 - amount) * np.eye(3) + amount / 2.0 * (np.ones((3, 3)) - np.eye(3))).astype(x.dtype)
    y = x @ M.T
    return _from_float(y, images.dtype)


def random_mixing_matrix(strength: float, seed: Seed = 0) -> np.ndarray:
    """A random unequal 3x3 colour-mixing matrix whose columns leak ``strength`` on average.

    The six off-diagonal entries ``M[i, j]`` (how much of source channel ``j`` appears in
    channel ``i``) are ``3 * strength * w`` with ``w`` drawn uniformly from the simplex
    (Dirichlet(1, ..., 1)): every channel leaks into every other, by unequal amounts, and
    the mean over the three source channels of their total leak ``sum_{i != j} M[i, j]``
    is ``strength``. Each diagonal entry is ``1 - `` its column's leak, so every column
    sums to 1 (what a channel loses appears in the others); a column that would leak more
    than 0.9 is scaled down to 0.9.

    Args:
        strength: mean total leak per source channel, in [0, 0.6]; ``0`` gives the identity.
        seed: ``int``, ``numpy.random.Generator`` or ``None``.

    Returns:
        ``(3, 3)`` float64 matrix ``M`` (``out = M @ [R, G, B]`` per pixel).
    """
    strength = _real("strength", strength, 0.0, 0.6)
    rng = _rng(seed)
    M = np.eye(3)
    if strength == 0.0:
        return M
    w = rng.dirichlet(np.ones(6)) * 3.0 * strength
    off = ~np.eye(3, dtype=bool)
    M[off] = w  # row-major order of the off-diagonal entries
    leak = M.sum(axis=0) - 1.0  # per column: the off-diagonal sum (diagonal still 1)
    over = leak > 0.9
    if over.any():
        for j in np.flatnonzero(over):
            M[off[:, j], j] *= 0.9 / leak[j]
        leak = M.sum(axis=0) - 1.0
    M[np.diag_indices(3)] = 1.0 - leak
    return M


def color_mixing(images: np.ndarray, matrix: np.ndarray | None = None, strength: float = 0.1,
                 seed: Seed = 0, *, per_view: bool = False) -> np.ndarray:
    """Full 3x3 colour mixing: every channel leaks into every other, by unequal amounts.

    What colour-space conversions, chroma sub-sampling and generators do to R, G and B;
    :func:`channel_crosstalk` is the symmetric one-parameter special case. Per pixel
    ``out = clip(M @ [R, G, B], 0, 1)``: ``M[i, j]`` is how much of input channel ``j``
    ends up in output channel ``i`` (``M[0, 1] = 0.1``: a tenth of G is added to R).

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        matrix: ``(3, 3)`` mixing matrix for every view, or ``(V, 3, 3)`` one per view,
            finite, entries in [-1, 2]; ``None``: a random one from
            :func:`random_mixing_matrix` (``strength``, ``seed``). The identity gives an
            exact copy.
        strength: mean total leak per source channel when ``matrix`` is ``None`` (see
            :func:`random_mixing_matrix`), in [0, 0.6]; ``0``: exact copy. Middle
            strength: 0.1; strong: 0.2.
        seed: ``int``, ``numpy.random.Generator`` or ``None`` (used when ``matrix`` is None).
        per_view: with ``matrix=None``, draw a different matrix for every view (default:
            one matrix for the whole clip).

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.
    """
    images = _check_images(images)
    V = images.shape[0]
    if matrix is None:
        strength = _real("strength", strength, 0.0, 0.6)
        rng = _rng(seed)
        if per_view:
            Ms = np.stack([random_mixing_matrix(strength, rng) for _ in range(V)])
        else:
            Ms = np.broadcast_to(random_mixing_matrix(strength, rng), (V, 3, 3))
    else:
        if isinstance(matrix, (str, bytes)) or not hasattr(matrix, "__len__") and not isinstance(matrix, np.ndarray):
            raise TypeError(f"matrix must be a (3, 3) or (V, 3, 3) array, got {type(matrix).__name__}")
        try:
            m = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"matrix must be a (3, 3) or (V, 3, 3) array of numbers, got {matrix!r}") from None
        if m.shape == (3, 3):
            Ms = np.broadcast_to(m, (V, 3, 3))
        elif m.shape == (V, 3, 3):
            Ms = m
        else:
            raise ValueError(f"matrix must have shape (3, 3) or (V, 3, 3) = ({V}, 3, 3), got {m.shape}")
        if not np.isfinite(Ms).all():
            raise ValueError("matrix must be finite")
        if Ms.min() < -1.0 or Ms.max() > 2.0:
            raise ValueError(f"matrix entries must be in [-1, 2], got [{Ms.min():g}, {Ms.max():g}]")
    eye = np.eye(3)
    if all(np.array_equal(Ms[v], eye) for v in range(V)):
        return _copy(images)
    x = _to_float(images)
    for v in range(V):
        if not np.array_equal(Ms[v], eye):
            x[v] = x[v] @ Ms[v].T.astype(x.dtype)
    return _from_float(x, images.dtype)


def _line_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """Normalised ``(k, k)`` kernel of a centred line segment of ``length_px`` pixels at
    ``angle_deg`` (counter-clockwise from the +u axis on screen, i.e. with v pointing down
    the segment runs along ``(cos a, -sin a)``): the segment is sampled every 0.1 px and
    each sample splatted bilinearly, so the kernel is symmetric about its centre and
    keeps the centroid of whatever it blurs."""
    half = 0.5 * length_px
    r = int(math.ceil(half)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1))
    n = max(2, int(math.ceil(length_px / 0.1)) + 1)
    t = np.linspace(-half, half, n)
    a = math.radians(angle_deg)
    xs = r + t * math.cos(a)
    ys = r - t * math.sin(a)
    x0 = np.floor(xs).astype(int)
    y0 = np.floor(ys).astype(int)
    fx = xs - x0
    fy = ys - y0
    for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + dy, x0 + dx), wt)
    k = 0.5 * (k + k[::-1, ::-1])  # exactly point-symmetric: the centroid is kept
    return k / k.sum()


def motion_blur(images: np.ndarray, length_px: float, angle_deg: float | None = None,
                seed: Seed = 0) -> np.ndarray:
    """Directional (motion) blur: every frame convolved with a centred line segment.

    Fast motion in 30 fps video smears a blob along its direction of motion. The kernel is
    a line of ``length_px`` pixels through the pixel centre, sampled finely and splatted
    bilinearly (so sub-pixel lengths and any angle work), point-symmetric (the centroid of
    a blob does not move) and normalised; borders are reflected
    (``cv2.BORDER_REFLECT_101``), so a constant floor stays constant.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        length_px: length of the segment in pixels, ``>= 0`` (``0``: exact copy). Middle
            strength: 10 px at 512x512 (5-20 px is what fast motion leaves).
        angle_deg: direction of the segment in degrees, counter-clockwise from the image's
            +u (column) axis; ``None``: a random direction per view and frame.
        seed: ``int``, ``numpy.random.Generator`` or ``None`` (used when ``angle_deg`` is
            None).

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.
    """
    images = _check_images(images)
    length_px = _real("length_px", length_px, 0.0)
    if angle_deg is not None:
        angle_deg = _real("angle_deg", angle_deg)
    rng = _rng(seed)
    if length_px == 0.0:
        return _copy(images)
    V, T = images.shape[:2]
    angles = rng.uniform(0.0, 180.0, (V, T)) if angle_deg is None else np.full((V, T), angle_deg)
    out = np.empty(images.shape, dtype=images.dtype)
    for v in range(V):
        for t in range(T):
            k = _line_kernel(length_px, float(angles[v, t]))
            f = np.ascontiguousarray(images[v, t])
            if images.dtype == np.uint8:
                y = cv2.filter2D(f.astype(np.float32), cv2.CV_32F, k.astype(np.float32),
                                 borderType=cv2.BORDER_REFLECT_101)
                out[v, t] = _from_float(y * np.float32(1.0 / 255.0), np.dtype(np.uint8))
            else:
                y = cv2.filter2D(f, -1, k.astype(f.dtype), borderType=cv2.BORDER_REFLECT_101)
                out[v, t] = _from_float(y, images.dtype)
    return out


def shift_view(images: np.ndarray, view: int, dx: float, dy: float) -> np.ndarray:
    """Shift every frame of one view by a sub-pixel offset: a generator's spatial drift.

    The content moves by ``(dx, dy)`` pixels: what was at pixel ``(u, v)`` (column, row)
    is at ``(u + dx, v + dy)`` afterwards. The shift is exact for band-limited content
    (a phase ramp in the Fourier domain, along each axis); the frame is first padded by
    repeating its edges (so a constant floor stays constant and nothing wraps around), and
    the values are clipped to [0, 1] after (ringing at sharp edges, such as a closed
    gripper's B blob rim, is clipped). The other views are exact copies.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        view: index of the view to shift, in ``[0, V)``.
        dx: shift along columns (``u``) in pixels, in [-W, W]; positive moves right.
        dy: shift along rows (``v``) in pixels, in [-H, H]; positive moves down.
            ``dx = dy = 0`` gives an exact copy.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.
    """
    images = _check_images(images)
    V, T, H, W = images.shape[:4]
    view = _integer("view", view, 0, V - 1)
    dx = _real("dx", dx, -float(W), float(W))
    dy = _real("dy", dy, -float(H), float(H))
    out = _copy(images)
    if dx == 0.0 and dy == 0.0:
        return out
    x = _to_float(np.ascontiguousarray(images[view])).astype(np.float64)  # (T, H, W, 3)
    for axis, d in ((1, dy), (2, dx)):
        if d == 0.0:
            continue
        pad = 16 + int(math.ceil(abs(d)))
        widths = [(0, 0)] * 4
        widths[axis] = (pad, pad)
        xp = np.pad(x, widths, mode="edge")
        n = xp.shape[axis]
        k = np.fft.rfftfreq(n)
        shape = [1, 1, 1, 1]
        shape[axis] = k.size
        ramp = np.exp(-2j * np.pi * k * d).reshape(shape)
        xp = np.fft.irfft(np.fft.rfft(xp, axis=axis) * ramp, n=n, axis=axis)
        x = np.take(xp, np.arange(pad, pad + x.shape[axis]), axis=axis)
    out[view] = _from_float(x.astype(_work_dtype(images.dtype)), images.dtype)
    return out


def tone_curve(images: np.ndarray, brightness: float = 0.0, contrast: float = 1.0,
               gamma: float = 1.0) -> np.ndarray:
    """A global brightness / contrast / gamma curve on [0, 1], the same for every channel.

    ``out = clip(contrast * (x ** gamma - 0.5) + 0.5 + brightness, 0, 1)``: gamma first,
    then contrast about mid-grey, then a brightness offset. The defaults give an exact
    copy. Note how the blue floor moves: ``0.25 -> contrast * (0.25 ** gamma - 0.5) + 0.5
    + brightness``.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        brightness: offset in intensity units, in [-1, 1].
        contrast: slope about 0.5, ``>= 0`` (``< 1`` flattens, ``> 1`` steepens).
        gamma: exponent, ``> 0`` (``> 1`` darkens mid-tones, ``< 1`` brightens them).
        Middle strength: ``brightness=0.05, contrast=0.9, gamma=1.2``.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype (``uint8`` through a 256-entry
        look-up table).
    """
    images = _check_images(images)
    brightness = _real("brightness", brightness, -1.0, 1.0)
    contrast = _real("contrast", contrast, 0.0)
    gamma = _real("gamma", gamma, 0.0, lo_open=True)
    if brightness == 0.0 and contrast == 1.0 and gamma == 1.0:
        return _copy(images)

    def curve(x: np.ndarray) -> np.ndarray:
        y = np.power(x, x.dtype.type(gamma)) if gamma != 1.0 else x.copy()
        y -= 0.5
        y *= contrast
        y += 0.5 + brightness
        return y

    if images.dtype == np.uint8:
        lut = _from_float(curve(np.arange(256, dtype=np.float64) / 255.0), np.dtype(np.uint8))
        return lut[images]
    return _from_float(curve(_to_float(images)), images.dtype)


# ============================================================ blob corruptions
def _gaussian(H: int, W: int, u: float, v: float, s: float, dtype: type) -> np.ndarray:
    """``(H, W)`` ``exp(-((col - u)^2 + (row - v)^2) / (2 s^2))`` at integer pixel centres."""
    gx = np.exp(-((np.arange(W) - u) ** 2) / (2.0 * s * s))
    gy = np.exp(-((np.arange(H) - v) ** 2) / (2.0 * s * s))
    return np.multiply.outer(gy, gx).astype(dtype)


def _ghost_position(rng: np.random.Generator, H: int, W: int, centre: tuple[float, float],
                    min_dist: float) -> tuple[float, float]:
    """A uniform ``(u, v)`` in the image at least ``min_dist`` px from ``centre``."""
    cu, cv = centre
    for _ in range(16):
        cand = rng.uniform((0.0, 0.0), (W - 1.0, H - 1.0), size=(64, 2))
        ok = np.hypot(cand[:, 0] - cu, cand[:, 1] - cv) >= min_dist
        if ok.any():
            u, v = cand[int(np.argmax(ok))]
            return float(u), float(v)
    # the allowed region is a sliver: take the farthest corner (checked to be far enough)
    corners = [(0.0, 0.0), (W - 1.0, 0.0), (0.0, H - 1.0), (W - 1.0, H - 1.0)]
    return max(corners, key=lambda c: math.hypot(c[0] - cu, c[1] - cv))


def ghost_blob(images: np.ndarray, channel: Channel, relative_brightness: float = 1.0,
               views: Index = None, frames: Index = None, seed: Seed = 0, *,
               min_separation: float = 3.0, spec: ActionImageSpec | None = None,
               return_positions: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Add a spurious second blob to one channel: a video model hallucinating a point.

    The ghost is a Gaussian of the format's sigma ``s = spec.sigma_px(H, W)`` (``0.05 *
    min(H, W)`` px) centred at a uniformly random position ``(u, v)`` inside the image (a
    new position per view and frame), at least ``min_separation * s`` px from the true
    blob, which is taken to be at the channel's brightest pixel. Its peak is
    ``relative_brightness`` times the true peak (the channel's maximum in that image: 1
    for a clean image whose blob is inside it), and it is combined with the image by
    ``max`` (the images are max-like heatmaps; on an open gripper's blue floor the ghost
    only shows where it exceeds the floor, as the true U blob does). Values are clipped
    to [0, 1].

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        channel: ``'R'`` (P), ``'G'`` (N), ``'B'`` (U) or 0, 1, 2.
        relative_brightness: ghost peak / true peak, ``>= 0`` (``0``: exact copy). Middle
            strength: 1.0 (as bright as the true blob: the worst case for a decoder that
            takes the maximum).
        views: view index or indices that get a ghost in every selected frame; ``None``
            (default): one random view per frame.
        frames: frame index or indices to corrupt; ``None``: every frame.
        seed: ``int``, ``numpy.random.Generator`` or ``None``.
        min_separation: minimum distance from the true blob, in blob sigmas (``>= 0``;
            default 3). If random draws keep missing the allowed region, the image corner
            farthest from the true blob is used.
        spec: gives the blob sigma (default :class:`~actimg.ActionImageSpec`).
        return_positions: also return where the ghosts are.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype; with ``return_positions`` also
        ``positions (V, T, 2)`` float64 ``(u, v)`` = (column, row) pixel coordinates of
        each ghost centre, NaN where no ghost was added.

    Raises:
        ValueError: bad arguments, or a ``min_separation`` so large that no pixel of the
            image is far enough from the true blob.
    """
    images = _check_images(images)
    c = _channel(channel)
    rel = _real("relative_brightness", relative_brightness, 0.0)
    min_separation = _real("min_separation", min_separation, 0.0)
    spec = resolve_spec(spec)  # a spec, a name ("paper") or None; anything else is a TypeError
    V, T, H, W = images.shape[:4]
    view_sel = None if views is None else _indices("views", views, V)
    frame_sel = _indices("frames", frames, T)
    rng = _rng(seed)
    s = spec.sigma_px(H, W)
    out = _copy(images)
    positions = np.full((V, T, 2), np.nan)
    if rel == 0.0:
        return (out, positions) if return_positions else out
    for t in frame_sel:
        vs = view_sel if view_sel is not None else rng.integers(0, V, size=1)
        for v in vs:
            ch = images[v, t, :, :, c]
            row, col = np.unravel_index(int(np.argmax(ch)), ch.shape)
            far = max(math.hypot(cu - col, cv - row) for cu in (0, W - 1) for cv in (0, H - 1))
            if far < min_separation * s:
                raise ValueError(f"no pixel of the {H}x{W} image (view {v}, frame {t}) is "
                                 f"min_separation={min_separation:g} sigmas ({min_separation * s:.1f} px) "
                                 f"from the true blob at (u, v) = ({col}, {row})")
            u, vv = _ghost_position(rng, H, W, (float(col), float(row)), min_separation * s)
            positions[v, t] = (u, vv)
            peak = float(ch.max()) / (255.0 if images.dtype == np.uint8 else 1.0)
            g = np.minimum(rel * peak * _gaussian(H, W, u, vv, s, np.float64), 1.0)
            if images.dtype == np.uint8:
                ghost = np.rint(255.0 * g).astype(np.uint8)
            else:
                ghost = g.astype(images.dtype)
            np.maximum(out[v, t, :, :, c], ghost, out=out[v, t, :, :, c])
    return (out, positions) if return_positions else out


def drop_blob(images: np.ndarray, channel: Channel, views: Index, frames: Index = None) -> np.ndarray:
    """Remove one point's blob from some views: occlusion, or the model losing the point.

    The channel is replaced by its background level, a constant per image: the median of
    that channel in that view and frame. For a clean image that is 0 for R and G and, for
    B, the gripper floor (0.25 open, 0 closed); after other corruptions (a tone curve, a
    noisy floor) it is their background level.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        channel: ``'R'`` (P), ``'G'`` (N), ``'B'`` (U) or 0, 1, 2.
        views: view index or indices to remove the blob from (required).
        frames: frame index or indices; ``None``: every frame.

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype; the other channels, views and
        frames are exact copies.
    """
    images = _check_images(images)
    c = _channel(channel)
    V, T = images.shape[:2]
    if views is None:
        raise TypeError("views is required: the view index or indices to remove the blob from")
    view_sel = _indices("views", views, V)
    frame_sel = _indices("frames", frames, T)
    out = _copy(images)
    for v in view_sel:
        for t in frame_sel:
            bg = np.median(images[v, t, :, :, c])
            if images.dtype == np.uint8:
                bg = np.rint(bg)
            out[v, t, :, :, c] = bg
    return out


def noisy_floor(images: np.ndarray, sigma: float, seed: Seed = 0, *, correlation_px: float = 0.0,
                tolerance: float = 1.0 / 255.0) -> np.ndarray:
    """Make the blue background noisy instead of constant; blob cores stay untouched.

    Per image (view, frame) the floor level ``f`` is the median of B (0.25 for an open
    gripper, 0 for a closed one); noise of standard deviation ``sigma`` is added to B only
    where ``B <= f + tolerance`` (the background), then clipped to [0, 1]. Pixels inside
    the U blob (``B > f + tolerance``) and the R and G channels are exact copies. On a
    closed gripper's black background the clipping at 0 leaves positive speckle.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        sigma: noise standard deviation in intensity units, in [0, 1] (``0``: exact copy).
            Middle strength: 0.05 (a floor wandering between about 0.15 and 0.35).
        seed: ``int``, ``numpy.random.Generator`` or ``None``.
        correlation_px: ``0`` (default): white noise; ``> 0``: the noise is smoothed by a
            Gaussian of this sigma in pixels (blotchy, like a video model's floor) and
            rescaled so that its standard deviation is still ``sigma``.
        tolerance: how far above the floor a pixel still counts as background, intensity
            units in [0, 1] (default one 8-bit level).

    Returns:
        ``(V, T, H, W, 3)`` array of the input's dtype.
    """
    images = _check_images(images)
    sigma = _real("sigma", sigma, 0.0, 1.0)
    correlation_px = _real("correlation_px", correlation_px, 0.0)
    tolerance = _real("tolerance", tolerance, 0.0, 1.0)
    rng = _rng(seed)
    if sigma == 0.0:
        return _copy(images)
    V, T, H, W = images.shape[:4]
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    wdt = _work_dtype(images.dtype)
    out = _copy(images)
    if correlation_px > 0.0:
        ksize = 2 * math.ceil(4.0 * correlation_px) + 1
        k1 = cv2.getGaussianKernel(ksize, correlation_px, cv2.CV_64F)
        gain = 1.0 / float(np.sum(k1 ** 2))  # std of white noise filtered by k1 (x) k1: sum(k1^2)
    for v in range(V):
        for t in range(T):
            b = images[v, t, :, :, 2]
            floor = float(np.median(b)) / scale
            mask = b.astype(np.float64) / scale <= floor + tolerance + 1e-9
            noise = rng.standard_normal((H, W))
            if correlation_px > 0.0:
                noise = cv2.sepFilter2D(noise, cv2.CV_64F, k1, k1, borderType=cv2.BORDER_REFLECT_101) * gain
            x = b.astype(wdt) / wdt(scale) + (sigma * noise).astype(wdt)
            y = _from_float(x, images.dtype)
            out[v, t, :, :, 2] = np.where(mask, y, b)
    return out


# ============================================================== video codecs
#: Video codecs :func:`video_codec` knows, in order of preference.
VIDEO_CODECS = ("h264", "hevc", "vp9", "mpeg4")

_FPS = 10


@dataclass(frozen=True)
class _Codec:
    name: str
    pyav_encoder: str           # FFmpeg encoder name in PyAV
    pyav_format: str            # container (or the raw stream format, named like the codec)
    decoded_names: frozenset    # what PyAV's decoder calls such a stream
    fourcc: str                 # OpenCV VideoWriter fourcc
    ext: str                    # container for OpenCV (by file extension)
    fourccs_back: frozenset     # what cv2.VideoCapture reports for such a stream
    q_range: tuple[int, int]
    q_default: int
    q_name: str

    def pyav_options(self, q: int) -> dict[str, str]:
        if self.name == "h264":
            return {"crf": str(q), "preset": "medium"}
        if self.name == "hevc":
            # single-threaded x265: its frame threads made rare, unreproducible mux failures
            return {"crf": str(q), "preset": "medium", "x265-params": "log-level=error:pools=none:frame-threads=1"}
        if self.name == "vp9":
            return {"crf": str(q), "b": "0"}
        return {"qmin": str(q), "qmax": str(q), "b": "100M"}  # mpeg4: constant quantizer


_CODECS = {
    "h264": _Codec("h264", "libx264", "mp4", frozenset({"h264"}), "avc1", ".mp4",
                   frozenset({"avc1", "AVC1", "h264", "H264", "x264", "X264"}), (0, 51), 23, "CRF"),
    # HEVC through PyAV as a raw Annex B stream: the MP4 muxer's hvcC writer failed now
    # and then on libx265's headers (PatchWelcomeError, three tries in a row, in a full
    # CI run); a raw stream is not parsed on the way out
    "hevc": _Codec("hevc", "libx265", "hevc", frozenset({"hevc"}), "hev1", ".mp4",
                   frozenset({"hev1", "hvc1", "HEVC", "hevc"}), (0, 51), 28, "CRF"),
    "vp9": _Codec("vp9", "libvpx-vp9", "webm", frozenset({"vp9", "libvpx-vp9"}), "VP90", ".mkv",
                  frozenset({"VP90", "vp09", "VP09"}), (0, 63), 32, "CRF"),
    "mpeg4": _Codec("mpeg4", "mpeg4", "mp4", frozenset({"mpeg4"}), "mp4v", ".mp4",
                    frozenset({"FMP4", "mp4v", "MP4V", "XVID", "DIVX", "DX50"}), (1, 31), 5, "qscale"),
}


@dataclass(frozen=True)
class VideoCodecInfo:
    """What :func:`video_codec` actually ran.

    Attributes:
        codec: the codec, one of :data:`VIDEO_CODECS` (checked against what the decoder
            reported, never just what was asked for).
        backend: ``"pyav"`` or ``"opencv"``.
        decoded_as: the decoder's name for the stream (PyAV: FFmpeg decoder name such as
            ``"h264"``; OpenCV: the FOURCC it reports, such as ``"FMP4"`` for MPEG-4 Part 2).
        quantizer: the codec's quantizer/CRF used, or ``None`` for OpenCV's built-in rate
            control (OpenCV cannot set it).
        n_bytes: compressed size of all views together, bytes (container headers
            included: they dominate for tiny videos).
        bits_per_pixel: ``8 * n_bytes / (V * T * H * W)`` (24 for raw RGB).
    """

    codec: str
    backend: str
    decoded_as: str
    quantizer: int | None
    n_bytes: int
    bits_per_pixel: float


def _pyav() -> Any:
    try:
        import av  # type: ignore[import-not-found]
    except Exception:  # not installed, or a broken install
        return None
    return av


def _fourcc_str(code: float) -> str:
    c = int(code)
    return "".join(chr((c >> (8 * i)) & 0xFF) for i in range(4))


def _round_trip_pyav(frames: np.ndarray, cd: _Codec, q: int) -> tuple[np.ndarray, int, str]:
    av = _pyav()
    if av is None:
        raise RuntimeError("PyAV is not installed")
    T, H, W = frames.shape[:3]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=cd.pyav_format) as box:
        stream = box.add_stream(cd.pyav_encoder, rate=_FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = cd.pyav_options(q)
        for f in frames:
            box.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        box.mux(stream.encode(None))
    data = buf.getvalue()
    raw = cd.pyav_format == cd.name  # a raw elementary stream: name its format
    with av.open(io.BytesIO(data), mode="r", format=cd.pyav_format if raw else None) as box:
        vs = box.streams.video[0]
        name = str(vs.codec_context.name)
        out = [fr.to_ndarray(format="rgb24") for fr in box.decode(vs)]
    return (np.stack(out) if out else np.empty((0, H, W, 3), np.uint8)), len(data), name


def _round_trip_opencv(frames: np.ndarray, cd: _Codec) -> tuple[np.ndarray, int, str]:
    T, H, W = frames.shape[:3]
    with tempfile.TemporaryDirectory(prefix="actimg-codec-") as tmp:
        path = os.path.join(tmp, "view" + cd.ext)
        writer = cv2.VideoWriter(path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*cd.fourcc), float(_FPS), (W, H), True)
        try:
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV's FFmpeg VideoWriter cannot open a {cd.fourcc!r} {cd.ext} writer")
            for f in frames:
                writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        n_bytes = os.path.getsize(path) if os.path.exists(path) else 0
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        out = []
        try:
            if not cap.isOpened():
                raise RuntimeError(f"OpenCV's FFmpeg VideoCapture cannot read back the {cd.fourcc!r} video")
            name = _fourcc_str(cap.get(cv2.CAP_PROP_FOURCC))
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()
    return (np.stack(out) if out else np.empty((0, H, W, 3), np.uint8)), n_bytes, name


def _round_trip(frames: np.ndarray, cd: _Codec, backend: str, q: int | None) -> tuple[np.ndarray, int, str]:
    """One view's ``(T, H, W, 3)`` uint8 RGB frames (even H, W) through the codec, checked."""
    if backend == "pyav":
        # FFmpeg's encoders have rare transient failures (seen with libx265 about once
        # in ten full test runs, never alone): an FFmpeg error or a short read-back is
        # tried twice more, then the error (or the shape check below) stands
        for attempt in range(3):
            try:
                out, n, name = _round_trip_pyav(frames, cd, cd.q_default if q is None else q)
            except Exception as exc:  # noqa: BLE001 - FFmpeg errors come in many classes
                if type(exc).__module__.split(".")[0] != "av" or attempt == 2:
                    raise
                continue
            if out.shape == frames.shape:
                break
        ok_name = name in cd.decoded_names
    else:
        out, n, name = _round_trip_opencv(frames, cd)
        ok_name = name in cd.fourccs_back
    if not ok_name:
        raise RuntimeError(f"asked for {cd.name} via {backend}, but the decoder reports a {name!r} stream")
    if out.shape != frames.shape:
        raise RuntimeError(f"{cd.name} round trip via {backend} returned {out.shape[0]} frames of "
                           f"{out.shape[1:3]}, expected {frames.shape[0]} frames of {frames.shape[1:3]}")
    return out, n, name


@functools.lru_cache(maxsize=None)
def _works(codec: str, backend: str) -> bool:
    """Whether a tiny round trip of ``codec`` through ``backend`` works here (cached)."""
    if backend == "pyav" and _pyav() is None:
        return False
    rng = np.random.default_rng(0)
    small = cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (32, 32), interpolation=cv2.INTER_LINEAR)
    frames = np.stack([small, np.roll(small, 2, axis=1), np.roll(small, 4, axis=1)])
    old = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        _round_trip(frames, _CODECS[codec], backend, None)
    except Exception:
        return False
    finally:
        cv2.utils.logging.setLogLevel(old)
    return True


_BACKENDS = ("auto", "pyav", "opencv")


def _check_backend(backend: object) -> str:
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    return str(backend)


def available_video_codecs(backend: Literal["auto", "pyav", "opencv"] = "auto") -> tuple[str, ...]:
    """The codecs of :data:`VIDEO_CODECS` that :func:`video_codec` can run here.

    Each is checked once per process by a real round trip of a tiny video (the result is
    cached), not by asking the library what it was built with: OpenCV's wheels, for
    instance, list an H.264 encoder that only drives hardware that is not there (FFmpeg
    may print a line or two about it to stderr during the check).

    Args:
        backend: ``"pyav"`` (needs the optional ``av`` package), ``"opencv"`` (OpenCV's
            FFmpeg ``VideoWriter`` / ``VideoCapture``), or ``"auto"``: either.

    Returns:
        Codec names in :data:`VIDEO_CODECS` order; empty when none works.
    """
    backend = _check_backend(backend)
    backends = ("pyav", "opencv") if backend == "auto" else (backend,)
    return tuple(c for c in VIDEO_CODECS if any(_works(c, b) for b in backends))


def video_codec(images: np.ndarray, quantizer: int | None = None, codec: str = "h264", *,
                backend: Literal["auto", "pyav", "opencv"] = "auto") -> tuple[np.ndarray, VideoCodecInfo]:
    """Lossy video-codec round trip of every view (a sequence of ``T`` frames), 4:2:0 colour.

    Each view is encoded as one video at 10 fps in YUV 4:2:0 (odd sizes are padded by
    edge replication and cropped back) and decoded again. With PyAV (``pip install av``,
    optional) the video is encoded in memory and the quantizer is set; otherwise OpenCV's
    FFmpeg ``VideoWriter`` writes a temporary file with its built-in rate control (about 1
    bit per pixel at most; OpenCV offers no quality setting). The codec that ran is
    checked against what the decoder reports and returned: a codec that is not available
    raises, it is never replaced by another. Float images are quantised to 8 bits first
    and come back as ``uint8 / 255`` in their own dtype.

    Args:
        images: ``(V, T, H, W, 3)`` ``uint8`` or float in [0, 1].
        quantizer: the codec's own quality knob (lower = better), or ``None`` for a default:
            ``"h264"`` (libx264) and ``"hevc"`` (libx265): CRF in [0, 51], default 23 / 28;
            ``"vp9"`` (libvpx-vp9): CRF in [0, 63], default 32; ``"mpeg4"`` (MPEG-4 Part 2):
            constant qscale in [1, 31], default 5 (its rate control is not monotonic above
            about 15 on these smooth images). Needs PyAV. Even the best setting is not
            lossless: the 4:2:0 colour sub-sampling smears saturated colour edges (such as a
            closed gripper's B blob rim) by up to ~50 levels. Measured on the default
            scene (512x512, 41 frames, libx264): mean absolute error 0.45, 0.49, 0.59 and
            1.7 levels of 255 at CRF 0, 23, 35 and 51; smooth heatmaps compress well, so a
            codec alone is a mild corruption. Middle strength: H.264 CRF about 35.
        codec: one of :data:`VIDEO_CODECS`; see :func:`available_video_codecs`.
        backend: ``"pyav"``, ``"opencv"`` or ``"auto"`` (PyAV when it can run the codec,
            else OpenCV).

    Returns:
        ``(images_out, info)``: ``(V, T, H, W, 3)`` array of the input's dtype and a
        :class:`VideoCodecInfo` saying which codec, backend and quantizer ran.

    Raises:
        ValueError: bad arguments, or a ``quantizer`` when only OpenCV can run the codec.
        RuntimeError: the codec is not available with the backend(s), or the round trip
            failed (wrong frame count or size, or the decoder reports another codec).
    """
    images = _check_images(images)
    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {VIDEO_CODECS}, got {codec!r}")
    backend = _check_backend(backend)
    cd = _CODECS[codec]
    if quantizer is not None:
        lo, hi = cd.q_range
        quantizer = _integer(f"quantizer ({codec} {cd.q_name})", quantizer, lo, hi)
    if backend == "auto":
        use = "pyav" if _works(codec, "pyav") else "opencv" if _works(codec, "opencv") else None
    else:
        use = backend if _works(codec, backend) else None
    if use is None:
        where = "PyAV or OpenCV" if backend == "auto" else backend
        note = "" if _pyav() is not None else " (PyAV is not installed: pip install av)"
        raise RuntimeError(f"video codec {codec!r} is not available via {where} here{note}; "
                           f"available: {available_video_codecs(backend) or 'none'}")
    if use == "opencv" and quantizer is not None:
        raise ValueError(f"OpenCV's FFmpeg writer cannot set the {codec} quantizer; pass quantizer=None "
                         "(OpenCV's built-in rate control) or install PyAV (pip install av)")
    V, T, H, W = images.shape[:4]
    u8 = _to_u8(images)
    ph, pw = H % 2, W % 2
    if ph or pw:
        u8 = np.pad(u8, ((0, 0), (0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    out = np.empty(u8.shape, np.uint8)
    n_bytes, name = 0, ""
    for v in range(V):
        out[v], n, name = _round_trip(np.ascontiguousarray(u8[v]), cd, use, quantizer)
        n_bytes += n
    out = np.ascontiguousarray(out[:, :, :H, :W])
    info = VideoCodecInfo(codec=codec, backend=use, decoded_as=name,
                          quantizer=(cd.q_default if quantizer is None else quantizer) if use == "pyav" else None,
                          n_bytes=n_bytes, bits_per_pixel=8.0 * n_bytes / (V * T * H * W))
    return _from_u8(out, images.dtype), info
