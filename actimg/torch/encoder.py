"""Batched actions -> action images, in torch, on any device."""

from __future__ import annotations

import warnings

import torch

from ..codec.encoder import BlankImagesWarning
from ..codec.spec import ActionImageSpec
from ._checks import check_cameras, check_finite, check_size, check_spec, check_tensor, compute_dtype
from ._geometry import euler_matrices, project

__all__ = ["encode", "project_actions"]

#: float32 values within this relative distance of the gripper floor are recomputed with
#: the dense formula, so the floor decision is the numpy encoder's (see :func:`encode`)
_FLOOR_BAND = 5e-7


def _points_and_pixels(actions: object, intrinsics: object, extrinsics: object, spec: ActionImageSpec,
                       validate: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checked actions ``(B, T, 7)`` (compute dtype), pixels ``(B, V, T, 3, 2)``, depth ``(B, V, T, 3)``."""
    a = check_tensor(actions, "actions", "(B, T, 7)", (3,), (7,))
    B, T = a.shape[:2]
    cdt = compute_dtype(a.device)
    cams = check_cameras(intrinsics, extrinsics, validate, cdt, batch=B, data=("actions", a, T))
    if validate:
        check_finite(a, "actions")
    a = a.to(cdt)
    R = euler_matrices(a[..., 3:6], spec.euler)  # (B, T, 3, 3)
    model = torch.as_tensor(spec.tool_points, dtype=cdt, device=a.device)  # (3, 3): rows P, N, U
    X = a[:, :, None, :3] + (R[:, :, None] @ model[:, :, None])[..., 0]  # (B, T, 3, 3)
    uv, depth = project(cams.K[:, :, :, None], cams.c2w[:, :, :, None], X[:, None])
    return a, uv, depth  # (B, V, T, 3, 2), (B, V, T, 3)


def project_actions(actions: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor,
                    spec: ActionImageSpec | None = None, *, validate: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Project the P, N, U points of batched actions into every view.

    Args:
        actions: ``(B, T, 7)`` ``[x, y, z, rx, ry, rz, openness]`` (metres, radians).
        intrinsics: ``(B, V, 3, 3)`` or ``(B, V, T, 3, 3)`` pixel ``K``.
        extrinsics: ``(B, V, 4, 4)`` or ``(B, V, T, 4, 4)`` OpenCV ``cam2world``.
        spec: the format (default :data:`actimg.codec.spec.PAPER`).
        validate: check values (costs a device synchronisation); shapes are always checked.

    Returns:
        ``pixels (B, V, T, 3, 2)`` (u, v) with pixel centres at integer coordinates, and
        ``depth (B, V, T, 3)`` in metres (``<= 0``: behind the camera), in float64
        (float32 on devices without float64). Axis 3 is (P, N, U). Differentiable.
    """
    spec = check_spec(spec)
    _, uv, depth = _points_and_pixels(actions, intrinsics, extrinsics, spec, validate)
    return uv, depth


def encode(actions: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor, height: int, width: int,
           spec: ActionImageSpec | None = None, *, validate: bool = True) -> torch.Tensor:
    """Render batched actions as per-camera RGB action images, on the tensors' device.

    Args:
        actions: ``(B, T, 7)`` ``[x, y, z, rx, ry, rz, openness]``: metres, radians in the
            spec's Euler sequence (default extrinsic ``"xyz"``), openness 1 = open.
        intrinsics: ``(B, V, 3, 3)`` (static) or ``(B, V, T, 3, 3)`` (per frame) pixel
            intrinsics ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]``.
        extrinsics: ``(B, V, 4, 4)`` or ``(B, V, T, 4, 4)`` OpenCV ``cam2world`` (metres).
        height, width: image size ``H x W`` in pixels.
        spec: the format (default :data:`actimg.codec.spec.PAPER`, the published one;
            a name such as ``"paper"`` is read as :func:`actimg.encode` reads it).
        validate: check values as :class:`actimg.CameraRig` and :func:`actimg.encode` do
            (pinhole ``K``, rigid extrinsics, finite actions, a frame not wholly behind every
            camera; a ``BlankImagesWarning`` when no point lands near any view). It synchronises with the device; pass ``False`` inside a hot loop
            once the inputs are known to be good. Shapes and dtypes are always checked.

    Returns:
        ``(B, V, T, H, W, 3)`` float32 in [0, 1] on the input device: R = Gaussian of P,
        G = of N, B = of U with the gripper floor (``gripper_floor`` where ``B <= floor``
        when openness > ``gripper_threshold``, else 0). Equal to
        ``actimg.encode(actions[b], CameraRig(K[b], E[b], H, W), spec, dtype=np.float32)``
        within 1e-6 (the product of two float32-rounded factors: < 2e-7 relative), with
        the gripper-floor decision taken as the numpy encoder takes it (values this close
        to the floor are recomputed with the dense float64 formula). Not differentiable
        (computed under ``torch.no_grad``).

    Memory: per point a row factor ``(H,)`` and a column factor ``(W,)`` (computed in
    float64, multiplied in float32), their outer products written straight into the
    float32 output, plus one ``(B, V, T, H, W)``
    bool mask for the gripper floor: no dense float64 image.

    Raises:
        TypeError: non-tensor or non-floating inputs, a spec that is not an ActionImageSpec.
        ValueError: a spec with ``precision="bfloat16"`` (use :func:`actimg.encode`),
            wrong shapes, batch/view/frame counts that differ, tensors on different
            devices, non-finite values, a non-pinhole ``K``, non-rigid extrinsics, or (with
            ``validate``) a frame whose P, N, U are behind every camera.
    """
    spec = check_spec(spec)
    if spec.precision != "float32":
        raise ValueError(f"actimg.torch.encode renders the float32 format only, got spec.precision="
                         f"{spec.precision!r}; the bfloat16 emulation is actimg.encode(actions, rig, spec)")
    H, W = check_size(height, width)
    with torch.no_grad():
        a, uv, depth = _points_and_pixels(actions, intrinsics, extrinsics, spec, validate)
        B, V, T = uv.shape[:3]
        cdt = uv.dtype
        dev = uv.device
        skip = spec.behind_camera == "skip"
        draw = ((depth > 0) if skip else (depth != 0)) & torch.isfinite(uv).all(dim=-1)  # (B, V, T, 3)
        if validate and skip:
            behind = (depth <= 0).all(dim=-1).all(dim=1)  # (B, T)
            if bool(behind.any()):
                b, t = (int(i) for i in torch.nonzero(behind)[0])
                raise ValueError(f"batch {b}, frame {t}: P, N and U are behind every camera (depth <= 0 in all "
                                 f"{V} views); are the extrinsics camera-to-world with OpenCV axes?")
        uv = torch.where(draw[..., None], uv, torch.zeros((), dtype=cdt, device=dev)) - spec.pixel_offset
        s = spec.sigma_px(H, W)
        if validate:  # as actimg.encode: no blob within 3 sigma of any image is a convention error
            r = 3.0 * s
            u, v = uv[..., 0], uv[..., 1]
            near = draw & (u > -r) & (u < W - 1 + r) & (v > -r) & (v < H - 1 + r)
            if not bool(near.any()):
                warnings.warn("no point of any frame projects into any view: every action image is blank. "
                              "Likely cause: world2cam extrinsics passed as cam2world, OpenGL camera axes, "
                              "or units (mm vs m)", BlankImagesWarning, stacklevel=2)
        two_s2 = 2.0 * s * s
        drawf = draw.to(cdt)
        cols = torch.arange(W, dtype=cdt, device=dev)
        rows = torch.arange(H, dtype=cdt, device=dev)
        # separable Gaussian: per point a column factor (W,) and a row factor (H,)
        ex = torch.exp(-(cols - uv[..., 0:1]).square() / two_s2) * drawf[..., None]  # (B, V, T, 3, W)
        ey = torch.exp(-(rows - uv[..., 1:2]).square() / two_s2)                     # (B, V, T, 3, H)
        out = torch.empty((B, V, T, H, W, 3), dtype=torch.float32, device=dev)
        # the outer products, straight into the output: float32 factors (a float64
        # product cast on the store is several times slower on CPU), so each value is
        # within 3 float32 roundings (< 2e-7 relative) of the dense float64 formula
        ex32 = ex.to(torch.float32).transpose(-1, -2)  # (B, V, T, W, 3)
        ey32 = ey.to(torch.float32).transpose(-1, -2)  # (B, V, T, H, 3)
        torch.mul(ey32[..., :, None, :], ex32[..., None, :, :], out=out)

        floor32 = torch.tensor(spec.gripper_floor, dtype=torch.float32, device=dev)
        if spec.gripper_floor > 0.0:
            blue = out[..., 2]  # (B, V, T, H, W) view
            # float32 values this close to the floor: the dense formula decides (as numpy)
            lo = float(floor32) * (1.0 - _FLOOR_BAND)
            hi = float(floor32) * (1.0 + _FLOOR_BAND)
            near = torch.nonzero((blue >= lo) & (blue <= hi))
            if near.shape[0]:
                b, v, t, r, c = near.unbind(dim=1)
                u0 = uv[b, v, t, 2, 0]
                v0 = uv[b, v, t, 2, 1]
                dense = torch.exp(-((c.to(cdt) - u0).square() + (r.to(cdt) - v0).square()) / two_s2)
                blue[b, v, t, r, c] = dense.to(torch.float32) * drawf[b, v, t, 2].to(torch.float32)
            opened = a[..., 6] > spec.gripper_threshold  # (B, T)
            fill = torch.where(opened, floor32, torch.zeros((), dtype=torch.float32, device=dev))
            fill = fill[:, None, :, None, None].expand(B, V, T, H, W)
            torch.where(blue > floor32, blue, fill, out=blue)
        return out
