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
from .spec import ActionImageSpec, resolve_spec

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
    spec = resolve_spec(spec)
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
                       spec: ActionImageSpec | None = None,
                       near: np.ndarray | None = None) -> np.ndarray:
    """Build ``(T, 7)`` actions ``[x, y, z, rx, ry, rz, openness]`` from poses.

    Euler range: a rotation has many Euler triples. Without ``near`` the angles are
    scipy's: the first and third in ``[-pi, pi]``, the middle in ``[-pi/2, pi/2]``
    (Tait-Bryan sequences such as ``"xyz"``) or ``[0, pi]`` (proper ones such as
    ``"zxz"``). So ``actions_from_poses(*poses_from_actions(a))`` returns ``a`` when
    ``a``'s angles lie inside that range (away from ±pi, where either sign is right), and
    the same rotation with angles that differ by multiples of 2 pi otherwise; pass
    ``near=a[:, 3:6]`` to get ``a``'s own angles back.

    Args:
        positions: ``(T, 3)`` tool-centre points, metres, world frame.
        rotations: ``(T, 3, 3)`` ``tool2world`` rotation matrices, or ``(T, 4)``
            quaternions with ``quat_order`` (``"xyzw"`` or ``"wxyz"``) named.
        openness: ``(T,)`` or scalar; 1 = open, 0 = closed.
        spec: gives the Euler sequence (default ``"xyz"`` extrinsic).
        near: optional ``(T, 3)`` or ``(3,)`` Euler angles (radians): each returned
            angle is shifted by a multiple of 2 pi to lie within pi of it (the same
            rotation; e.g. the previous actions, for angles that stay continuous).
    """
    spec = resolve_spec(spec)
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
    if near is not None:
        ref = as_float_array(near, "near", last=(3,))
        if ref.ndim not in (1, 2) or (ref.ndim == 2 and ref.shape[0] != p.shape[0]):
            raise ValueError(f"near must be (3,) or (T, 3) with T={p.shape[0]}, got {ref.shape}")
        # every Euler angle is 2 pi periodic in R: move each by whole turns towards near
        out[:, 3:6] -= 2.0 * np.pi * np.round((out[:, 3:6] - ref) / (2.0 * np.pi))
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
    spec = resolve_spec(spec)
    a = _check_actions(actions)
    R = euler_to_matrix(a[:, 3:6], spec.euler)
    rot = matrix_to_quat(R, quat_order) if quat_order is not None else R
    return a[:, :3].copy(), rot, a[:, 6].copy()


def action_points(actions: np.ndarray, spec: ActionImageSpec | None = None) -> np.ndarray:
    """The three 3D points an action draws: ``(T, 7)`` -> ``(T, 3, 3)``, axis 1 = (P, N, U).

    ``P = (x, y, z)``, ``N = P + L R n``, ``U = P + L R u`` with the spec's ``L`` (metres)
    and tool axes ``n``, ``u``.
    """
    spec = resolve_spec(spec)
    a = _check_actions(actions)
    R = euler_to_matrix(a[:, 3:6], spec.euler)
    return a[:, None, :3] + np.einsum("tij,pj->tpi", R, spec.tool_points)
