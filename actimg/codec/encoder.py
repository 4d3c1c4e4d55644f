"""Actions -> action images."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from . import _buffers
from . import _encode_kernels as _k
from . import _units  # noqa: F401  (declares the compile units that prepare() names)
from .._compile import prepare
from .._parallel import run_from_both_ends
from ..geometry._rotation_kernels import euler_code
from .._validate import as_float_array, kernel_input
from ..geometry.camera import CameraRig, _frame_cameras
from .spec import ActionImageSpec, resolve_spec

__all__ = ["encode", "project_actions", "BlankImagesWarning"]

_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))


def _cameras(actions: np.ndarray, rig: CameraRig) -> tuple[np.ndarray, np.ndarray]:
    """``K (T, V, 3, 3)`` and ``world2cam (T, V, 4, 4)`` for ``(T, 7)`` actions, checked."""
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be a CameraRig, got {type(rig).__name__}")
    T = actions.shape[0]
    if rig.n_frames is not None and rig.n_frames != T:
        raise ValueError(f"actions has T={T} frames but the per-frame rig has T={rig.n_frames}")
    Ks, W2C, _ = _frame_cameras(rig, T)
    return Ks, W2C


def _warn_if_blank(uv: np.ndarray, draw: np.ndarray, sigma: float, H: int, W: int) -> None:
    """Warn when no drawn point of any frame lands near any view: the images would be
    blank, which is almost always a convention error rather than the user's intent."""
    r = 3.0 * sigma  # a blob farther than 3 sigma outside the image leaves < 1 level inside
    u, v = uv[..., 0], uv[..., 1]
    near = draw & (u > -r) & (u < W - 1 + r) & (v > -r) & (v < H - 1 + r)
    if not near.any():
        warnings.warn("no point of any frame projects into any view: every action image is blank. "
                      "Likely cause: world2cam extrinsics passed as cam2world (use CameraRig.from_world2cam), "
                      "OpenGL camera axes (actimg.cameras.from_opengl), or units (mm vs m)",
                      BlankImagesWarning, stacklevel=3)


class BlankImagesWarning(UserWarning):
    """:func:`encode` drew nothing: no point of any frame lands in any view."""


def project_actions(actions: np.ndarray, rig: CameraRig, spec: ActionImageSpec | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Project the P, N, U points of ``(T, 7)`` actions into every view.

    Returns:
        ``pixels (V, T, 3, 2)`` (u, v) with pixel centres at integer coordinates and
        ``depth (V, T, 3)`` in metres (``<= 0``: behind the camera). Axis 2 is (P, N, U).
    """
    spec = resolve_spec(spec)
    a = as_float_array(actions, "actions", last=(7,), ndim=(2,))
    Ks, W2C = _cameras(a, rig)
    T = a.shape[0]
    V = rig.n_views
    pix = np.empty((V, T, 3, 2))
    depth = np.empty((V, T, 3))
    # one numba pass (scipy's Euler matrices and rig.project's pinhole, to rounding):
    # this is most of encode's own time on small batches
    _k.project_actions_many(kernel_input(a), kernel_input(euler_code(spec.euler)), kernel_input(spec.tool_points),
                            Ks, W2C, pix, depth)
    return pix, depth


def encode(actions: np.ndarray, rig: CameraRig, spec: ActionImageSpec | None = None,
           dtype: type = np.uint8, out: np.ndarray | None = None) -> np.ndarray:
    """Render actions as per-camera RGB action images.

    Args:
        actions: ``(T, 7)`` ``[x, y, z, rx, ry, rz, openness]``: metres, radians in the
            spec's Euler sequence (default extrinsic ``"xyz"``), openness 1 = open.
        rig: ``V`` cameras, static or with ``T`` frames.
        spec: the format (default ``ActionImageSpec.paper()``).
        dtype: ``np.uint8`` (``round(255 x)``) or ``np.float32`` (``x`` in [0, 1]).
        out: optional C-contiguous ``(V, T, H, W, 3)`` array of ``dtype`` to write into
            (every pixel is overwritten). Without it the result is a new array; its
            memory may be that of an earlier result nobody references any more
            (:func:`set_buffer_cache`), never that of a live array.

    Returns:
        ``(V, T, H, W, 3)`` images: R = P (position), G = N, B = U with the gripper
        floor (``gripper_floor`` where ``B <= gripper_floor`` if open, else 0). With the
        default spec the result is byte-identical to the published renderer for every
        point in front of a camera.

    Raises:
        ValueError: bad shapes or non-finite actions, a frame count that differs from a
            per-frame rig's, a bad ``out``, or a frame whose three points are all behind
            every camera (almost always a convention error: world2cam passed as
            cam2world, or OpenGL axes; a single point behind a camera is simply not
            drawn there).
    """
    spec = resolve_spec(spec)
    dt = np.dtype(dtype)
    if dt not in _DTYPES:
        raise TypeError(f"dtype must be np.uint8 or np.float32, got {dt}")
    a = as_float_array(actions, "actions", last=(7,), ndim=(2,))
    Ks, W2C = _cameras(a, rig)
    V, T = rig.n_views, a.shape[0]
    H, W = rig.height, rig.width
    # one numba pass: projection (as project_actions), draw flags (a point behind a camera
    # is skipped, or mirrored as the published renderer does), pixel grid, gripper state
    uv = np.empty((V, T, 3, 2))
    draw = np.empty((V, T, 3), np.bool_)
    opened = np.empty((V, T), np.bool_)
    order = np.empty(V * T, np.int64)
    skip = spec.behind_camera == "skip"
    first = _k.encode_inputs(kernel_input(a), kernel_input(euler_code(spec.euler)), kernel_input(spec.tool_points),
                             Ks, W2C, float(spec.pixel_offset), skip, float(spec.gripper_threshold), uv, draw, opened,
                             order)
    # a frame whose three points are all behind every camera cannot be drawn at all:
    # almost always a convention error (world2cam given as cam2world, OpenGL axes)
    if skip and first >= 0:
        raise ValueError(f"frame {first}: P, N and U are behind every camera (depth <= 0 in all {V} "
                         "views); are the extrinsics camera-to-world with OpenCV axes?")
    _warn_if_blank(uv, draw, float(spec.sigma_px(H, W)), H, W)
    shape = (V, T, H, W, 3)
    if out is None:
        out = _buffers.empty(shape, dt)  # memory of a dropped result when there is one
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != shape or out.dtype != dt:
            raise ValueError(f"out must have shape {shape} and dtype {dt}, got {out.shape} {out.dtype}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be C-contiguous and writeable")
    if spec.precision == "bfloat16" or (dt == np.uint8 and spec.quantize == "truncate"):
        return _encode_released(a, rig, spec, out)  # the released pipeline's arithmetic / 8 bits
    N = V * T
    prepare(("encode_u8" if dt == np.uint8 else "encode_f32",))
    flat = out.reshape(N, H, W * 3)
    kernel = _k.render_u8 if dt == np.uint8 else _k.render_f32
    # threads take images open-gripper first from one end, closed from the other: on
    # machines that write zero lines faster, one is bound by memory, the other by drawing
    run_from_both_ends(kernel, N, flat, uv.reshape(N, 3, 2), draw.reshape(N, 3), opened.reshape(N), order,
                       float(spec.sigma_px(H, W)), float(spec.gripper_floor))
    return out


def _encode_released(actions: np.ndarray, rig: CameraRig, spec: ActionImageSpec, out: np.ndarray) -> np.ndarray:
    """``spec.precision="bfloat16"`` (numpy emulation, :mod:`actimg.codec.bf16`) and/or
    ``spec.quantize="truncate"`` (8 bits as the released output path): float images first,
    then the spec's 8-bit conversion into ``out``."""
    from . import bf16

    if spec.precision == "bfloat16":
        Ks, _, C2W = _frame_cameras(rig, actions.shape[0])
        floats = out if out.dtype == np.float32 else np.empty(out.shape, np.float32)
        bf16.render_bf16(actions, Ks, C2W, rig.height, rig.width, spec, floats)
    else:
        floats = encode(actions, rig, replace(spec, quantize="round"), dtype=np.float32)
    if out.dtype == np.uint8:
        out[...] = bf16.to_uint8(floats, spec.quantize, spec.precision)
    return out
