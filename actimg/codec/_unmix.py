"""Colour mixing between channels: estimate a per-view 3x3 mixing matrix, and invert it.

A generator, a colour-space conversion or chroma sub-sampling mixes the channels: per
pixel the image holds ``x = M @ c + b`` where ``c`` is the clean ``[R, G, B]`` (a Gaussian
at P, one at N, and the U Gaussian above the gripper threshold, the floor below), ``M`` a
3x3 mixing matrix (identity for a clean image) and ``b`` a background offset. A leaked
blob is a scaled copy of another channel's blob at the same place, so ``M`` is a linear
regression once the blob centres are known: per view, over every frame in which all
three blobs were found, each observed channel is regressed on the three clean templates
built at the blob centres, with a free offset per frame and, shared by the view's
frames, the first-order changes of each blob's shape (width and elongation: blur, motion
blur and resampling change them, and would otherwise be read as leakage), on the pixels
within :data:`RADIUS` sigmas of a blob. The B channel's fit leaves out the rim of the U
blob (the floor's edge, which anything that smooths the image moves). The observed
values are corrected for noise clipped at 0 and 1 (whose bias on a dark background would
read as leakage), with the noise level from the fit's own residuals. One matrix per view,
pooled over its frames (a clip's mixing does not change from frame to frame, and pooling
averages the noise and the centre errors of single frames away); frames whose own fit
disagrees with the pooled one (a ghost blob taken as the main one) are dropped and the
matrix estimated again.

The decoder runs this stage only on images where its per-blob leakage test fired
(:func:`unmix_views`): the decision comes from blob fits without the leakage refits; a
view that leaks is unmixed (every pixel times ``M^-1``, :func:`unmix_many`), detected
again, and ``M`` re-estimated from the better centres. A matrix within :data:`MIN_LEAK`
of the identity is not applied.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: fit window: pixels within this many blob sigmas of any of the three blobs
RADIUS = 2.5
#: the smallest off-diagonal entry of the estimated matrix that is acted on
MIN_LEAK = 0.01
#: per-image columns: a constant (a free offset per image)
NP = 1
#: templates shared by a view's frames: 3 clean channels, then 3 shape nuisances per channel
NT = 12
#: cross-product columns: the per-image columns, the templates, the 3 observed channels
NZ = NP + NT + 3
#: the rim of the U blob (left out of the B channel's fit), in units of the gripper floor
RIM_LO = 0.4
RIM_HI = 1.9


@njit(cache=True, nogil=True, inline="always")
def _clipped_mean(m, sig):
    """``E[max(m + n, 0)]`` for ``n ~ N(0, sig^2)``: what a pixel of model value ``m``
    shows on average once noise is added and the result clipped at 0."""
    z = m / sig
    return m * 0.5 * math.erfc(-z / math.sqrt(2.0)) + sig * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@njit(cache=True, nogil=True)
def _moments(img, scale, cen, thr, floor, s, radius, step, hi, Cc, bc, sig, S, E):
    """Cross-products ``S[0] (NZ, NZ)`` of ``z = [1, t_0 .. t_11, x_R, x_G, x_B]`` over the
    pixels (every ``step``-th row and column) within ``radius`` of a centre of
    ``cen (3, 2)`` (with ``sig == 0`` only those whose observed channels are all below
    ``hi``), and ``S[1]`` over those of them on the rim of the U blob (where it meets the
    gripper floor: ``g_U`` within ``[RIM_LO, RIM_HI]`` times the threshold), which the B
    channel's fit leaves out: the floor's edge is a step (closed gripper) or a kink
    (open), and whatever smooths the image moves it in ways no smooth template follows.
    Returns the count.

    The templates ``t``: the clean channels ``g_P, g_N, b_U`` (Gaussians of sigma ``s`` at
    the centres; ``b_U`` is ``g_U`` where above the gripper threshold ``thr``, else
    ``floor``), then per channel ``j`` the changes of its blob's shape that blur, motion
    blur or resampling make: width ``(d^2 / 2 s^2) g_j`` and the two elongations
    ``((dc^2 - dr^2) / 2 s^2) g_j``, ``(dc dr / s^2) g_j`` (0 where ``b_U`` is the floor).
    Their coefficients are nuisances: without them the shape change of a blob would be
    read as leakage into it from its neighbours.

    With ``sig > 0`` the observed values are corrected for clipping: with the current
    model ``m = bc + Cc @ t``, ``x`` is replaced by ``x - (E[clip(m + n, 0, 1)] - m)``,
    ``n ~ N(0, sig^2)`` (clipped noise on a dark background is biased upwards where the
    model is near 0, and would otherwise read as leakage; saturated pixels are kept, their
    expectation is modelled). ``E (3, 2)`` gets, per channel, the sum of squared
    residuals ``x - m`` and their count over the pixels whose model is at least ``3 sig``
    (0.15 when ``sig == 0``) from 0 and 1, where clipping is rare: the noise level for the
    next round.
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
    z = np.empty(NZ)
    band = 3.0 * sig if sig > 0.0 else 0.15
    S[:, :, :] = 0.0
    E[:, :] = 0.0
    n = 0
    z[0] = 1.0
    rim = False
    for r in range(r0 + (-r0) % step, r1 + 1, step):
        row = img[r]
        for c in range(c0 + (-c0) % step, c1 + 1, step):
            near = False
            for j in range(3):
                dc = c - cen[j, 0]
                dr = r - cen[j, 1]
                d2 = dc * dc + dr * dr
                if d2 <= r2:
                    near = True
                g = math.exp(-d2 * inv)
                if j == 2:
                    rim = RIM_LO * thr <= g <= RIM_HI * thr
                if j == 2 and g <= thr:
                    z[NP + 2] = floor
                    g = 0.0
                else:
                    z[NP + j] = g
                z[NP + 3 + 3 * j] = d2 * inv * g
                z[NP + 4 + 3 * j] = (dc * dc - dr * dr) * inv * g
                z[NP + 5 + 3 * j] = 2.0 * dc * dr * inv * g
            if not near:
                continue
            sat = False
            for ch in range(3):
                x = row[c, ch] * scale
                if x >= hi:
                    sat = True
                z[NP + NT + ch] = x
            if sat and sig == 0.0:
                continue
            for ch in range(3):
                m = 0.0
                for k in range(NP):
                    m += bc[ch, k] * z[k]
                for k in range(NT):
                    m += Cc[ch, k] * z[NP + k]
                if m > band and m < 1.0 - band:
                    E[ch, 0] += (z[NP + NT + ch] - m) ** 2
                    E[ch, 1] += 1.0
                if sig > 0.0:
                    # E[clip(m + n, 0, 1)] = E[max(m + n, 0)] - E[max(m + n - 1, 0)]
                    z[NP + NT + ch] -= _clipped_mean(m, sig) - _clipped_mean(m - 1.0, sig) - m
            for a in range(NZ):
                za = z[a]
                for b in range(a + 1):
                    S[0, a, b] += za * z[b]
            if rim:
                for a in range(NZ):
                    za = z[a]
                    for b in range(a + 1):
                        S[1, a, b] += za * z[b]
            n += 1
    for k in range(2):
        for a in range(NZ):
            for b in range(a + 1, NZ):
                S[k, a, b] = S[k, b, a]
    return n


@njit(cache=True, nogil=True)
def mixing_moments_many(images, scale, centres, use, thr, floors, s, radius, step, hi, Cc, bc, sig, S, E, start,
                        stop):
    """:func:`_moments` of images ``n`` in ``start..stop`` with ``use[n]`` into ``S (N, 2,
    NZ, NZ)`` and ``E (N, 3, 2)`` (zeros where not used or fewer than 20 pixels). images
    ``(N, H, W, 3)``, centres ``(N, 3, 2)``, ``thr`` the spec's gripper floor, floors
    ``(N,)`` the clean B background (``thr`` when open, else 0), the current model Cc
    ``(N, 3, NT)``, bc ``(N, 3, NP)`` and noise level sig ``(N,)``."""
    for n in range(start, stop):
        S[n, :, :, :] = 0.0
        E[n, :, :] = 0.0
        if not use[n]:
            continue
        m = _moments(images[n], scale, centres[n], thr, floors[n], s, radius, step, hi, Cc[n], bc[n], sig[n], S[n],
                     E[n])
        if m < 20:
            S[n, :, :, :] = 0.0
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


def _centred(S: np.ndarray) -> np.ndarray:
    """Cross-products ``(..., NZ, NZ)`` -> ``(..., NZ-NP, NZ-NP)`` with the per-image
    columns eliminated (Schur complement: free per image)."""
    A = S[..., :NP, :NP] + 1e-12 * np.eye(NP) * np.maximum(S[..., :1, :1], 1e-300)
    B = S[..., :NP, NP:]
    X = np.linalg.solve(A, B)
    return S[..., NP:, NP:] - np.swapaxes(B, -1, -2) @ X


def _channel_sets(S: np.ndarray) -> list[np.ndarray]:
    """Per observed channel, the per-image cross-products ``(..., NZ, NZ)`` of its fit
    (all pixels for R and G; without the U rim for B) from ``S (..., 2, NZ, NZ)``."""
    return [S[..., 0, :, :], S[..., 0, :, :], S[..., 0, :, :] - S[..., 1, :, :]]


def solve_mixing(Sc: list[np.ndarray]) -> np.ndarray | None:
    """Template coefficients ``(3, NT)`` (observed channel, template) from the summed
    centred cross-products of each channel's fit (three ``(NZ-NP, NZ-NP)``); the mixing
    matrix is ``[:, :3]``. None when the templates are degenerate."""
    out = np.empty((3, NT))
    for i, S in enumerate(Sc):
        G = S[:NT, :NT]
        C = S[:NT, NT + i]
        if not np.isfinite(S).all():
            return None
        d = np.sqrt(np.maximum(np.diag(G), 1e-300))
        Gn = G / d[:, None] / d[None, :]
        if np.linalg.cond(Gn) > 1e10:
            return None
        out[i] = np.linalg.solve(Gn, C / d) / d
    return out


def estimate_mixing(S: np.ndarray, V: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-view template coefficients ``(V, 3, NT)`` (the mixing matrix is ``[:, :, :3]``)
    and per-image coefficients of the per-image columns ``(V*T, 3, NP)`` from per-image
    cross-products ``S (V*T, 2, NZ, NZ)``: pooled over the view's frames, then pooled
    again without the frames whose own residual is far above the others' (a ghost or a
    wrong blob taken as the main one). Identity mixing and zeros where nothing could be
    estimated."""
    sets = [x.reshape(V, T, NZ, NZ) for x in _channel_sets(S)]
    cen = [_centred(x) for x in sets]
    out = np.zeros((V, 3, NT))
    out[:, :, :3] = np.eye(3)
    offs = np.zeros((V, T, 3, NP))
    for v in range(V):
        used = np.flatnonzero(sets[0][v, :, 0, 0] > 0)
        if used.size == 0:
            continue
        Cf = solve_mixing([c[v, used].sum(axis=0) for c in cen])
        if Cf is None:
            continue
        if used.size >= 4:
            rel = np.zeros(used.size)
            for i in range(3):
                a = np.concatenate([-Cf[i], np.zeros(3)])
                a[NT + i] = 1.0  # residual e_i = x_i - Cf_i t = a^T z
                rel += np.einsum("fab,a,b->f", cen[i][v, used], a, a) / np.maximum(cen[i][v, used, NT + i, NT + i],
                                                                                  1e-12)
            keep = used[rel <= max(4.0 * np.median(rel), 1e-6)]
            if 0 < keep.size < used.size:
                C2 = solve_mixing([c[v, keep].sum(axis=0) for c in cen])
                if C2 is not None:
                    Cf = C2
        out[v] = Cf
        for i in range(3):
            Si = sets[i][v, used]
            A = Si[:, :NP, :NP] + 1e-12 * np.eye(NP) * np.maximum(Si[:, :1, :1], 1e-300)
            rhs = Si[:, :NP, NP + NT + i] - Si[:, :NP, NP:NP + NT] @ Cf[i]
            offs[v, used, i] = np.linalg.solve(A, rhs[..., None])[..., 0]
    return out, offs.reshape(V * T, 3, NP)


def needs_unmixing(M: np.ndarray) -> np.ndarray:
    """``(V,)`` whether a view's estimated matrix leaks enough to be inverted: an
    off-diagonal entry of at least :data:`MIN_LEAK` and a well-conditioned matrix."""
    off = np.abs(M - np.eye(3) * np.diagonal(M, axis1=1, axis2=2)[:, None, :])
    big = off.max(axis=(1, 2)) >= MIN_LEAK
    cond = np.array([np.linalg.cond(m) for m in M])
    return big & (cond < 20.0)


def _estimate(flat: np.ndarray, scale: float, cand_uv: np.ndarray, cand_w: np.ndarray, bgs: np.ndarray, V: int,
              T: int, s: float, hi: float, thr: float) -> np.ndarray:
    """The ``(V, 3, 3)`` mixing matrices from the strongest candidate of each channel:
    a first fit; its residuals (where the model is away from 0 and 1) give the noise
    level; then two fits with the observed values corrected for noise clipped at 0 and 1."""
    from .._parallel import run_chunks

    N = V * T
    step = max(1, int(round(s / 6.0)))
    centres = np.ascontiguousarray(cand_uv[:, :, 0, :])
    use = (cand_w[:, :, 0] > 0.0).all(axis=1) & np.isfinite(centres).all(axis=(1, 2))
    # only frames whose three blobs are inside the image and apart: where a blob is out
    # of view, its channel's strongest candidate may be another blob's leaked copy (at
    # that blob's centre), which would make the templates coincide
    H, W = flat.shape[1:3]
    with np.errstate(invalid="ignore"):
        inside = ((centres[..., 0] >= 0) & (centres[..., 0] <= W - 1) & (centres[..., 1] >= 0)
                  & (centres[..., 1] <= H - 1)).all(axis=1)
        d = np.linalg.norm(centres[:, [0, 0, 1]] - centres[:, [1, 2, 2]], axis=-1).min(axis=1)
    use &= inside & (d > 0.25 * s)
    black = 0.5 * (bgs[:, 0] + bgs[:, 1])
    fl = (bgs[:, 2] - black) / np.maximum(1.0 - black, 1e-3)
    floors = np.where(fl > 0.5 * thr, thr, 0.0)
    S = np.zeros((N, 2, NZ, NZ))
    E = np.zeros((N, 3, 2))
    Cc = np.zeros((N, 3, NT))
    bc = np.zeros((N, 3, NP))
    sig = np.zeros(N)
    M = np.broadcast_to(np.eye(3), (V, 3, 3)).copy()
    for it in range(4):
        run_chunks(mixing_moments_many, N, flat, scale, centres, use, thr, floors, s, RADIUS * s, step, hi,
                   Cc, bc, sig, S, E, min_items=4)
        if it != 1:  # (the second pass only measures the noise of the first fit)
            Cf, bc = estimate_mixing(S, V, T)
            Cc = np.repeat(Cf, T, axis=0)
            M = np.ascontiguousarray(Cf[:, :, :3])
        if it >= 1:
            Ev = E.reshape(V, T, 3, 2).sum(axis=(1, 2))
            sv = np.sqrt(Ev[:, 0] / np.maximum(Ev[:, 1], 1.0))
            sig = np.repeat(np.maximum(sv, 0.5 / 255.0), T)
    return M


def unmix_views(imgs: np.ndarray, scale: float, cand_uv: np.ndarray, cand_w: np.ndarray, bgs: np.ndarray,
                s: float, hi: float, spec, detect, rounds: int = 2) -> tuple[np.ndarray, np.ndarray | None]:
    """The decoder's unmixing stage, for images where the leakage refits of the first
    detection found leakage.

    imgs ``(V, T, H, W, 3)`` as decoded (units of ``scale``); cand_uv ``(V*T, 3, K, 2)``,
    cand_w ``(V*T, 3, K)``, bgs ``(V*T, 3)`` from that detection, which ``detect(x,
    leak)`` (the decoder's detection of images ``x``, with or without the leakage refits)
    overwrites in place.

    First the decision: the images are detected again without the leakage refits (which
    also fit the shape of a motion blur, and would make leakage of it), and the mixing
    estimated from those centres (:func:`estimate_mixing`). If no view leaks
    (:func:`needs_unmixing`), that detection stands. Otherwise, ``rounds`` times: the
    matrices are estimated from the original images with the latest centres (first those
    of the leakage refits, which the leakage pulls least), every pixel of the leaking
    views is unmixed, and the unmixed images are detected (without the leakage refits).
    Returns the images to decode (the input itself when nothing was unmixed) and the
    ``(V, 3, 3)`` matrices of the last unmixing (None when none was applied).
    """
    from .._parallel import run_chunks

    V, T, H, W, _ = imgs.shape
    N = V * T
    flat = imgs.reshape(N, H, W, 3)
    thr = float(spec.gripper_floor)
    first = (cand_uv.copy(), cand_w.copy(), bgs.copy())
    detect(imgs, False)
    M = _estimate(flat, scale, cand_uv, cand_w, bgs, V, T, s, hi, thr)
    if not needs_unmixing(M).any():
        return imgs, None
    cand_uv[...], cand_w[...], bgs[...] = first
    out = imgs
    for _ in range(rounds):
        M = _estimate(flat, scale, cand_uv, cand_w, bgs, V, T, s, hi, thr)
        need = needs_unmixing(M)
        Minv = np.empty((N, 3, 3))
        for v in range(V):
            Minv[v * T:(v + 1) * T] = np.linalg.inv(M[v]) if need[v] else np.eye(3)
        # views that need nothing are copied through the identity (one pass, simple)
        out = np.empty_like(imgs)
        run_chunks(unmix_many, N, flat, scale, Minv, hi, out.reshape(N, H, W, 3), min_items=1)
        detect(out, False)
    return out, M
