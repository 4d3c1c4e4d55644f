"""Rotation conversions and action <-> pose helpers.

Conventions (named where used, pytransform3d style):
- rotation matrices are *active* and map tool-frame vectors to world-frame vectors
  (``tool2world``): ``v_world = R @ v_tool``;
- Euler sequences follow scipy: lower case extrinsic (``"xyz"``:
  ``R = Rz(rz) @ Ry(ry) @ Rx(rx)``, the published action convention), upper case
  intrinsic; angles in radians;
- quaternions are unit, and their component order is always named by the caller:
  ``"xyzw"`` (scalar last: scipy, RLBench, ROS) or ``"wxyz"`` (scalar first: MuJoCo,
  pytransform3d, Eigen's constructor).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ._validate import as_float_array
from .spec import PAPER, ActionImageSpec

__all__ = [
    "euler_to_matrix", "matrix_to_euler", "quat_to_matrix", "matrix_to_quat",
    "closest_rotation", "rotation_from_axes", "rotation_angle_deg", "check_rotations",
    "actions_from_poses", "poses_from_actions", "action_points",
]

_QUAT_ORDERS = ("xyzw", "wxyz")


def _check_order(order: str) -> None:
    if order not in _QUAT_ORDERS:
        raise ValueError(f"quaternion order must be 'xyzw' (scalar last) or 'wxyz' (scalar first), got {order!r}")


def check_rotations(R: np.ndarray, name: str, tol: float = 1e-6) -> None:
    """Raise ``ValueError`` unless every ``(..., 3, 3)`` matrix is orthonormal with det +1."""
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got {R.shape}")
    err = np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max(axis=(-1, -2))
    det = np.linalg.det(R)
    bad = (err > tol) | (np.abs(det - 1.0) > tol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        e, d = float(err[idx]), float(det[idx])
        what = "a reflection (det -1)" if d < 0 else f"not a rotation (|R^T R - I| = {e:.3g}, det = {d:.6g})"
        raise ValueError(f"{name}{list(idx)} is {what}")


def euler_to_matrix(angles: np.ndarray, seq: str = "xyz") -> np.ndarray:
    """Euler angles ``(..., 3)`` in radians -> rotation matrices ``(..., 3, 3)``.

    ``seq`` is a scipy sequence; the default ``"xyz"`` (extrinsic) gives
    ``R = Rz(a[2]) @ Ry(a[1]) @ Rx(a[0])``.
    """
    a = as_float_array(angles, "angles", last=(3,))
    out = Rotation.from_euler(seq, a.reshape(-1, 3)).as_matrix()
    return out.reshape(a.shape[:-1] + (3, 3))


def matrix_to_euler(R: np.ndarray, seq: str = "xyz") -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> Euler angles ``(..., 3)`` in radians (scipy ranges)."""
    m = as_float_array(R, "R", last=(3, 3))
    check_rotations(m, "R", tol=1e-5)
    import warnings

    with warnings.catch_warnings():
        # gimbal lock is a property of the sequence, not an error: scipy picks one solution
        warnings.simplefilter("ignore", UserWarning)
        out = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_euler(seq)
    return out.reshape(m.shape[:-2] + (3,))


def quat_to_matrix(q: np.ndarray, order: str) -> np.ndarray:
    """Quaternions ``(..., 4)`` in the named ``order`` -> rotation matrices ``(..., 3, 3)``.

    Quaternions are normalised; a zero quaternion is an error.
    """
    _check_order(order)
    a = as_float_array(q, "quaternions", last=(4,))
    n = np.linalg.norm(a, axis=-1)
    if (n < 1e-12).any():
        raise ValueError("quaternions must be non-zero")
    if order == "wxyz":
        a = a[..., [1, 2, 3, 0]]
    out = Rotation.from_quat(a.reshape(-1, 4)).as_matrix()
    return out.reshape(a.shape[:-1] + (3, 3))


def matrix_to_quat(R: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` in ``order``, scalar >= 0."""
    _check_order(order)
    m = as_float_array(R, "R", last=(3, 3))
    check_rotations(m, "R", tol=1e-5)
    q = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat(canonical=True)
    if order == "wxyz":
        q = q[:, [3, 0, 1, 2]]
    return q.reshape(m.shape[:-2] + (4,))


def closest_rotation(M: np.ndarray) -> np.ndarray:
    """Project matrices ``(..., 3, 3)`` onto SO(3) (Frobenius-closest rotation, via SVD)."""
    U, _, Vt = np.linalg.svd(M)
    d = np.sign(np.linalg.det(U @ Vt))
    d = np.where(d == 0, 1.0, d)
    S = np.ones(M.shape[:-2] + (3,))
    S[..., 2] = d
    return (U * S[..., None, :]) @ Vt


def rotation_from_axes(normal_dirs: np.ndarray, up_dirs: np.ndarray,
                       spec: ActionImageSpec | None = None,
                       weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Closest rotation mapping the spec's tool axes onto two measured world directions.

    Args:
        normal_dirs: ``(..., 3)`` measured world direction of ``N - P`` (any length).
        up_dirs: ``(..., 3)`` measured world direction of ``U - P``.
        weights: relative trust in the two directions.

    Returns:
        ``(..., 3, 3)`` ``tool2world`` rotations minimising the weighted squared distance
        between ``R @ axis`` and the unit measured directions (Wahba's problem).
    """
    spec = spec or PAPER
    a = np.asarray(normal_dirs, dtype=np.float64)
    b = np.asarray(up_dirs, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    n = np.asarray(spec.normal_axis)
    u = np.asarray(spec.up_axis)
    # Wahba: maximise tr(R^T B), B = sum w_i y_i x_i^T
    B = weights[0] * a[..., :, None] * n[None, :] + weights[1] * b[..., :, None] * u[None, :]
    return closest_rotation(B)


def rotation_angle_deg(R1: np.ndarray, R2: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotations ``(..., 3, 3)`` (NaN in, NaN out)."""
    Rrel = np.swapaxes(R1, -1, -2) @ R2
    c = (np.trace(Rrel, axis1=-2, axis2=-1) - 1.0) / 2.0
    # arccos is ill-conditioned near 0; use the axis part too
    s = np.linalg.norm(np.stack([Rrel[..., 2, 1] - Rrel[..., 1, 2], Rrel[..., 0, 2] - Rrel[..., 2, 0],
                                 Rrel[..., 1, 0] - Rrel[..., 0, 1]], axis=-1), axis=-1) / 2.0
    return np.degrees(np.arctan2(s, c))


def actions_from_poses(positions: np.ndarray, rotations: np.ndarray, openness: np.ndarray | float,
                       *, quat_order: str | None = None,
                       spec: ActionImageSpec | None = None) -> np.ndarray:
    """Build ``(T, 7)`` actions ``[x, y, z, rx, ry, rz, openness]`` from poses.

    Args:
        positions: ``(T, 3)`` tool-centre points, metres, world frame.
        rotations: ``(T, 3, 3)`` ``tool2world`` rotation matrices, or ``(T, 4)``
            quaternions with ``quat_order`` (``"xyzw"`` or ``"wxyz"``) named.
        openness: ``(T,)`` or scalar; 1 = open, 0 = closed.
        spec: gives the Euler sequence (default ``"xyz"`` extrinsic).
    """
    spec = spec or PAPER
    p = as_float_array(positions, "positions", last=(3,), ndim=(2,))
    r = np.asarray(rotations)
    if r.ndim == 2 and r.shape[-1] == 4:
        if quat_order is None:
            raise ValueError("rotations look like quaternions (T, 4): pass quat_order='xyzw' or 'wxyz'")
        R = quat_to_matrix(r, quat_order)
    else:
        R = as_float_array(r, "rotations", last=(3, 3), ndim=(3,))
        check_rotations(R, "rotations", tol=1e-5)
    if R.shape[0] != p.shape[0]:
        raise ValueError(f"positions has T={p.shape[0]} but rotations has T={R.shape[0]}")
    o = as_float_array(np.broadcast_to(np.asarray(openness, dtype=np.float64), (p.shape[0],)), "openness")
    out = np.empty((p.shape[0], 7))
    out[:, :3] = p
    out[:, 3:6] = matrix_to_euler(R, spec.euler)
    out[:, 6] = o
    return out


def _check_actions(actions: object) -> np.ndarray:
    a = as_float_array(actions, "actions", last=(7,), ndim=(2,))
    return a


def poses_from_actions(actions: np.ndarray, *, quat_order: str | None = None,
                       spec: ActionImageSpec | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(T, 7)`` actions into positions ``(T, 3)``, rotations and openness ``(T,)``.

    Rotations are ``(T, 3, 3)`` ``tool2world`` matrices, or ``(T, 4)`` quaternions in
    ``quat_order`` when it is given.
    """
    spec = spec or PAPER
    a = _check_actions(actions)
    R = euler_to_matrix(a[:, 3:6], spec.euler)
    rot = matrix_to_quat(R, quat_order) if quat_order is not None else R
    return a[:, :3].copy(), rot, a[:, 6].copy()


def action_points(actions: np.ndarray, spec: ActionImageSpec | None = None) -> np.ndarray:
    """The three 3D points an action draws: ``(T, 7)`` -> ``(T, 3, 3)``, axis 1 = (P, N, U).

    ``P = (x, y, z)``, ``N = P + L R n``, ``U = P + L R u`` with the spec's ``L`` (metres)
    and tool axes ``n``, ``u``.
    """
    spec = spec or PAPER
    a = _check_actions(actions)
    R = euler_to_matrix(a[:, 3:6], spec.euler)
    return a[:, None, :3] + np.einsum("tij,pj->tpi", R, spec.tool_points)
