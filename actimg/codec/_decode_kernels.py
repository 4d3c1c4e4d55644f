"""Numba kernels of the decoder: blob scan, Gaussian fit, ray sampling, triangulation.

All kernels are serial ``nogil`` functions; ``_parallel.run_chunks`` spreads images or
frames over threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..geometry._kernels import _project, _project_jac, _solve3, triangulate_many, triangulate_point  # noqa: F401
from ..geometry._rotation_kernels import euler_of_matrix
from ._llvm import _address, _prefetch

# candidate blobs kept per image and channel
MAX_CANDIDATES = 4
# (kernels call kernels with np.int64(2) / np.bool_(True) rather than 2 / True: numba
# compiles a callee once per distinct *literal* argument value, and once for variables)
# a blob fit that leaves more intensity rms than this (3 quantisation steps) is from an
# image that is not clean: refine_noisy refits it
NOISY_RMS = 3.0 * (0.5 / 255.0)
#: the predicted position std (metres) and rotation std (degrees) at which the pose part
#: of the confidence is 0.5 on its own: a confident frame (>= 0.5) has a combined predicted
#: std within these, a quarter of the 2 mm / 2 degree promise (a margin for what the fit's
#: residuals cannot show, e.g. a video codec's lag, which moves every view consistently)
CONF_STD_M = 0.5e-3
CONF_STD_DEG = 0.5


# --------------------------------------------------------------------------- scan
@njit(cache=True, nogil=True)
def block_means(img, bh, bw, hstep, rstep, scale, bm, acc):
    """Mean of each ``bh x bw`` block per channel: ``img (H, W, 3)`` -> ``bm (Hb, Wb, 3)`` in [0, 1].

    Every ``rstep``-th row of a block is read whole (blobs are several blocks wide, so
    a few rows per block find them; reading a row whole keeps the reads sequential for
    the prefetcher) into ``acc``, a ``(W * 3,)`` scratch row (uint16 for uint8 images)
    that the compiler vectorises; each block row is then reduced to its blocks once,
    from every ``hstep``-th column.
    """
    H, W, _ = img.shape
    Hb, Wb, _ = bm.shape
    W3 = W * 3
    # the columns read in a full block (the last block may be narrower): offsets and
    # counts hoisted out of the block loop (integer division is slow)
    first = (bw - 1) % hstep // 2
    nc_full = (bw - 1 - first) // hstep + 1
    for rb in range(Hb):
        r0 = rb * bh
        r1 = min(H, r0 + bh)
        acc[:] = 0
        nr = 0
        for r in range(r0 + min(rstep, r1 - r0) // 2, r1, rstep):
            row = img[r].reshape(W3)
            for i in range(W3):
                acc[i] += row[i]
            nr += 1
        f_full = scale / (nr * nc_full)
        for cb in range(Wb):
            c0 = cb * bw
            c1 = c0 + bw
            i0 = 3 * (c0 + first)
            nc = nc_full
            f = f_full
            if c1 > W:
                cs = c0 + (W - c0 - 1) % hstep // 2
                i0 = 3 * cs
                nc = (W - 1 - cs) // hstep + 1
                f = scale / (nr * nc)
            # integer sums for uint8 images (short dependency chains); float otherwise
            s0 = 0
            s1 = 0
            s2 = 0
            for j in range(nc):
                i = i0 + j * 3 * hstep
                s0 += acc[i]
                s1 += acc[i + 1]
                s2 += acc[i + 2]
            bm[rb, cb, 0] = s0 * f
            bm[rb, cb, 1] = s1 * f
            bm[rb, cb, 2] = s2 * f


@njit(cache=True, nogil=True)
def find_candidates(bm, ch, base, min_height, nms_r, nms_c, out_pos, out_val):
    """Local maxima of block map channel ``ch`` above ``base + min_height``.

    Keeps the ``MAX_CANDIDATES`` highest (``out_val`` descending, -1 = none); ``nms_r``,
    ``nms_c`` are the suppression radii in blocks. Positions are block indices (row, col).
    """
    Hb, Wb, _ = bm.shape
    K = out_val.shape[0]
    for k in range(K):
        out_val[k] = -1.0
    for r in range(Hb):
        for c in range(Wb):
            x = bm[r, c, ch]
            if x < base + min_height or x <= out_val[K - 1]:
                continue
            if not _local_max(bm, ch, r, c, x):
                continue
            # suppress weaker candidates nearby, or skip this one
            skip = False
            for k in range(K):
                if out_val[k] >= 0 and abs(out_pos[k, 0] - r) <= nms_r and abs(out_pos[k, 1] - c) <= nms_c:
                    if out_val[k] >= x:
                        skip = True
                    else:
                        out_val[k] = -1.0
            if skip:
                continue
            # compact the list (suppression may have left holes), then insert x
            # sorted (descending, after equal values)
            for i in range(K):
                for j in range(K - 1 - i):
                    if out_val[j] < out_val[j + 1]:
                        _swap_candidates(out_val, out_pos, j, j + 1)
            k = K - 1
            if x > out_val[k]:
                out_val[k] = x
                out_pos[k, 0] = r
                out_pos[k, 1] = c
                while k > 0 and out_val[k] > out_val[k - 1]:
                    _swap_candidates(out_val, out_pos, k, k - 1)
                    k -= 1


@njit(cache=True, nogil=True)
def _background(bm, ch, tmp):
    """Median block mean of channel ``ch`` over a regular subset of at most ~400 blocks
    (blobs cover a small part of the image, so the median block is background)."""
    Hb, Wb, _ = bm.shape
    k = max(1, (Hb * Wb) // 200)
    m = 0
    for i in range(0, Hb * Wb, k):
        tmp[m] = bm[i // Wb, i % Wb, ch]
        m += 1
    return np.median(tmp[:m])


@njit(cache=True, nogil=True)
def _block_peak(bm, ch, r, c, bh, bw, out):
    """Pixel position ``out (2,)`` (u, v) of the peak of the block map near block
    ``(r, c)`` of channel ``ch``: a parabola through the block and its two neighbours
    along each axis (the block centre where that is not a maximum), within a block."""
    Hb, Wb, _ = bm.shape
    du = 0.0
    dv = 0.0
    x = bm[r, c, ch]
    if 0 < c < Wb - 1:
        a = bm[r, c - 1, ch]
        b = bm[r, c + 1, ch]
        den = a - 2.0 * x + b
        if den < 0.0:
            du = min(0.5, max(-0.5, 0.5 * (a - b) / den))
    if 0 < r < Hb - 1:
        a = bm[r - 1, c, ch]
        b = bm[r + 1, c, ch]
        den = a - 2.0 * x + b
        if den < 0.0:
            dv = min(0.5, max(-0.5, 0.5 * (a - b) / den))
    out[0] = (c + 0.5 + du) * bw - 0.5
    out[1] = (r + 0.5 + dv) * bh - 0.5


@njit(cache=True, nogil=True, inline="always")
def _square_window(H, W, u, v, radius):
    """Rows ``[r0, r1]`` and columns ``[c0, c1]`` of the image grid within ``radius`` of
    ``(u, v)`` along each axis (empty when ``r1 < r0`` or ``c1 < c0``)."""
    r0 = max(0, int(math.ceil(v - radius)))
    r1 = min(H - 1, int(math.floor(v + radius)))
    c0 = max(0, int(math.ceil(u - radius)))
    c1 = min(W - 1, int(math.floor(u + radius)))
    return r0, r1, c0, c1


@njit(cache=True, nogil=True)
def _prefetch_window(img, u, v, radius, step):
    """Prefetch every cache line of the rows that are multiples of ``step`` in the
    square window of ``radius`` around ``(u, v)`` (the rows :func:`fit_gaussian` reads
    for a centre within that window), without waiting for them."""
    H, W, _ = img.shape
    r0, r1, c0, c1 = _square_window(H, W, u, v, radius)
    if c1 < c0:
        return
    base = _address(img)
    for r in range(r0 + (-r0) % step, r1 + 1, step):
        a0 = base + (r * W + c0) * 3
        a1 = base + (r * W + c1) * 3 + 2
        for a in range(a0 - a0 % 64, a1 + 1, 64):
            _prefetch(a)


@njit(cache=True, nogil=True, inline="always")
def _local_max(bm, ch, r, c, x):
    """Whether block (r, c) is a maximum of its 3x3 neighbourhood in channel ``ch``; ties
    are broken by position so that a plateau gives one maximum."""
    Hb, Wb, _ = bm.shape
    for rr in range(max(0, r - 1), min(Hb, r + 2)):
        for cc in range(max(0, c - 1), min(Wb, c + 2)):
            y = bm[rr, cc, ch]
            if y > x or (y == x and (rr < r or (rr == r and cc < c))):
                return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _swap_candidates(val, pos, i, j):
    t = val[i]
    val[i] = val[j]
    val[j] = t
    for a in range(2):
        t0 = pos[i, a]
        pos[i, a] = pos[j, a]
        pos[j, a] = t0


# ---------------------------------------------------------------------------- fit
@njit(cache=True, nogil=True, inline="always")
def _disc_span(dr, u0, rad2, c0, c1, step):
    """Columns ``[ca, cb]`` of a row ``dr`` away from the centre that lie in the disc of
    squared radius ``rad2`` around column ``u0``, clipped to ``[c0, c1]`` and on the grid
    ``c0 + k * step`` (empty when ``ca > cb``)."""
    q = rad2 - dr * dr
    if q < 0:
        return 1, 0
    h = math.sqrt(q)
    ca = max(c0, int(math.ceil(u0 - h)))
    cb = min(c1, int(math.floor(u0 + h)))
    ca = c0 + ((ca - c0 + step - 1) // step) * step
    return ca, cb


@njit(cache=True, nogil=True)
def byte_band(lo, hi, scale):
    """Bytes ``k`` with ``lo < k * scale < hi``, as the open range ``(lo_raw, hi_raw)``,
    with the same float arithmetic as the test on ``x = k * scale``."""
    lo_raw = max(-1, min(255, int(math.floor(lo / scale))))
    while lo_raw < 255 and (lo_raw + 1) * scale <= lo:
        lo_raw += 1
    while lo_raw >= 0 and lo_raw * scale > lo:
        lo_raw -= 1
    hi_raw = max(0, min(256, int(math.ceil(hi / scale))))
    while hi_raw > 0 and (hi_raw - 1) * scale >= hi:
        hi_raw -= 1
    while hi_raw < 256 and hi_raw * scale < hi:
        hi_raw += 1
    return lo_raw, hi_raw


@njit(cache=True, nogil=True)
def fit_tables(lo_raw, hi_raw, tabs):
    """Per-byte terms of :func:`fit_gaussian` for uint8 images: ``tabs (3, 256)`` gets
    ``x^2``, ``x^2 ln x`` and ``x^2 (ln x)^2`` (``x = k / 255``) for ``lo_raw < k <
    hi_raw`` and 0 elsewhere (a pixel outside the band adds nothing: no branch; see
    :func:`byte_band` for the band)."""
    for k in range(256):
        if lo_raw < k < hi_raw:
            x = k / 255.0
            lx = math.log(x)
            w = x * x
            tabs[0, k] = w
            tabs[1, k] = w * lx
            tabs[2, k] = w * lx * lx
        else:
            tabs[0, k] = 0.0
            tabs[1, k] = 0.0
            tabs[2, k] = 0.0


@njit(cache=True, nogil=True)
def fit_gaussian(img, ch, scale, s, u0, v0, radius, lo, hi, step, tabs, residual):
    """Sub-pixel centre of a known-sigma Gaussian blob near ``(u0, v0)``.

    Weighted least squares of ``ln x = a - ((c-u)^2 + (r-v)^2) / (2 s^2)`` over the
    pixels (every ``step``-th row and column) within ``radius`` whose value ``x`` (in
    [0, 1]) lies in ``(lo, hi)``: the saturated core, the gripper floor and the faint tail
    are left out, and pixels cut off by the border are simply absent, so neither biases
    the centre. Weights ``x^2`` match the variance of ``ln x`` under constant pixel noise.
    For uint8 images (``scale < 1``) ``tabs`` holds the per-byte terms of that band
    (:func:`fit_tables`; ``lo``, ``hi`` are then unused); for float images it is unused.
    Returns ``(u, v, amplitude, rms, n_used, vif)`` (``rms`` of the intensity residual,
    to first order, NaN unless ``residual``; ``vif`` >= 1 the variance inflation of the
    worse centre coordinate from its correlation with the amplitude and the other
    coordinate: about 1 for a whole blob, large for one the border cuts to a one-sided
    tail, whose centre trades against its height); ``n_used < 4`` means no fit.
    """
    H, W, _ = img.shape
    k2 = 1.0 / (2.0 * s * s)
    r0, r1, c0, c1 = _square_window(H, W, u0, v0, radius)
    u8 = scale < 1.0
    # normal equations for unknowns (a, du/s^2, dv/s^2) in centred coordinates, with
    # z = ln x + q, q = (dc^2 + dr^2) / (2 s^2): per row, sums over the columns of
    # w dc^k (k <= 4), w ln x dc^k (k <= 2) and w (ln x)^2, then combined with dr
    S00 = S01 = S02 = S11 = S12 = S22 = 0.0
    B0 = B1 = B2 = Szz = 0.0
    n = 0
    rad2 = radius * radius
    # rows on the image's grid of multiples of step (what _prefetch_window fetched,
    # wherever the centre moved)
    for r in range(r0 + (-r0) % step, r1 + 1, step):
        dr = r - v0
        ca, cb = _disc_span(dr, u0, rad2, c0, c1, step)
        row = img[r]
        a0 = a1 = a2 = a3 = a4 = 0.0
        b0 = b1 = b2 = e0 = 0.0
        m = 0
        for c in range(ca, cb + 1, step):
            if u8:
                k = int(row[c, ch])  # (int: the branch is also typed for float images)
                w = tabs[0, k]
                wl = tabs[1, k]
                wll = tabs[2, k]
            else:
                x = row[c, ch] * scale
                inside = lo < x < hi
                w = x * x if inside else 0.0
                wl = w * math.log(x) if inside else 0.0
                wll = wl * math.log(x) if inside else 0.0
            m += w > 0.0
            dc = c - u0
            wdc = w * dc
            wdc2 = wdc * dc
            a0 += w
            a1 += wdc
            a2 += wdc2
            a3 += wdc2 * dc
            a4 += wdc2 * dc * dc
            b0 += wl
            b1 += wl * dc
            b2 += wl * dc * dc
            e0 += wll
        D = dr * dr
        S00 += a0
        S01 += a1
        S02 += dr * a0
        S11 += a2
        S12 += dr * a1
        S22 += D * a0
        # sum w z = sum w ln x + sum w q, and so on
        z0 = b0 + (a2 + D * a0) * k2
        B0 += z0
        B1 += b1 + (a3 + D * a1) * k2
        B2 += dr * z0
        Szz += e0 + 2.0 * (b2 + D * b0) * k2 + (a4 + 2.0 * D * a2 + D * D * a0) * k2 * k2
        n += m
    if n < 4:
        return u0, v0, 0.0, np.inf, n, np.inf
    # solve the symmetric 3x3 system by Cramer's rule
    det = (S00 * (S11 * S22 - S12 * S12) - S01 * (S01 * S22 - S12 * S02) + S02 * (S01 * S12 - S11 * S02))
    if not (abs(det) > 1e-300):
        return u0, v0, 0.0, np.inf, 0, np.inf
    a = (B0 * (S11 * S22 - S12 * S12) - S01 * (B1 * S22 - S12 * B2) + S02 * (B1 * S12 - S11 * B2)) / det
    p1 = (S00 * (B1 * S22 - S12 * B2) - B0 * (S01 * S22 - S12 * S02) + S02 * (S01 * B2 - B1 * S02)) / det
    p2 = (S00 * (S11 * B2 - B1 * S12) - S01 * (S01 * B2 - B1 * S02) + B0 * (S01 * S12 - S11 * S02)) / det
    du = p1 * s * s
    dv = p2 * s * s
    amp = math.exp(a + (du * du + dv * dv) * k2)
    u = u0 + du
    v = v0 + dv
    if not (np.isfinite(u) and np.isfinite(v) and np.isfinite(amp)):
        return u0, v0, 0.0, np.inf, 0, np.inf
    # the centre's variance (the inverse normal matrix's diagonal: the same whatever the
    # origin) against that of a blob whose pixels lie around it (the second moments
    # about the fitted centre, not about the start u0)
    m_uu = S11 - 2.0 * du * S01 + du * du * S00
    m_vv = S22 - 2.0 * dv * S02 + dv * dv * S00
    vif = max((S00 * S22 - S02 * S02) / det * m_uu, (S00 * S11 - S01 * S01) / det * m_vv, 1.0)
    if not residual:
        return u, v, amp, np.nan, n, vif
    # residual from the normal equations (sum w z^2 - p.B at the solution): the weighted
    # log residual x^2 (ln x - ln m)^2 is (x - m)^2 to first order, the intensity residual
    sse = Szz - (a * B0 + p1 * B1 + p2 * B2)
    return u, v, amp, math.sqrt(max(sse, 0.0) / n), n, vif


@njit(cache=True, nogil=True)
def _gauss_moments(img, ch, scale, r0, r1, c0, c1, step, u, v, amp, b, rad2, hi, floor, ex, ey,
                   nb, nsrc, leak, exs, eys, Hm, g):
    """Normal equations of the blob refit over the fitted pixels, unscaled.

    Columns: ``(G dc, G dr, G, G d^2)``, then ``1`` if ``nb == 5`` (a free background),
    then one per leakage source (its Gaussian). Writes the lower triangle of
    ``sum j j^T`` into ``Hm`` and ``sum j e`` into ``g``; returns ``(n, sse)``. The four
    Gaussian columns use scalar accumulators (the hot loop stays in registers).
    """
    h00 = h10 = h11 = h20 = h21 = h22 = h30 = h31 = h32 = h33 = 0.0
    h40 = h41 = h42 = h43 = h44 = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    sse = 0.0
    n = 0
    jl = np.empty(2)
    for r in range(r0, r1 + 1, step):
        dr = r - v
        row = img[r]
        eyr = ey[r]
        for c in range(c0, c1 + 1, step):
            dc = c - u
            d2 = dc * dc + dr * dr
            if d2 > rad2:
                continue
            x = row[c, ch] * scale
            if x >= hi:
                continue
            G = ex[c] * eyr
            m = amp * G + b
            for q in range(nsrc):
                jl[q] = exs[q, c] * eys[q, r]
                m += leak[q] * jl[q]
            if floor >= 0.0 and m < floor + 0.02:
                continue
            e = x - m
            j0 = G * dc
            j1 = G * dr
            j3 = G * d2
            h00 += j0 * j0
            h10 += j1 * j0
            h11 += j1 * j1
            h20 += G * j0
            h21 += G * j1
            h22 += G * G
            h30 += j3 * j0
            h31 += j3 * j1
            h32 += j3 * G
            h33 += j3 * j3
            h40 += j0
            h41 += j1
            h42 += G
            h43 += j3
            h44 += 1.0
            g0 += j0 * e
            g1 += j1 * e
            g2 += G * e
            g3 += j3 * e
            g4 += e
            for q in range(nsrc):
                k = nb + q
                jq = jl[q]
                Hm[k, 0] += jq * j0
                Hm[k, 1] += jq * j1
                Hm[k, 2] += jq * G
                Hm[k, 3] += jq * j3
                if nb == 5:
                    Hm[k, 4] += jq
                for q2 in range(q + 1):
                    Hm[k, nb + q2] += jq * jl[q2]
                g[k] += jq * e
            sse += e * e
            n += 1
    Hm[0, 0] = h00
    Hm[1, 0] = h10
    Hm[1, 1] = h11
    Hm[2, 0] = h20
    Hm[2, 1] = h21
    Hm[2, 2] = h22
    Hm[3, 0] = h30
    Hm[3, 1] = h31
    Hm[3, 2] = h32
    Hm[3, 3] = h33
    g[0] = g0
    g[1] = g1
    g[2] = g2
    g[3] = g3
    if nb == 5:
        Hm[4, 0] = h40
        Hm[4, 1] = h41
        Hm[4, 2] = h42
        Hm[4, 3] = h43
        Hm[4, 4] = h44
        g[4] = g4
    return n, sse


@njit(cache=True, nogil=True)
def refine_gaussian(img, ch, scale, s, u, v, amp, radius, hi, floor, iters, fine, ex, ey, src, nsrc, exs, eys,
                    out):
    """Linear-domain Gauss-Newton fit of ``A exp(-d^2 / (2 sigma^2)) + b`` near ``(u, v)``.

    The log-domain fit is exact for clean images; under additive noise, blur or a
    shifted background the intensities themselves are the right residuals. Unknowns:
    centre ``(u, v)``, amplitude ``A``, width ``sigma`` (blur widens a blob; bounded to
    [0.6 s, 2 s]) and, for R/G, a background ``b``. For B (``floor >= 0``) the
    background is the gripper floor, not additive: only pixels where the current model
    is above ``floor + 0.02`` are used, with ``b = 0``. Saturated pixels (``>= hi``) are
    left out.

    Channel cross-talk: ``src (nsrc, 2)`` are the centres of the other channels' blobs
    nearby; each adds a Gaussian of the same width at that fixed centre with a free
    amplitude (the leakage), so a neighbouring blob bleeding into this channel does not
    pull its centre. ``exs``/``eys`` are ``(2, W)``/``(2, H)`` scratch tables.

    Writes ``out = (u, v, A, sigma, b, var_u, var_v, rms, leak_z)`` (``leak_z``: the
    largest leakage amplitude over its standard error, 0 without sources); returns False
    if the fit failed (``out`` then holds the start). The first steps and the variance use every
    other pixel in each direction (a good start needs no more); the last step uses every
    pixel if ``fine``.
    """
    H, W, _ = img.shape
    b = 0.0
    sg = s
    nb = 4 if floor >= 0.0 else 5
    npar = nb + nsrc
    Hm = np.empty((npar, npar))
    g = np.empty(npar)
    dx = np.empty(npar)
    leak = np.zeros(2)
    out[0] = u
    out[1] = v
    out[2] = amp
    out[3] = s
    out[4] = 0.0
    out[5] = np.inf
    out[6] = np.inf
    out[7] = np.inf
    out[8] = 0.0
    rad2 = radius * radius
    sse = 0.0
    n = 0
    step = 2
    for it in range(iters + 1):
        step = 1 if fine and it == iters - 1 else 2
        r0, r1, c0, c1 = _square_window(H, W, u, v, radius)
        if r1 < r0 or c1 < c0:
            return False
        inv = 1.0 / (2.0 * sg * sg)
        for c in range(c0, c1 + 1):
            ex[c] = math.exp(-((c - u) ** 2) * inv)
            for q in range(nsrc):
                exs[q, c] = math.exp(-((c - src[q, 0]) ** 2) * inv)
        for r in range(r0, r1 + 1):
            ey[r] = math.exp(-((r - v) ** 2) * inv)
            for q in range(nsrc):
                eys[q, r] = math.exp(-((r - src[q, 1]) ** 2) * inv)
        Hm[:] = 0.0
        g[:] = 0.0
        sse = 0.0
        n = 0
        n, sse = _gauss_moments(img, ch, scale, r0, r1, c0, c1, step, u, v, amp, b, rad2, hi, floor, ex, ey,
                                nb, nsrc, leak, exs, eys, Hm, g)
        # scale the Gaussian columns to the Jacobian: d/du = A G dc / sigma^2, ...,
        # d/dsigma = A G d^2 / sigma^3 (background and leakage columns are unscaled)
        ka = amp / (sg * sg)
        for a in range(npar):
            da = ka if a < 2 else (ka / sg if a == 3 else 1.0)
            g[a] *= da
            for bb in range(a + 1):
                db = ka if bb < 2 else (ka / sg if bb == 3 else 1.0)
                Hm[a, bb] *= da * db
        if n < 2 * npar:
            return False
        for a in range(npar):
            for bb in range(a + 1, npar):
                Hm[a, bb] = Hm[bb, a]
        if it == iters:
            break
        for a in range(npar):
            Hm[a, a] *= 1.0 + 1e-9
        if not _chol_solve(Hm, g, dx):
            return False
        u += dx[0]
        v += dx[1]
        amp += dx[2]
        sg = min(2.0 * s, max(0.6 * s, sg + dx[3]))
        if nb == 5:
            b += dx[4]
        for q in range(nsrc):
            leak[q] += dx[nb + q]
        if not (np.isfinite(u) and np.isfinite(v) and amp > 0.0):
            return False
    var = sse / max(1, n - npar)
    # variances of u, v: diagonal of H^-1 times the residual variance
    e1 = np.zeros(npar)
    col = np.empty(npar)
    e1[0] = 1.0
    if not _chol_solve(Hm, e1, col):
        return False
    vu = col[0] * var
    e1[0] = 0.0
    e1[1] = 1.0
    if not _chol_solve(Hm, e1, col):
        return False
    vv = col[1] * var
    lz = 0.0
    for q in range(nsrc):
        e1[:] = 0.0
        e1[nb + q] = 1.0
        if _chol_solve(Hm, e1, col) and col[nb + q] > 0:
            lz = max(lz, abs(leak[q]) / math.sqrt(col[nb + q] * var))
    out[8] = lz
    out[0] = u
    out[1] = v
    out[2] = amp
    out[3] = sg
    out[4] = b
    # the last pass samples every other pixel: each sample stands for step^2 pixels
    out[5] = vu / (step * step)
    out[6] = vv / (step * step)
    out[7] = math.sqrt(var)
    return True


# ------------------------------------------------------------------ geometry utils
@njit(cache=True, nogil=True)
def _scan_image(img, scale, s, bh, bw, rstep, fit_step, bm, acc, bg_tmp, bgs, pos, val, init):
    """First stage of :func:`detect_many` for one image: block means, the background
    of each channel into ``bgs (3,)``, blob candidates (``pos``, ``val``: see
    :func:`find_candidates`) with their block-map peak ``init (3, K, 2)``, and a
    prefetch of every fit window."""
    K = val.shape[1]
    block_means(img, bh, bw, max(1, bw // 3), rstep, scale, bm, acc)
    # backgrounds: a blob covers a small part of the image, so the median block is
    # background: 0 for R and G, the gripper floor (open) or 0 (closed) for B, all
    # shifted alike by a brightness change
    for ch in range(3):
        bgs[ch] = _background(bm, ch, bg_tmp)
    radius = 1.8 * s
    for ch in range(3):
        find_candidates(bm, ch, bgs[ch], 0.15, max(1, int(round(1.5 * s / bh))),
                        max(1, int(round(1.5 * s / bw))), pos[ch], val[ch])
        for k in range(K):
            if val[ch, k] >= 0:
                _block_peak(bm, ch, pos[ch, k, 0], pos[ch, k, 1], bh, bw, init[ch, k])
                # (plus half a sigma: the fit recentres the window)
                _prefetch_window(img, init[ch, k, 0], init[ch, k, 1], radius + 0.5 * s, fit_step)


@njit(cache=True, nogil=True)
def detect_many(images, scale, s, bh, bw, rstep, acc_dtype, fit_step, hi, cand_uv, cand_w, cand_amp, cand_rms, bgs,
                start, stop):
    """Blob candidates of every channel of images ``start..stop``.

    images ``(N, H, W, 3)``; writes cand_uv ``(N, 3, K, 2)`` (fitted centres, NaN =
    none), cand_w ``(N, 3, K)`` (inverse variance of the centre, px^-2; 0 = none),
    cand_amp ``(N, 3, K)`` fitted peak heights, bgs ``(N, 3)`` the background level of
    each channel (median block mean; for B the gripper floor), cand_rms ``(N, 3, K)``
    the intensity rms left by each fit (0 = none). Candidates with ``cand_rms >
    NOISY_RMS`` (not a clean image) are refitted by :func:`refine_noisy`, a separate
    kernel that is compiled and run only when some image needs it.
    """
    N, H, W, _ = images.shape
    K = cand_w.shape[2]
    Hb = (H + bh - 1) // bh
    Wb = (W + bw - 1) // bw
    bm = np.empty((Hb, Wb, 3))
    bg_tmp = np.empty(Hb * Wb)
    acc = np.zeros(W * 3, acc_dtype)
    # per-byte fit terms of each channel, rebuilt when its band changes (the
    # background is the same in most images)
    tabs = np.empty((3, 3, 256))
    tab_lo = np.full(3, -2)
    pos = np.zeros((2, 3, K, 2), np.int64)  # two slots: images n and n + 1
    val = np.empty((2, 3, K))
    init = np.empty((2, 3, K, 2))
    radius = 1.8 * s
    q = 0.5 / 255.0  # one quantisation step, a lower bound on per-pixel noise
    # a pipeline one image deep: image n + 1 is scanned (and its fit windows
    # prefetched) before image n is fitted, so the fits read rows that arrived while
    # the next scan ran
    if start < stop:
        _scan_image(images[start], scale, s, bh, bw, rstep, fit_step, bm, acc, bg_tmp, bgs[start], pos[start & 1],
                    val[start & 1], init[start & 1])
    for n in range(start, stop):
        if n + 1 < stop:
            m = (n + 1) & 1
            _scan_image(images[n + 1], scale, s, bh, bw, rstep, fit_step, bm, acc, bg_tmp, bgs[n + 1], pos[m],
                        val[m], init[m])
        img = images[n]
        val_n = val[n & 1]
        init_n = init[n & 1]
        for ch in range(3):
            lo = bgs[n, ch] + (2.5 * scale if scale < 1.0 else 0.01)
            for k in range(K):
                cand_uv[n, ch, k, 0] = np.nan
                cand_uv[n, ch, k, 1] = np.nan
                cand_w[n, ch, k] = 0.0
                cand_amp[n, ch, k] = 0.0
                cand_rms[n, ch, k] = 0.0
                if val_n[ch, k] < 0:
                    continue
                u0 = init_n[ch, k, 0]
                v0 = init_n[ch, k, 1]
                if scale < 1.0:
                    lo_raw, hi_raw = byte_band(lo, hi, scale)
                    if lo_raw != tab_lo[ch]:
                        fit_tables(lo_raw, hi_raw, tabs[ch])
                        tab_lo[ch] = lo_raw
                # a coarse fit (every other row and column of the fine grid) from the
                # block map's peak, then the fit from there: the window is then centred
                # on the blob, which matters for blobs that are not exact Gaussians
                # (blur, resampling, a tone curve)
                u, v, amp, rms, used, vif = fit_gaussian(img, ch, scale, s, u0, v0, radius, lo, hi, 2 * fit_step,
                                                         tabs[ch], np.bool_(False))
                if used >= 4 and amp > 0.05 and abs(u - u0) <= radius and abs(v - v0) <= radius:
                    # (a centre outside the image keeps the window at the border: centred
                    # outside, it would hold only a corner of the tail)
                    u0 = min(max(u, 0.0), W - 1.0)
                    v0 = min(max(v, 0.0), H - 1.0)
                u, v, amp, rms, used, vif = fit_gaussian(img, ch, scale, s, u0, v0, radius, lo, hi, fit_step,
                                                         tabs[ch], np.bool_(True))
                if used < 4 or not (amp > 0.05) or not (np.isfinite(u) and np.isfinite(v)):
                    continue
                if abs(u - u0) > radius or abs(v - v0) > radius:
                    continue
                # a blob cut to a one-sided tail by the border: its centre is as uncertain
                # as the fit's covariance says, not as a whole blob's would be
                sig = s * max(rms, q) / (amp * math.sqrt(used * fit_step * fit_step)) * math.sqrt(vif)
                cand_uv[n, ch, k, 0] = u
                cand_uv[n, ch, k, 1] = v
                cand_w[n, ch, k] = 1.0 / (sig * sig)
                cand_amp[n, ch, k] = amp
                cand_rms[n, ch, k] = rms


@njit(cache=True, nogil=True)
def refine_noisy(images, scale, s, hi, leak, cand_uv, cand_w, cand_amp, cand_rms, bgs, flags, start, stop):
    """Second stage of :func:`detect_many` for images ``start..stop`` that are not clean.

    Each candidate whose fit left an intensity rms above ``NOISY_RMS`` (noise, blur,
    compression) is refitted on the intensities (:func:`refine_gaussian`); then, in those
    images, the colour cross-talk test and refits (only with ``leak``; the decoder turns
    them off once it has estimated the views' colour mixing, :mod:`._unmix`). Arrays as
    :func:`detect_many`'s, updated in place; clean images are skipped. flags ``(N,)``
    uint8: bit 0 set where an image is not clean, bit 1 where the leakage refits ran. A
    kernel of its own so that decoding clean images never compiles it.
    """
    N, H, W, _ = images.shape
    K = cand_w.shape[2]
    ex = np.empty(W)
    ey = np.empty(H)
    gout = np.empty(9)
    upd = np.empty((3, K, 4))
    src = np.zeros((2, 2))
    exs = np.empty((2, W))
    eys = np.empty((2, H))
    for n in range(start, stop):
        img = images[n]
        fl = bgs[n, 2]
        noisy = False
        for ch in range(3):
            for k in range(K):
                if not (cand_rms[n, ch, k] > NOISY_RMS):
                    continue
                # not a clean image (noise, blur, compression): refit the intensities
                noisy = True
                u = cand_uv[n, ch, k, 0]
                v = cand_uv[n, ch, k, 1]
                amp = cand_amp[n, ch, k]
                if refine_gaussian(img, ch, scale, s, u, v, amp, 1.7 * s, hi, fl if ch == 2 else -1.0,
                                   np.int64(2), np.bool_(True), ex, ey, src, np.int64(0), exs, eys, gout):
                    if abs(gout[0] - u) < s and abs(gout[1] - v) < s:
                        sig = math.sqrt(max(0.5 * (gout[5] + gout[6]), 1e-12))
                        cand_uv[n, ch, k, 0] = gout[0]
                        cand_uv[n, ch, k, 1] = gout[1]
                        cand_w[n, ch, k] = 1.0 / (sig * sig)
                        cand_amp[n, ch, k] = gout[2]
        flags[n] = 1 if noisy else 0
        if not noisy or not leak:
            continue
        # then: blobs of the other channels may leak into each channel (colour
        # cross-talk). A cheap test first: refit each channel's main blob, on every
        # other pixel, with the other channels' nearby centres as extra terms; colour
        # cross-talk mixes every channel, so it counts only if the leakage is
        # significant (z > 6) in at least two channels (one channel alone is a misfit:
        # blur, compression), and plain noise does not pay for the extra unknowns. Then
        # two rounds of full refits of every candidate (the other centres improve too).
        n_leaky = 0
        for ch in range(3):
            if ch == 2 and n_leaky != 1:
                break  # two channels already decide it
            if cand_w[n, ch, 0] > 0.0:
                ns = _leak_sources(cand_uv[n], cand_w[n], ch, cand_uv[n, ch, 0, 0], cand_uv[n, ch, 0, 1], s, src)
                # one Gauss-Newton step from the fit without leakage: a score test
                if ns and refine_gaussian(img, ch, scale, s, cand_uv[n, ch, 0, 0], cand_uv[n, ch, 0, 1],
                                          cand_amp[n, ch, 0], 1.7 * s, hi, bgs[n, 2] if ch == 2 else -1.0,
                                          np.int64(1), np.bool_(False), ex, ey, src, ns, exs, eys, gout):
                    n_leaky += gout[8] > 6.0
        if n_leaky < 2:
            continue
        flags[n] |= 2
        for rnd in range(2):
            for ch in range(3):
                for k in range(K):
                    upd[ch, k, 3] = 0.0
                    if not (cand_w[n, ch, k] > 0.0):
                        continue
                    u = cand_uv[n, ch, k, 0]
                    v = cand_uv[n, ch, k, 1]
                    ns = _leak_sources(cand_uv[n], cand_w[n], ch, u, v, s, src)
                    if ns == 0:
                        continue
                    if refine_gaussian(img, ch, scale, s, u, v, cand_amp[n, ch, k], 1.7 * s, hi,
                                       bgs[n, 2] if ch == 2 else -1.0, np.int64(2), np.bool_(True), ex, ey, src, ns,
                                       exs, eys, gout):
                        if abs(gout[0] - u) < s and abs(gout[1] - v) < s:
                            upd[ch, k, 0] = gout[0]
                            upd[ch, k, 1] = gout[1]
                            upd[ch, k, 2] = 1.0 / max(0.5 * (gout[5] + gout[6]), 1e-12)
                            upd[ch, k, 3] = 1.0
            for ch in range(3):
                for k in range(K):
                    if upd[ch, k, 3] > 0.0:
                        cand_uv[n, ch, k, 0] = upd[ch, k, 0]
                        cand_uv[n, ch, k, 1] = upd[ch, k, 1]
                        cand_w[n, ch, k] = upd[ch, k, 2]


@njit(cache=True, nogil=True)
def _leak_sources(cuv, cw, ch, u, v, s, src):
    """Centres of the other channels' main blobs within 4 sigma of ``(u, v)`` into
    ``src``; returns how many. cuv ``(3, K, 2)``, cw ``(3, K)``."""
    ns = 0
    for oc in range(3):
        if oc == ch or not (cw[oc, 0] > 0.0):
            continue
        du = cuv[oc, 0, 0] - u
        dv = cuv[oc, 0, 1] - v
        if du * du + dv * dv < (4.0 * s) ** 2:
            src[ns, 0] = cuv[oc, 0, 0]
            src[ns, 1] = cuv[oc, 0, 1]
            ns += 1
    return ns


# ---------------------------------------------------------------- ray sampling
@njit(cache=True, nogil=True, inline="always")
def _bilinear(img, ch, scale, base, u, v):
    H, W, _ = img.shape
    if not (u >= 0.0 and v >= 0.0 and u <= W - 1.0 and v <= H - 1.0):
        return 0.0
    c0 = min(int(u), W - 2) if W > 1 else 0
    r0 = min(int(v), H - 2) if H > 1 else 0
    fu = u - c0
    fv = v - r0
    c1 = min(c0 + 1, W - 1)
    r1 = min(r0 + 1, H - 1)
    x = ((1 - fu) * (1 - fv) * img[r0, c0, ch] + fu * (1 - fv) * img[r0, c1, ch]
         + (1 - fu) * fv * img[r1, c0, ch] + fu * fv * img[r1, c1, ch]) * scale
    return max(0.0, (x - base) / max(1e-6, 1.0 - base))


@njit(cache=True, nogil=True, inline="always")
def _ray_interval(K, W2C, o, d, H, W, margin, lo, hi):
    """Range of ``lam`` for which ``o + lam d`` is in front of a camera and projects
    within the image grown by ``margin`` px. Returns (lo, hi); empty if lo > hi."""
    a = np.empty(3)
    g = np.empty(3)
    for i in range(3):
        a[i] = W2C[i, 0] * o[0] + W2C[i, 1] * o[1] + W2C[i, 2] * o[2] + W2C[i, 3]
        g[i] = W2C[i, 0] * d[0] + W2C[i, 1] * d[1] + W2C[i, 2] * d[2]
    # each condition is alpha + beta * lam >= 0
    fx, sk, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    umin, umax = -margin, W - 1.0 + margin
    vmin, vmax = -margin, H - 1.0 + margin
    for q in range(5):
        if q == 0:   # z > small
            al, be = a[2] - 1e-4, g[2]
        elif q == 1:  # u >= umin: fx x + sk y + (cx - umin) z >= 0
            al, be = fx * a[0] + sk * a[1] + (cx - umin) * a[2], fx * g[0] + sk * g[1] + (cx - umin) * g[2]
        elif q == 2:  # u <= umax
            al, be = -(fx * a[0] + sk * a[1] + (cx - umax) * a[2]), -(fx * g[0] + sk * g[1] + (cx - umax) * g[2])
        elif q == 3:
            al, be = fy * a[1] + (cy - vmin) * a[2], fy * g[1] + (cy - vmin) * g[2]
        else:
            al, be = -(fy * a[1] + (cy - vmax) * a[2]), -(fy * g[1] + (cy - vmax) * g[2])
        if be > 0:
            lo = max(lo, -al / be)
        elif be < 0:
            hi = min(hi, -al / be)
        elif al < 0:
            return 1.0, 0.0
    return lo, hi


@njit(cache=True, nogil=True, inline="always")
def _unique_consistent(cand_uv, cand_w, Ks, W2Cs, C2Ws, tol, sel_uv, sel_w):
    """The common case that needs no search: two or more views have exactly one
    candidate each, none has more, and those triangulate to a point in front of every
    such view that reprojects within ``tol`` px of each. Then every view selects its
    candidate (what ray sampling would select too) and this returns True; otherwise
    it writes nothing and returns False."""
    V, Kc, _ = cand_uv.shape
    uv = np.empty((V, 2))
    w = np.zeros(V)
    n = 0
    for i in range(V):
        if cand_w[i, 0] > 0.0:
            if Kc > 1 and cand_w[i, 1] > 0.0:
                return False
            uv[i, 0] = cand_uv[i, 0, 0]
            uv[i, 1] = cand_uv[i, 0, 1]
            w[i] = cand_w[i, 0]
            n += 1
        else:
            uv[i, 0] = np.nan
            uv[i, 1] = np.nan
    if n < 2:
        return False
    X = np.empty(3)
    err = np.empty(V)
    if triangulate_point(uv, w, Ks, W2Cs, C2Ws, X, err, np.int64(3)) < 2:
        return False
    for i in range(V):
        if w[i] > 0.0 and not (err[i] < tol):  # inf: behind a camera
            return False
    for i in range(V):
        sel_uv[i, 0] = uv[i, 0]
        sel_uv[i, 1] = uv[i, 1]
        sel_w[i] = w[i]
    return True


# what _quick_select found: no candidate in any view; a unique consistent candidate per
# view (selected); one view only with candidates (its strongest selected); none of
# these (the ray search decides)
SELECT_NONE = 0
SELECT_UNIQUE = 1
SELECT_LONE = 2
SELECT_SEARCH = 3


@njit(cache=True, nogil=True, inline="always")
def _quick_select(cand_uv, cand_w, Ks, W2Cs, C2Ws, s, sel_uv, sel_w):
    """The selection of one frame and point that needs no ray search, if there is one.

    Clears sel_uv ``(V, 2)`` (NaN) and sel_w ``(V,)`` (0), then returns SELECT_NONE
    when no view has a candidate, SELECT_LONE when one view only has candidates (its
    strongest selected), SELECT_UNIQUE when ``_unique_consistent`` selected each view's
    single candidate, else SELECT_SEARCH (``ray_select`` decides)."""
    V = cand_uv.shape[0]
    for i in range(V):
        sel_uv[i, 0] = np.nan
        sel_uv[i, 1] = np.nan
        sel_w[i] = 0.0
    n_with = 0
    lone = 0
    for i in range(V):
        if cand_w[i, 0] > 0.0:
            n_with += 1
            lone = i
    if n_with == 0:
        return SELECT_NONE
    if n_with == 1:
        # no other view to check against: a lone view keeps its strongest candidate
        # (the pose may still follow from this view alone, P3P), as the search would
        sel_uv[lone, 0] = cand_uv[lone, 0, 0]
        sel_uv[lone, 1] = cand_uv[lone, 0, 1]
        sel_w[lone] = cand_w[lone, 0]
        return SELECT_LONE
    if _unique_consistent(cand_uv, cand_w, Ks, W2Cs, C2Ws, 0.25 * s, sel_uv, sel_w):
        return SELECT_UNIQUE
    return SELECT_SEARCH


@njit(cache=True, nogil=True)
def ray_select(images, t, ch, scale, bases, cand_uv, cand_w, Ks, W2Cs, C2Ws, s, sel_uv, sel_w):
    """Pick, for one frame and one point, the detection of each view that is consistent
    across views, by sampling depths along rays.

    For each candidate of each view, candidate depths along its ray are
    sampled over the range where the ray is seen by the other views (frustum overlap,
    image grown by 3 sigma), each scored by the other views' heatmaps (sum of log
    intensities; where a fitted blob predicts more than the pixels show, e.g. a blob
    centred just outside the image, its model counts), the best refined by a parabola; the 3D point so found selects in
    every view the candidate nearest to its projection (within 1.5 sigma).

    images ``(V, T, H, W, 3)``; bases ``(V,)`` background of the channel per view;
    cand_uv ``(V, K, 2)``, cand_w ``(V, K)``; cameras ``(V, ...)`` of this frame.
    Writes sel_uv ``(V, 2)`` (NaN = unseen) and sel_w ``(V,)``. Returns the score.
    """
    V = cand_uv.shape[0]
    Kc = cand_uv.shape[1]
    H = images.shape[2]
    W = images.shape[3]
    quick = _quick_select(cand_uv, cand_w, Ks, W2Cs, C2Ws, s, sel_uv, sel_w)
    if quick == SELECT_NONE or quick == SELECT_LONE:
        return -np.inf
    if quick == SELECT_UNIQUE:
        return 0.0
    best_w = 0.0
    for i in range(V):
        best_w = max(best_w, cand_w[i, 0])
    o = np.empty(3)
    d = np.empty(3)
    X = np.empty(3)
    best_score = -np.inf
    best_X = np.full(3, np.nan)
    best_k = -1
    best_ref = -1
    eps = 1e-3
    margin = 3.0 * s
    inv2s2 = 1.0 / (2.0 * s * s)
    # every view takes its turn as the reference: a view whose only candidate is a
    # ghost (or whose true blob is missing) cannot mislead the others
    for ref in range(V):
        if not (cand_w[ref, 0] > 0.0):
            continue
        for k in range(Kc):
            if not (cand_w[ref, k] > 0.0):
                continue
            K = Ks[ref]
            yv = (cand_uv[ref, k, 1] - K[1, 2]) / K[1, 1]
            xv = (cand_uv[ref, k, 0] - K[0, 2] - K[0, 1] * yv) / K[0, 0]
            for j in range(3):
                o[j] = C2Ws[ref, j, 3]
                d[j] = C2Ws[ref, j, 0] * xv + C2Ws[ref, j, 1] * yv + C2Ws[ref, j, 2]
            lo, hi = 1e-3, 1e6
            ulo, uhi = np.inf, -np.inf
            n_other = 0
            for i in range(V):
                if i == ref or not (cand_w[i, 0] > 0.0):
                    continue
                a, bb = _ray_interval(Ks[i], W2Cs[i], o, d, H, W, margin, 1e-3, 1e6)
                if a <= bb:
                    n_other += 1
                    lo = max(lo, a)
                    hi = min(hi, bb)
                    ulo = min(ulo, a)
                    uhi = max(uhi, bb)
            if n_other == 0:
                continue
            if lo > hi:  # the views' frusta do not overlap on this ray: search their union
                lo, hi = ulo, uhi
            # sample uniformly along the epipolar segment of the other view where it is
            # longest (so consecutive samples move < sigma/3 there): a point at fraction f
            # of that segment is at fraction g = f z0 / (f z0 + (1 - f) z1) of the 3D segment
            span = -1.0
            za = 1.0
            zb = 1.0
            for i in range(V):
                if i == ref or not (cand_w[i, 0] > 0.0):
                    continue
                for j in range(3):
                    X[j] = o[j] + lo * d[j]
                u0, v0, z0 = _project(Ks[i], W2Cs[i], X)
                for j in range(3):
                    X[j] = o[j] + hi * d[j]
                u1, v1, z1 = _project(Ks[i], W2Cs[i], X)
                if z0 > 0 and z1 > 0:
                    sp = math.sqrt((u1 - u0) ** 2 + (v1 - v0) ** 2)
                    if sp > span:
                        span, za, zb = sp, z0, z1
            if span < 0:
                span, za, zb = 4.0 * max(H, W), 1.0, 1.0
            D = int(min(4096, max(16, 3.0 * span / s)))
            qbest = -1
            sbest = -np.inf
            scores = np.empty(D)
            for q in range(D):
                f = q / (D - 1)
                lam = lo + (hi - lo) * (f * za / (f * za + (1.0 - f) * zb))
                for j in range(3):
                    X[j] = o[j] + lam * d[j]
                sc = 0.0
                for i in range(V):
                    if i == ref or not (cand_w[i, 0] > 0.0):
                        continue
                    pu, pv, z = _project(Ks[i], W2Cs[i], X)
                    h = 0.0
                    if z > 0:
                        # the heatmap, and its model from the fitted blobs: the model also
                        # covers blobs whose centre lies outside the image
                        h = _bilinear(images[i, t], ch, scale, bases[i], pu, pv)
                        for kk in range(Kc):
                            if cand_w[i, kk] > 0.0:
                                d2 = (cand_uv[i, kk, 0] - pu) ** 2 + (cand_uv[i, kk, 1] - pv) ** 2
                                h = max(h, math.exp(-d2 * inv2s2))
                    sc += math.log(eps + h)
                scores[q] = sc
                if sc > sbest:
                    sbest = sc
                    qbest = q
            f = qbest / (D - 1)
            if 0 < qbest < D - 1:
                y0, y1, y2 = scores[qbest - 1], scores[qbest], scores[qbest + 1]
                den = y0 - 2 * y1 + y2
                if den < 0:
                    f += 0.5 * (y0 - y2) / den / (D - 1)
            lam = lo + (hi - lo) * (f * za / (f * za + (1.0 - f) * zb))
            # the candidate's own fit strength breaks ties between equally consistent ones
            total = sbest + 1e-3 * math.log(cand_w[ref, k] / best_w)
            if total > best_score:
                best_score = total
                best_k = k
                best_ref = ref
                for j in range(3):
                    best_X[j] = o[j] + lam * d[j]
    if best_k < 0:
        # no ray seen by another view (a lone view with candidates: _quick_select)
        return -np.inf
    gate2 = (1.5 * s) ** 2
    for i in range(V):
        if i == best_ref:
            sel_uv[i, 0] = cand_uv[best_ref, best_k, 0]
            sel_uv[i, 1] = cand_uv[best_ref, best_k, 1]
            sel_w[i] = cand_w[best_ref, best_k]
            continue
        pu, pv, z = _project(Ks[i], W2Cs[i], best_X)
        if not (z > 0):
            continue
        bestd = gate2
        for k in range(Kc):
            if not (cand_w[i, k] > 0.0):
                continue
            dd = (cand_uv[i, k, 0] - pu) ** 2 + (cand_uv[i, k, 1] - pv) ** 2
            if dd < bestd:
                bestd = dd
                sel_uv[i, 0] = cand_uv[i, k, 0]
                sel_uv[i, 1] = cand_uv[i, k, 1]
                sel_w[i] = cand_w[i, k]
    return best_score


# ------------------------------------------------------------------ pose refine
@njit(cache=True, nogil=True, inline="always")
def _rodrigues(w, R):
    th = math.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    if th < 1e-12:
        a, bq = 1.0, 0.5
    else:
        a = math.sin(th) / th
        bq = (1.0 - math.cos(th)) / (th * th)
    # R = I + a [w]x + bq [w]x^2, with [w]x^2 = w w^T - |w|^2 I
    for i in range(3):
        for j in range(3):
            R[i, j] = bq * w[i] * w[j]
        R[i, i] += 1.0 - bq * th * th
    R[0, 1] -= a * w[2]
    R[1, 0] += a * w[2]
    R[0, 2] += a * w[1]
    R[2, 0] -= a * w[1]
    R[1, 2] -= a * w[0]
    R[2, 1] += a * w[0]


@njit(cache=True, nogil=True)
def _chol_factor(A, L, rtol):
    """Cholesky factor ``L`` (lower, into ``L``) of a symmetric positive definite ``A``;
    False when a pivot is not above ``rtol`` times ``A``'s trace (``rtol = 0``: not
    positive)."""
    n = A.shape[0]
    floor = 0.0
    if rtol > 0.0:
        for i in range(n):
            floor += A[i, i]
        floor *= rtol
    for i in range(n):
        for j in range(i + 1):
            s_ = A[i, j]
            for k in range(j):
                s_ -= L[i, k] * L[j, k]
            if i == j:
                if not (s_ > floor):
                    return False
                L[i, i] = math.sqrt(s_)
            else:
                L[i, j] = s_ / L[j, j]
    return True


@njit(cache=True, nogil=True)
def _chol_subst(L, b, x):
    """Solve ``L L^T x = b`` for ``x`` by forward and back substitution."""
    n = L.shape[0]
    y = np.empty(n)
    for i in range(n):
        s_ = b[i]
        for k in range(i):
            s_ -= L[i, k] * y[k]
        y[i] = s_ / L[i, i]
    for i in range(n - 1, -1, -1):
        s_ = y[i]
        for k in range(i + 1, n):
            s_ -= L[k, i] * x[k]
        x[i] = s_ / L[i, i]


@njit(cache=True, nogil=True)
def _chol_solve(A, b, x):
    n = A.shape[0]
    L = np.zeros((n, n))
    if not _chol_factor(A, L, 0.0):
        return False
    _chol_subst(L, b, x)
    return True


@njit(cache=True, nogil=True)
def _pose_cost(uv, w, model, Ks, W2Cs, R, t):
    """Weighted sum of squared reprojection errors (px^2 x weight) of the triad pose."""
    V, P, _ = uv.shape
    X = np.empty(3)
    c = 0.0
    for i in range(V):
        for p in range(P):
            if not (w[i, p] > 0.0) or not np.isfinite(uv[i, p, 0]):
                continue
            for j in range(3):
                X[j] = R[j, 0] * model[p, 0] + R[j, 1] * model[p, 1] + R[j, 2] * model[p, 2] + t[j]
            pu, pv, z = _project(Ks[i], W2Cs[i], X)
            if not (z > 0):
                return np.inf
            c += w[i, p] * ((uv[i, p, 0] - pu) ** 2 + (uv[i, p, 1] - pv) ** 2)
    return c


@njit(cache=True, nogil=True)
def _pose_normal_equations(uv, w, model, Ks, W2Cs, R, t, Hm, g):
    """Gauss-Newton normal equations of the pose (rotation: left multiplicative update,
    dX/domega = -[R m]_x; translation: dX/dt = I). Returns the number of observations."""
    V, P, _ = uv.shape
    J = np.empty((2, 3))
    Jf = np.empty((2, 6))
    X = np.empty(3)
    RM = np.empty(3)
    Hm[:] = 0.0
    g[:] = 0.0
    n = 0
    for i in range(V):
        for p in range(P):
            if not (w[i, p] > 0.0) or not np.isfinite(uv[i, p, 0]):
                continue
            for j in range(3):
                RM[j] = R[j, 0] * model[p, 0] + R[j, 1] * model[p, 1] + R[j, 2] * model[p, 2]
                X[j] = RM[j] + t[j]
            pu, pv, z = _project_jac(Ks[i], W2Cs[i], X, J)
            eu = uv[i, p, 0] - pu
            ev = uv[i, p, 1] - pv
            for r in range(2):
                Jf[r, 0] = J[r, 1] * RM[2] - J[r, 2] * RM[1]
                Jf[r, 1] = J[r, 2] * RM[0] - J[r, 0] * RM[2]
                Jf[r, 2] = J[r, 0] * RM[1] - J[r, 1] * RM[0]
                Jf[r, 3] = J[r, 0]
                Jf[r, 4] = J[r, 1]
                Jf[r, 5] = J[r, 2]
            ww = w[i, p]
            for a in range(6):
                g[a] += ww * (Jf[0, a] * eu + Jf[1, a] * ev)
                for bb in range(6):
                    Hm[a, bb] += ww * (Jf[0, a] * Jf[0, bb] + Jf[1, a] * Jf[1, bb])
            n += 1
    return n


@njit(cache=True, nogil=True)
def refine_pose(uv, w, model, Ks, W2Cs, R, t, iters, stats):
    """Rigid triad pose minimising the weighted reprojection error of its points.

    uv ``(V, P, 2)`` detections (NaN = unseen), w ``(V, P)`` inverse variances (px^-2),
    model ``(P, 3)`` tool-frame points (metres), cameras ``(V, ...)``. ``R (3, 3)``,
    ``t (3,)`` hold the start and receive the result (``X_p = R @ model_p + t``).
    Levenberg-Marquardt on rotation (left multiplicative update) and translation.

    Writes ``stats (4,)``: weighted RMS reprojection error (px), standard deviation of
    the position ``t`` (metres) and of the rotation (radians) from the covariance
    ``(J^T W J)^-1`` scaled by ``max(1, chi^2 / dof)`` (so an inconsistent frame is less
    certain than its fits alone say), and ``chi^2 / dof`` (NaN without redundancy).
    """
    Hm = np.empty((6, 6))
    g = np.empty(6)
    dx = np.empty(6)
    dR = np.empty((3, 3))
    A = np.empty((6, 6))
    Rn = np.empty((3, 3))
    tn = np.empty(3)
    lam = 1e-6
    c_cur = _pose_cost(uv, w, model, Ks, W2Cs, R, t)
    for it in range(iters):
        _pose_normal_equations(uv, w, model, Ks, W2Cs, R, t, Hm, g)
        improved = False
        converged = False
        for _try in range(8):
            # (element loops, not A[:, :] = Hm: an array-to-slice copy compiles numba's
            # shape-mismatch error message, string formatting and all, for seconds)
            for a in range(6):
                for bb in range(6):
                    A[a, bb] = Hm[a, bb]
                A[a, a] += lam * (Hm[a, a] + 1e-12)
            if not _chol_solve(A, g, dx):
                lam *= 10.0
                continue
            _rodrigues(dx[:3], dR)
            # Rn = dR @ R and tn = t + dx[3:], in loops (a BLAS call costs more at 3x3)
            for i in range(3):
                tn[i] = t[i] + dx[3 + i]
                for j in range(3):
                    Rn[i, j] = dR[i, 0] * R[0, j] + dR[i, 1] * R[1, j] + dR[i, 2] * R[2, j]
            c_new = _pose_cost(uv, w, model, Ks, W2Cs, Rn, tn)
            if c_new <= c_cur:
                for i in range(3):
                    t[i] = tn[i]
                    for j in range(3):
                        R[i, j] = Rn[i, j]
                step = dx[0] ** 2 + dx[1] ** 2 + dx[2] ** 2 + dx[3] ** 2 + dx[4] ** 2 + dx[5] ** 2
                converged = c_cur - c_new <= 1e-12 * (c_cur + 1e-30) or step < 1e-26
                c_cur = c_new
                lam = max(lam * 0.1, 1e-9)
                improved = True
                break
            lam *= 10.0
        if not improved or converged:
            break
    n = _pose_normal_equations(uv, w, model, Ks, W2Cs, R, t, Hm, g)
    sw = 0.0
    V, P, _ = uv.shape
    for i in range(V):
        for p in range(P):
            if w[i, p] > 0.0 and np.isfinite(uv[i, p, 0]):
                sw += w[i, p]
    stats[0] = math.sqrt(c_cur / sw) if sw > 0 else np.nan
    dof = 2 * n - 6
    chi2 = c_cur / dof if dof > 0 else np.nan
    stats[3] = chi2
    infl = max(1.0, chi2) if dof > 0 else 1.0
    # covariance diagonal via solves against unit vectors
    e = np.zeros(6)
    col = np.empty(6)
    vp = 0.0
    vr = 0.0
    ok = True
    for a in range(6):
        e[:] = 0.0
        e[a] = 1.0
        if not _chol_solve(Hm, e, col):
            ok = False
            break
        if a < 3:
            vr += col[a]
        else:
            vp += col[a]
    if ok:
        stats[1] = math.sqrt(max(vp, 0.0) * infl)
        stats[2] = math.sqrt(max(vr, 0.0) * infl)
    else:
        stats[1] = np.inf
        stats[2] = np.inf
    return stats[0]


@njit(cache=True, nogil=True, inline="always")
def triangulate_robust(uv, w, Ks, W2Cs, C2Ws, X, err, iters, thr, others):
    """``triangulate_point`` with leave-one-out rejection: while 3+ views see the point
    and the worst reprojection error exceeds ``thr`` px and 4x the median of the others,
    that view's detection is dropped (its weight in ``w`` set to 0) and the point is
    triangulated again. A ghost blob or wrong peak in one view cannot pull the point.
    ``others`` is a ``(V,)`` scratch array; returns the number of views used."""
    V = uv.shape[0]
    while True:
        nv = triangulate_point(uv, w, Ks, W2Cs, C2Ws, X, err, iters)
        if nv < 3:
            return nv
        worst = -1
        ew = -1.0
        for i in range(V):
            if w[i] > 0.0 and err[i] > ew:
                ew = err[i]
                worst = i
        n_o = 0
        for i in range(V):
            if i != worst and w[i] > 0.0:
                others[n_o] = err[i]
                n_o += 1
        med = np.median(others[:n_o])
        if not (ew > thr and ew > 4.0 * med):
            return nv
        w[worst] = 0.0


@njit(cache=True, nogil=True, inline="always")
def _mul_t(A, B, out):
    """``out = A @ B.T`` for 3x3 matrices."""
    for i in range(3):
        for j in range(3):
            out[i, j] = A[i, 0] * B[j, 0] + A[i, 1] * B[j, 1] + A[i, 2] * B[j, 2]


@njit(cache=True, nogil=True, inline="always")
def kabsch(model, pts, R, t):
    """Rigid ``(R, t)`` mapping ``model (P, 3)`` onto ``pts (P, 3)`` (least squares, no
    reflection: for a planar triad the weakest axis is flipped instead)."""
    P = model.shape[0]
    mc = np.zeros(3)
    pc = np.zeros(3)
    for p in range(P):
        for j in range(3):
            mc[j] += model[p, j] / P
            pc[j] += pts[p, j] / P
    Hm = np.zeros((3, 3))
    for p in range(P):
        for i in range(3):
            for j in range(3):
                Hm[i, j] += (model[p, i] - mc[i]) * (pts[p, j] - pc[j])
    U, _, Vt = np.linalg.svd(Hm)
    Vm = np.ascontiguousarray(Vt.T)
    # 3x3 products and determinant in loops (np.linalg.det and @ each compile numba's
    # BLAS/LAPACK wrappers, seconds for a few multiplications)
    Rm = np.empty((3, 3))
    _mul_t(Vm, U, Rm)
    det = (Rm[0, 0] * (Rm[1, 1] * Rm[2, 2] - Rm[1, 2] * Rm[2, 1])
           - Rm[0, 1] * (Rm[1, 0] * Rm[2, 2] - Rm[1, 2] * Rm[2, 0])
           + Rm[0, 2] * (Rm[1, 0] * Rm[2, 1] - Rm[1, 1] * Rm[2, 0]))
    d = np.sign(det)
    if d != 0.0:
        for i in range(3):
            Vm[i, 2] *= d
    _mul_t(Vm, U, Rm)
    for i in range(3):
        t[i] = pc[i]
        for j in range(3):
            R[i, j] = Rm[i, j]
            t[i] -= Rm[i, j] * mc[j]


@njit(cache=True, nogil=True)
def _finish_frame(f, su, sw, Ks, W2Cs, C2Ws, model, thr, tri_iters, pose_iters, sel_uv, sel_w, R, t, ok, stats):
    """Frame ``f`` from its selected detections su ``(3, V, 2)`` (NaN = none) and sw
    ``(3, V)`` (per point P, N, U): triangulate each point dropping a view that
    disagrees (``triangulate_robust``, ``thr`` px; sw is updated), then fit the rigid
    triad: Kabsch from the three points, refined by ``refine_pose`` over every
    detection. Writes row ``f`` of sel_uv, sel_w, R, t, ok and stats (see
    ``frames_many``)."""
    V = su.shape[1]
    X = np.empty((3, 3))
    err = np.empty(V)
    others = np.empty(V)
    good = True
    for p in range(3):
        nv = triangulate_robust(su[p], sw[p], Ks[f], W2Cs[f], C2Ws[f], X[p], err, tri_iters, thr, others)
        good &= nv >= 2 and np.isfinite(X[p, 0]) and np.isfinite(X[p, 1]) and np.isfinite(X[p, 2])
        for i in range(V):
            # rejected views have weight 0 and no detection
            used = sw[p, i] > 0.0
            sel_uv[f, i, p, 0] = su[p, i, 0] if used else np.nan
            sel_uv[f, i, p, 1] = su[p, i, 1] if used else np.nan
            sel_w[f, i, p] = sw[p, i]
    R[f, :, :] = 0.0
    t[f, :] = 0.0
    for j in range(3):
        R[f, j, j] = 1.0
    if good:
        kabsch(model, X, R[f], t[f])
        refine_pose(sel_uv[f], sel_w[f], model, Ks[f], W2Cs[f], R[f], t[f], pose_iters, stats[f])
        good = np.isfinite(stats[f, 0])
    else:
        stats[f, :] = np.nan
    ok[f] = good


@njit(cache=True, nogil=True)
def frames_many(images, scale, bgs, cand_uv, cand_w, Ks, W2Cs, C2Ws, s, model, thr, tri_iters, pose_iters,
                sel_uv, sel_w, R, t, ok, stats, need_rays, start, stop):
    """The per-frame part of the decoder for frames ``start..stop`` whose detections
    need no ray search: per point (P, N, U) every view with a candidate has exactly one
    and they triangulate consistently (``_quick_select``), then ``_finish_frame``
    (triangulate, fit the rigid triad). A frame where some point needs the search gets
    ``need_rays[f] = True`` and nothing else written: ``rays_many`` decodes it (a
    kernel of its own, compiled only when some frame needs it). ``need_rays[f]`` is
    False for every other frame.

    images ``(V, T, H, W, 3)``, bgs ``(V, T, 3)`` channel backgrounds, cand_uv
    ``(V, T, 3, K, 2)``, cand_w ``(V, T, 3, K)``, cameras ``(T, V, ...)``, model
    ``(3, 3)``. Writes sel_uv ``(T, V, 3, 2)`` (NaN = not used), sel_w ``(T, V, 3)``,
    R ``(T, 3, 3)`` and t ``(T, 3)`` (identity and 0 where not ``ok``), ok ``(T,)`` (all
    three points seen by 2+ views and the fit finite) and stats ``(T, 4)`` (see
    ``refine_pose``; NaN where not ok), need_rays ``(T,)``.
    """
    V = images.shape[0]
    su = np.empty((3, V, 2))
    sw = np.empty((3, V))
    for f in range(start, stop):
        need = False
        for p in range(3):
            if _quick_select(cand_uv[:, f, p], cand_w[:, f, p], Ks[f], W2Cs[f], C2Ws[f], s, su[p],
                             sw[p]) == SELECT_SEARCH:
                need = True
                break
        need_rays[f] = need
        if not need:
            _finish_frame(f, su, sw, Ks, W2Cs, C2Ws, model, thr, tri_iters, pose_iters, sel_uv, sel_w, R, t, ok,
                          stats)


@njit(cache=True, nogil=True)
def rays_many(images, scale, bgs, cand_uv, cand_w, Ks, W2Cs, C2Ws, s, model, thr, tri_iters, pose_iters,
              sel_uv, sel_w, R, t, ok, stats, need_rays, start, stop):
    """``frames_many`` for the frames ``start..stop`` it left (``need_rays[f]``; others
    are not touched): per point, ``ray_select`` the detection of each view, then
    ``_finish_frame``. Same arguments as ``frames_many``."""
    V = images.shape[0]
    bases = np.zeros(V)
    su = np.empty((3, V, 2))
    sw = np.empty((3, V))
    for f in range(start, stop):
        if not need_rays[f]:
            continue
        for p in range(3):
            for i in range(V):
                bases[i] = bgs[i, f, p]
            ray_select(images, f, p, scale, bases, cand_uv[:, f, p], cand_w[:, f, p], Ks[f], W2Cs[f], C2Ws[f],
                       s, su[p], sw[p])
        _finish_frame(f, su, sw, Ks, W2Cs, C2Ws, model, thr, tri_iters, pose_iters, sel_uv, sel_w, R, t, ok,
                      stats)


@njit(cache=True, nogil=True)
def assemble_frames(R, t, ok, model, Ks, W2Cs, uv, code, bgs, gripper_floor, stats, pts, reproj, euler, floors,
                    openness, conf, pos_std, rot_std, actions):
    """The result's arrays of every frame, from the decoded poses.

    R ``(T, 3, 3)`` and t ``(T, 3)`` (set to NaN in place where not ``ok``), model
    ``(3, 3)`` tool points, cameras ``(T, V, ...)`` and detections uv ``(T, V, 3, 2)`` in
    the same pixel grid, code the Euler sequence (``_rotation_kernels.euler_code``),
    bgs ``(V, T, 3)`` channel backgrounds, stats ``(T, 4)`` from ``refine_pose``.
    Writes pts ``(T, 3, 3)`` (P, N, U in metres), reproj ``(T, V, 3)`` (pixels between
    each detection and the reprojected point; NaN where not detected), euler ``(T, 3)``
    (radians), floors ``(V, T)`` (the blue floor above the R/G background, relative to
    the range up to 1: brightness/contrast changes cancel out), openness ``(T,)`` (from
    the median floor over the views), conf ``(T,)``, pos_std ``(T,)`` (metres), rot_std
    ``(T,)`` (degrees) and actions ``(T, 7)``; NaN (conf 0) where not ``ok``.
    """
    T, V = uv.shape[:2]
    half = gripper_floor / 2.0
    fv = np.empty(V)
    for f in range(T):
        for i in range(V):
            black = 0.5 * (bgs[i, f, 0] + bgs[i, f, 1])
            floors[i, f] = (bgs[i, f, 2] - black) / max(1.0 - black, 1e-3)
            fv[i] = floors[i, f]
        fl = np.median(fv)
        if not ok[f]:
            R[f, :, :] = np.nan
            t[f, :] = np.nan
            pts[f, :, :] = np.nan
            reproj[f, :, :] = np.nan
            euler[f, :] = np.nan
            openness[f] = np.nan
            conf[f] = 0.0
            pos_std[f] = np.nan
            rot_std[f] = np.nan
            actions[f, :] = np.nan
            continue
        for p in range(3):
            for i in range(3):
                pts[f, p, i] = t[f, i] + R[f, i, 0] * model[p, 0] + R[f, i, 1] * model[p, 1] + R[f, i, 2] * model[p, 2]
        for i in range(V):
            for p in range(3):
                if np.isnan(uv[f, i, p, 0]) or np.isnan(uv[f, i, p, 1]):
                    reproj[f, i, p] = np.nan  # not detected in this view
                    continue
                u, v, _ = _project(Ks[f, i], W2Cs[f, i], pts[f, p])
                reproj[f, i, p] = math.sqrt((u - uv[f, i, p, 0]) ** 2 + (v - uv[f, i, p, 1]) ** 2)
        euler_of_matrix(R[f], code, euler[f])
        # gripper: the blue background is the floor when open, black when closed
        openness[f] = 1.0 if fl > half else 0.0
        # confidence from the pose's own uncertainty (covariance of the fit, inflated
        # when the views disagree, by the clip's noise and by single-view ambiguity):
        # 1 / (1 + (sigma_pos / 0.5 mm)^2 + (sigma_rot / 0.5 deg)^2), times how far the
        # gripper floor is from its decision threshold
        pos_std[f] = stats[f, 1]
        rot_std[f] = math.degrees(stats[f, 2])
        x = (pos_std[f] / CONF_STD_M) ** 2 + (rot_std[f] / CONF_STD_DEG) ** 2
        if np.isnan(x):
            c = 0.0
        else:
            c = 1.0 / (1.0 + min(x, 1.7976931348623157e308))
        if gripper_floor > 0:
            c *= 0.5 + 0.5 * min(1.0, max(0.0, abs(fl - half) / (half + 1e-12)))
        conf[f] = c
        for i in range(3):
            actions[f, i] = pts[f, 0, i]
            actions[f, 3 + i] = euler[f, i]
        actions[f, 6] = openness[f]
