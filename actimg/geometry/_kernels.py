"""Numba kernels of projection and multi-view triangulation (pinhole, OpenCV axes).

Serial ``nogil`` functions; ``actimg._parallel.run_chunks`` spreads frames over threads.
The decoder's kernels (``actimg.codec._decode_kernels``) build on these.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _project(K, W2C, X):
    xc = W2C[0, 0] * X[0] + W2C[0, 1] * X[1] + W2C[0, 2] * X[2] + W2C[0, 3]
    yc = W2C[1, 0] * X[0] + W2C[1, 1] * X[1] + W2C[1, 2] * X[2] + W2C[1, 3]
    zc = W2C[2, 0] * X[0] + W2C[2, 1] * X[1] + W2C[2, 2] * X[2] + W2C[2, 3]
    x = xc / zc
    y = yc / zc
    return K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2], zc


@njit(cache=True, nogil=True)
def _project_jac(K, W2C, X, J):
    """Pixel of ``X`` and its 2x3 Jacobian w.r.t. ``X`` (into ``J``); returns (u, v, z)."""
    xc = W2C[0, 0] * X[0] + W2C[0, 1] * X[1] + W2C[0, 2] * X[2] + W2C[0, 3]
    yc = W2C[1, 0] * X[0] + W2C[1, 1] * X[1] + W2C[1, 2] * X[2] + W2C[1, 3]
    zc = W2C[2, 0] * X[0] + W2C[2, 1] * X[1] + W2C[2, 2] * X[2] + W2C[2, 3]
    iz = 1.0 / zc
    x = xc * iz
    y = yc * iz
    fx = K[0, 0]
    sk = K[0, 1]
    fy = K[1, 1]
    for j in range(3):
        dx = (W2C[0, j] - x * W2C[2, j]) * iz
        dy = (W2C[1, j] - y * W2C[2, j]) * iz
        J[0, j] = fx * dx + sk * dy
        J[1, j] = fy * dy
    return fx * x + sk * y + K[0, 2], fy * y + K[1, 2], zc


@njit(cache=True, nogil=True)
def _solve3(A, b, out):
    """Solve a 3x3 system (symmetric positive semi-definite); False if singular."""
    det = (A[0, 0] * (A[1, 1] * A[2, 2] - A[1, 2] * A[2, 1]) - A[0, 1] * (A[1, 0] * A[2, 2] - A[1, 2] * A[2, 0])
           + A[0, 2] * (A[1, 0] * A[2, 1] - A[1, 1] * A[2, 0]))
    scale = abs(A[0, 0]) + abs(A[1, 1]) + abs(A[2, 2])
    if not (abs(det) > 1e-14 * scale * scale * scale) or scale == 0.0:
        return False
    # Cramer's rule: column i of A replaced by b
    out[0] = (b[0] * (A[1, 1] * A[2, 2] - A[1, 2] * A[2, 1]) - A[0, 1] * (b[1] * A[2, 2] - A[1, 2] * b[2])
              + A[0, 2] * (b[1] * A[2, 1] - A[1, 1] * b[2])) / det
    out[1] = (A[0, 0] * (b[1] * A[2, 2] - A[1, 2] * b[2]) - b[0] * (A[1, 0] * A[2, 2] - A[1, 2] * A[2, 0])
              + A[0, 2] * (A[1, 0] * b[2] - b[1] * A[2, 0])) / det
    out[2] = (A[0, 0] * (A[1, 1] * b[2] - b[1] * A[2, 1]) - A[0, 1] * (A[1, 0] * b[2] - b[1] * A[2, 0])
              + b[0] * (A[1, 0] * A[2, 1] - A[1, 1] * A[2, 0])) / det
    return True


# ------------------------------------------------------------------- triangulation
@njit(cache=True, nogil=True)
def triangulate_point(uv, w, Ks, W2Cs, C2Ws, X, err, iters):
    """Weighted triangulation of one point from ``V`` views.

    uv ``(V, 2)`` (NaN = unseen), w ``(V,)`` weights, Ks ``(V, 3, 3)``, W2Cs/C2Ws
    ``(V, 4, 4)``. Linear start: weighted least squares of the distances to the rays;
    then Gauss-Newton on the weighted reprojection error. Writes ``X (3,)`` and the
    per-view reprojection error ``err (V,)`` in pixels (NaN for unseen views); returns
    the number of views used (< 2: ``X`` is NaN).
    """
    V = uv.shape[0]
    A = np.zeros((3, 3))
    b = np.zeros(3)
    d = np.empty(3)
    nv = 0
    for i in range(V):
        err[i] = np.nan
        if not (w[i] > 0.0) or not (np.isfinite(uv[i, 0]) and np.isfinite(uv[i, 1])):
            continue
        K = Ks[i]
        yv = (uv[i, 1] - K[1, 2]) / K[1, 1]
        xv = (uv[i, 0] - K[0, 2] - K[0, 1] * yv) / K[0, 0]
        for j in range(3):
            d[j] = C2Ws[i, j, 0] * xv + C2Ws[i, j, 1] * yv + C2Ws[i, j, 2]
        nrm = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        for j in range(3):
            d[j] /= nrm
        ww = w[i]
        # normal equations of sum_i w_i |(I - d d^T)(X - o_i)|^2
        for r in range(3):
            s_ = 0.0
            for c in range(3):
                P = (1.0 if r == c else 0.0) - d[r] * d[c]
                A[r, c] += ww * P
                s_ += P * C2Ws[i, c, 3]
            b[r] += ww * s_
        nv += 1
    if nv < 2 or not _solve3(A, b, X):
        X[:] = np.nan
        return nv if nv < 2 else 0
    # Gauss-Newton on reprojection error
    J = np.empty((2, 3))
    H = np.empty((3, 3))
    g = np.empty(3)
    dX = np.empty(3)
    for it in range(iters):
        H[:] = 0.0
        g[:] = 0.0
        ok = True
        for i in range(V):
            if not (w[i] > 0.0) or not (np.isfinite(uv[i, 0]) and np.isfinite(uv[i, 1])):
                continue
            pu, pv, z = _project_jac(Ks[i], W2Cs[i], X, J)
            if not (z > 0.0):
                ok = False
                break
            eu = uv[i, 0] - pu
            ev = uv[i, 1] - pv
            ww = w[i]
            for r in range(3):
                g[r] += ww * (J[0, r] * eu + J[1, r] * ev)
                for c in range(3):
                    H[r, c] += ww * (J[0, r] * J[0, c] + J[1, r] * J[1, c])
        if not ok or not _solve3(H, g, dX):
            break
        step = 0.0
        for r in range(3):
            X[r] += dX[r]
            step += dX[r] * dX[r]
        if step < 1e-24:
            break
    for i in range(V):
        if not (w[i] > 0.0) or not (np.isfinite(uv[i, 0]) and np.isfinite(uv[i, 1])):
            continue
        pu, pv, z = _project(Ks[i], W2Cs[i], X)
        err[i] = math.sqrt((uv[i, 0] - pu) ** 2 + (uv[i, 1] - pv) ** 2) if z > 0 else np.inf
    return nv


@njit(cache=True, nogil=True)
def triangulate_many(uv, w, Ks, W2Cs, C2Ws, X, err, nviews, iters, start, stop):
    """``triangulate_point`` over items ``start..stop``: uv ``(M, V, 2)``, w ``(M, V)``,
    cameras ``(M, V, ...)``; writes X ``(M, 3)``, err ``(M, V)``, nviews ``(M,)``."""
    for m in range(start, stop):
        nviews[m] = triangulate_point(uv[m], w[m], Ks[m], W2Cs[m], C2Ws[m], X[m], err[m], iters)


# ------------------------------------------------------------------------- detect
