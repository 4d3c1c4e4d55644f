"""Rotation conversions (matrices, Euler angles, quaternions).

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

from .._validate import as_float_array

__all__ = [
    "euler_to_matrix", "matrix_to_euler", "quat_to_matrix", "matrix_to_quat",
    "closest_rotation", "rotation_angle_deg", "check_rotations",
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


def rotation_angle_deg(R1: np.ndarray, R2: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotations ``(..., 3, 3)`` (NaN in, NaN out)."""
    Rrel = np.swapaxes(R1, -1, -2) @ R2
    c = (np.trace(Rrel, axis1=-2, axis2=-1) - 1.0) / 2.0
    # arccos is ill-conditioned near 0; use the axis part too
    s = np.linalg.norm(np.stack([Rrel[..., 2, 1] - Rrel[..., 1, 2], Rrel[..., 0, 2] - Rrel[..., 2, 0],
                                 Rrel[..., 1, 0] - Rrel[..., 0, 1]], axis=-1), axis=-1) / 2.0
    return np.degrees(np.arctan2(s, c))
