"""Per-view image drift: a constant pixel offset of one view over a clip, estimated and removed.

A generator may draw one view's whole clip shifted by a pixel or two. Each frame then
triangulates with a residual that no pose can explain, and the decoder rightly reports
those frames as less certain. With three or more views the offset itself is observable:
model each detection as ``uv = project(X) + o_v``, with ``o_v (2,)`` shared by every frame
and point of view ``v``, and solve for the offsets by linear least squares with every
point ``X`` eliminated (per point, the residuals are projected onto the complement of
what moving the point can explain, so an offset is only credited with what triangulation
cannot absorb). A small ridge fixes what no geometry can tell apart (a shift common to
all views that a move of the scene mimics), Huber weights keep a ghost blob or a wrong
detection from pulling the estimate, and the estimate is iterated: the offsets are
removed from the detections, the frames triangulated again, and the residual offsets
added on.

:func:`estimate_view_offsets` is the decoder's stage (``DecodeResult.view_offsets``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["estimate_view_offsets", "MIN_OFFSET_PX"]

#: offsets smaller than this (pixels) are not removed (and reported as 0)
MIN_OFFSET_PX = 0.2


def _project_jac(X: np.ndarray, K: np.ndarray, W2C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(n, 2)`` and Jacobians ``(n, 2, 3)`` (d pixel / d world point) of points
    ``X (n, 3)`` in cameras ``K (n, 3, 3)``, ``W2C (n, 4, 4)``."""
    Rw = W2C[:, :3, :3]
    Xc = np.einsum("nij,nj->ni", Rw, X) + W2C[:, :3, 3]
    x, y, z = Xc[:, 0], Xc[:, 1], Xc[:, 2]
    fx, sk, cx, fy, cy = K[:, 0, 0], K[:, 0, 1], K[:, 0, 2], K[:, 1, 1], K[:, 1, 2]
    iz = 1.0 / z
    uv = np.stack([(fx * x + sk * y) * iz + cx, fy * y * iz + cy], axis=1)
    Jc = np.zeros((X.shape[0], 2, 3))
    Jc[:, 0, 0] = fx * iz
    Jc[:, 0, 1] = sk * iz
    Jc[:, 0, 2] = -(fx * x + sk * y) * iz * iz
    Jc[:, 1, 1] = fy * iz
    Jc[:, 1, 2] = -fy * y * iz * iz
    return uv, np.einsum("nij,njk->nik", Jc, Rw)


def offset_step(uv: np.ndarray, R: np.ndarray, t: np.ndarray, ok: np.ndarray, model: np.ndarray, Ks: np.ndarray,
                W2C: np.ndarray, ridge: float = 1e-3, huber_px: float = 1.0) -> tuple[np.ndarray, np.ndarray, int]:
    """One least-squares estimate of per-view offsets from the residuals of decoded frames.

    Args:
        uv: ``(T, V, 3, 2)`` detections used (NaN where not), pixels.
        R, t: ``(T, 3, 3)``, ``(T, 3)`` decoded poses; ok ``(T,)`` which frames count.
        model: ``(3, 3)`` tool points; Ks ``(T, V, 3, 3)``, W2C ``(T, V, 4, 4)``.
        ridge: relative Tikhonov weight (times the mean diagonal) on the offsets.
        huber_px: Huber threshold on a point's remaining residual (pixels).

    Returns:
        ``(offsets (V, 2), std (V, 2), n_points)``: the offsets that best explain the
        residuals (detections minus reprojections), their standard errors (from the
        residual scatter) and how many points (seen by 2+ views) were used.
    """
    T, V = uv.shape[:2]
    H = np.zeros((2 * V, 2 * V))
    g = np.zeros(2 * V)
    sse = 0.0
    dof = 0
    n_pts = 0
    frames = np.flatnonzero(ok)
    if frames.size == 0:
        return np.zeros((V, 2)), np.full((V, 2), np.inf), 0
    X = np.einsum("fij,pj->fpi", R[frames], model) + t[frames, None, :]  # (F, 3, 3)
    for p in range(3):
        for k, f in enumerate(frames):
            seen = np.flatnonzero(np.isfinite(uv[f, :, p, 0]))
            if seen.size < 2:
                continue
            Xp = np.broadcast_to(X[k, p], (seen.size, 3))
            proj, J = _project_jac(Xp, Ks[f, seen], W2C[f, seen])
            r = (uv[f, seen, p] - proj).reshape(-1)  # (2n,)
            Jm = J.reshape(-1, 3)
            A = Jm.T @ Jm
            try:
                Ai = np.linalg.inv(A)
            except np.linalg.LinAlgError:
                continue
            P = np.eye(r.size) - Jm @ Ai @ Jm.T  # residual maker: what moving X cannot explain
            e = P @ r
            # Huber weight of the point from its remaining residual
            nrm = float(np.sqrt(e @ e / max(1, r.size - 3)))
            wgt = 1.0 if nrm <= huber_px else huber_px / nrm
            idx = (2 * seen[:, None] + np.arange(2)).reshape(-1)
            H[np.ix_(idx, idx)] += wgt * P
            g[idx] += wgt * (P @ r)
            sse += wgt * float(e @ e)
            dof += r.size - 3
            n_pts += 1
    if n_pts == 0:
        return np.zeros((V, 2)), np.full((V, 2), np.inf), 0
    lam = ridge * max(np.trace(H) / (2 * V), 1e-12)
    Hr = H + lam * np.eye(2 * V)
    o = np.linalg.solve(Hr, g)
    var = max(sse - float(o @ g), 0.0) / max(1, dof - 2 * V)
    std = np.sqrt(np.maximum(np.diag(np.linalg.inv(Hr)) * var, 0.0))
    return o.reshape(V, 2), std.reshape(V, 2), n_pts


def estimate_view_offsets(uv: np.ndarray, R: np.ndarray, t: np.ndarray, ok: np.ndarray, model: np.ndarray,
                          Ks: np.ndarray, W2C: np.ndarray, redecode, iters: int = 3) -> np.ndarray | None:
    """The decoder's drift stage: per-view offsets ``(V, 2)`` pixels (``uv = project(X) +
    offset``), or None when no view drifts by :data:`MIN_OFFSET_PX` or more (or fewer
    than 3 views, or fewer than 4 frames decoded from several views).

    ``redecode(offsets)`` decodes the frames again from the detections minus the offsets
    and returns ``(uv, R, t, ok)`` like the inputs; the offsets are refined ``iters``
    times that way. An offset is kept only where it is significant (at least 4 standard
    errors); after the last step the caller's arrays hold the decode with the returned
    offsets removed.
    """
    T, V = uv.shape[:2]
    if V < 3 or int(ok.sum()) < 4:
        return None
    total = np.zeros((V, 2))
    applied = False
    for _ in range(iters):
        o, std, n = offset_step(uv, R, t, ok, model, Ks, W2C)
        if n < 4:
            break
        sig = np.abs(o) >= 4.0 * std
        o = np.where(sig, o, 0.0)
        if not applied and np.hypot(o[:, 0], o[:, 1]).max() < MIN_OFFSET_PX:
            return None  # no view drifts: leave the decode as it is
        total += o
        uv, R, t, ok = redecode(total)
        applied = True
        if np.hypot(o[:, 0], o[:, 1]).max() < 0.02:
            break
    return total if applied else None
