"""Dense, plain-numpy reference implementation of the published action-image ENCODER.

This module is the test oracle for ``actimg``'s fast encoder. It is written straight from
``docs/format.md`` (sections 3, "Three points per action", and 4, "One RGB
action image") and is deliberately simple: every pixel of every channel is evaluated
densely, in float64, exactly as the published renderer does, and only then cast to
float32. Clarity beats speed here; do not optimise it.

Conventions (all from the spec):

* world frame in metres, angles in radians;
* actions are ``[x, y, z, rx, ry, rz, openness]`` with extrinsic x-y-z Euler angles
  (scipy ``"xyz"``, lower case): ``R = Rz(rz) @ Ry(ry) @ Rx(rx)``;
* cameras are pinhole with OpenCV axes (x right, y down, z forward); extrinsics are
  camera-to-world 4x4 matrices; intrinsics ``K`` are 3x3 in pixels;
* pixel ``(u, v) = (column, row)``, the centre of the top-left pixel is ``(0, 0)``:
  Gaussians are evaluated at integer pixel coordinates.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["reference_points", "reference_project", "reference_encode"]


def reference_points(actions, axis_length=0.1):
    """Three 3D points per action: position P, "normal" N and "up" U.

    Parameters
    ----------
    actions : array_like, shape (T, 7), float64
        ``[x, y, z, rx, ry, rz, openness]``; position in metres, extrinsic xyz Euler
        angles in radians (scipy ``"xyz"``). Openness is ignored here.
    axis_length : float
        L in metres (0.1 in the published format).

    Returns
    -------
    points : ndarray, shape (T, 3, 3), float64
        ``points[t, 0] = P``, ``points[t, 1] = N = P + L * R @ [1, 0, 0]`` (tool +x),
        ``points[t, 2] = U = P + L * R @ [0, 0, -1]`` (tool -z). Metres, world frame.
    """
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 2 or actions.shape[1] != 7:
        raise ValueError(f"actions must have shape (T, 7), got {actions.shape}")
    P = actions[:, 0:3]
    R = Rotation.from_euler("xyz", actions[:, 3:6]).as_matrix()  # (T, 3, 3)
    x_axis = np.array([1.0, 0.0, 0.0])
    minus_z_axis = np.array([0.0, 0.0, -1.0])
    N = P + axis_length * (R @ x_axis)
    U = P + axis_length * (R @ minus_z_axis)
    return np.stack([P, N, U], axis=1)


def reference_project(points, K, cam2world):
    """Project world points with a pinhole camera, exactly like the published code.

    Parameters
    ----------
    points : array_like, shape (T, 3)
        World points in metres.
    K : array_like, shape (T, 3, 3)
        Intrinsics in pixels.
    cam2world : array_like, shape (T, 4, 4)
        OpenCV camera-to-world extrinsics.

    Returns
    -------
    uv : ndarray, shape (T, 2), float64
        Pixel coordinates (column, row); the top-left pixel centre is (0, 0).
        ``uv = (K @ cam)[:2] / (K @ cam)[2]`` with ``cam = inv(cam2world) @ [p, 1]``.
        For points behind the camera this is the mirrored projection (no depth test);
        for depth exactly 0 it is inf/nan.
    depth : ndarray, shape (T,), float64
        Camera-frame z of each point (metres; <= 0 means behind the camera).
    """
    points = np.asarray(points, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    cam2world = np.asarray(cam2world, dtype=np.float64)
    T = points.shape[0]
    uv = np.empty((T, 2), dtype=np.float64)
    depth = np.empty(T, dtype=np.float64)
    for t in range(T):
        world2cam = np.linalg.inv(cam2world[t])
        cam = world2cam @ np.append(points[t], 1.0)
        pix = K[t] @ cam[:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv[t] = pix[:2] / pix[2]
        depth[t] = cam[2]
    return uv, depth


def _gaussian(u, v, rows, cols, s):
    """Published Gaussian G(q) on the integer pixel grid, float64 then cast to float32."""
    g = np.exp(-((cols[None, :] - u) ** 2 + (rows[:, None] - v) ** 2) / (2 * s**2))
    return g.astype(np.float32)


def reference_encode(
    actions,
    K,
    cam2world,
    height,
    width,
    *,
    sigma_fraction=0.05,
    axis_length=0.1,
    floor=0.25,
    behind="skip",
    dtype=np.float32,
):
    """Dense published encoder for ONE view.

    Parameters
    ----------
    actions : array_like, shape (T, 7)
        ``[x, y, z, rx, ry, rz, openness]`` (metres, radians, openness 1 = open).
    K : array_like, shape (T, 3, 3) or (3, 3)
        Intrinsics in pixels of the rendered image; a single (3, 3) is broadcast over T.
    cam2world : array_like, shape (T, 4, 4) or (4, 4)
        OpenCV camera-to-world extrinsics; a single (4, 4) (static camera) is broadcast.
    height, width : int
        Image size H, W in pixels.
    sigma_fraction : float
        Gaussian std as a fraction of ``min(H, W)`` (s = 0.05 * min(H, W) published).
    axis_length : float
        L in metres for the N and U points.
    floor : float
        The blue floor value / threshold (0.25 published).
    behind : {"skip", "mirror"}
        ``"skip"``: a point with depth <= 0 draws nothing (its channel is all 0 before
        the floor rule). ``"mirror"``: the published defect, the point is drawn at its
        mirrored projection (u, v as computed with the negative depth); a point with
        depth exactly 0 still draws nothing.
    dtype : np.float32 or np.uint8
        Output type.

    Returns
    -------
    image : ndarray, shape (T, H, W, 3)
        float32 in [0, 1], or uint8 with ``floor(255 * x + 0.5)`` of the float32 value.
        Channels: R = G(P), G = G(N), B = G(U) with the gripper floor rule applied.
    """
    if behind not in ("skip", "mirror"):
        raise ValueError(f"behind must be 'skip' or 'mirror', got {behind!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise ValueError(f"dtype must be float32 or uint8, got {dtype}")

    actions = np.asarray(actions, dtype=np.float64)
    T = actions.shape[0]
    K = np.asarray(K, dtype=np.float64)
    cam2world = np.asarray(cam2world, dtype=np.float64)
    if K.ndim == 2:
        K = np.broadcast_to(K, (T, 3, 3))
    if cam2world.ndim == 2:
        cam2world = np.broadcast_to(cam2world, (T, 4, 4))
    H, W = int(height), int(width)

    points = reference_points(actions, axis_length=axis_length)  # (T, 3, 3)
    rows = np.arange(H, dtype=np.float64)
    cols = np.arange(W, dtype=np.float64)
    s = sigma_fraction * min(H, W)

    out = np.zeros((T, H, W, 3), dtype=np.float32)
    for k in range(3):  # 0: P -> R, 1: N -> G, 2: U -> B
        uv, depth = reference_project(points[:, k, :], K, cam2world)
        for t in range(T):
            if behind == "skip":
                draw = depth[t] > 0
            else:  # "mirror": the published renderer has no depth test
                draw = depth[t] != 0
            if draw:
                out[t, :, :, k] = _gaussian(uv[t, 0], uv[t, 1], rows, cols, s)
            # else: channel stays all 0 (before the floor rule below)

    # Gripper floor rule on the blue channel, done in float32 like the published code.
    floor32 = np.float32(floor)
    for t in range(T):
        B = out[t, :, :, 2]
        fill = floor32 if actions[t, 6] > 0.5 else np.float32(0.0)
        B[B <= floor32] = fill

    if dtype == np.dtype(np.float32):
        return out

    # uint8 = floor(255 * x + 0.5). x is float32 (24-bit mantissa), so 255 * x (8-bit
    # factor) is exact in float64 and so is + 0.5. This equals np.round(255 * x)
    # (round-half-to-even) everywhere: the only float32 x in [0, 1] with 255 * x exactly
    # k + 0.5 is x = 0.5 (127.5), which both rules send to 128.
    return np.floor(out.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)
