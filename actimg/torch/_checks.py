"""Input checks of the torch path: one place, the same rules as :class:`actimg.CameraRig`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..codec.spec import ActionImageSpec, resolve_spec

#: tolerance of ``|R^T R - I|`` and ``|det R - 1|`` for cam2world rotations, by input dtype
#: (the numpy rig uses 1e-6 on float64; float32 matrices carry ~1e-7 rounding)
RIGID_TOL = {torch.float64: 1e-6, torch.float32: 1e-5}
_LOW_PRECISION_TOL = 1e-2


def compute_dtype(device: torch.device) -> torch.dtype:
    """float64 where the device has it (everything but Apple's MPS), else float32."""
    return torch.float32 if device.type == "mps" else torch.float64


def check_spec(spec: ActionImageSpec | str | None) -> ActionImageSpec:
    """The spec, as :func:`actimg.encode` reads it (None, a spec, or a name such as ``"paper"``)."""
    return resolve_spec(spec)


def check_size(height: object, width: object) -> tuple[int, int]:
    """Positive integer pixel counts (Python or numpy integers, not bools)."""
    for name, val in (("height", height), ("width", width)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
            raise ValueError(f"{name} must be a positive integer number of pixels, got {val!r}")
    return int(height), int(width)  # type: ignore[call-overload]


def check_tensor(x: object, name: str, shape_text: str, ndims: tuple[int, ...], last: tuple[int, ...] = ()
                 ) -> torch.Tensor:
    """``x`` must be a floating-point tensor with ``ndim`` in ``ndims`` and trailing ``last``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {shape_text}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float32/float64), got dtype {x.dtype}")
    if x.ndim not in ndims or (last and tuple(x.shape[x.ndim - len(last):]) != last):
        raise ValueError(f"{name} must have shape {shape_text}, got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    return x


def check_finite(x: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(f"{name} must be finite; found {float(x[idx])} at index {idx}")


def check_same_device(**tensors: torch.Tensor) -> torch.device:
    devs = {name: t.device for name, t in tensors.items()}
    first = next(iter(devs.values()))
    if any(d != first for d in devs.values()):
        raise ValueError("all tensors must be on the same device, got "
                         + ", ".join(f"{n} on {d}" for n, d in devs.items()))
    return first


class Cameras(NamedTuple):
    """Cameras broadcast to ``(B, V, Tc, ...)`` (``Tc`` = 1 for static ones), compute dtype."""

    K: torch.Tensor      # (B, V, Tc, 3, 3)
    c2w: torch.Tensor    # (B, V, Tc, 4, 4)
    per_frame: bool      # True when either input had a T axis
    n_frames: int | None  # T of the per-frame input(s), None when static


def _where(idx: tuple[int, ...], per_frame: bool) -> str:
    s = f"batch {idx[0]}, view {idx[1]}"
    return s + (f", frame {idx[2]}" if per_frame and len(idx) > 2 else "")


def check_cameras(intrinsics: object, extrinsics: object, validate: bool, dtype: torch.dtype,
                  batch: int | None = None, views: int | None = None,
                  data: tuple[str, torch.Tensor, int] | None = None) -> Cameras:
    """Check ``K`` ``(B, V[, T], 3, 3)`` and ``cam2world`` ``(B, V[, T], 4, 4)``; broadcast them.

    The values are checked as :class:`actimg.CameraRig` does (``validate=True``): pinhole
    ``K`` with positive focal lengths, rigid ``cam2world`` with last row ``[0, 0, 0, 1]``.
    ``data = (name, tensor, T)``: the cameras must be on the tensor's device, and per-frame
    cameras must have its ``T`` frames.
    """
    K = check_tensor(intrinsics, "intrinsics", "(B, V, 3, 3) or (B, V, T, 3, 3)", (4, 5), (3, 3))
    E = check_tensor(extrinsics, "extrinsics", "(B, V, 4, 4) or (B, V, T, 4, 4)", (4, 5), (4, 4))
    check_same_device(intrinsics=K, extrinsics=E)
    if K.shape[:2] != E.shape[:2]:
        raise ValueError(f"intrinsics has (B, V) = {tuple(K.shape[:2])} but extrinsics has {tuple(E.shape[:2])}")
    if batch is not None and K.shape[0] != batch:
        raise ValueError(f"cameras have batch size B={K.shape[0]} but the data has B={batch}")
    if views is not None and K.shape[1] != views:
        raise ValueError(f"cameras have V={K.shape[1]} views but the images have V={views}")
    Tk = K.shape[2] if K.ndim == 5 else None
    Te = E.shape[2] if E.ndim == 5 else None
    if Tk is not None and Te is not None and Tk != Te:
        raise ValueError(f"per-frame intrinsics has T={Tk} frames but extrinsics has T={Te}")
    n_frames = Tk if Tk is not None else Te
    if data is not None:
        name, x, T = data
        if K.device != x.device:
            raise ValueError(f"all tensors must be on the same device, got {name} on {x.device} "
                             f"and cameras on {K.device}")
        if n_frames is not None and n_frames != T:
            raise ValueError(f"{name} has T={T} frames but the per-frame cameras have T={n_frames}")
    if validate:
        check_finite(K, "intrinsics")
        check_finite(E, "extrinsics")
        pk = K.ndim == 5
        bad = (K[..., 1, 0] != 0) | (K[..., 2, 0] != 0) | (K[..., 2, 1] != 0) | (K[..., 2, 2] != 1)
        if bool(bad.any()):
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(f"intrinsics of {_where(idx, pk)} is not a pinhole K "
                             f"[[fx, s, cx], [0, fy, cy], [0, 0, 1]]: {K[idx].tolist()}")
        for j, name in ((0, "fx"), (1, "fy")):
            bad = K[..., j, j] <= 0
            if bool(bad.any()):
                idx = tuple(int(i) for i in torch.nonzero(bad)[0])
                raise ValueError(f"intrinsics of {_where(idx, pk)} has {name} = {float(K[idx][j, j])} <= 0 "
                                 "(negated-focal conventions must be converted first)")
        pe = E.ndim == 5
        last = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=E.dtype, device=E.device)
        bad = (E[..., 3, :] != last).any(dim=-1)
        if bool(bad.any()):
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(f"extrinsics of {_where(idx, pe)} must have last row [0, 0, 0, 1], "
                             f"got {E[idx][3].tolist()}")
        R = E[..., :3, :3].to(torch.float64 if dtype == torch.float64 else torch.float32)
        eye = torch.eye(3, dtype=R.dtype, device=R.device)
        err = (R.transpose(-1, -2) @ R - eye).abs().amax(dim=(-1, -2))
        det = torch.linalg.det(R)
        tol = RIGID_TOL.get(E.dtype, _LOW_PRECISION_TOL)
        bad = (err > tol) | ((det - 1.0).abs() > tol)
        if bool(bad.any()):
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            d = float(det[idx])
            what = ("a reflection (det -1)" if d < 0
                    else f"not a rotation (|R^T R - I| = {float(err[idx]):.3g}, det = {d:.6g})")
            raise ValueError(f"extrinsics (cam2world) of {_where(idx, pe)} has a rotation block that is {what}; "
                             "world2cam matrices must be inverted first")
    K = K.to(dtype)
    E = E.to(dtype)
    K5 = K if K.ndim == 5 else K[:, :, None]
    E5 = E if E.ndim == 5 else E[:, :, None]
    Tc = n_frames if n_frames is not None else 1
    B, V = K.shape[:2]
    return Cameras(K5.expand(B, V, Tc, 3, 3), E5.expand(B, V, Tc, 4, 4), n_frames is not None, n_frames)
