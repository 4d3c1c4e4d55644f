"""Actions <-> poses and the points an action draws (the spec's Euler sequence and tool axes).

An action is ``[x, y, z, rx, ry, rz, openness]``: metres, radians in the spec's Euler
sequence (default extrinsic ``"xyz"``), openness 1 = open. Rotations are active
``tool2world`` matrices.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_float_array
from ..geometry.rotations import (check_rotations, closest_rotation, euler_to_matrix, matrix_to_euler,
                                  matrix_to_quat, quat_to_matrix)
from .spec import PAPER, ActionImageSpec

__all__ = ["actions_from_poses", "poses_from_actions", "action_points", "rotation_from_axes"]


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
