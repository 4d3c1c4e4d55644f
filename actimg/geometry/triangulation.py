"""Multi-view triangulation of 2D detections."""

from __future__ import annotations

import numpy as np

from . import _kernels as _k
from .._parallel import run_chunks
from .._validate import as_float_array
from .camera import CameraRig, _frame_cameras

__all__ = ["triangulate"]


def check_points2d(points2d: object, rig: CameraRig) -> np.ndarray:
    """Validate ``(V, T, 2)`` detections against ``rig``; a point with one NaN coordinate
    becomes NaN in both (not seen)."""
    x = as_float_array(points2d, "points2d", last=(2,), ndim=(3,), allow_nan=True)
    V, T = x.shape[:2]
    if V != rig.n_views:
        raise ValueError(f"points2d has V={V} views but the rig has {rig.n_views}")
    if rig.n_frames is not None and rig.n_frames != T:
        raise ValueError(f"points2d has T={T} frames but the per-frame rig has T={rig.n_frames}")
    return np.where(np.isnan(x).any(axis=-1, keepdims=True), np.nan, x)


def triangulate(points2d: np.ndarray, rig: CameraRig, weights: np.ndarray | None = None,
                iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate one point per frame from several views.

    Args:
        points2d: ``(V, T, 2)`` pixel detections ``(u, v)`` (pixel centres at integer
            coordinates); NaN marks a view that does not see the point.
        rig: the ``V`` cameras (static, or with ``T`` frames).
        weights: optional ``(V, T)`` non-negative trust per detection (inverse variance,
            px^-2); 0 ignores a detection. Default: all 1.
        iterations: Gauss-Newton steps on the reprojection error after the linear start.

    Returns:
        ``points (T, 3)`` in metres (NaN where fewer than two views see the point, or the
        solution is not in front of the cameras that see it) and
        ``reprojection_error (T, V)`` in pixels (NaN for views without a detection).

    The solution minimises the weighted sum of squared reprojection errors, started from
    the weighted least-squares point closest to the rays; with exact projections it
    returns the point (up to floating point).
    """
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be a CameraRig, got {type(rig).__name__}")
    x = check_points2d(points2d, rig)
    V, T = x.shape[:2]
    if weights is None:
        w = np.ones((V, T))
    else:
        w = as_float_array(weights, "weights")
        if w.shape != (V, T):
            raise ValueError(f"weights must have shape (V={V}, T={T}), got {w.shape}")
        if (w < 0).any():
            raise ValueError("weights must be non-negative")
    w = np.where(np.isnan(x).any(axis=-1), 0.0, w)  # not seen
    Ks, W2C, C2W = _frame_cameras(rig, T)
    uv = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    ww = np.ascontiguousarray(w.T)
    X = np.empty((T, 3))
    err = np.empty((T, V))
    nv = np.empty(T, np.int64)
    run_chunks(_k.triangulate_many, T, uv, ww, Ks, W2C, C2W, X, err, nv, int(iterations), min_items=64)
    bad = (nv < 2) | ~np.isfinite(err).any(axis=1) | np.isinf(err).any(axis=1)
    X[bad] = np.nan
    return X, err
