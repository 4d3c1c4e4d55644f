"""Calibration tools: simulated calibration noise, self-calibration, triangulation baselines.

* :func:`perturb_rig` -- seeded calibration noise (a consistently miscalibrated rig);
* :func:`refine_rig` -- self-calibration of the extrinsics by bundle adjustment, with a
  per-view diagnosis of systematically offset views (:class:`RigRefinement`);
* :func:`triangulation_reference` -- what exact 2D observations triangulate to through a
  miscalibrated rig (the error floor that calibration noise sets);
* :func:`dlt_triangulate`, :func:`optimal_triangulate` -- comparison triangulators with
  the interface of :func:`actimg.triangulate`.

Conventions are :mod:`actimg`'s: OpenCV camera axes, ``cam2world`` extrinsics, pixels
``(u, v) = (column, row)`` with pixel centres at integer coordinates, metres, and
residual = detection - reprojection (pixels).

Rig corrections and perturbations are rigid transforms ``C`` applied in the **world
frame by left multiplication**: ``new_cam2world = C @ old_cam2world``. One ``C`` per
view; a per-frame rig gets the same ``C`` for every frame of a view (a miscalibrated
camera is consistently wrong). ``C`` rotates about the view's mean camera centre
``c`` (over frames) and then moves that centre: ``C = T(c + dc) @ R @ T(-c)``, so a
static camera keeps its centre under a pure rotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeResult, least_squares

from .._validate import as_float_array
from ..geometry.camera import CameraRig, _invert_rigid
from ..geometry.rotations import rotation_angle_deg
from ..geometry.triangulation import check_points2d, triangulate

__all__ = [
    "POSE_NOISE", "SCALE_GAUGES", "RigRefinement", "perturb_rig", "refine_rig", "triangulation_reference",
    "dlt_triangulate", "optimal_triangulate",
]

#: Distributions of :func:`perturb_rig`'s pose noise, by name: ``"exact"`` (rotation angle
#: and centre displacement exactly as requested, random axis and direction; the default)
#: or ``"gaussian"`` (isotropic Gaussian rotation vector and displacement whose RMS
#: magnitudes are as requested).
POSE_NOISE = ("exact", "gaussian")

#: Scale gauges of :func:`refine_rig`, by name (see there): ``"centres"`` (default) or
#: ``"baseline"``.
SCALE_GAUGES = ("centres", "baseline")

#: Fewest usable points (seen by 2+ views) that every view must observe in refine_rig.
MIN_POINTS_PER_VIEW = 4


# ------------------------------------------------------------------------ helpers
def _skew(w: np.ndarray) -> np.ndarray:
    """``(..., 3)`` -> ``(..., 3, 3)`` cross-product matrices ``[w]_x``."""
    out = np.zeros(w.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -w[..., 2], w[..., 1]
    out[..., 1, 0], out[..., 1, 2] = w[..., 2], -w[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -w[..., 1], w[..., 0]
    return out


def _rodrigues(omega: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` (radians) -> rotation matrices ``(..., 3, 3)``.

    Exactly the identity for a zero vector; a series near zero keeps it smooth.
    """
    th2 = np.einsum("...i,...i->...", omega, omega)
    th = np.sqrt(th2)
    small = th < 1e-4
    ths = np.where(small, 1.0, th)
    a = np.where(small, 1.0 - th2 / 6.0, np.sin(ths) / ths)
    b = np.where(small, 0.5 - th2 / 24.0, (1.0 - np.cos(ths)) / (ths * ths))
    k = _skew(omega)
    return np.eye(3) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def _left_jacobian(omega: np.ndarray) -> np.ndarray:
    """SO(3) left Jacobian ``(..., 3, 3)``: ``R(w + dw) ~ exp([J_l(w) dw]_x) R(w)``."""
    th2 = np.einsum("...i,...i->...", omega, omega)
    th = np.sqrt(th2)
    small = th < 1e-4
    ths = np.where(small, 1.0, th)
    b = np.where(small, 0.5 - th2 / 24.0, (1.0 - np.cos(ths)) / (ths * ths))
    c = np.where(small, 1.0 / 6.0 - th2 / 120.0, (ths - np.sin(ths)) / (ths ** 3))
    k = _skew(omega)
    return np.eye(3) + b[..., None, None] * k + c[..., None, None] * (k @ k)


def _rigid(R: np.ndarray, pivot: np.ndarray, new_pivot: np.ndarray) -> np.ndarray:
    """``(V, 4, 4)`` transforms ``T(new_pivot) @ R @ T(-pivot)`` (rotate about ``pivot``, move it)."""
    C = np.zeros(R.shape[:-2] + (4, 4))
    C[..., :3, :3] = R
    C[..., :3, 3] = new_pivot - np.einsum("...ij,...j->...i", R, pivot)
    C[..., 3, 3] = 1.0
    return C


def _apply(rig: CameraRig, C: np.ndarray, K: np.ndarray | None = None) -> CameraRig:
    """``rig`` with ``new_cam2world = C[v] @ old_cam2world`` (every frame of view v)."""
    E = rig.extrinsics
    new = C @ E if E.ndim == 3 else C[:, None] @ E
    return CameraRig(rig.intrinsics if K is None else K, new, rig.height, rig.width)


def _mean_centres(rig: CameraRig) -> np.ndarray:
    """``(V, 3)`` camera centres, averaged over frames for a per-frame rig."""
    c = rig.extrinsics[..., :3, 3]
    return c if c.ndim == 2 else c.mean(axis=1)


def _check_rig(rig: object) -> CameraRig:
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be a CameraRig, got {type(rig).__name__}")
    return rig


def _nonneg(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _int(value: object, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


# -------------------------------------------------------------------- perturb_rig
def perturb_rig(rig: CameraRig, rotation_deg: float = 0.0, translation_m: float = 0.0, focal_rel: float = 0.0,
                principal_px: float = 0.0, seed: int | np.random.Generator | None = None, *,
                pose_noise: str = "exact") -> CameraRig:
    """A copy of ``rig`` with seeded, per-view calibration noise.

    Noise model, per view ``v`` (drawn once, in a fixed order, so that a seed gives the
    same axes and directions whatever the magnitudes: sweeping ``rotation_deg`` with a
    fixed seed scales one set of perturbations):

    * rotation about the view's (mean) camera centre, by a uniformly random axis. With
      ``pose_noise="exact"`` (default) the angle is exactly ``rotation_deg``; with
      ``"gaussian"`` the rotation vector is isotropic Gaussian with per-axis standard
      deviation ``rotation_deg / sqrt(3)``, so the RMS angle is ``rotation_deg``;
    * displacement of the camera centre in a uniformly random direction: exactly
      ``translation_m`` metres (``"exact"``), or an isotropic Gaussian vector with RMS
      length ``translation_m`` (``"gaussian"``);
    * focal lengths: ``fx``, ``fy`` (and the skew) scaled by one factor
      ``1 + N(0, focal_rel)`` (a zoom; ``focal_rel`` is the standard deviation of the
      relative change);
    * principal point: ``cx`` and ``cy`` each shifted by ``N(0, principal_px)`` pixels
      (standard deviation per coordinate).

    The pose noise is the world-frame left multiplication ``new_cam2world = C_v @
    cam2world`` with ``C_v = T(c_v + d_v) @ R_v @ T(-c_v)``, ``c_v`` the view's mean centre.
    A static rig gets one perturbation per view; a per-frame rig gets that view's same
    ``C_v`` (and the same intrinsics change) in every frame: a miscalibrated camera is
    consistently wrong. So every frame's orientation is off by exactly the same
    rotation, and the mean centre moves by exactly ``d_v`` (a frame's centre by ``d_v``
    plus the rotation of its offset from the mean, sub-millimetre for the small jitter of
    :func:`actimg.testing.rigs`).

    Args:
        rig: the calibrated rig (static or per-frame).
        rotation_deg: rotation magnitude in degrees (>= 0).
        translation_m: centre displacement magnitude in metres (>= 0).
        focal_rel: standard deviation of the relative focal-length change (>= 0).
        principal_px: standard deviation of the principal-point shift, pixels (>= 0).
        seed: ``None`` (fresh entropy), an int, or a ``numpy.random.Generator``.
        pose_noise: ``"exact"`` or ``"gaussian"`` (see :data:`POSE_NOISE`).

    Returns:
        A new :class:`~actimg.CameraRig` of the same kind (static / per-frame, same
        shapes and image size). All magnitudes zero returns an identical rig.

    Raises:
        TypeError: ``rig`` is not a CameraRig, or a magnitude is not a real number.
        ValueError: a negative or non-finite magnitude, an unknown ``pose_noise``, or a
            drawn focal factor ``<= 0`` (``focal_rel`` far too large).
    """
    rig = _check_rig(rig)
    rot = math.radians(_nonneg(rotation_deg, "rotation_deg"))
    trans = _nonneg(translation_m, "translation_m")
    frel = _nonneg(focal_rel, "focal_rel")
    pp = _nonneg(principal_px, "principal_px")
    if pose_noise not in POSE_NOISE:
        raise ValueError(f"pose_noise must be one of {POSE_NOISE}, got {pose_noise!r}")
    if isinstance(seed, bool) or (seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator))):
        raise TypeError(f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    V = rig.n_views
    g_rot = rng.standard_normal((V, 3))
    g_tr = rng.standard_normal((V, 3))
    g_f = rng.standard_normal(V)
    g_pp = rng.standard_normal((V, 2))
    if pose_noise == "exact":
        omega = rot * g_rot / np.linalg.norm(g_rot, axis=-1, keepdims=True)
        d = trans * g_tr / np.linalg.norm(g_tr, axis=-1, keepdims=True)
    else:
        omega = rot / math.sqrt(3.0) * g_rot
        d = trans / math.sqrt(3.0) * g_tr
    factor = 1.0 + frel * g_f
    if (factor <= 0).any():
        v = int(np.argmax(factor <= 0))
        raise ValueError(f"focal_rel={focal_rel} drew a focal factor {factor[v]:.3f} <= 0 for view {v}; "
                         "use a (much) smaller focal_rel")
    c = _mean_centres(rig)
    C = _rigid(_rodrigues(omega), c, c + d)
    K = np.array(rig.intrinsics, copy=True)
    fb = factor if K.ndim == 3 else factor[:, None]
    sb = pp * (g_pp if K.ndim == 3 else g_pp[:, None])
    K[..., 0, 0] *= fb
    K[..., 0, 1] *= fb
    K[..., 1, 1] *= fb
    K[..., 0, 2] += sb[..., 0]
    K[..., 1, 2] += sb[..., 1]
    return _apply(rig, C, K)


# --------------------------------------------------------------- shared projection
@dataclass(frozen=True)
class _Obs:
    """Flattened observations ``n``: which view, frame and point, the (given) camera of
    that view and frame, the detection and its sqrt weight."""

    view: np.ndarray    # (n,) int
    frame: np.ndarray   # (n,) int
    point: np.ndarray   # (n,) int, index into the packed usable points
    R: np.ndarray       # (n, 3, 3) world2cam rotation of the given rig
    t: np.ndarray       # (n, 3) world2cam translation
    K: np.ndarray       # (n, 3, 3)
    uv: np.ndarray      # (n, 2) detections, px
    sw: np.ndarray      # (n,) sqrt(weight)


def _project_cam(xc: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points ``(n, 3)`` -> pixels ``(n, 2)`` with per-point ``K (n, 3, 3)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = xc[:, 0] / xc[:, 2]
        y = xc[:, 1] / xc[:, 2]
    return np.stack([K[:, 0, 0] * x + K[:, 0, 1] * y + K[:, 0, 2], K[:, 1, 1] * y + K[:, 1, 2]], axis=-1)


def _residuals_given(obs: _Obs, X: np.ndarray) -> np.ndarray:
    """Unweighted residuals ``(n, 2)`` detection - reprojection of ``X (N, 3)`` through the given rig."""
    xc = np.einsum("nij,nj->ni", obs.R, X[obs.point]) + obs.t
    return obs.uv - _project_cam(xc, obs.K)


# -------------------------------------------------------------------- bundle adjustment
class _Bundle:
    """Extrinsic corrections of the movable views plus the 3D points, packed in one vector.

    Per movable view: rotation vector ``w`` (3) then centre displacement ``d`` (3); the
    scale-gauge view (``baseline`` gauge) instead has ``w`` and two tangent coordinates
    ``(a, b)`` that move its centre on the sphere of fixed radius about the reference
    centre. Then the points, 3 per usable point.
    """

    def __init__(self, obs: _Obs, V: int, ref: int, cbar: np.ndarray, scale_view: int, n_points: int):
        self.obs, self.V, self.ref, self.cbar, self.sv = obs, V, ref, cbar, scale_view
        self.cref = cbar[ref]
        d0 = cbar[scale_view] - self.cref
        self.radius0 = float(np.linalg.norm(d0))
        self.d0 = d0 / self.radius0
        a = np.eye(3)[int(np.argmin(np.abs(self.d0)))]
        e1 = np.cross(self.d0, a)
        e1 /= np.linalg.norm(e1)
        self.E12 = np.stack([e1, np.cross(self.d0, e1)], axis=-1)  # (3, 2)
        self.offset = np.full(V, -1)
        self.size = np.zeros(V, int)
        o = 0
        for v in range(V):
            if v == ref:
                continue
            self.offset[v], self.size[v] = o, (5 if v == scale_view else 6)
            o += self.size[v]
        self.n_cam = o
        self.n_points = n_points
        self.n = o + 3 * n_points
        self._structure()

    # parameters <-> geometry
    def pack(self, omega: np.ndarray, centres: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Parameters for rotations ``omega (V, 3)``, new mean centres ``(V, 3)``, points ``(N, 3)``."""
        x = np.zeros(self.n)
        for v in range(self.V):
            if v == self.ref:
                continue
            o = self.offset[v]
            x[o:o + 3] = omega[v]
            if v == self.sv:
                u = centres[v] - self.cref
                u = u / (u @ self.d0)  # on the tangent plane through d0
                x[o + 3:o + 5] = self.E12.T @ u
            else:
                x[o + 3:o + 6] = centres[v] - self.cbar[v]
        x[self.n_cam:] = X.ravel()
        return x

    def unpack(self, x: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``omega (V, 3)``, new mean centres ``(V, 3)``, points ``(N, 3)``, and the
        scale view's tangent vector ``q (3,)`` (centre = cref + radius * q / |q|)."""
        omega = np.zeros((self.V, 3))
        centres = self.cbar.copy()
        q = self.d0
        for v in range(self.V):
            if v == self.ref:
                continue
            o = self.offset[v]
            omega[v] = x[o:o + 3]
            if v == self.sv:
                q = self.d0 + self.E12 @ x[o + 3:o + 5]
                centres[v] = self.cref + radius * q / np.linalg.norm(q)
            else:
                centres[v] = self.cbar[v] + x[o + 3:o + 6]
        return omega, centres, x[self.n_cam:].reshape(-1, 3), q

    # residuals and Jacobian
    def _cam(self, x: np.ndarray, radius: float) -> tuple[np.ndarray, ...]:
        """Rotation vectors, correction rotations, ``Y = X - centre`` and camera points per observation."""
        omega, centres, X, q = self.unpack(x, radius)
        Rc = _rodrigues(omega)
        o = self.obs
        Y = X[o.point] - centres[o.view]
        Z = np.einsum("nji,nj->ni", Rc[o.view], Y) + self.cbar[o.view]  # Rc^T Y + cbar
        xc = np.einsum("nij,nj->ni", o.R, Z) + o.t
        return omega, Rc, Y, xc, q

    def residuals(self, x: np.ndarray, radius: float) -> np.ndarray:
        o = self.obs
        _, _, _, xc, _ = self._cam(x, radius)
        r = (_project_cam(xc, o.K) - o.uv) * o.sw[:, None]
        return r.ravel()

    def _structure(self) -> None:
        o = self.obs
        n = o.view.size
        rows, cols, self._cam_idx = [], [], []
        # point blocks: (n, 2, 3)
        r = (2 * np.arange(n))[:, None, None] + np.arange(2)[None, :, None]
        c = self.n_cam + 3 * o.point[:, None, None] + np.arange(3)[None, None, :]
        rows.append(np.broadcast_to(r, (n, 2, 3)).ravel())
        cols.append(np.broadcast_to(c, (n, 2, 3)).ravel())
        for v in range(self.V):
            if v == self.ref:
                continue
            idx = np.flatnonzero(o.view == v)
            m = self.size[v]
            r = (2 * idx)[:, None, None] + np.arange(2)[None, :, None]
            c = self.offset[v] + np.arange(m)[None, None, :]
            rows.append(np.broadcast_to(r, (idx.size, 2, m)).ravel())
            cols.append(np.broadcast_to(c, (idx.size, 2, m)).ravel())
            self._cam_idx.append((v, idx))
        self._rows, self._cols = np.concatenate(rows), np.concatenate(cols)
        self._shape = (2 * n, self.n)

    def jacobian(self, x: np.ndarray, radius: float) -> sp.csr_matrix:
        o = self.obs
        omega, Rc, Y, xc, q = self._cam(x, radius)
        z = xc[:, 2]
        K = o.K
        P = np.zeros((xc.shape[0], 2, 3))  # d pixel / d camera point
        P[:, 0, 0] = K[:, 0, 0] / z
        P[:, 0, 1] = K[:, 0, 1] / z
        P[:, 0, 2] = -(K[:, 0, 0] * xc[:, 0] + K[:, 0, 1] * xc[:, 1]) / z ** 2
        P[:, 1, 1] = K[:, 1, 1] / z
        P[:, 1, 2] = -K[:, 1, 1] * xc[:, 1] / z ** 2
        M = o.R @ np.swapaxes(Rc[o.view], -1, -2)  # d camera point / d world point
        A = o.sw[:, None, None] * (P @ M)  # (n, 2, 3) d residual / d point
        data = [A.ravel()]
        Jl = _left_jacobian(omega)
        for v, idx in self._cam_idx:
            Av = A[idx]
            drot = Av @ _skew(Y[idx]) @ Jl[v]  # d(Rc^T y)/dw = Rc^T [y]_x J_l(w)
            if v == self.sv:
                nq = np.linalg.norm(q)
                u = q / nq
                dc = radius * (np.eye(3) - np.outer(u, u)) @ self.E12 / nq  # (3, 2)
                dtr = -Av @ dc
            else:
                dtr = -Av
            data.append(np.concatenate([drot, dtr], axis=-1).ravel())
        return sp.csr_matrix((np.concatenate(data), (self._rows, self._cols)), shape=self._shape)

    def solve(self, x0: np.ndarray, radius: float, iterations: int, loss: str) -> OptimizeResult:
        # sparse Jacobian, trust-region steps by LSMR with tight tolerances (exact data
        # then converge to ~1e-13 px)
        return least_squares(self.residuals, x0, jac=self.jacobian, args=(radius,), method="trf", x_scale="jac",
                             loss=loss, max_nfev=iterations, ftol=1e-12, xtol=1e-12, gtol=1e-12,
                             tr_solver="lsmr", tr_options=dict(atol=1e-12, btol=1e-12))


# ------------------------------------------------------------------- RigRefinement
@dataclass(frozen=True, eq=False)
class RigRefinement:
    """What :func:`refine_rig` found. ``V`` views, ``T`` frames, ``P`` points per frame.

    Attributes:
        rig: the corrected :class:`~actimg.CameraRig` (same kind as the input; intrinsics
            unchanged; the reference view is unchanged).
        corrections: ``(V, 4, 4)`` rigid world-frame corrections, applied by left
            multiplication: ``new_cam2world = corrections[v] @ old_cam2world`` (every
            frame of view ``v``); the identity for the reference view.
        rotation_deg: ``(V,)`` rotation angle of each correction, degrees.
        translation_m: ``(V,)`` how far each correction moved the view's (mean) camera
            centre, metres.
        points: ``(T, P, 3)`` refined 3D points, metres (NaN where not usable).
        initial_points: ``(T, P, 3)`` the starting points (triangulated through the
            given rig, or as passed).
        n_observations: ``(V,)`` detections used per view.
        rms_before: ``(V,)`` RMS reprojection error (px, unweighted) of the detections
            against the starting points through the given rig.
        rms_after: ``(V,)`` the same for the refined points through the refined rig.
        mean_residual_px: ``(V, 2)`` weighted mean residual ``(du, dv)`` = detection -
            reprojection through the *given* (unrefined) rig, with the refined geometry
            mapped onto the given rig by the similarity transform that most views agree
            with (least median of squares over views, candidates fitted to pairs of
            views). A view whose calibration is off shows its whole offset here while
            well calibrated views stay near 0 (the residuals of a plain triangulation
            would spread one view's error over all views). See ``offsets_relative_to``.
        offset_px: ``(V,)`` ``|mean_residual_px|``, pixels.
        offset_z: ``(V,)`` the offset relative to its standard error (from the scatter
            of the residuals): ``sqrt((du / se_u)^2 + (dv / se_v)^2)``.
        suspect_views: views with ``offset_px > suspect_px`` and ``offset_z > suspect_z``
            (systematically offset), ascending.
        suspect_px, suspect_z: the thresholds used.
        reference_view: the view held fixed (gauge).
        offsets_relative_to: ``"consensus"`` (the similarity most views agree with; the
            reference view is diagnosed like any other, so a miscalibrated reference is
            found) or ``"reference"`` (used when more than half of the views would be
            suspect under the consensus, i.e. there is no consistent majority: every view
            is then measured against the reference view, which is never suspect).
        scale_gauge: the scale gauge used (see :func:`refine_rig`).
        cost_before, cost_after: half the weighted sum of squared residuals.
        iterations: solver function evaluations used; ``converged``: whether the solver
            met its tolerances (rather than the iteration limit); ``message``: its text.

    Note: the mean residual measures a view's *shift*; a roll about the optical axis or a
    zoom about the image centre leaves it near 0 (see ``rms_before`` and the corrections).
    """

    rig: CameraRig
    corrections: np.ndarray
    rotation_deg: np.ndarray
    translation_m: np.ndarray
    points: np.ndarray
    initial_points: np.ndarray
    n_observations: np.ndarray
    rms_before: np.ndarray
    rms_after: np.ndarray
    mean_residual_px: np.ndarray
    offset_px: np.ndarray
    offset_z: np.ndarray
    suspect_views: tuple[int, ...]
    suspect_px: float
    suspect_z: float
    reference_view: int
    offsets_relative_to: str
    scale_gauge: str
    cost_before: float
    cost_after: float
    iterations: int
    converged: bool
    message: str

    def __repr__(self) -> str:
        return (f"RigRefinement(V={self.rig.n_views}, reference_view={self.reference_view}, "
                f"rms {np.sqrt(np.mean(self.rms_before ** 2)):.3f} -> {np.sqrt(np.mean(self.rms_after ** 2)):.3f} px, "
                f"suspect_views={list(self.suspect_views)})")

    def report(self) -> str:
        """A human-readable summary: per-view table, then the suspect views and their offsets."""
        V = self.rig.n_views
        state = "converged" if self.converged else "stopped at the iteration limit"
        n_pts = int(np.isfinite(self.points[..., 0]).sum())
        lines = [f"Rig refinement: {V} views, reference view {self.reference_view} held fixed, "
                 f"{n_pts} points, {self.iterations} solver evaluations ({state}), scale gauge "
                 f"{self.scale_gauge!r}.",
                 "view   obs  rms before  rms after   offset px  (du, dv)              z   correction"]
        for v in range(V):
            du, dv = self.mean_residual_px[v]
            corr = ("reference (fixed)" if v == self.reference_view
                    else f"{self.rotation_deg[v]:.3f} deg, {1000 * self.translation_m[v]:.1f} mm")
            flag = "  <- suspect" if v in self.suspect_views else ""
            if v == self.reference_view and flag:
                flag = "  <- suspect: the reference itself disagrees with the other views"
            lines.append(f"{v:4d} {int(self.n_observations[v]):5d} {self.rms_before[v]:8.3f} px "
                         f"{self.rms_after[v]:7.3f} px {self.offset_px[v]:8.2f} px ({du:+7.2f}, {dv:+7.2f}) "
                         f"{self.offset_z[v]:8.1f}   {corr}{flag}")
        if self.suspect_views:
            for v in self.suspect_views:
                du, dv = self.mean_residual_px[v]
                lines.append(f"Suspect: view {v}: its detections are systematically offset by "
                             f"{self.offset_px[v]:.2f} px (du {du:+.2f}, dv {dv:+.2f}; {self.offset_z[v]:.0f} "
                             f"standard errors) from where its given calibration puts them.")
            if self.reference_view in self.suspect_views:
                lines.append(f"The reference view {self.reference_view} is itself offset from what the other "
                             "views agree on: refine again with reference_view set to a view that is not suspect.")
        if self.offsets_relative_to == "reference":
            lines.append(f"More than half of the views disagree with each other (no consistent majority): "
                         f"offsets are measured against the reference view {self.reference_view}, as given.")
        if not self.suspect_views:
            lines.append(f"No view is systematically offset (thresholds: > {self.suspect_px:g} px and "
                         f"> {self.suspect_z:g} standard errors).")
        return "\n".join(lines)


# ---------------------------------------------------------------------- refine_rig
def refine_rig(rig: CameraRig, detections: np.ndarray, weights: np.ndarray | None = None, *,
               reference_view: int = 0, points: np.ndarray | None = None, iterations: int = 20,
               min_frames: int = 4, scale_gauge: str = "centres", loss: str = "linear",
               suspect_px: float = 0.5, suspect_z: float = 4.0) -> RigRefinement:
    """Self-calibrate the extrinsics of a rig by bundle adjustment.

    Jointly estimates one rigid world-frame correction per view (a small rotation about
    the view's mean camera centre and a displacement of that centre: 6 DoF) for every
    view except ``reference_view``, and the 3D points, minimising the weighted sum of
    squared reprojection errors ``sum w * |project(X) - detection|^2`` (scipy
    ``least_squares``, trust-region reflective, analytic sparse Jacobian). Intrinsics
    are not changed. The corrections are applied as ``new_cam2world = C[v] @
    old_cam2world`` (world-frame left multiplication), the same ``C[v]`` for every frame
    of a per-frame rig.

    Gauge: images fix the geometry only up to a similarity. Holding the reference camera
    fixed removes rotation and translation; the global scale about the reference camera
    is still free (scaling every point and every other camera centre about it leaves all
    reprojections unchanged), and is fixed by ``scale_gauge``:

    * ``"centres"`` (default): of all solutions with the same reprojection error, the one
      whose non-reference mean camera centres moved least (sum of squared displacements):
      the MAP scale when the centres' calibration errors are isotropic and independent.
      It averages the translation errors of all non-reference views.
    * ``"baseline"``: the distance between the reference camera and the non-reference
      camera farthest from it keeps its given value (only that one camera's error
      matters, so typically worse).

    For a static rig the ``"centres"`` rescaling is exact (an exact symmetry). Cameras that
    move per frame make the scale weakly observable (by their known motion); that weak
    information is not used: after rescaling, the problem is solved once more with the
    chosen scale held, so exact data keep a small residual (~0.01-0.05 px with the 2 cm /
    2 deg jitter of :func:`actimg.testing.rigs`) where the per-frame motion and the
    rigid per-view correction cannot both be matched exactly.

    Requirements: the cameras must see the points from distinct viewpoints. With two
    (near-)coincident cameras a 3-view rig has only two viewpoints, and a rotation that
    moves image points along the epipolar lines of that pair cannot be seen at all.

    Diagnosis: the per-view offsets (see :class:`RigRefinement`) compare each view's
    detections with its *given* calibration, using the refined geometry mapped onto
    the rig by the similarity that most views agree with, so a miscalibrated reference
    view is found too. ``suspect_views`` lists views with a mean offset larger than
    ``suspect_px`` and ``suspect_z`` standard errors.

    Args:
        rig: the ``V >= 3`` cameras (static, or per-frame with ``T`` frames).
        detections: ``(V, T, P, 2)`` pixel observations ``(u, v)`` of ``P`` 3D points per
            frame (e.g. ``DecodeResult.detections``, ``P = 3``); NaN = not seen. A
            frame's points are distinct 3D points (nothing is assumed about motion).
        weights: optional ``(V, T, P)`` non-negative inverse variances (px^-2), e.g.
            ``DecodeResult.detection_weight``; 0 ignores a detection. Default: all 1.
        reference_view: the view held fixed (0 <= reference_view < V).
        points: optional ``(T, P, 3)`` starting points in metres (NaN = unknown, not
            used); default: :func:`actimg.triangulate` through ``rig`` with ``weights``.
        iterations: the most solver steps (function evaluations of scipy's ``trf``)
            per solve (>= 1); exact data converge in about 5.
        min_frames: the fewest frames with at least one usable point (a point seen by
            two or more views, with a starting position); every view must also see at
            least :data:`MIN_POINTS_PER_VIEW` usable points.
        scale_gauge: ``"centres"`` or ``"baseline"`` (see above, :data:`SCALE_GAUGES`).
        loss: scipy's robust loss (``"linear"``, ``"soft_l1"``, ``"huber"``, ``"cauchy"``,
            ``"arctan"``) on the weighted residuals, scale 1 (one standard deviation with
            inverse-variance weights, one pixel without weights).
        suspect_px, suspect_z: a view is suspect when its mean residual exceeds
            ``suspect_px`` pixels and ``suspect_z`` standard errors.

    Returns:
        A :class:`RigRefinement` (corrected rig, corrections, refined points, per-view
        RMS before/after, per-view offset diagnosis, :meth:`RigRefinement.report`).

    Raises:
        TypeError: ``rig`` is not a CameraRig, or an argument has the wrong type.
        ValueError: fewer than 3 views, wrong shapes, negative weights, a bad
            ``reference_view``, too few usable frames or points in a view, or every
            camera at the reference camera's centre.
    """
    rig = _check_rig(rig)
    x = as_float_array(detections, "detections", last=(2,), ndim=(4,), allow_nan=True)
    V, T, P = x.shape[:3]
    if V != rig.n_views:
        raise ValueError(f"detections has V={V} views but the rig has {rig.n_views}")
    if V < 3:
        raise ValueError(f"refine_rig needs at least 3 views (got {V}): with fewer, a wrong camera cannot be "
                         "told from a wrong reference")
    if rig.n_frames is not None and rig.n_frames != T:
        raise ValueError(f"detections has T={T} frames but the per-frame rig has T={rig.n_frames}")
    if isinstance(reference_view, bool) or not isinstance(reference_view, (int, np.integer)):
        raise TypeError(f"reference_view must be an int, got {type(reference_view).__name__}")
    if not 0 <= reference_view < V:
        raise ValueError(f"reference_view must be in 0..{V - 1}, got {reference_view}")
    ref = int(reference_view)
    iterations = _int(iterations, "iterations", 1)
    min_frames = _int(min_frames, "min_frames", 1)
    if scale_gauge not in SCALE_GAUGES:
        raise ValueError(f"scale_gauge must be one of {SCALE_GAUGES}, got {scale_gauge!r}")
    losses = ("linear", "soft_l1", "huber", "cauchy", "arctan")
    if loss not in losses:
        raise ValueError(f"loss must be one of {losses}, got {loss!r}")
    suspect_px = _nonneg(suspect_px, "suspect_px")
    suspect_z = _nonneg(suspect_z, "suspect_z")
    if weights is None:
        w = np.ones((V, T, P))
    else:
        w = as_float_array(weights, "weights")
        if w.shape != (V, T, P):
            raise ValueError(f"weights must have shape (V={V}, T={T}, P={P}), got {w.shape}")
        if (w < 0).any():
            raise ValueError("weights must be non-negative")
    seen = np.isfinite(x).all(axis=-1) & (w > 0)
    w = np.where(seen, w, 0.0)

    # starting points
    if points is None:
        X0 = np.full((T, P, 3), np.nan)
        for p in range(P):
            X0[:, p] = triangulate(np.where(seen[:, :, p, None], x[:, :, p], np.nan), rig, w[:, :, p])[0]
    else:
        X0 = as_float_array(points, "points", last=(3,), allow_nan=True)
        if X0.shape != (T, P, 3):
            raise ValueError(f"points must have shape (T={T}, P={P}, 3), got {X0.shape}")
        X0 = np.where(np.isnan(X0).any(axis=-1, keepdims=True), np.nan, X0)
    usable = np.isfinite(X0).all(axis=-1) & (seen.sum(axis=0) >= 2)  # (T, P)
    n_frames = int(usable.any(axis=1).sum())
    if n_frames < min_frames:
        raise ValueError(f"only {n_frames} of {T} frames have a point seen by two or more views "
                         f"(need min_frames={min_frames}); pass more frames")
    use = seen & usable[None]  # (V, T, P)
    n_obs = use.reshape(V, -1).sum(axis=1)
    for v in range(V):
        if n_obs[v] < MIN_POINTS_PER_VIEW:
            raise ValueError(f"view {v} sees only {int(n_obs[v])} usable points (need {MIN_POINTS_PER_VIEW}); "
                             "pass more frames or drop the view with rig.with_views(...)")

    # observations, flattened
    pid = np.full((T, P), -1)
    pid[usable] = np.arange(int(usable.sum()))
    vi, ti, qi = np.nonzero(use)
    K, E = rig.broadcast(T)
    W2C = _invert_rigid(np.asarray(E))
    obs = _Obs(view=vi, frame=ti, point=pid[ti, qi], R=W2C[vi, ti, :3, :3], t=W2C[vi, ti, :3, 3],
               K=np.asarray(K)[vi, ti], uv=x[vi, ti, qi], sw=np.sqrt(w[vi, ti, qi]))
    Xu0 = X0[usable]

    cbar = _mean_centres(rig)
    dist = np.linalg.norm(cbar - cbar[ref], axis=-1)
    dist[ref] = -1.0
    scale_view = int(np.argmax(dist))
    if dist[scale_view] < 1e-9:
        raise ValueError("every camera centre coincides with the reference camera's: the scale is undefined")

    bundle = _Bundle(obs, V, ref, cbar, scale_view, Xu0.shape[0])
    x0 = bundle.pack(np.zeros((V, 3)), cbar, Xu0)
    radius = bundle.radius0
    res = bundle.solve(x0, radius, iterations, loss)
    nfev, ok, msg = int(res.nfev), bool(res.status > 0), str(res.message)
    omega, centres, Xu, _ = bundle.unpack(res.x, radius)
    if scale_gauge == "centres":
        others = [v for v in range(V) if v != ref]
        a = centres[others] - cbar[ref]
        b = cbar[others] - cbar[ref]
        s = float(np.sum(a * b) / np.sum(a * a))
        centres = cbar[ref] + s * (centres - cbar[ref])
        centres[ref] = cbar[ref]
        Xu = cbar[ref] + s * (Xu - cbar[ref])
        if not rig.is_static and abs(s - 1.0) > 1e-12:
            radius = float(np.linalg.norm(centres[scale_view] - cbar[ref]))
            res = bundle.solve(bundle.pack(omega, centres, Xu), radius, iterations, loss)
            nfev, ok, msg = nfev + int(res.nfev), bool(res.status > 0), str(res.message)
            omega, centres, Xu, _ = bundle.unpack(res.x, radius)
    Rc = _rodrigues(omega)
    C = _rigid(Rc, cbar, centres)
    C[ref] = np.eye(4)
    new_rig = _apply(rig, C)
    xf = bundle.pack(omega, centres, Xu)
    radius_f = float(np.linalg.norm(centres[scale_view] - cbar[ref]))
    r_after = bundle.residuals(xf, radius_f)
    cost_before = 0.5 * float(np.sum(bundle.residuals(x0, bundle.radius0) ** 2))
    cost_after = 0.5 * float(np.sum(r_after ** 2))

    def rms(r: np.ndarray) -> np.ndarray:
        sq = np.bincount(obs.view, np.sum(r ** 2, axis=-1), minlength=V)
        return np.sqrt(sq / np.maximum(n_obs, 1))

    rms_before = rms(_residuals_given(obs, Xu0))
    rms_after = rms(r_after.reshape(-1, 2) / obs.sw[:, None])

    def diagnose(consensus: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
        mean_res, se = _consensus_offsets(obs, Xu, V, consensus)
        offset = np.linalg.norm(mean_res, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            zc = np.where(mean_res == 0, 0.0, mean_res / se)
        z = np.sqrt(np.sum(zc ** 2, axis=-1))
        return mean_res, offset, z, tuple(int(v) for v in np.flatnonzero((offset > suspect_px) & (z > suspect_z)))

    mean_res, offset, z, suspects = diagnose(True)
    basis = "consensus"
    if 2 * len(suspects) > V:
        # no consistent majority: the consensus alignment is arbitrary, so measure every view
        # against the reference the caller chose (held fixed, hence never suspect)
        mean_res, offset, z, suspects = diagnose(False)
        basis = "reference"

    pts = np.full((T, P, 3), np.nan)
    pts[usable] = Xu

    def ro(a: np.ndarray) -> np.ndarray:
        a = np.array(a, dtype=np.float64 if a.dtype.kind == "f" else a.dtype, copy=True)
        a.flags.writeable = False
        return a

    return RigRefinement(
        rig=new_rig, corrections=ro(C), rotation_deg=ro(rotation_angle_deg(np.eye(3), C[:, :3, :3])),
        translation_m=ro(np.linalg.norm(centres - cbar, axis=-1)), points=ro(pts), initial_points=ro(X0),
        n_observations=ro(n_obs), rms_before=ro(rms_before), rms_after=ro(rms_after),
        mean_residual_px=ro(mean_res), offset_px=ro(offset), offset_z=ro(z), suspect_views=suspects,
        suspect_px=suspect_px, suspect_z=suspect_z, reference_view=ref, offsets_relative_to=basis,
        scale_gauge=scale_gauge,
        cost_before=cost_before, cost_after=cost_after, iterations=nfev, converged=ok, message=msg)


def _consensus_offsets(obs: _Obs, X: np.ndarray, V: int,
                       consensus: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-view weighted mean residual ``(V, 2)`` and its standard error ``(V, 2)``.

    With ``consensus=False`` the refined points are used as they are, in the gauge of the
    reference view (whose given calibration is then right by definition).

    The refined points are mapped by a similarity ``X' = c + e^s R(w) (X - c) + t`` (``c``
    their centroid) onto the given rig; residuals are detection - reprojection of ``X'``
    through the given rig. The similarity is the one most views agree with (least median
    of squares over views): one candidate is fitted (least squares) to each pair of views,
    which fixes it when both are well calibrated; the candidate with the smallest median
    per-view RMS wins, and is refitted to the views within twice that median. So a view
    whose calibration is off keeps its whole offset, and the others stay at ~0 (a fit to
    all views, even a robust one, spreads the offset over them in some geometries).
    """
    c = X.mean(axis=0)
    wt = obs.sw ** 2
    sw_v = np.maximum(np.bincount(obs.view, wt, minlength=V), 1e-300)

    def residuals(p: np.ndarray, sel: np.ndarray) -> np.ndarray:
        Xs = c + math.exp(p[6]) * (X - c) @ _rodrigues(p[:3]).T + p[3:6]
        o = obs if sel is None else _Obs(*(getattr(obs, f)[sel] for f in _Obs.__dataclass_fields__))
        return _residuals_given(o, Xs)

    def fit(sel: np.ndarray, p0: np.ndarray) -> np.ndarray:
        sw = obs.sw[sel, None]
        return least_squares(lambda p: (residuals(p, sel) * sw).ravel(), p0, method="trf", x_scale="jac",
                             ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=100).x

    def view_rms(p: np.ndarray) -> np.ndarray:
        r2 = np.sum(residuals(p, None) ** 2, axis=-1)
        return np.sqrt(np.bincount(obs.view, wt * r2, minlength=V) / sw_v)

    if not consensus:
        return _mean_and_se(obs, residuals(np.zeros(7), None), wt, sw_v, V)
    # candidates from every pair of views, on at most ~300 observations per view
    thin = np.zeros(obs.view.size, bool)
    for v in range(V):
        idx = np.flatnonzero(obs.view == v)
        thin[idx[:: max(1, idx.size // 300)]] = True
    best, best_score = np.zeros(7), math.inf
    for a in range(V):
        for b in range(a + 1, V):
            p = fit(thin & ((obs.view == a) | (obs.view == b)), np.zeros(7))
            score = float(np.median(view_rms(p)))
            if score < best_score:
                best, best_score = p, score
    rms = view_rms(best)
    inliers = np.flatnonzero(rms <= 2.0 * best_score + 1e-9)
    p = fit(np.isin(obs.view, inliers), best)
    return _mean_and_se(obs, residuals(p, None), wt, sw_v, V)


def _mean_and_se(obs: _Obs, r: np.ndarray, wt: np.ndarray, sw_v: np.ndarray, V: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted per-view mean ``(V, 2)`` of residuals ``r (n, 2)`` and its standard error."""
    mean = np.stack([np.bincount(obs.view, wt * r[:, k], minlength=V) for k in range(2)], axis=-1) / sw_v[:, None]
    dev = r - mean[obs.view]
    var = np.stack([np.bincount(obs.view, wt ** 2 * dev[:, k] ** 2, minlength=V) for k in range(2)], axis=-1)
    se = np.sqrt(var) / sw_v[:, None]
    return mean, se


# -------------------------------------------------------------- triangulation tools
def _projection_matrices(rig: CameraRig, T: int) -> np.ndarray:
    """``(V, T, 3, 4)`` ``K [R | t]`` (world2cam)."""
    K, E = rig.broadcast(T)
    return np.asarray(K) @ _invert_rigid(np.asarray(E))[..., :3, :]


def _in_front(X: np.ndarray, x: np.ndarray, rig: CameraRig) -> np.ndarray:
    """``(T,)`` True where ``X (T, 3)`` is finite and in front of every view that sees it."""
    T = X.shape[0]
    _, E = rig.broadcast(T)
    W = _invert_rigid(np.asarray(E))
    z = np.einsum("vtj,tj->vt", W[..., 2, :3], X) + W[..., 2, 3]
    seen = ~np.isnan(x[..., 0])
    return np.isfinite(X).all(axis=-1) & ((z > 0) | ~seen).all(axis=0)


def dlt_triangulate(points2d: np.ndarray, rig: CameraRig) -> np.ndarray:
    """Plain linear (DLT) triangulation, unweighted, no normalisation.

    Per frame, stacks ``u P3 - P1`` and ``v P3 - P2`` (``P = K [R | t]``, world2cam) of
    every view that sees the point into a ``2V x 4`` system and takes the right singular
    vector of its smallest singular value (algebraic, not geometric, error).

    Args:
        points2d: ``(V, T, 2)`` pixels ``(u, v)``; NaN = not seen.
        rig: the ``V`` cameras (static, or per-frame with ``T`` frames).

    Returns:
        ``(T, 3)`` points in metres; NaN where fewer than two views see the point or the
        solution is not in front of every camera that sees it.
    """
    rig = _check_rig(rig)
    x = check_points2d(points2d, rig)
    V, T = x.shape[:2]
    Pm = _projection_matrices(rig, T)  # (V, T, 3, 4)
    seen = ~np.isnan(x[..., 0])
    xs = np.where(seen[..., None], x, 0.0)
    rows = np.stack([xs[..., 0, None] * Pm[..., 2, :] - Pm[..., 0, :],
                     xs[..., 1, None] * Pm[..., 2, :] - Pm[..., 1, :]], axis=2)  # (V, T, 2, 4)
    rows = rows * seen[..., None, None]
    A = np.swapaxes(rows, 0, 1).reshape(T, 2 * V, 4)
    _, _, vt = np.linalg.svd(A)
    h = vt[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        X = h[:, :3] / h[:, 3:]
    ok = (seen.sum(axis=0) >= 2) & _in_front(X, x, rig)
    X[~ok] = np.nan
    return X


def optimal_triangulate(points2d: np.ndarray, rig: CameraRig) -> np.ndarray:
    """Triangulation minimising the (unweighted) sum of squared reprojection errors.

    Per frame, scipy ``least_squares`` (trust-region reflective) on the pixel residuals
    of the views that see the point, started from :func:`dlt_triangulate`.

    Args:
        points2d: ``(V, T, 2)`` pixels ``(u, v)``; NaN = not seen.
        rig: the ``V`` cameras (static, or per-frame with ``T`` frames).

    Returns:
        ``(T, 3)`` points in metres; NaN where fewer than two views see the point or the
        DLT start or the solution is not in front of every camera that sees it.
    """
    rig = _check_rig(rig)
    x = check_points2d(points2d, rig)
    T = x.shape[1]
    X = dlt_triangulate(x, rig)
    Pm = _projection_matrices(rig, T)
    for t in range(T):
        if not np.isfinite(X[t]).all():
            continue
        vis = ~np.isnan(x[:, t, 0])
        Pv, uv = Pm[vis, t], x[vis, t]

        def fun(X3: np.ndarray) -> np.ndarray:
            h = Pv[:, :, :3] @ X3 + Pv[:, :, 3]
            return (h[:, :2] / h[:, 2:] - uv).ravel()

        def jac(X3: np.ndarray) -> np.ndarray:
            h = Pv[:, :, :3] @ X3 + Pv[:, :, 3]
            J = (Pv[:, :2, :3] * h[:, 2, None, None] - h[:, :2, None] * Pv[:, 2, None, :3]) / h[:, 2, None, None] ** 2
            return J.reshape(-1, 3)

        X[t] = least_squares(fun, X[t], jac=jac, method="trf", x_scale="jac", ftol=1e-14, xtol=1e-14,
                             gtol=1e-14).x
    bad = ~_in_front(X, x, rig)
    X[bad] = np.nan
    return X


def triangulation_reference(rig_true: CameraRig, rig_used: CameraRig, points3d: np.ndarray, *,
                            in_image_only: bool = False) -> np.ndarray:
    """Where exact observations triangulate to through a miscalibrated rig.

    Projects the true points through ``rig_true`` (exact 2D, no detection noise), then
    triangulates them with :func:`actimg.triangulate` through ``rig_used`` (e.g. from
    :func:`perturb_rig`). The distance of the result from ``points3d`` is the error that
    calibration noise alone causes: a reference for decoders run through ``rig_used``.

    Args:
        rig_true: the true cameras; rig_used: the cameras believed in (same ``V``, same
            kind of frames; a per-frame rig needs ``T`` frames).
        points3d: ``(T, P, 3)`` true world points, metres.
        in_image_only: if True, a view sees a point only when it projects inside the
            image (``0 <= u <= W - 1``, ``0 <= v <= H - 1``); by default every view with the
            point in front (depth > 0) sees it.

    Returns:
        ``(T, P, 3)`` triangulated points, metres (NaN where fewer than two views see a
        point).
    """
    rig_true, rig_used = _check_rig(rig_true), _check_rig(rig_used)
    if rig_true.n_views != rig_used.n_views:
        raise ValueError(f"rig_true has {rig_true.n_views} views but rig_used has {rig_used.n_views}")
    X = as_float_array(points3d, "points3d", last=(3,), ndim=(3,))
    T, P = X.shape[:2]
    for name, r in (("rig_true", rig_true), ("rig_used", rig_used)):
        if r.n_frames is not None and r.n_frames != T:
            raise ValueError(f"points3d has T={T} frames but the per-frame {name} has T={r.n_frames}")
    pix, depth = rig_true.project(X)  # (V, T, P, 2), (V, T, P)
    seen = depth > 0
    if in_image_only:
        seen &= ((pix[..., 0] >= 0) & (pix[..., 0] <= rig_true.width - 1)
                 & (pix[..., 1] >= 0) & (pix[..., 1] <= rig_true.height - 1))
    pix = np.where(seen[..., None], pix, np.nan)
    out = np.empty((T, P, 3))
    for p in range(P):
        out[:, p] = triangulate(pix[:, :, p], rig_used)[0]
    return out
