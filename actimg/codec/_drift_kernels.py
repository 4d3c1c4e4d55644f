"""Numba kernel of the drift stage: the clip's normal equations for per-view offsets with
each frame's rigid pose eliminated (see :mod:`actimg.codec.drift`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..geometry._kernels import _project_jac
from ._decode_kernels import _chol_factor, _chol_subst


@njit(cache=True, nogil=True)
def drift_normals(uv, R, t, ok, model, Ks, W2Cs, huber_px, H, g, sens, used, m_per_px, stats):
    """Accumulate the offsets' normal equations over the frames.

    Per frame ``f`` with ``ok[f]`` and 8+ detected coordinates: the Jacobian ``J (6V, 6)``
    of the reprojections w.r.t. the pose (translation, rotation about P: rotating by ``w``
    moves a point by ``w x (R m)``), the residuals ``r`` (detections minus reprojections),
    what the pose cannot explain ``e = r - J (J^T J)^-1 J^T r``, a Huber weight ``w`` from
    ``e``'s RMS; an offset of view ``v`` moves its three points alike (``B``: rows
    ``(p, v, c)`` to column ``2 v + c``), so ``H += w B^T (I - J (J^T J)^-1 J^T) B``,
    ``g += w B^T e``.

    Args:
        uv: ``(T, V, 3, 2)`` detections (NaN where none), pixels.
        R, t: ``(T, 3, 3)``, ``(T, 3)`` poses (``tool2world``, metres); ok ``(T,)``.
        model: ``(3, 3)`` tool points; Ks ``(T, V, 3, 3)``; W2Cs ``(T, V, 4, 4)``.
        huber_px: Huber threshold on a frame's RMS remaining residual, pixels.

    Writes ``H (2V, 2V)``, ``g (2V,)`` (zeroed first), ``sens (T, 3, 2V)`` (metres per
    pixel: the frame's position response ``-(J^T J)^-1 J^T B`` to the offsets),
    ``used (T,)``, ``m_per_px (V,)`` (mean depth / focal of the points each view sees)
    and ``stats = [sse, dof, n_frames]``.
    """
    T, V = uv.shape[0], uv.shape[1]
    n = 6 * V
    m = 2 * V
    H[:, :] = 0.0
    g[:] = 0.0
    sens[:, :, :] = np.nan
    used[:] = False
    sse = 0.0
    dof = 0.0
    nf = 0
    J = np.zeros((n, 6))
    r = np.zeros(n)
    seen = np.zeros(n, np.bool_)
    e = np.zeros(n)
    A = np.empty((6, 6))
    L = np.zeros((6, 6))
    Jr = np.empty(6)
    dp = np.empty(6)
    BJ = np.empty((m, 6))
    BM = np.empty(m)
    S = np.empty((6, m))
    Jp = np.zeros((2, 3))
    rm = np.empty(3)
    X = np.empty(3)
    col = np.empty(6)
    depth = np.zeros(V)  # sums of depth / focal
    nd = np.zeros(V, np.int64)
    for f in range(T):
        if not ok[f]:
            continue
        J[:, :] = 0.0
        r[:] = 0.0
        seen[:] = False
        n_obs = 0
        for p in range(3):
            for i in range(3):
                rm[i] = R[f, i, 0] * model[p, 0] + R[f, i, 1] * model[p, 1] + R[f, i, 2] * model[p, 2]
                X[i] = rm[i] + t[f, i]
            for v in range(V):
                if not (math.isfinite(uv[f, v, p, 0]) and math.isfinite(uv[f, v, p, 1])):
                    continue
                u_, v_, z = _project_jac(Ks[f, v], W2Cs[f, v], X, Jp)
                if not z > 0.0:
                    continue
                row = (p * V + v) * 2
                for c in range(2):
                    seen[row + c] = True
                    r[row + c] = uv[f, v, p, c] - (u_ if c == 0 else v_)
                    for j in range(3):
                        J[row + c, j] = Jp[c, j]
                    # d pixel / d w = -J [R m]_x
                    J[row + c, 3] = -(Jp[c, 1] * -rm[2] + Jp[c, 2] * rm[1])
                    J[row + c, 4] = -(Jp[c, 0] * rm[2] + Jp[c, 2] * -rm[0])
                    J[row + c, 5] = -(Jp[c, 0] * -rm[1] + Jp[c, 1] * rm[0])
                n_obs += 2
                fk = math.sqrt(abs(Ks[f, v, 0, 0] * Ks[f, v, 1, 1]))
                depth[v] += z / fk
                nd[v] += 1
        if n_obs < 8:
            continue
        for i in range(6):
            for j in range(6):
                acc = 0.0
                for k in range(n):
                    acc += J[k, i] * J[k, j]
                A[i, j] = acc
        if not _chol_factor(A, L, 1e-12):  # the pose is not determined
            continue
        # e = r - J A^-1 J^T r: what the pose cannot explain (0 where unseen)
        for i in range(6):
            acc = 0.0
            for k in range(n):
                acc += J[k, i] * r[k]
            Jr[i] = acc
        _chol_subst(L, Jr, dp)
        ee = 0.0
        for k in range(n):
            acc = r[k]
            for i in range(6):
                acc -= J[k, i] * dp[i]
            e[k] = acc
            ee += acc * acc
        dof_f = n_obs - 6
        nrm = math.sqrt(ee / dof_f)
        w = 1.0 if nrm <= huber_px else huber_px / nrm
        BJ[:, :] = 0.0
        BM[:] = 0.0
        for p in range(3):
            for a in range(m):
                k = p * m + a
                if seen[k]:
                    BM[a] += 1.0
                    g[a] += w * e[k]
                    for j in range(6):
                        BJ[a, j] += J[k, j]
        for a in range(m):  # S = A^-1 BJ^T (6, 2V)
            _chol_subst(L, BJ[a], col)
            for i in range(6):
                S[i, a] = col[i]
        for a in range(m):
            H[a, a] += w * BM[a]
            for b in range(m):
                acc = 0.0
                for j in range(6):
                    acc += BJ[a, j] * S[j, b]
                H[a, b] -= w * acc
        for i in range(3):
            for a in range(m):
                sens[f, i, a] = -S[i, a]
        used[f] = True
        sse += w * ee
        dof += dof_f
        nf += 1
    for v in range(V):
        m_per_px[v] = depth[v] / nd[v] if nd[v] > 0 else 0.0
    stats[0] = sse
    stats[1] = dof
    stats[2] = nf
