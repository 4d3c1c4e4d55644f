"""Per-pixel Plücker rays (camera conditioning of video models), batched in torch."""

from __future__ import annotations

import torch

from ..cameras.sources import PIXEL_CENTERS
from ._checks import check_cameras, check_size, compute_dtype

__all__ = ["plucker_rays"]

#: cameras per chunk are chosen so that one chunk's float64 work stays near this many bytes
_CHUNK_BYTES = 64 << 20


def plucker_rays(intrinsics: torch.Tensor, extrinsics: torch.Tensor, height: int, width: int,
                 pixel_center: str = "half", dtype: torch.dtype = torch.float32, *,
                 validate: bool = True) -> torch.Tensor:
    """Per-pixel Plücker rays ``(d, o x d)`` in the world frame, batched.

    The torch twin of :func:`actimg.cameras.plucker_rays`: for pixel ``(row, col)`` with
    ``(u, v) = (col + h, row + h)`` (``h = 0.5`` for ``"half"``, the published camera
    conditioning; ``0`` for ``"integer"``), ``y = (v - cy) / fy``,
    ``x = (u - cx - s y) / fx``, ``d = normalize(R @ [x, y, 1])`` with ``R`` the
    ``cam2world`` rotation, and the moment ``o x d`` with ``o`` the camera centre.

    Args:
        intrinsics: ``(B, V, 3, 3)`` or ``(B, V, T, 3, 3)`` pixel ``K``.
        extrinsics: ``(B, V, 4, 4)`` or ``(B, V, T, 4, 4)`` OpenCV ``cam2world`` (metres).
        height, width: image size in pixels.
        pixel_center: ``"half"`` (default, published) or ``"integer"``.
        dtype: output floating dtype (computed in float64 where the device has it, then
            cast, as the numpy function does).
        validate: check the cameras' values (pinhole ``K``, rigid extrinsics; a device sync).

    Returns:
        ``(B, V, H, W, 6)`` when both inputs are static, ``(B, V, T, H, W, 6)`` when
        either has a ``T`` axis; channels ``[d_x, d_y, d_z, m_x, m_y, m_z]``, on the
        inputs' device. Differentiable with respect to the cameras.
    """
    if pixel_center not in PIXEL_CENTERS:
        raise ValueError(f"pixel_center must be one of {PIXEL_CENTERS}, got {pixel_center!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch dtype, got {dtype!r}")
    H, W = check_size(height, width)
    dev = intrinsics.device if isinstance(intrinsics, torch.Tensor) else torch.device("cpu")
    cdt = compute_dtype(dev)
    cams = check_cameras(intrinsics, extrinsics, validate, cdt)
    B, V, Tc = cams.K.shape[:3]
    h = 0.5 if pixel_center == "half" else 0.0
    K = cams.K.reshape(-1, 3, 3)
    E = cams.c2w.reshape(-1, 4, 4)
    n = K.shape[0]
    u = torch.arange(W, dtype=cdt, device=dev) + h
    v = torch.arange(H, dtype=cdt, device=dev) + h
    out = torch.empty((n, H, W, 6), dtype=dtype, device=dev)
    per = max(1, _CHUNK_BYTES // (H * W * 6 * 8))
    pieces = []
    for i in range(0, n, per):
        k = K[i:i + per, None, None]  # (c, 1, 1, 3, 3)
        y = (v[:, None] - k[..., 1, 2]) / k[..., 1, 1]                       # (c, H, 1)
        x = (u[None, :] - k[..., 0, 2] - k[..., 0, 1] * y) / k[..., 0, 0]    # (c, H, W)
        y = y.expand_as(x)
        R = E[i:i + per, None, None, :3, :3]                                 # (c, 1, 1, 3, 3)
        d = R[..., 0] * x[..., None] + R[..., 1] * y[..., None] + R[..., 2]  # R @ [x, y, 1]
        d = d / torch.linalg.vector_norm(d, dim=-1, keepdim=True)
        o = E[i:i + per, None, None, :3, 3].expand_as(d)
        m = torch.linalg.cross(o, d, dim=-1)
        piece = torch.cat([d, m], dim=-1).to(dtype)
        if torch.is_grad_enabled() and piece.requires_grad:
            pieces.append(piece)
        else:
            out[i:i + per] = piece
    if pieces:
        out = torch.cat(pieces, dim=0)
    out = out.reshape(B, V, Tc, H, W, 6)
    return out if cams.per_frame else out[:, :, 0]
