"""Torch transcription of the released pipeline's bfloat16 action-image renderer (test oracle).

The released training and inference code (UMass-Embodied-AGI/ActionImages: ``train.py``
``get_inputs``, ``inference.py`` ``prepare_inputs``) casts the float32 actions, cam2world
extrinsics and intrinsics to ``torch.bfloat16`` and then renders the action images with
``project_actions_7d_to_5d_torch_batch`` and ``project_action_5d_to_rgb_torch``
(``training/utils.py``), every tensor in bfloat16. This module redoes those steps in torch,
op for op, in the same order and dtypes, written from a reading of that code (nothing is
copied). It is the oracle that ``actimg.codec.bf16`` (plain numpy) must match bit for bit.

Per view and frame, all in bfloat16 (every elementwise op rounds its float32 result to
bfloat16; the small batched matrix products accumulate in float32, in index order, and
round once):

1. ``c = cos(rx)``, ``s = sin(rx)`` (likewise y, z); ``Rx, Ry, Rz`` built from them;
   ``d = Rz @ (Ry @ (Rx @ axis))`` for the tool axes ``[1, 0, 0]`` and ``[0, 0, -1]``;
   ``N = P + d_x * 0.1``, ``U = P + d_u * 0.1``.
2. ``world2cam = [R^T | -(R^T @ t)]`` from the bfloat16 cam2world ``[R | t]``;
   ``X_cam = world2cam @ [X, 1]``; ``p = K @ X_cam[:3]``; ``(u, v) = p[:2] / p[2]``.
3. Pixel grid ``arange(H)``, ``arange(W)`` in bfloat16 (integers above 256 round to even);
   ``g = exp(-((col - u)^2 + (row - v)^2) / (2 s^2))`` with ``s = 0.05 min(H, W)``.
4. Blue floor: ``B[B <= 0.25] = 0.25`` if ``openness > 0.5`` else ``0``.

There is no depth test (a point behind a camera draws its mirrored projection).
"""

from __future__ import annotations

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover - the tests skip without torch
    torch = None

__all__ = ["torch_bf16_project", "torch_bf16_render"]

BF16 = None if torch is None else torch.bfloat16
if torch is not None:
    # small tensors: one thread (many threads on a shared 2-core machine are 10x slower);
    # the results do not depend on it (elementwise ops, small matrix products in index order)
    torch.set_num_threads(1)


def _bf16(x: np.ndarray) -> "torch.Tensor":
    """float64 -> float32 -> bfloat16, the published inputs' path (float32 data, then .to(bf16))."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(BF16)


def _euler_axes(angles: "torch.Tensor", axis: tuple[float, float, float]) -> "torch.Tensor":
    """``Rz @ (Ry @ (Rx @ axis))`` for bfloat16 angles ``(N, 3)``; ``(N, 3)`` bfloat16."""
    n = angles.shape[0]
    c = torch.cos(angles)
    s = torch.sin(angles)
    Rx = torch.zeros(n, 3, 3, dtype=BF16)
    Rx[:, 0, 0] = 1.0
    Rx[:, 1, 1] = c[:, 0]
    Rx[:, 1, 2] = -s[:, 0]
    Rx[:, 2, 1] = s[:, 0]
    Rx[:, 2, 2] = c[:, 0]
    Ry = torch.zeros(n, 3, 3, dtype=BF16)
    Ry[:, 0, 0] = c[:, 1]
    Ry[:, 0, 2] = s[:, 1]
    Ry[:, 1, 1] = 1.0
    Ry[:, 2, 0] = -s[:, 1]
    Ry[:, 2, 2] = c[:, 1]
    Rz = torch.zeros(n, 3, 3, dtype=BF16)
    Rz[:, 0, 0] = c[:, 2]
    Rz[:, 0, 1] = -s[:, 2]
    Rz[:, 1, 0] = s[:, 2]
    Rz[:, 1, 1] = c[:, 2]
    Rz[:, 2, 2] = 1.0
    vec = torch.zeros(n, 3, 1, dtype=BF16)
    vec[:, 0, 0] = axis[0]
    vec[:, 1, 0] = axis[1]
    vec[:, 2, 0] = axis[2]
    vec = torch.matmul(Rx, vec)
    vec = torch.matmul(Ry, vec)
    vec = torch.matmul(Rz, vec)
    return vec[..., 0]


def _project(points: "torch.Tensor", c2w: "torch.Tensor", K: "torch.Tensor") -> "torch.Tensor":
    """bfloat16 pinhole projection of ``(N, 3)`` points; returns ``(N, 3)``: u, v, camera z."""
    ones = torch.ones(points.shape[0], 1, dtype=BF16)
    hom = torch.cat([points, ones], dim=-1)
    R = c2w[:, :3, :3]
    t = c2w[:, :3, 3]
    Rt = R.transpose(-2, -1)
    t_inv = -(Rt @ t[..., None])[..., 0]
    w2c = torch.zeros_like(c2w)
    w2c[:, :3, :3] = Rt
    w2c[:, :3, 3] = t_inv
    w2c[:, 3, 3] = 1.0
    cam = torch.einsum("nij,nj->ni", w2c, hom)
    pix = torch.einsum("nij,nj->ni", K, cam[:, :3])
    uv = pix[:, :2] / pix[:, 2:3]
    return torch.cat([uv, cam[:, 2:3]], dim=-1)


def torch_bf16_project(actions: np.ndarray, K: np.ndarray, cam2world: np.ndarray,
                       axis_length: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Projections of P, N, U through the published bfloat16 path.

    Args:
        actions: ``(T, 7)``; K: ``(V, T, 3, 3)``; cam2world: ``(V, T, 4, 4)`` (OpenCV).

    Returns:
        ``uv (V, T, 3, 2)`` and ``z (V, T, 3)`` as float32 (exactly the bfloat16 values).
    """
    V, T = K.shape[:2]
    a = _bf16(np.broadcast_to(actions, (V, T, 7)).reshape(V * T, 7))
    Kb = _bf16(K.reshape(V * T, 3, 3))
    Eb = _bf16(cam2world.reshape(V * T, 4, 4))
    P = a[:, :3]
    N = P + _euler_axes(a[:, 3:6], (1.0, 0.0, 0.0)) * axis_length
    U = P + _euler_axes(a[:, 3:6], (0.0, 0.0, -1.0)) * axis_length
    out = torch.stack([_project(X, Eb, Kb) for X in (P, N, U)], dim=1)  # (V*T, 3, 3)
    out = out.to(torch.float32).numpy().reshape(V, T, 3, 3)
    return out[..., :2], out[..., 2]


def _gaussian(uv: "torch.Tensor", H: int, W: int, sigma_fraction: float) -> "torch.Tensor":
    """``(N, H, W)`` bfloat16 Gaussians at bfloat16 centres ``uv (N, 2)`` on the bfloat16 grid."""
    rows, cols = torch.meshgrid(torch.arange(H, dtype=BF16), torch.arange(W, dtype=BF16), indexing="ij")
    s = min(H, W) * sigma_fraction
    u = uv[:, 0][:, None, None]
    v = uv[:, 1][:, None, None]
    g = torch.exp(-((cols[None] - u) ** 2 + (rows[None] - v) ** 2) / (2 * s**2))
    return g * 1.0


def torch_bf16_render(actions: np.ndarray, K: np.ndarray, cam2world: np.ndarray, height: int, width: int,
                      sigma_fraction: float = 0.05) -> np.ndarray:
    """The published bfloat16 action images: ``(V, T, H, W, 3)`` float32 (bfloat16 values).

    Args as :func:`torch_bf16_project`; ``height``, ``width`` in pixels. No depth test.
    """
    V, T = K.shape[:2]
    a = _bf16(np.broadcast_to(actions, (V, T, 7)).reshape(V * T, 7))
    Kb = _bf16(K.reshape(V * T, 3, 3))
    Eb = _bf16(cam2world.reshape(V * T, 4, 4))
    P = a[:, :3]
    N = P + _euler_axes(a[:, 3:6], (1.0, 0.0, 0.0)) * 0.1
    U = P + _euler_axes(a[:, 3:6], (0.0, 0.0, -1.0)) * 0.1
    chans = [_gaussian(_project(X, Eb, Kb)[:, :2], height, width, sigma_fraction) for X in (P, N, U)]
    R, G, B = chans
    opened = torch.ones_like(R) * (a[:, 6] > 0.5)[:, None, None]
    low = B <= 0.25
    B[low] = opened[low] * 0.25
    img = torch.stack([R, G, B], dim=-1)
    return img.to(torch.float32).numpy().reshape(V, T, height, width, 3)
