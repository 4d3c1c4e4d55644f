"""Temporal post-processing of decoded trajectories: gap filling and smoothing.

:func:`decode` treats every frame on its own; :func:`smooth` is the optional step after
it that uses time. It fills short gaps (frames the decoder could not read, or read with
too little confidence) by interpolation and then filters the trajectory:

- ``"savgol"`` (default, offline): a centred Savitzky-Golay filter. It has no lag and
  reproduces any trajectory that is a polynomial of degree ``<= polyorder`` in time
  exactly (constant, linear, ... in position; constant angular velocity in rotation).
  Rotations are filtered *on SO(3)*, never on Euler angles, so angle wrap (a yaw passing
  through +-180 deg) causes no artefact. The gripper openness goes through a median
  filter, which removes flicker but keeps open/close steps sharp.
- ``"one_euro"`` (causal, for online use): the 1-euro filter (Casiez et al., CHI 2012),
  an adaptive low-pass whose cutoff rises with speed, so it lags much less than a moving
  average when the tool moves and smooths hard when it is still. Rotations again on
  SO(3).
- ``None``: gap filling only.

Frames are assumed equally spaced in time; times are frame indices (``fps`` converts
them to seconds for the 1-euro filter only).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, RotationSpline, Slerp

from ..codec.decoder import DecodeResult
from ..geometry.rotations import check_rotations, matrix_to_euler
from ..codec.spec import ActionImageSpec, resolve_spec

__all__ = ["smooth", "SmoothResult", "SMOOTH_METHODS", "INTERPOLATIONS"]

#: filters :func:`smooth` offers (``method=None`` too: gap filling only)
SMOOTH_METHODS = ("savgol", "one_euro")
#: how :func:`smooth` fills interior gaps in position (and rotation)
INTERPOLATIONS = ("linear", "cubic")

#: confidence of a filled frame halves per frame of distance from the nearest measured frame
FILL_CONFIDENCE_DECAY = 0.5


@dataclass(frozen=True, eq=False)
class SmoothResult:
    """What :func:`smooth` returns.

    Attributes:
        result: the smoothed :class:`~actimg.decoder.DecodeResult` (new arrays; the input
            is never modified). Its ``actions``, ``positions``, ``rotations``,
            ``openness``, ``points``, ``valid`` and ``confidence`` are the smoothed,
            mutually consistent trajectory; the measurement fields
            (``reprojection_error``, ``detections``, ``detection_weight``,
            ``gripper_floor``) are copied unchanged: they describe the images, not the
            smoothed pose (so ``reprojection_error`` is that of the *decoded* pose).
        filled: ``(T,)`` bool, True where the frame was not measured (invalid, or below
            ``min_confidence``) and was filled by interpolation or held from the
            nearest measured frame. Filled frames have ``result.valid`` True and a
            reduced ``result.confidence``.
    """

    result: DecodeResult
    filled: np.ndarray

    @property
    def rejected(self) -> np.ndarray:
        """``(T,)`` bool: frames neither measured nor filled (``~result.valid``)."""
        return ~self.result.valid

    def __repr__(self) -> str:
        T = self.filled.shape[0]
        return (f"SmoothResult(T={T}, valid={int(self.result.valid.sum())}/{T}, "
                f"filled={int(self.filled.sum())})")


# ---------------------------------------------------------------------------------------
# argument checks


def _check_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(x).__name__} {x!r}")
    return int(x)


def _check_positive(x: object, name: str, *, zero_ok: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r}")
    v = float(x)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not zero_ok):
        raise ValueError(f"{name} must be a finite number {'>= 0' if zero_ok else '> 0'}, got {x!r}")
    return v


def _check_result(result: object) -> int:
    if not isinstance(result, DecodeResult):
        raise TypeError(f"result must be a DecodeResult (from actimg.decode), got {type(result).__name__}")
    T = np.shape(result.actions)[0] if np.ndim(result.actions) >= 1 else -1
    want = {"actions": (T, 7), "positions": (T, 3), "rotations": (T, 3, 3), "openness": (T,),
            "confidence": (T,), "valid": (T,), "points": (T, 3, 3)}
    for name, shape in want.items():
        got = np.shape(getattr(result, name))
        if got != shape:
            raise ValueError(f"result.{name} must have shape {shape} (T={T} from result.actions), got {got}")
    return T


# ---------------------------------------------------------------------------------------
# helpers


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every maximal run of True in a 1-D bool array."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _largest_odd_at_most(n: int) -> int:
    return n if n % 2 == 1 else n - 1


def _savgol_rows(n: int, w: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output weights of ``savgol_filter(x, w, p, mode='interp')`` on ``n >= w`` samples.

    Returns ``idx (n, w)`` sample indices and ``coef (n, w)`` weights:
    ``out[i] = sum_k coef[i, k] * x[idx[i, k]]``. Interior outputs use the centred
    coefficients; the first and last ``w // 2`` outputs evaluate the polynomial fitted to
    the first / last ``w`` samples (as ``mode='interp'`` does).
    """
    from scipy.signal import savgol_filter  # imported here: scipy.signal costs ~0.8 s at import

    C = savgol_filter(np.eye(w), w, p, axis=0, mode="interp")  # row i: weights of output i
    i = np.arange(n)
    start = np.clip(i - w // 2, 0, n - w)
    return start[:, None] + np.arange(w), C[i - start]


def _savgol_so3(rot: Rotation, w: int, p: int, iterations: int = 2) -> Rotation:
    """Savitzky-Golay filter on SO(3) through local rotation vectors.

    For each output frame ``i`` with reference ``R_ref`` (first the input ``R_i``, then
    the previous estimate), the window's rotations are mapped to the tangent space at
    the reference, ``r_k = log(R_ref^T R_k)`` (body-frame rotation vectors, all small, so
    there is no angle wrap), filtered with the Savitzky-Golay weights and mapped back:
    ``R_ref exp(sum_k c_k r_k)``. If ``log(R_i^T R_{i+k})`` is a polynomial of degree
    ``<= p`` in ``k`` (constant angular velocity: linear) the output equals the input.
    Requires the rotation between a frame and any frame in its window to stay below
    180 deg.
    """
    n = len(rot)
    idx, coef = _savgol_rows(n, w, p)
    out_idx = np.repeat(np.arange(n), w)
    samples = rot[idx.ravel()]
    ref = rot
    for _ in range(iterations):
        rel = (ref[out_idx].inv() * samples).as_rotvec().reshape(n, w, 3)
        ref = ref * Rotation.from_rotvec(np.einsum("nw,nwk->nk", coef, rel))
    return ref


def _alpha(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """Exponential smoothing factor of a first-order low-pass with ``cutoff`` Hz."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def _one_euro(pos: np.ndarray, rot: Rotation, frames: np.ndarray, fps: float, min_cutoff: float,
              beta: tuple[float, float], d_cutoff: float) -> tuple[np.ndarray, Rotation]:
    """Causal 1-euro filter of positions ``(n, 3)`` and rotations at frame indices ``frames``.

    Positions: the speed is the norm of the 3-D velocity (m/s), so the filter is
    isotropic. Rotations on SO(3): the step from the previous estimate is the world-frame
    rotation vector ``r = log(R_t R_prev^T)``, its rate (rad/s) is low-passed at
    ``d_cutoff``, and the estimate moves by ``R = exp(alpha r) R_prev``. Elapsed time
    between given frames (a skipped gap) enters ``dt``, so after a long gap the filter
    follows the new measurement almost at once.
    """
    n = len(frames)
    P = pos.copy()
    Rv = rot.as_quat()
    p_hat = pos[0].copy()
    r_hat = rot[0]
    dp_hat = np.zeros(3)
    dr_hat = np.zeros(3)
    for j in range(1, n):
        dt = float(frames[j] - frames[j - 1]) / fps
        a_d = _alpha(d_cutoff, dt)
        # position
        dp = (pos[j] - p_hat) / dt
        dp_hat = a_d * dp + (1.0 - a_d) * dp_hat
        a = _alpha(min_cutoff + beta[0] * float(np.linalg.norm(dp_hat)), dt)
        p_hat = a * pos[j] + (1.0 - a) * p_hat
        P[j] = p_hat
        # rotation
        step = (rot[j] * r_hat.inv()).as_rotvec()
        dr_hat = a_d * (step / dt) + (1.0 - a_d) * dr_hat
        a = _alpha(min_cutoff + beta[1] * float(np.linalg.norm(dr_hat)), dt)
        r_hat = Rotation.from_rotvec(a * step) * r_hat
        Rv[j] = r_hat.as_quat()
    return P, Rotation.from_quat(Rv)


# ---------------------------------------------------------------------------------------
# public


def smooth(result: DecodeResult, *, window: int = 7, polyorder: int = 2, fill_gaps: bool = True,
           max_gap: int | None = None, method: str | None = "savgol", min_confidence: float = 0.0,
           interpolation: str = "linear", openness_window: int | None = None,
           min_cutoff: float = 1.0, beta: float | tuple[float, float] = 0.0, d_cutoff: float = 1.0,
           fps: float = 30.0,
           spec: ActionImageSpec | None = None) -> SmoothResult:
    """Fill gaps in, and smooth, a decoded trajectory (an optional step after ``decode``).

    1. **Measured frames** are those with ``valid`` True, finite pose and openness, and
       ``confidence >= min_confidence``. Every other frame is a *gap* frame; a frame
       rejected by ``min_confidence`` is treated exactly like an invalid one.
    2. **Gap filling** (``fill_gaps=True``), for each maximal run of gap frames no longer
       than ``max_gap`` frames (``None``: any length):

       - interior gaps: positions by interpolation in time between the measured frames
         (``interpolation="linear"``: straight line between the two neighbours;
         ``"cubic"``: a cubic spline through the measured frames of the stretch);
         rotations by SLERP between the two neighbours (``"cubic"``: scipy's
         ``RotationSpline``); openness from the nearest measured frame (the earlier one on
         a tie);
       - leading / trailing gaps (before the first or after the last measured frame):
         pose and openness held constant at the nearest measured frame;
       - filled frames become ``valid`` with confidence
         ``c * 0.5 ** d``, ``d`` the distance in frames to the nearest measured frame and
         ``c`` the confidence of the measured neighbour (the lower of the two for an
         interior gap), and are marked in ``SmoothResult.filled``.

       Gaps longer than ``max_gap``, and every gap when ``fill_gaps=False``, stay invalid
       (NaN actions and pose, confidence 0) and split the trajectory: ``"savgol"``
       filters each valid stretch on its own (``"one_euro"`` carries its state across
       the gap, see below). An input with no measured frame comes back all invalid.
    3. **Filtering** of each valid stretch (``method``):

       - ``"savgol"``: centred Savitzky-Golay filter (``scipy.signal.savgol_filter``,
         ``mode='interp'``: the ends use the polynomial fitted to the first / last
         ``window`` frames, so there is no lag anywhere and polynomials of degree
         ``<= polyorder`` pass unchanged). Positions directly; rotations on SO(3) by the
         same weights applied to rotation vectors ``log(R_ref^T R_k)`` relative to the
         frame being estimated, then mapped back with ``exp`` (two fixed-point passes;
         see ``_savgol_so3``); this handles angle wrap, and a constant angular velocity
         passes unchanged, as long as the tool turns less than 180 deg within a window.
         Openness: median filter of ``openness_window`` frames (default ``window``;
         edges repeat the end value), which removes flicker shorter than half the
         window and keeps steps sharp. A stretch shorter than ``window`` uses the
         largest odd window that fits (if that is ``<= polyorder`` it is left as is).
       - ``"one_euro"``: causal 1-euro filter (each output depends only on the present
         and past frames) with cutoff ``min_cutoff + beta * speed`` Hz, the speed
         low-passed at ``d_cutoff`` Hz; ``fps`` converts frames to seconds. Speed is in
         m/s for positions and rad/s for rotations (so ``beta`` is in s/m and s/rad;
         one number is used for both, a pair gives ``(position, rotation)``).
         Rotations on SO(3) via world-frame rotation vectors of the step from the
         previous estimate. Openness is not filtered (a
         causal median would delay every gripper step). Note that interior gap filling
         looks ahead to the next measured frame: for strictly causal use pass
         ``fill_gaps=False`` (gaps are then skipped, the filter state carries over with
         the elapsed time).
       - ``None``: no filtering (gap filling only).

    4. ``actions``, ``positions``, ``rotations``, ``openness`` and ``points`` are
       rebuilt from the filtered pose: ``actions[:, 3:6]`` are the Euler angles of the
       smoothed rotations in ``spec.euler`` (scipy ranges), ``points = t + R @
       spec.tool_points`` (P, N, U); a point that no input frame measured (the
       ``"published"`` decoder's U) stays NaN.

    Args:
        result: a :class:`~actimg.decoder.DecodeResult`; not modified.
        window: Savitzky-Golay window in frames: odd, ``>= 3``, ``> polyorder`` and
            ``<= T``. Used only by ``method="savgol"``.
        polyorder: Savitzky-Golay polynomial degree, ``0 <= polyorder < window``.
        fill_gaps: fill gaps (step 2); False leaves every gap invalid.
        max_gap: longest gap, in frames, that is filled (``None``: no limit; 0: none).
        method: ``"savgol"``, ``"one_euro"`` or ``None``.
        min_confidence: frames with a lower confidence are treated as gaps (in [0, 1]).
        interpolation: ``"linear"`` or ``"cubic"`` gap filling.
        openness_window: median window for openness (odd, ``>= 1``; default ``window``).
        min_cutoff: 1-euro minimum cutoff frequency, Hz (``> 0``).
        beta: 1-euro speed coefficient (``>= 0``; 0: a fixed low-pass at ``min_cutoff``),
            or a pair ``(beta_position, beta_rotation)`` (s/m, s/rad).
        d_cutoff: 1-euro cutoff for the speed estimate, Hz (``> 0``).
        fps: frame rate, Hz, for the 1-euro filter.
        spec: the format the result was decoded with (Euler sequence and tool points;
            default ``ActionImageSpec()``).

    Returns:
        :class:`SmoothResult` with ``result`` (the smoothed ``DecodeResult``, same
        ``method``) and ``filled`` (``(T,)`` bool).

    Raises:
        TypeError: ``result`` is not a ``DecodeResult``, or an option has the wrong type.
        ValueError: inconsistent shapes in ``result``, a measured rotation that is not a
            rotation matrix, or an option out of range (see above).
    """
    from scipy.interpolate import CubicSpline
    from scipy.ndimage import median_filter
    from scipy.signal import savgol_filter

    spec = resolve_spec(spec)
    if not isinstance(spec, ActionImageSpec):
        raise TypeError(f"spec must be an ActionImageSpec, got {type(spec).__name__}")
    T = _check_result(result)
    if method is not None and method not in SMOOTH_METHODS:
        raise ValueError(f"method must be one of {SMOOTH_METHODS} or None (gap filling only), got {method!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if not isinstance(fill_gaps, (bool, np.bool_)):
        raise TypeError(f"fill_gaps must be a bool, got {type(fill_gaps).__name__}")
    if max_gap is not None:
        max_gap = _check_int(max_gap, "max_gap")
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0 frames or None (no limit), got {max_gap}")
    min_conf = _check_positive(min_confidence, "min_confidence", zero_ok=True)
    if min_conf > 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    if method == "savgol":
        window = _check_int(window, "window")
        polyorder = _check_int(polyorder, "polyorder")
        if window < 3 or window % 2 == 0:
            raise ValueError(f"window must be an odd number of frames >= 3 (centred, no lag), got {window}")
        if polyorder < 0:
            raise ValueError(f"polyorder must be >= 0, got {polyorder}")
        if polyorder >= window:
            raise ValueError(f"polyorder must be less than window, got polyorder={polyorder} >= window={window}")
        if window > T:
            raise ValueError(f"window={window} is longer than the trajectory (T={T} frames); use an odd "
                             f"window <= {_largest_odd_at_most(T)} or method=None")
        o_win = window if openness_window is None else _check_int(openness_window, "openness_window")
        if o_win < 1 or o_win % 2 == 0:
            raise ValueError(f"openness_window must be an odd number of frames >= 1, got {o_win}")
    elif method == "one_euro":
        min_cutoff = _check_positive(min_cutoff, "min_cutoff")
        if isinstance(beta, (tuple, list)):
            if len(beta) != 2:
                raise ValueError(f"beta must be a number or a pair (position, rotation), got {beta!r}")
            betas = (_check_positive(beta[0], "beta[0]", zero_ok=True),
                     _check_positive(beta[1], "beta[1]", zero_ok=True))
        else:
            b = _check_positive(beta, "beta", zero_ok=True)
            betas = (b, b)
        d_cutoff = _check_positive(d_cutoff, "d_cutoff")
        fps = _check_positive(fps, "fps")

    # copies of the input: never write into it
    pos_in = np.array(result.positions, dtype=np.float64)
    R_in = np.array(result.rotations, dtype=np.float64)
    opn_in = np.array(result.openness, dtype=np.float64)
    conf_in = np.nan_to_num(np.array(result.confidence, dtype=np.float64), nan=0.0)
    valid_in = np.array(result.valid, dtype=bool)
    points_in = np.asarray(result.points, dtype=np.float64)

    measured = (valid_in & np.isfinite(pos_in).all(axis=1) & np.isfinite(R_in).all(axis=(1, 2))
                & np.isfinite(opn_in) & np.isfinite(np.asarray(result.actions, dtype=np.float64)).all(axis=1)
                & (conf_in >= min_conf))
    if measured.any():
        check_rotations(R_in[measured], "result.rotations[valid]", tol=1e-4)

    pos = np.full((T, 3), np.nan)
    quat = np.full((T, 4), np.nan)
    opn = np.full(T, np.nan)
    conf = np.zeros(T)
    filled = np.zeros(T, dtype=bool)
    mi = np.flatnonzero(measured)
    if mi.size:
        pos[mi] = pos_in[mi]
        quat[mi] = Rotation.from_matrix(R_in[mi]).as_quat()
        opn[mi] = opn_in[mi]
        conf[mi] = conf_in[mi]

    # --- 2. gap filling ------------------------------------------------------------------
    if fill_gaps and mi.size:
        first, last = int(mi[0]), int(mi[-1])
        for s, e in _runs(~measured):
            if max_gap is not None and e - s > max_gap:
                continue
            filled[s:e] = True
            if e <= first or s > last:  # leading / trailing: hold
                k = first if e <= first else last
                pos[s:e], quat[s:e], opn[s:e] = pos[k], quat[k], opn[k]
                conf[s:e] = conf[k] * FILL_CONFIDENCE_DECAY ** np.abs(np.arange(s, e) - k)
                continue
            left, right = s - 1, e
            t = np.arange(s, e)
            dl, dr = t - left, right - t
            near = np.where(dl <= dr, left, right)
            opn[s:e] = opn[near]
            conf[s:e] = min(conf[left], conf[right]) * FILL_CONFIDENCE_DECAY ** np.minimum(dl, dr)
            if interpolation == "linear":
                a = (dl / (right - left))[:, None]
                pos[s:e] = (1.0 - a) * pos[left] + a * pos[right]
                quat[s:e] = Slerp([left, right], Rotation.from_quat(quat[[left, right]]))(t).as_quat()
        if interpolation == "cubic":
            # one spline per stretch of (measured or filled) frames through its measured frames
            for s, e in _runs(measured | filled):
                sm = mi[(mi >= s) & (mi < e)]
                gap_t = np.flatnonzero(filled[s:e]) + s
                gap_t = gap_t[(gap_t > sm[0]) & (gap_t < sm[-1])]  # holds stay held
                if gap_t.size == 0:
                    continue
                pos[gap_t] = CubicSpline(sm, pos[sm], axis=0)(gap_t)
                quat[gap_t] = RotationSpline(sm, Rotation.from_quat(quat[sm]))(gap_t).as_quat()

    ok = measured | filled

    # --- 3. filtering --------------------------------------------------------------------
    if method == "savgol":
        for s, e in _runs(ok):  # each valid stretch on its own
            n = e - s
            w = min(window, _largest_odd_at_most(n))
            if w > polyorder:
                pos[s:e] = savgol_filter(pos[s:e], w, polyorder, axis=0, mode="interp")
                quat[s:e] = _savgol_so3(Rotation.from_quat(quat[s:e]), w, polyorder).as_quat()
            wo = min(o_win, _largest_odd_at_most(n))
            if wo > 1:
                opn[s:e] = median_filter(opn[s:e], size=wo, mode="nearest")
    elif method == "one_euro":
        # causal: one pass over every valid frame in order; gaps left invalid are skipped
        # with their elapsed time (dt) instead of restarting the filter
        idx = np.flatnonzero(ok)
        if idx.size > 1:
            p, r = _one_euro(pos[idx], Rotation.from_quat(quat[idx]), idx, fps, min_cutoff, betas, d_cutoff)
            pos[idx], quat[idx] = p, r.as_quat()

    # --- 4. rebuild the result -----------------------------------------------------------
    R = np.full((T, 3, 3), np.nan)
    actions = np.full((T, 7), np.nan)
    points = np.full((T, 3, 3), np.nan)
    oi = np.flatnonzero(ok)
    if oi.size:
        R[oi] = Rotation.from_quat(quat[oi]).as_matrix()
        actions[oi, :3] = pos[oi]
        actions[oi, 3:6] = matrix_to_euler(R[oi], spec.euler)
        actions[oi, 6] = opn[oi]
        points[oi] = pos[oi, None, :] + np.einsum("tij,pj->tpi", R[oi], spec.tool_points)
        if mi.size:
            never = np.isnan(points_in[mi]).any(axis=2).all(axis=0)  # (3,) point never measured
            points[:, never] = np.nan
    pos[~ok] = np.nan
    opn[~ok] = np.nan
    conf[~ok] = 0.0
    out = DecodeResult(
        actions=actions, positions=pos, rotations=R, openness=opn, confidence=conf, valid=ok.copy(),
        reprojection_error=np.array(result.reprojection_error, copy=True),
        detections=np.array(result.detections, copy=True),
        detection_weight=np.array(result.detection_weight, copy=True),
        points=points, gripper_floor=np.array(result.gripper_floor, copy=True), method=result.method,
        single_view=None if result.single_view is None else np.where(ok, result.single_view & ~filled, False),
        position_std=None if result.position_std is None else np.where(ok & ~filled, result.position_std, np.nan),
        rotation_std=None if result.rotation_std is None else np.where(ok & ~filled, result.rotation_std, np.nan),
        ambiguous=None if result.ambiguous is None else np.where(ok & ~filled, result.ambiguous, False))
    return SmoothResult(result=out, filled=filled)
