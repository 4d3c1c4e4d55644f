"""Batched geometry in torch: Euler matrices, rigid inverses, pinhole projection, rays."""

from __future__ import annotations

import math

import torch

from ..geometry._rotation_kernels import euler_code


def euler_matrices(angles: torch.Tensor, seq: str) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` of Euler angles ``(..., 3)`` (radians), scipy ``seq``.

    Lower case is extrinsic (``"xyz"``: ``R = Rz(c) @ Ry(b) @ Rx(a)``), upper case
    intrinsic, the same product as :func:`actimg.euler_to_matrix`.
    """
    code = [int(c) for c in euler_code(seq)]
    a = angles if code[3] == 1 else angles.flip(-1)
    R = None
    for m in range(3):
        ax = code[m]
        c = torch.cos(a[..., m])
        s = torch.sin(a[..., m])
        one = torch.ones_like(c)
        zero = torch.zeros_like(c)
        p, q = (ax + 1) % 3, (ax + 2) % 3
        rows = [[zero, zero, zero] for _ in range(3)]
        rows[ax][ax] = one
        rows[p][p] = c
        rows[q][q] = c
        rows[p][q] = -s
        rows[q][p] = s
        E = torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)
        R = E if R is None else E @ R  # later rotations act on the left
    assert R is not None
    return R


def invert_rigid(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R^T, -R^T t)`` of rigid ``(..., 4, 4)`` transforms: rotation ``(..., 3, 3)``, translation ``(..., 3)``."""
    Rt = M[..., :3, :3].transpose(-1, -2)
    t = -(Rt @ M[..., :3, 3:4])[..., 0]
    return Rt, t


def project(K: torch.Tensor, c2w: torch.Tensor, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pinhole projection of world points ``X (..., 3)`` with broadcastable ``K (..., 3, 3)``
    and ``cam2world (..., 4, 4)``: ``uv (..., 2)`` (pixel centres at integer coordinates)
    and camera depth ``(...)`` in metres (the mirrored projection for depth < 0)."""
    Rw, tw = invert_rigid(c2w)
    cam = (Rw @ X[..., None])[..., 0] + tw
    z = cam[..., 2]
    x = cam[..., 0] / z
    y = cam[..., 1] / z
    u = K[..., 0, 0] * x + K[..., 0, 1] * y + K[..., 0, 2]
    v = K[..., 1, 1] * y + K[..., 1, 2]
    return torch.stack([u, v], dim=-1), z


def ray_directions(K: torch.Tensor, c2w: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Unit world directions ``(..., 3)`` of the rays through pixels ``uv (..., 2)``
    (camera pixel coordinates) for broadcastable ``K (..., 3, 3)``, ``cam2world (..., 4, 4)``."""
    y = (uv[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (uv[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    d = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    d = (c2w[..., :3, :3] @ d[..., None])[..., 0]
    return d / torch.linalg.vector_norm(d, dim=-1, keepdim=True)


SQRT_HALF = math.sqrt(0.5)
