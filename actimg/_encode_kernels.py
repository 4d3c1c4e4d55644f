"""Numba kernels that draw action images.

Exactness of the fast uint8 path (why it may skip ``exp`` per pixel)
--------------------------------------------------------------------
The published image is ``x32 = float32(exp(-((c-u)^2 + (r-v)^2) / (2 s^2)))`` and the
8-bit image ``round(255 * x32)`` (``255 * x32`` is exact in float64). We compute the
separable product ``g = exp(-(c-u)^2 / (2 s^2)) * exp(-(r-v)^2 / (2 s^2))`` from one
column table and one factor per row. For arguments ``a <= ln(1e8) < 19`` the product and
the dense value differ by less than 1e-14 relatively (a few float64 ulps of the arguments
and of each ``exp``), and ``float32`` rounding moves a value by at most ``2^-24``
relatively, so ``|255 g - 255 x32| <= 255 (2^-24 + 1e-14) < 1.53e-5``. Whenever
``255 g`` is farther than ``TIE_MARGIN = 2e-5`` from a rounding boundary ``k + 0.5``,
``round(255 g) == round(255 x32)``; the rare pixel closer than that (about 4e-5 of the
drawn pixels) is recomputed with the dense formula. Likewise a B pixel whose ``g`` is
within a relative 1e-7 of the gripper floor is recomputed exactly before the
``B <= floor`` test.

Truncation radius: a uint8 pixel is 0 iff ``x32 < 1/510``; outside
``d^2 > 2 s^2 ln(510 (1 + 1e-6))`` the dense value is below ``(1/510) / (1 + 1e-6)``, and
float32 rounding (relative ``2^-24 << 1e-6``) keeps it below ``1/510``, so those pixels
are exactly 0. The float32 image is truncated where the value is below ``1e-8`` (so it
differs from the dense one by < 1e-8 there, and by <= 1 float32 ulp elsewhere).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TIE_MARGIN = 2e-5
FLOOR_REL_MARGIN = 1e-7
U8_SUPPORT = math.log(510.0 * (1.0 + 1e-6))   # in units of 1 / (2 s^2)
F32_SUPPORT = math.log(1e8)


@njit(cache=True, nogil=True, inline="always")
def _dense(c: float, r: float, u: float, v: float, two_s2: float) -> float:
    # the published formula, evaluated exactly as written (float64 then float32)
    dx = c - u
    dy = r - v
    return float(np.float32(math.exp(-(dx * dx + dy * dy) / two_s2)))


@njit(cache=True, nogil=True, inline="always")
def _to_u8(g: float, c: float, r: float, u: float, v: float, two_s2: float) -> int:
    y = 255.0 * g
    f = y - math.floor(y)
    if abs(f - 0.5) < TIE_MARGIN:
        return int(math.floor(255.0 * _dense(c, r, u, v, two_s2) + 0.5))
    return int(math.floor(y + 0.5))


@njit(cache=True, nogil=True)
def _column_table(ex, lo, hi, uv, draw, W, s, support):
    """Per point p: columns [lo[p], hi[p]] where it can be drawn and exp factors there."""
    two_s2 = 2.0 * s * s
    half = math.sqrt(support * two_s2)
    for p in range(3):
        lo[p] = 0
        hi[p] = -1
        if not draw[p]:
            continue
        u = uv[p, 0]
        c0 = max(0.0, math.ceil(u - half))
        c1 = min(W - 1.0, math.floor(u + half))
        if c1 < c0:
            continue
        lo[p] = int(c0)
        hi[p] = int(c1)
        for c in range(lo[p], hi[p] + 1):
            dx = c - u
            ex[p, c] = math.exp(-(dx * dx) / two_s2)


@njit(cache=True, nogil=True)
def _blob_row_u8(row, p, ex255, lo, hi, ey, floor32, fl, closed_floor, tmp):
    """Write one row of channel ``p``; returns True if some pixel needs the dense path."""
    m = TIE_MARGIN
    near = 0
    n = hi + 1 - lo
    if p < 2:
        for i in range(n):
            y = ex255[lo + i] * ey + 0.5
            k = np.int32(y)
            f = y - k
            near |= (f < m) | (f > 1.0 - m)
            tmp[i] = k
    else:
        thr = 255.0 * floor32
        band = thr * FLOOR_REL_MARGIN
        for i in range(n):
            y0 = ex255[lo + i] * ey
            y = y0 + 0.5
            k = np.int32(y)
            f = y - k
            near |= (f < m) | (f > 1.0 - m)
            # closed gripper: the B <= floor test decides 0 vs blob, exact near the floor
            near |= closed_floor & (abs(y0 - thr) < band)
            tmp[i] = k if y0 > thr else fl
    for i in range(n):
        row[3 * (lo + i) + p] = tmp[i]
    return near


@njit(cache=True, nogil=True)
def _fix_row_u8(row, p, lo, hi, r, u, v, two_s2, floor32, fl):
    """Dense recomputation of one row segment (rare: only rows flagged near a boundary)."""
    for c in range(lo, hi + 1):
        x = _dense(float(c), float(r), u, v, two_s2)
        k = int(math.floor(255.0 * x + 0.5))
        if p < 2:
            row[3 * c + p] = k
        else:
            row[3 * c + 2] = k if x > floor32 else fl


@njit(cache=True, nogil=True)
def render_u8(out, uv, draw, opened, s, floor, start, stop):
    """Draw images ``start..stop`` of ``out (N, H, W*3) uint8``.

    uv ``(N, 3, 2)``: Gaussian centres of P, N, U in the pixel grid; draw ``(N, 3)``;
    opened ``(N,)``; ``s`` sigma in pixels; ``floor`` the gripper floor value.
    """
    N, H, W3 = out.shape
    W = W3 // 3
    two_s2 = 2.0 * s * s
    floor32 = float(np.float32(floor))
    floor_u8 = int(math.floor(255.0 * floor32 + 0.5))
    r2_rg = U8_SUPPORT * two_s2
    b_thr = max(floor32, 1.0 / 510.0)
    r2_b = math.log((1.0 + 1e-6) / b_thr) * two_s2 if b_thr < 1.0 else -1.0
    ex = np.empty((3, W))
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    tmpl_open = np.zeros(W3, np.uint8)
    tmpl_shut = np.zeros(W3, np.uint8)
    tmp = np.empty(W, np.int32)
    for c in range(W):
        tmpl_open[3 * c + 2] = floor_u8
    for n in range(start, stop):
        # the B window only covers pixels above the floor: the template holds the rest
        _column_table(ex, lo, hi, uv[n], draw[n], W, s, U8_SUPPORT)
        if r2_b >= 0.0 and draw[n, 2]:
            half = math.sqrt(r2_b)
            lo[2] = max(lo[2], int(max(0.0, math.ceil(uv[n, 2, 0] - half))))
            hi[2] = min(hi[2], int(min(W - 1.0, math.floor(uv[n, 2, 0] + half))))
        else:
            hi[2] = -1
        for p in range(3):
            for c in range(lo[p], hi[p] + 1):
                ex[p, c] *= 255.0
        op = opened[n]
        tmpl = tmpl_open if op else tmpl_shut
        fl = floor_u8 if op else 0
        img = out[n]
        for r in range(H):
            row = img[r]
            for i in range(W3):
                row[i] = tmpl[i]
            for p in range(3):
                if hi[p] < lo[p]:
                    continue
                u = uv[n, p, 0]
                v = uv[n, p, 1]
                dy = r - v
                d2 = dy * dy
                if d2 > (r2_b if p == 2 else r2_rg):
                    continue
                ey = math.exp(-d2 / two_s2)
                if _blob_row_u8(row, p, ex[p], lo[p], hi[p], ey, floor32, fl, not op, tmp):
                    _fix_row_u8(row, p, lo[p], hi[p], r, u, v, two_s2, floor32, fl)


@njit(cache=True, nogil=True)
def render_f32(out, uv, draw, opened, s, floor, start, stop):
    """Float32 twin of :func:`render_u8` writing values in [0, 1] into ``out (N, H, W*3)``."""
    N, H, W3 = out.shape
    W = W3 // 3
    two_s2 = 2.0 * s * s
    floor32 = np.float32(floor)
    r2 = F32_SUPPORT * two_s2
    ex = np.empty((3, W))
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for n in range(start, stop):
        _column_table(ex, lo, hi, uv[n], draw[n], W, s, F32_SUPPORT)
        fl = floor32 if opened[n] else np.float32(0.0)
        img = out[n]
        for r in range(H):
            row = img[r]
            for c in range(W):
                row[3 * c] = 0.0
                row[3 * c + 1] = 0.0
                row[3 * c + 2] = fl
            for p in range(3):
                if hi[p] < lo[p]:
                    continue
                u = uv[n, p, 0]
                v = uv[n, p, 1]
                dy = r - v
                d2 = dy * dy
                if d2 > r2:
                    continue
                ey = math.exp(-d2 / two_s2)
                for c in range(lo[p], hi[p] + 1):
                    g = ex[p, c] * ey
                    if p < 2:
                        row[3 * c + p] = g
                    elif g > floor32 * (1.0 + FLOOR_REL_MARGIN):
                        row[3 * c + 2] = g
                    elif g >= floor32 * (1.0 - FLOOR_REL_MARGIN):
                        x = np.float32(_dense(c, r, u, v, two_s2))
                        if x > floor32:
                            row[3 * c + 2] = x
