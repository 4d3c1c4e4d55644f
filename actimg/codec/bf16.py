"""The released model's own rendering: action images computed in bfloat16, in numpy.

The released training and inference code casts the (float32) actions, cam2world
extrinsics and intrinsics to bfloat16 and renders the action images with every tensor in
bfloat16. Its targets therefore differ from the float renderer (the format's definition,
:func:`actimg.encode`'s default): positions are quantized (8 significant bits: 2-4 mm
steps at 0.5-1 m), angles, rotations and projections are rounded at every step, and the
pixel grid itself is bfloat16 (``arange(512)`` holds 385 distinct values: integers above
256 round to even, above 512 to multiples of 4). ``ActionImageSpec(precision="bfloat16")``
selects this module in :func:`actimg.encode`, for users who fine-tune the released
checkpoint and need the targets it learned.

Emulation rules (checked bit for bit against a torch transcription in
``tests/bf16_reference.py``; the unary maps exhaustively over all bfloat16 inputs):

* a bfloat16 value is held in a float32 array; :func:`to_bf16` rounds float32 to
  bfloat16 (round to nearest, ties to even, on the top 16 bits), as ``tensor.to(bfloat16)``;
* inputs go float64 -> float32 -> bfloat16 (the published data are float32 tensors);
* every elementwise op (``+ - * /``, square) is done in float32 and rounded to bfloat16;
  ``cos``, ``sin``, ``exp`` are evaluated in float64, rounded to float32, then to bfloat16
  (torch evaluates them in float32; over every bfloat16 input the results agree);
  a Python scalar operand (``* 0.1``, ``/ (2 s^2)``) enters as float32;
* the 3x3 and 4x4 matrix-vector products accumulate their (exact) float32 products in
  index order and round once (torch's small-matrix CPU kernel);
* the rotation is applied as ``Rz @ (Ry @ (Rx @ axis))`` for extrinsic ``"xyz"`` Euler
  angles; ``world2cam = [R^T | -(R^T t)]``; ``(u, v) = (K X)[:2] / (K X)[2]``;
* ``g = exp(-((col - u)^2 + (row - v)^2) / (2 s^2))`` on the bfloat16 grid; since its
  argument is a bfloat16 value, ``exp(-d / (2 s^2))`` is a 65536-entry table per sigma.

The published renderer has no depth test; ``behind_camera="skip"`` (the default) draws
nothing for a point whose bfloat16 camera depth is <= 0, ``"mirror"`` reproduces it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .spec import ActionImageSpec

__all__ = ["to_bf16", "bf16_grid", "project_bf16", "render_bf16", "to_uint8", "regrid", "rounded_rig"]


def to_bf16(x: np.ndarray) -> np.ndarray:
    """Round to bfloat16 (nearest, ties to even), returned as float32 holding those values.

    ``x`` is first converted to float32 (float64 input rounds twice, like
    ``torch.tensor(x, dtype=float32).to(bfloat16)``). NaN stays NaN; values beyond the
    bfloat16 range become inf.
    """
    a = np.ascontiguousarray(x, dtype=np.float32)
    b = a.view(np.uint32)
    out = ((b + (((b >> 16) & 1) + np.uint32(0x7FFF))) & np.uint32(0xFFFF0000)).view(np.float32)
    nan = np.isnan(a)
    if nan.any():
        out = np.where(nan, np.float32(np.nan), out)
    return out


def _bits(x: np.ndarray) -> np.ndarray:
    """uint16 bfloat16 bit patterns of float32 ``x`` rounded to bfloat16 (finite or inf x)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((b + (((b >> 16) & 1) + np.uint32(0x7FFF))) >> 16).astype(np.uint16)


def bf16_grid(n: int) -> np.ndarray:
    """``arange(n)`` in bfloat16, as float32: exact to 256, then rounded to even (to 512),
    to multiples of 4 (to 1024), ... ``bf16_grid(512)`` holds 385 distinct values."""
    return to_bf16(np.arange(n, dtype=np.float32))


def _matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``M @ v`` for bfloat16 ``M (..., n, m)``, ``v (..., m)``: float32 products (exact)
    accumulated in index order, rounded once."""
    acc = M[..., 0] * v[..., None, 0]
    for k in range(1, M.shape[-1]):
        acc = acc + M[..., k] * v[..., None, k]
    return to_bf16(acc)


def _unary(f, x: np.ndarray) -> np.ndarray:
    """bfloat16 of f(x) for bfloat16 x: float64 evaluation, rounded to float32, then bfloat16."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return to_bf16(f(x.astype(np.float64)).astype(np.float32))


def _tool_axis(angles: np.ndarray, axis: tuple[float, float, float]) -> np.ndarray:
    """``Rz @ (Ry @ (Rx @ axis))`` in bfloat16 for bfloat16 angles ``(N, 3)`` -> ``(N, 3)``."""
    c = _unary(np.cos, angles)
    s = _unary(np.sin, angles)
    n = angles.shape[0]
    one = np.ones(n, np.float32)
    zero = np.zeros(n, np.float32)
    Rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, c[:, 0], -s[:, 0]], -1),
                   np.stack([zero, s[:, 0], c[:, 0]], -1)], -2)
    Ry = np.stack([np.stack([c[:, 1], zero, s[:, 1]], -1), np.stack([zero, one, zero], -1),
                   np.stack([-s[:, 1], zero, c[:, 1]], -1)], -2)
    Rz = np.stack([np.stack([c[:, 2], -s[:, 2], zero], -1), np.stack([s[:, 2], c[:, 2], zero], -1),
                   np.stack([zero, zero, one], -1)], -2)
    v = np.broadcast_to(to_bf16(np.asarray(axis, np.float32)), (n, 3))
    return _matvec(Rz, _matvec(Ry, _matvec(Rx, v)))


def project_bf16(actions: np.ndarray, Ks: np.ndarray, C2W: np.ndarray, spec: ActionImageSpec
                 ) -> tuple[np.ndarray, np.ndarray]:
    """P, N, U projected through the released pipeline's bfloat16 arithmetic.

    Args:
        actions: ``(T, 7)`` float (metres, radians, extrinsic ``"xyz"``).
        Ks: ``(T, V, 3, 3)`` intrinsics; C2W: ``(T, V, 4, 4)`` OpenCV cam2world.
        spec: the format (``axis_length``, ``normal_axis``, ``up_axis`` are used).

    Returns:
        ``uv (V, T, 3, 2)`` pixels and ``z (V, T, 3)`` camera depth in metres, float32
        holding the bfloat16 values the published renderer computes.
    """
    T, V = Ks.shape[:2]
    a = to_bf16(actions)  # (T, 7)
    K = to_bf16(np.swapaxes(Ks, 0, 1))  # (V, T, 3, 3)
    E = to_bf16(np.swapaxes(C2W, 0, 1))  # (V, T, 4, 4)
    P = a[:, :3]
    L = np.float32(spec.axis_length)
    pts = [P, to_bf16(P + to_bf16(_tool_axis(a[:, 3:6], spec.normal_axis) * L)),
           to_bf16(P + to_bf16(_tool_axis(a[:, 3:6], spec.up_axis) * L))]
    Rt = np.swapaxes(E[..., :3, :3], -1, -2)  # (V, T, 3, 3)
    t_inv = -_matvec(Rt, E[..., :3, 3])  # (V, T, 3)
    w2c = np.concatenate([Rt, t_inv[..., None]], axis=-1)  # (V, T, 3, 4): rows 0-2 of world2cam
    uv = np.empty((V, T, 3, 2), np.float32)
    z = np.empty((V, T, 3), np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, X in enumerate(pts):
            hom = np.concatenate([X, np.ones((T, 1), np.float32)], axis=-1)  # (T, 4)
            cam = _matvec(w2c, np.broadcast_to(hom, (V, T, 4)))  # (V, T, 3)
            pix = _matvec(K, cam)
            uv[:, :, k] = to_bf16(pix[..., :2] / pix[..., 2:3])
            z[:, :, k] = cam[..., 2]
    return uv, z


@lru_cache(maxsize=16)
def _exp_table(two_s2: float) -> np.ndarray:
    """float32 table over all bfloat16 bit patterns d: ``bf16(exp(bf16(-d / two_s2)))``."""
    d = (np.arange(65536, dtype=np.uint32) << 16).view(np.float32)
    with np.errstate(invalid="ignore"):
        q = to_bf16(-d / np.float32(two_s2))
    table = _unary(np.exp, q)
    table.setflags(write=False)
    return table


def _axis_sq(grid: np.ndarray, c: float) -> np.ndarray:
    """bfloat16 ``(grid - c)^2`` along one image axis."""
    d = to_bf16(grid - np.float32(c))
    return to_bf16(d * d)


def render_bf16(actions: np.ndarray, Ks: np.ndarray, C2W: np.ndarray, height: int, width: int,
                spec: ActionImageSpec, out: np.ndarray) -> np.ndarray:
    """Render bfloat16 action images into ``out (V, T, H, W, 3)`` float32 (values in [0, 1],
    each exactly a bfloat16 value). Args as :func:`project_bf16`."""
    uv, z = project_bf16(actions, Ks, C2W, spec)
    V, T = uv.shape[:2]
    H, W = int(height), int(width)
    cols = bf16_grid(W)
    rows = bf16_grid(H)
    table = _exp_table(2.0 * spec.sigma_px(H, W) ** 2)
    floor = to_bf16(np.float32(spec.gripper_floor))[()]
    opened = to_bf16(np.asarray(actions, np.float64)[:, 6]) > to_bf16(np.float32(spec.gripper_threshold))
    skip = spec.behind_camera == "skip"
    for v in range(V):
        for t in range(T):
            img = out[v, t]
            for k in range(3):
                u, w = float(uv[v, t, k, 0]), float(uv[v, t, k, 1])
                if not (np.isfinite(u) and np.isfinite(w)) or (skip and z[v, t, k] <= 0):
                    img[..., k] = 0.0
                    continue
                d2 = _axis_sq(rows, w)[:, None] + _axis_sq(cols, u)[None, :]  # float32, exact sum
                img[..., k] = table[_bits(d2)]
            blue = img[..., 2]
            blue[blue <= floor] = floor if opened[t] else np.float32(0.0)
    return out


def to_uint8(x: np.ndarray, quantize: str, precision: str) -> np.ndarray:
    """8-bit images from float images ``x`` in [0, 1].

    ``quantize="round"``: ``floor(255 x + 0.5)`` (actimg's convention). ``"truncate"``: the
    released pipeline's output path from the model's [-1, 1] range, ``y = 2 x - 1`` (in
    bfloat16 when ``precision="bfloat16"``) then ``uint8(clip((y + 1) * 127.5, 0, 255))``
    in float32, which truncates (about half a level below rounding on average).
    """
    x = np.asarray(x, np.float32)
    if quantize == "round":
        return np.floor(x * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
    y = x * np.float32(2.0) - np.float32(1.0)
    if precision == "bfloat16":
        y = to_bf16(y)
    y += np.float32(1.0)
    y *= np.float32(127.5)
    np.clip(y, 0.0, 255.0, out=y)
    return y.astype(np.uint8)


# ------------------------------------------------------------------ decoding side
def regrid(images: np.ndarray) -> np.ndarray:
    """Resample images drawn on the bfloat16 pixel grid back onto the integer grid.

    Column ``c`` of a bfloat16 rendering holds the Gaussian at ``bf16_grid(W)[c]`` (for
    ``W > 256`` three neighbouring columns share one value, the next has its own), so
    each row is a sampling of the image at those positions. This interpolates it
    linearly at the integer positions, along columns and then rows (the Gaussian is
    separable up to rounding). Images of at most 256 px along an axis are unchanged
    along it.

    Args:
        images: ``(V, T, H, W, 3)`` uint8 (0..255) or float (0..1).

    Returns:
        ``(V, T, H, W, 3)`` float32 in [0, 1].
    """
    out = np.asarray(images)
    out = out.astype(np.float32) / np.float32(255.0) if out.dtype == np.uint8 else out.astype(np.float32)
    for axis in (3, 2):
        n = out.shape[axis]
        g = bf16_grid(n).astype(np.float64)
        moved = np.flatnonzero(g != np.arange(n))
        if moved.size == 0:
            continue
        start = int(moved[0])  # 257: the grid is exact below
        pos, first = np.unique(g, return_index=True)  # equal grid values hold equal pixels
        x = np.arange(start, n, dtype=np.float64)
        j = np.clip(np.searchsorted(pos, x, side="right") - 1, 0, pos.size - 2)
        w = np.clip((x - pos[j]) / (pos[j + 1] - pos[j]), 0.0, 1.0).astype(np.float32)
        shape = [1] * out.ndim
        shape[axis] = n - start
        lo = np.take(out, first[j], axis=axis)
        hi = np.take(out, first[j + 1], axis=axis)
        hi -= lo
        hi *= w.reshape(shape)
        lo += hi
        index = [slice(None)] * out.ndim
        index[axis] = slice(start, n)
        out[tuple(index)] = lo
    return np.clip(out, 0.0, 1.0, out=out)


def rounded_rig(rig):
    """The rig the bfloat16 renderer actually used: intrinsics and cam2world rounded to
    bfloat16 (float32 first), each rotation block projected back onto the nearest rotation
    (the rounded block is off by ~2e-3; the renderer inverts it as its transpose anyway).
    Decoding bfloat16 renderings through it removes the cameras' share of their error."""
    from ..geometry.camera import CameraRig

    E = to_bf16(np.asarray(rig.extrinsics)).astype(np.float64)
    U, _, Vt = np.linalg.svd(E[..., :3, :3])
    E[..., :3, :3] = U @ Vt
    K = to_bf16(np.asarray(rig.intrinsics)).astype(np.float64)
    return CameraRig(K, E, rig.height, rig.width)
