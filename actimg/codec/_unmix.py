"""Colour mixing between channels: estimate a per-view 3x3 mixing matrix, and invert it.

A generator, a colour-space conversion or chroma sub-sampling mixes the channels: per
pixel the image holds ``x = M @ c + b`` where ``c`` is the clean ``[R, G, B]`` (a Gaussian
at P, one at N, and ``max(Gaussian at U, floor)``), ``M`` a 3x3 mixing matrix (identity
for a clean image) and ``b`` a background offset. A leaked blob is a scaled copy of
another channel's blob at the same place, so ``M`` is a linear regression once the blob
centres are known: per view, over every frame in which all three blobs were found, each
observed channel is regressed on the three clean templates built at the blob centres
(first pass of the decoder) with a free offset per frame, on the pixels within
:data:`RADIUS` sigmas of a blob (saturated pixels left out). One matrix per view, pooled
over its frames (a clip's mixing does not change from frame to frame, and pooling
averages the noise and the centre errors of single frames away); frames whose own fit
disagrees with the pooled one (a ghost blob taken as the main one) are dropped and the
matrix estimated again.

The decoder then multiplies every pixel of the view by ``M^-1`` (:func:`unmix_many`) and
decodes the unmixed images. Clean images never get here (the first pass's fits have no
residual), and a matrix within :data:`MIN_LEAK` of the identity is not applied.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: fit window: pixels within this many blob sigmas of any of the three blobs
RADIUS = 2.5
#: the smallest off-diagonal entry of the estimated matrix that is acted on
MIN_LEAK = 0.01
NIT = 4


@njit(cache=True, nogil=True, inline="always")
def _clipped_mean(m, sig):
    """``E[max(m + n, 0)]`` for ``n ~ N(0, sig^2)``: what a pixel of model value ``m``
    shows on average once noise is added and the result clipped at 0."""
    z = m / sig
    return m * 0.5 * math.erfc(-z / math.sqrt(2.0)) + sig * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@njit(cache=True, nogil=True)
def _moments(img, scale, cen, thr, floor, s, radius, step, hi, Mc, bc, sig, S, E):
    """Cross-products ``S (7, 7)`` of ``z = [1, g_P, g_N, b_U, x_R, x_G, x_B]`` over the
    pixels (every ``step``-th row and column) within ``radius`` of a centre of
    ``cen (3, 2)`` (with ``sig == 0`` only those whose observed channels are all below
    ``hi``) (``b_U`` is the clean B
    channel: ``g_U`` where above the gripper threshold ``thr``, else ``floor``). Returns
    the count.

    With ``sig > 0`` the observed values are corrected for the clipping of noise at 0:
    with the current model ``m = bc + Mc @ [g_P, g_N, b_U]``, ``x`` is replaced by
    ``x - (E[clip(m + n, 0, 1)] - m)``, ``n ~ N(0, sig^2)`` (clipped noise on a dark
    background is biased upwards where the model is near 0, and would otherwise read as
    leakage; saturated pixels are kept, their expectation is modelled). ``E (3, 2)`` gets, per channel, the sum of squared residuals ``x - m`` and
    their count over the pixels whose model is at least ``3 sig`` (0.15 when ``sig ==
    0``) from 0 and 1, where clipping is rare: the noise level for the next round.
    """
    H, W, _ = img.shape
    inv = 1.0 / (2.0 * s * s)
    r2 = radius * radius
    umin = min(cen[0, 0], min(cen[1, 0], cen[2, 0])) - radius
    umax = max(cen[0, 0], max(cen[1, 0], cen[2, 0])) + radius
    vmin = min(cen[0, 1], min(cen[1, 1], cen[2, 1])) - radius
    vmax = max(cen[0, 1], max(cen[1, 1], cen[2, 1])) + radius
    r0 = max(0, int(math.ceil(vmin)))
    r1 = min(H - 1, int(math.floor(vmax)))
    c0 = max(0, int(math.ceil(umin)))
    c1 = min(W - 1, int(math.floor(umax)))
    z = np.empty(7)
    band = 3.0 * sig if sig > 0.0 else 0.15
    S[:, :] = 0.0
    E[:, :] = 0.0
    n = 0
    z[0] = 1.0
    for r in range(r0 + (-r0) % step, r1 + 1, step):
        row = img[r]
        for c in range(c0 + (-c0) % step, c1 + 1, step):
            near = False
            for j in range(3):
                d2 = (c - cen[j, 0]) ** 2 + (r - cen[j, 1]) ** 2
                if d2 <= r2:
                    near = True
                z[1 + j] = math.exp(-d2 * inv)
            if not near:
                continue
            if z[3] <= thr:
                z[3] = floor
            sat = False
            for ch in range(3):
                x = row[c, ch] * scale
                if x >= hi:
                    sat = True
                z[4 + ch] = x
            if sat and sig == 0.0:
                continue
            for ch in range(3):
                m = bc[ch] + Mc[ch, 0] * z[1] + Mc[ch, 1] * z[2] + Mc[ch, 2] * z[3]
                if m > band and m < 1.0 - band:
                    E[ch, 0] += (z[4 + ch] - m) ** 2
                    E[ch, 1] += 1.0
                if sig > 0.0:
                    # E[clip(m + n, 0, 1)] = E[max(m + n, 0)] - E[max(m + n - 1, 0)]
                    z[4 + ch] -= _clipped_mean(m, sig) - _clipped_mean(m - 1.0, sig) - m
            for a in range(7):
                za = z[a]
                for b in range(a + 1):
                    S[a, b] += za * z[b]
            n += 1
    for a in range(7):
        for b in range(a + 1, 7):
            S[a, b] = S[b, a]
    return n


@njit(cache=True, nogil=True)
def mixing_moments_many(images, scale, centres, use, thr, floors, s, radius, step, hi, Mc, bc, sig, S, E, start,
                        stop):
    """:func:`_moments` of images ``n`` in ``start..stop`` with ``use[n]`` into ``S (N, 7,
    7)`` and ``E (N, 3, 2)`` (zeros where not used or fewer than 20 pixels). images
    ``(N, H, W, 3)``, centres ``(N, 3, 2)``, ``thr`` the spec's gripper floor, floors
    ``(N,)`` the clean B background (``thr`` when open, else 0), the current model Mc
    ``(N, 3, 3)``, bc ``(N, 3)`` and noise level sig ``(N,)``."""
    for n in range(start, stop):
        S[n, :, :] = 0.0
        E[n, :, :] = 0.0
        if not use[n]:
            continue
        m = _moments(images[n], scale, centres[n], thr, floors[n], s, radius, step, hi, Mc[n], bc[n], sig[n], S[n],
                     E[n])
        if m < 20:
            S[n, :, :] = 0.0
            E[n, :, :] = 0.0


@njit(cache=True, nogil=True)
def unmix_many(images, scale, Minv, hi, out, start, stop):
    """``out[n] = clip(Minv[n] @ images[n] per pixel, 0, 1)`` for ``n`` in ``start..stop``
    (uint8 images, ``scale < 1``, give uint8 ``out``: ``round(255 x)``). A pixel with an observed channel at or above ``hi``
    (clipped by the mixing) cannot be unmixed: each of its unmixed channels above 0.5 is
    set to 1 (saturated: the blob fits leave it out), the others keep their value.
    images ``(N, H, W, 3)`` in units of ``scale``, Minv ``(N, 3, 3)``."""
    N, H, W, _ = images.shape
    u8 = scale < 1.0  # uint8 images in, uint8 out
    y = np.empty(3)
    for n in range(start, stop):
        A = Minv[n]
        img = images[n]
        o = out[n]
        for r in range(H):
            row = img[r]
            orow = o[r]
            for c in range(W):
                x0 = row[c, 0] * scale
                x1 = row[c, 1] * scale
                x2 = row[c, 2] * scale
                sat = x0 >= hi or x1 >= hi or x2 >= hi
                for i in range(3):
                    v = A[i, 0] * x0 + A[i, 1] * x1 + A[i, 2] * x2
                    if sat and v > 0.5:
                        v = 1.0
                    y[i] = min(1.0, max(0.0, v))
                if u8:
                    for i in range(3):
                        orow[c, i] = np.uint8(int(y[i] * 255.0 + 0.5))
                else:
                    for i in range(3):
                        orow[c, i] = y[i]


def _centred(S7: np.ndarray) -> np.ndarray:
    """Per-image cross-products ``(n, 7, 7)`` -> ``(n, 6, 6)`` with the image's own offset
    eliminated (Schur complement of the constant column)."""
    n0 = np.maximum(S7[:, 0, 0], 1e-300)[:, None, None]
    return S7[:, 1:, 1:] - S7[:, 1:, :1] * S7[:, :1, 1:] / n0


def solve_mixing(S: np.ndarray) -> np.ndarray | None:
    """The 3x3 mixing matrix from summed centred cross-products ``S (6, 6)`` over
    ``[g_P, g_N, b_U, x_R, x_G, x_B]``, or None when the templates are degenerate."""
    G = S[:3, :3]
    C = S[:3, 3:]
    if not np.isfinite(S).all() or np.linalg.cond(G) > 1e8:
        return None
    coef = np.linalg.solve(G, C)  # (3 templates, 3 observed channels)
    return coef.T  # M[i, j]: observed channel i from clean channel j


def estimate_mixing(S7: np.ndarray, V: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-view mixing matrices ``(V, 3, 3)`` and per-image offsets ``(V*T, 3)`` from
    per-image cross-products ``S7 (V*T, 7, 7)``: pooled over the view's frames, then
    pooled again without the frames whose own residual is far above the others' (a ghost
    or a wrong blob taken as the main one). Identity and 0 where nothing could be
    estimated."""
    Sc = _centred(S7).reshape(V, T, 6, 6)
    S7v = S7.reshape(V, T, 7, 7)
    out = np.broadcast_to(np.eye(3), (V, 3, 3)).copy()
    offs = np.zeros((V, T, 3))
    for v in range(V):
        used = np.flatnonzero(S7v[v, :, 0, 0] > 0)
        if used.size == 0:
            continue
        M = solve_mixing(Sc[v, used].sum(axis=0))
        if M is None:
            continue
        if used.size >= 4:
            A = np.concatenate([-M.T, np.eye(3)], axis=0)  # residual e = x - M t = A^T z
            rss = np.einsum("fab,ai,bi->f", Sc[v, used], A, A)
            tot = np.trace(Sc[v, used][:, 3:, 3:], axis1=1, axis2=2)
            rel = rss / np.maximum(tot, 1e-12)
            keep = used[rel <= max(4.0 * np.median(rel), 1e-6)]
            if 0 < keep.size < used.size:
                M2 = solve_mixing(Sc[v, keep].sum(axis=0))
                if M2 is not None:
                    M = M2
        out[v] = M
        n0 = np.maximum(S7v[v, used, 0, 0], 1e-300)
        offs[v, used] = (S7v[v, used, 0, 4:] - S7v[v, used, 0, 1:4] @ M.T) / n0[:, None]
    return out, offs.reshape(V * T, 3)


def needs_unmixing(M: np.ndarray) -> np.ndarray:
    """``(V,)`` whether a view's estimated matrix leaks enough to be inverted: an
    off-diagonal entry of at least :data:`MIN_LEAK` and a well-conditioned matrix."""
    off = np.abs(M - np.eye(3) * np.diagonal(M, axis1=1, axis2=2)[:, None, :])
    big = off.max(axis=(1, 2)) >= MIN_LEAK
    cond = np.array([np.linalg.cond(m) for m in M])
    return big & (cond < 20.0)


def unmix_views(imgs: np.ndarray, scale: float, cand_uv: np.ndarray, cand_w: np.ndarray, bgs: np.ndarray,
                s: float, hi: float, spec, detect, flags, rounds: int = 2) -> tuple[np.ndarray, np.ndarray | None]:
    """The decoder's unmixing stage.

    imgs ``(V, T, H, W, 3)`` as decoded (units of ``scale``); cand_uv ``(V*T, 3, K, 2)``,
    cand_w ``(V*T, 3, K)``, bgs ``(V*T, 3)`` from the first detection, which ``detect(x)``
    (the decoder's detection of images ``x``) overwrites. Per view, the mixing matrix is
    estimated from the strongest blob of each channel (:func:`estimate_mixing`); where it
    leaks (:func:`needs_unmixing`), every pixel of that view is unmixed and the images are
    detected again (without the leakage refits); ``rounds`` times, each time from the
    original images with the centres of the last detection (which the leakage no longer
    pulls), and a last estimate checks that the views still mix: if not (a first
    estimate misled by the leakage refits fitting a blur's shape), the original images
    are detected again without those refits. Returns the images to decode (the input
    itself when nothing was unmixed) and the ``(V, 3, 3)`` matrices of the last unmixing
    (None when none was applied).
    """
    from .._parallel import run_chunks

    V, T, H, W, _ = imgs.shape
    N = V * T
    flat = imgs.reshape(N, H, W, 3)
    step = max(1, int(round(s / 6.0)))
    M_all = None
    out = imgs
    thr = float(spec.gripper_floor)
    leaked = bool((flags & 2).any())
    for r in range(rounds + 1):
        centres = np.ascontiguousarray(cand_uv[:, :, 0, :])
        use = (cand_w[:, :, 0] > 0.0).all(axis=1) & np.isfinite(centres).all(axis=(1, 2))
        black = 0.5 * (bgs[:, 0] + bgs[:, 1])
        fl = (bgs[:, 2] - black) / np.maximum(1.0 - black, 1e-3)
        floors = np.where(fl > 0.5 * thr, thr, 0.0)
        S7 = np.zeros((N, 7, 7))
        E = np.zeros((N, 3, 2))
        Mc = np.zeros((N, 3, 3))
        bc = np.zeros((N, 3))
        sig = np.zeros(N)
        # a first fit; its residuals (where the model is away from 0 and 1) give the
        # noise level; then two fits with the observed values corrected for noise
        # clipped at 0
        for it in range(NIT):
            run_chunks(mixing_moments_many, N, flat, scale, centres, use, thr, floors, s, RADIUS * s, step, hi,
                       Mc, bc, sig, S7, E, min_items=4)
            if it != 1:  # (the second pass only measures the noise of the first fit)
                M, bc = estimate_mixing(S7, V, T)
                Mc = np.repeat(M, T, axis=0)
            if it >= 1:
                Ev = E.reshape(V, T, 3, 2).sum(axis=(1, 2))
                sv = np.sqrt(Ev[:, 0] / np.maximum(Ev[:, 1], 1.0))
                sig = np.repeat(np.maximum(sv, 0.5 / 255.0), T)
        need = needs_unmixing(M)
        if not need.any():
            # no view mixes (any more, from better centres): the original images,
            # detected without the leakage refits (they fit a blur's shape, not a leak)
            if leaked or M_all is not None:
                detect(imgs, False)
            return imgs, None
        if r == rounds:
            break  # the last estimate only confirms that the views mix
        M_all = M
        Minv = np.empty((N, 3, 3))
        for v in range(V):
            Minv[v * T:(v + 1) * T] = np.linalg.inv(M[v]) if need[v] else np.eye(3)
        # views that need nothing are copied through the identity (one pass, simple)
        res = np.empty_like(imgs)
        run_chunks(unmix_many, N, flat, scale, Minv, hi, res.reshape(N, H, W, 3), min_items=1)
        out = res
        detect(out, False)
    return out, M_all
