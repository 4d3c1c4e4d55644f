"""Calibrated pinhole cameras: ``CameraRig`` and the geometry that uses it.

Conventions, named where they matter:
- axes are OpenCV's: camera x right, y down, z forward (out of the lens);
- ``cam2world`` (the stored ``extrinsics``) maps camera coordinates to world
  coordinates; its translation column is the camera centre; ``world2cam`` is its inverse;
- ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` in pixels of *this* image;
- pixel ``(u, v) = (column, row)``; the centre of the top-left pixel is ``(0, 0)``
  (pixel centres at integer coordinates), so a centred principal point is
  ``((W - 1) / 2, (H - 1) / 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._validate import as_float_array, kernel_input
from .rotations import check_rotations

__all__ = ["CameraRig", "look_at", "SCALINGS"]

#: Intrinsics update rules under resizing, by name: "corner" scales about the image
#: corner (``cx' = cx * sx``, the published pipeline); "center" keeps pixel centres at
#: integer coordinates exact (``cx' = (cx + 0.5) * sx - 0.5``).
SCALINGS = ("corner", "center")


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV ``cam2world`` ``(..., 4, 4)`` of a camera at ``eye`` looking at ``target``.

    Args:
        eye: ``(..., 3)`` camera centres, metres.
        target: ``(..., 3)`` points the optical axis (+z) passes through.
        up: ``(3,)`` world direction that appears *up* in the image (camera -y).
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    z = target - eye
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    upv = np.broadcast_to(np.asarray(up, dtype=np.float64), z.shape)
    x = np.cross(z, upv)  # right = forward x up, so that image y (down) is -up
    nx = np.linalg.norm(x, axis=-1, keepdims=True)
    if (nx < 1e-9).any():
        raise ValueError("look_at: viewing direction is parallel to 'up'")
    x = x / nx
    y = np.cross(z, x)
    out = np.zeros(z.shape[:-1] + (4, 4))
    out[..., :3, 0], out[..., :3, 1], out[..., :3, 2], out[..., :3, 3] = x, y, z, eye
    out[..., 3, 3] = 1.0
    return out


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.flags.writeable = False
    return a


def _where(idx: Sequence[int], static: bool) -> str:
    return f"view {idx[0]}" if static or len(idx) < 2 else f"view {idx[0]}, frame {idx[1]}"


@dataclass(frozen=True, eq=False)
class CameraRig:
    """``V`` calibrated OpenCV pinhole cameras, static or moving per frame.

    Args:
        intrinsics: ``(V, 3, 3)`` or per frame ``(V, T, 3, 3)`` pixel intrinsics ``K``.
        extrinsics: ``(V, 4, 4)`` or per frame ``(V, T, 4, 4)`` ``cam2world`` matrices
            (OpenCV axes; translation = camera centre, metres).
        height, width: image size in pixels (all views share it).

    Raises:
        ValueError: on wrong shapes, non-finite values, a ``K`` that is not upper
            triangular with positive focal lengths and last row ``[0, 0, 1]``, extrinsics
            whose rotation is not proper (orthonormal, det +1, tolerance 1e-6) or whose
            last row is not ``[0, 0, 0, 1]``, or a view/frame count mismatch. The message
            names the view (and frame).
    """

    intrinsics: np.ndarray
    extrinsics: np.ndarray
    height: int
    width: int

    def __post_init__(self) -> None:
        K = as_float_array(self.intrinsics, "intrinsics", last=(3, 3), ndim=(3, 4))
        E = as_float_array(self.extrinsics, "extrinsics", last=(4, 4), ndim=(3, 4))
        for name, val in (("height", self.height), ("width", self.width)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
                raise ValueError(f"{name} must be a positive integer number of pixels, got {val!r}")
        if K.shape[0] != E.shape[0]:
            raise ValueError(f"intrinsics has V={K.shape[0]} views but extrinsics has V={E.shape[0]}")
        if K.ndim == 4 and E.ndim == 4 and K.shape[1] != E.shape[1]:
            raise ValueError(f"per-frame intrinsics has T={K.shape[1]} frames but extrinsics has T={E.shape[1]}")
        k_static, e_static = K.ndim == 3, E.ndim == 3
        # intrinsics: upper-triangular pinhole, positive focal lengths
        bad = (np.abs(K[..., 1, 0]) > 0) | (np.abs(K[..., 2, :2]).max(axis=-1) > 0) | (K[..., 2, 2] != 1.0)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"intrinsics of {_where(idx, k_static)} is not a pinhole K "
                             f"[[fx, s, cx], [0, fy, cy], [0, 0, 1]]: {K[idx].tolist()}")
        for j, name in ((0, "fx"), (1, "fy")):
            bad = K[..., j, j] <= 0
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"intrinsics of {_where(idx, k_static)} has {name} = {K[idx][j, j]} <= 0 "
                                 "(negated-focal conventions must be converted first)")
        bad = np.abs(E[..., 3, :] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=-1) > 0
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"extrinsics of {_where(idx, e_static)} must have last row [0, 0, 0, 1], "
                             f"got {E[idx][3].tolist()}")
        try:
            check_rotations(E[..., :3, :3], "rotation", tol=1e-6)
        except ValueError as exc:
            msg = str(exc)
            # rewrite "rotation[v, t] is ..." into a message that names view and frame
            head, _, rest = msg.partition("]")
            idx = tuple(int(s) for s in head.split("[", 1)[1].split(",") if s.strip())
            raise ValueError(f"extrinsics (cam2world) of {_where(idx, e_static)} has a rotation block that"
                             f"{rest} ; world2cam matrices must be inverted first") from None
        object.__setattr__(self, "intrinsics", _frozen(K))
        object.__setattr__(self, "extrinsics", _frozen(E))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "width", int(self.width))

    # ------------------------------------------------------------------ basics
    @classmethod
    def from_world2cam(cls, intrinsics: np.ndarray, world2cam: np.ndarray, height: int, width: int) -> "CameraRig":
        """Build from ``world2cam`` (VGGT/COLMAP style) ``(V, 4, 4)``/``(V, T, 4, 4)`` or ``(.., 3, 4)``."""
        W = as_float_array(world2cam, "world2cam", min_ndim=3)
        if W.shape[-2:] == (3, 4):
            W = np.concatenate([W, np.broadcast_to([0.0, 0.0, 0.0, 1.0], W.shape[:-2] + (1, 4))], axis=-2)
        if W.shape[-2:] != (4, 4):
            raise ValueError(f"world2cam must have shape (..., 4, 4) or (..., 3, 4), got {W.shape}")
        check_rotations(W[..., :3, :3], "world2cam rotation", tol=1e-6)
        return cls(intrinsics, _invert_rigid(W), height, width)

    @property
    def n_views(self) -> int:
        """Number of cameras ``V``."""
        return int(self.extrinsics.shape[0])

    @property
    def n_frames(self) -> int | None:
        """``T`` for a per-frame rig, ``None`` for a static one."""
        if self.extrinsics.ndim == 4:
            return int(self.extrinsics.shape[1])
        if self.intrinsics.ndim == 4:
            return int(self.intrinsics.shape[1])
        return None

    @property
    def is_static(self) -> bool:
        """True when neither intrinsics nor extrinsics vary per frame."""
        return self.n_frames is None

    @property
    def cam2world(self) -> np.ndarray:
        """``(V, 4, 4)`` or ``(V, T, 4, 4)`` camera-to-world matrices (read-only)."""
        return self.extrinsics

    @property
    def world2cam(self) -> np.ndarray:
        """``(V, 4, 4)`` or ``(V, T, 4, 4)`` world-to-camera matrices."""
        return _invert_rigid(self.extrinsics)

    @property
    def centers(self) -> np.ndarray:
        """Camera centres in world coordinates, ``(V, 3)`` or ``(V, T, 3)``, metres."""
        return self.extrinsics[..., :3, 3].copy()

    def __len__(self) -> int:
        return self.n_views

    def __repr__(self) -> str:
        kind = "static" if self.is_static else f"per-frame T={self.n_frames}"
        return f"CameraRig(V={self.n_views}, {kind}, {self.height}x{self.width})"

    def broadcast(self, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame arrays ``K (V, T, 3, 3)`` and ``cam2world (V, T, 4, 4)``.

        A static rig is broadcast (read-only views) to ``n_frames`` (1 if ``None``);
        a per-frame rig requires ``n_frames`` to be ``None`` or its own ``T``.
        """
        T = self.n_frames
        if T is not None and n_frames is not None and n_frames != T:
            raise ValueError(f"rig has T={T} frames but {n_frames} were given")
        T = T if T is not None else (1 if n_frames is None else int(n_frames))
        V = self.n_views
        K = self.intrinsics if self.intrinsics.ndim == 4 else self.intrinsics[:, None]
        E = self.extrinsics if self.extrinsics.ndim == 4 else self.extrinsics[:, None]
        return np.broadcast_to(K, (V, T, 3, 3)), np.broadcast_to(E, (V, T, 4, 4))

    # -------------------------------------------------------------- selection
    def with_views(self, views: int | slice | Sequence[int] | np.ndarray) -> "CameraRig":
        """A rig with only the selected views (same order as given)."""
        idx = np.arange(self.n_views)[views]
        idx = np.atleast_1d(idx)
        if idx.size == 0:
            raise ValueError("view selection is empty")
        return CameraRig(self.intrinsics[idx], self.extrinsics[idx], self.height, self.width)

    __getitem__ = with_views

    def with_frames(self, frames: int | slice | Sequence[int] | np.ndarray) -> "CameraRig":
        """A rig restricted to some frames (a static rig is returned unchanged)."""
        if self.is_static:
            return self
        idx = np.atleast_1d(np.arange(self.n_frames)[frames])  # type: ignore[arg-type]
        if idx.size == 0:
            raise ValueError("frame selection is empty")
        K = self.intrinsics[:, idx] if self.intrinsics.ndim == 4 else self.intrinsics
        E = self.extrinsics[:, idx] if self.extrinsics.ndim == 4 else self.extrinsics
        return CameraRig(K, E, self.height, self.width)

    # ---------------------------------------------------------------- geometry
    def _frame_arrays(self, points: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        T = self.n_frames
        if T is not None and (points.ndim < 2 or points.shape[0] != T):
            raise ValueError(f"{name} must have shape (T={T}, ..., {points.shape[-1]}) for this per-frame rig, "
                             f"got {points.shape}")
        K, E = self.broadcast(T)
        return K, E, (T if T is not None else 0)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points into every view.

        Args:
            points: world points in metres, ``(..., 3)`` for a static rig or
                ``(T, ..., 3)`` for a per-frame rig.

        Returns:
            ``pixels (V, ..., 2)`` as ``(u, v) = (column, row)`` with pixel centres at
            integer coordinates, and ``depth (V, ...)``: the camera-frame z in metres.
            Points with ``depth <= 0`` are behind the camera; their pixels are the
            (meaningless) mirrored projection, so check ``depth``. NaN points give NaN
            pixels and depths; inf is refused.
        """
        p = as_float_array(points, "points", last=(3,), allow_nan=True)
        K, E, T = self._frame_arrays(p, "points")
        W = _invert_rigid(E)  # (V, T', 4, 4)
        V = self.n_views
        if T:
            flat = p.reshape(T, -1, 3)
        else:
            flat = p.reshape(1, -1, 3)
        cam = np.einsum("vtij,tmj->vtmi", W[..., :3, :3], flat) + W[:, :, None, :3, 3]
        z = cam[..., 2]
        Kb = K[:, :, None]
        # depth 0 gives inf/NaN pixels, by design: no warnings for them
        with np.errstate(divide="ignore", invalid="ignore"):
            x = cam[..., 0] / z
            y = cam[..., 1] / z
            u = Kb[..., 0, 0] * x + Kb[..., 0, 1] * y + Kb[..., 0, 2]
            v = Kb[..., 1, 1] * y + Kb[..., 1, 2]
        pix = np.stack([u, v], axis=-1).reshape((V,) + p.shape[:-1] + (2,))
        return pix, z.reshape((V,) + p.shape[:-1])

    def rays(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays through pixels.

        Args:
            pixels: ``(V, ..., 2)`` ``(u, v)`` per view (``(V, T, ..., 2)`` for a
                per-frame rig), pixel centres at integer coordinates.

        Returns:
            ``origins (V, ..., 3)`` (camera centres, metres) and unit world
            ``directions (V, ..., 3)``: ``origin + lam * direction`` is the point at
            distance ``lam`` (metres) along the ray; for the point at camera depth
            ``z`` use :meth:`unproject`.
        """
        o, d, _ = self._rays(pixels)
        return o, d / np.linalg.norm(d, axis=-1, keepdims=True)

    def unproject(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """World points at camera depth ``depth (V, ...)`` (metres) behind ``pixels (V, ..., 2)``."""
        o, d, shape = self._rays(pixels)
        z = as_float_array(depth, "depth")
        if z.shape != shape:
            raise ValueError(f"depth must have shape {shape}, got {z.shape}")
        return o + d * z[..., None]

    def _rays(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        px = as_float_array(pixels, "pixels", last=(2,), min_ndim=2)
        V = self.n_views
        if px.shape[0] != V:
            raise ValueError(f"pixels must have shape (V={V}, ..., 2), got {px.shape}")
        T = self.n_frames
        if T is not None and (px.ndim < 3 or px.shape[1] != T):
            raise ValueError(f"pixels must have shape (V={V}, T={T}, ..., 2) for this per-frame rig, got {px.shape}")
        K, E = self.broadcast(T)
        flat = px.reshape(V, T or 1, -1, 2)
        Kb = K[:, :, None]
        y = (flat[..., 1] - Kb[..., 1, 2]) / Kb[..., 1, 1]
        x = (flat[..., 0] - Kb[..., 0, 2] - Kb[..., 0, 1] * y) / Kb[..., 0, 0]
        dcam = np.stack([x, y, np.ones_like(x)], axis=-1)  # z_cam = 1: scaled by depth
        dw = np.einsum("vtij,vtmj->vtmi", E[..., :3, :3], dcam)
        o = np.broadcast_to(E[:, :, None, :3, 3], dw.shape)
        shape = px.shape[:-1]
        return o.reshape(shape + (3,)).copy(), dw.reshape(shape + (3,)), shape

    # ---------------------------------------------------------------- resizing
    def resized(self, height: int, width: int, scaling: str = "corner") -> "CameraRig":
        """The rig for images resized (no crop) to ``height x width``.

        ``scaling`` names the principal-point rule (see ``SCALINGS``): ``"corner"``
        (default, the published pipeline's ``cx' = cx * sx``) or ``"center"`` (exact with
        pixel centres at integers: ``cx' = (cx + 0.5) * sx - 0.5``).
        """
        return self._crop_scale(height, width, 0.0, 0.0, self.width, self.height, scaling)

    def center_cropped_resized(self, height: int, width: int, scaling: str = "corner") -> "CameraRig":
        """The rig for images centre-cropped to the target aspect ratio, then resized.

        The crop is the largest centred rectangle of aspect ``width / height``
        (offsets ``dx, dy`` may be fractional); then ``fx' = fx * sx``,
        ``cx' = (cx - dx) * sx`` (``"corner"``, default, published) or
        ``cx' = (cx - dx + 0.5) * sx - 0.5`` (``"center"``), likewise for y.
        """
        _check_size(height, width)
        H, W = float(self.height), float(self.width)
        target = width / height
        if W / H >= target:
            Hc, Wc = H, H * target
            dx, dy = (W - Wc) / 2.0, 0.0
        else:
            Wc, Hc = W, W / target
            dx, dy = 0.0, (H - Hc) / 2.0
        return self._crop_scale(height, width, dx, dy, Wc, Hc, scaling)

    def _crop_scale(self, height: int, width: int, dx: float, dy: float, Wc: float, Hc: float,
                    scaling: str) -> "CameraRig":
        _check_size(height, width)
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
        sx, sy = width / Wc, height / Hc
        K = np.array(self.intrinsics, copy=True)
        h = 0.5 if scaling == "center" else 0.0
        K[..., 0, 0] *= sx
        K[..., 0, 1] *= sx
        K[..., 1, 1] *= sy
        K[..., 0, 2] = (K[..., 0, 2] - dx + h) * sx - h
        K[..., 1, 2] = (K[..., 1, 2] - dy + h) * sy - h
        return CameraRig(K, self.extrinsics, height, width)


def _check_size(height: int, width: int) -> None:
    for name, val in (("height", height), ("width", width)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
            raise ValueError(f"{name} must be a positive integer number of pixels, got {val!r}")


def _invert_rigid(M: np.ndarray) -> np.ndarray:
    """Inverse of rigid ``(..., 4, 4)`` transforms (``R^T, -R^T t``)."""
    R = M[..., :3, :3]
    t = M[..., :3, 3]
    out = np.zeros(M.shape)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def _frame_cameras(rig: CameraRig, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cameras as contiguous ``(T, V, ...)`` arrays: K, world2cam, cam2world.

    Cached on the rig per ``T`` (a rig never changes); callers must not write to them.
    """
    cache = rig.__dict__.setdefault("_frame_cameras", {})
    hit = cache.get(T)
    if hit is None:
        K, E = rig.broadcast(T)
        # one array type for the kernels whatever the rig (static or per frame, one view
        # or one frame): C-contiguous and read-only (kernel_input)
        K = kernel_input(np.swapaxes(K, 0, 1))
        E = kernel_input(np.swapaxes(E, 0, 1))
        hit = (K, kernel_input(_invert_rigid(E)), E)
        if len(cache) >= 4:
            cache.clear()
        cache[T] = hit
    return hit
