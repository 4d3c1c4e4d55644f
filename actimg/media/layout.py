"""Array layouts for video models, and blending for viewing.

The published model (see ``docs/format.md``) takes ``V = 2`` views of ``T = 41``
frames at 512x512 and concatenates the segments along *time*:
``[video view 1, action view 1, video view 2, action view 2]``, i.e. ``2 V T`` frames.
:func:`concat_time` builds that layout and :func:`split_time` undoes it;
:func:`time_segments` names the frame ranges (for masks of given vs generated segments).
:func:`side_by_side` puts views next to each other along the width instead (for viewing,
or for models that tile views). Every function here is a pure reshuffle: no resampling,
any dtype, and ``split_*(concat_*(x)) == x`` exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Segment",
    "concat_time",
    "overlay",
    "side_by_side",
    "split_side_by_side",
    "split_time",
    "time_segments",
]


def _as_views(a: object, name: str) -> np.ndarray:
    x = np.asarray(a)
    if x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (V, T, H, W, 3), got {x.shape}")
    if 0 in x.shape:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    return x


def side_by_side(images: np.ndarray) -> np.ndarray:
    """Views next to each other along the width.

    Args:
        images: ``(V, T, H, W, 3)`` (any dtype).

    Returns:
        ``(T, H, V * W, 3)``: columns ``[v * W, (v + 1) * W)`` hold view ``v``.
    """
    x = _as_views(images, "images")
    V, T, H, W, C = x.shape
    return np.ascontiguousarray(x.transpose(1, 2, 0, 3, 4).reshape(T, H, V * W, C))


def split_side_by_side(frames: np.ndarray, n_views: int) -> np.ndarray:
    """Inverse of :func:`side_by_side`: ``(T, H, V * W, 3)`` -> ``(V, T, H, W, 3)``.

    Raises:
        ValueError: ``frames`` is not ``(T, H, W', 3)`` or ``W'`` is not a multiple of ``n_views``.
    """
    x = np.asarray(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, V * W, 3), got {x.shape}")
    V = _check_n_views(n_views)
    T, H, VW, C = x.shape
    if VW % V:
        raise ValueError(f"frames are {VW} px wide, which is not a multiple of n_views={V}")
    return np.ascontiguousarray(x.reshape(T, H, V, VW // V, C).transpose(2, 0, 1, 3, 4))


def _check_n_views(n_views: int) -> int:
    if isinstance(n_views, bool) or not isinstance(n_views, (int, np.integer)) or n_views < 1:
        raise ValueError(f"n_views must be a positive integer, got {n_views!r}")
    return int(n_views)


def concat_time(videos: np.ndarray, action_images: np.ndarray) -> np.ndarray:
    """The published layout: ``[video v1, action v1, video v2, action v2, ...]`` along time.

    Args:
        videos: ``(V, T, H, W, 3)`` observation frames per view.
        action_images: ``(V, T, H, W, 3)`` action images per view, same shape and dtype
            (convert first: e.g. ``encode(..., dtype=np.float32)`` beside float video, or
            ``2 x - 1`` on both for a model in [-1, 1]).

    Returns:
        ``(2 V T, H, W, 3)``: frames ``[2 v T, 2 v T + T)`` are view ``v``'s video and
        ``[(2 v + 1) T, (2 v + 2) T)`` its action images (see :func:`time_segments`).
    """
    v = _as_views(videos, "videos")
    a = _as_views(action_images, "action_images")
    if v.shape != a.shape:
        raise ValueError(f"videos {v.shape} and action_images {a.shape} must have the same (V, T, H, W, 3) shape")
    if v.dtype != a.dtype:
        raise TypeError(f"videos ({v.dtype}) and action_images ({a.dtype}) must have the same dtype")
    V, T, H, W, C = v.shape
    return np.ascontiguousarray(np.stack([v, a], axis=1).reshape(2 * V * T, H, W, C))


def split_time(frames: np.ndarray, n_views: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`concat_time`: ``(2 V T, H, W, 3)`` -> ``(videos, action_images)``,
    each ``(V, T, H, W, 3)``.

    Raises:
        ValueError: the frame count is not a multiple of ``2 * n_views``.
    """
    x = np.asarray(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must have shape (2 * V * T, H, W, 3), got {x.shape}")
    V = _check_n_views(n_views)
    N, H, W, C = x.shape
    if N == 0 or N % (2 * V):
        raise ValueError(f"{N} frames cannot be split into 2 x {V} segments of equal length "
                         f"(need a multiple of {2 * V})")
    T = N // (2 * V)
    y = x.reshape(V, 2, T, H, W, C)
    return np.ascontiguousarray(y[:, 0]), np.ascontiguousarray(y[:, 1])


class Segment(NamedTuple):
    """One segment of the :func:`concat_time` layout: ``kind`` ``"video"`` or ``"action"``,
    the ``view`` index and the ``frames`` slice of the ``2 V T`` axis."""

    kind: str
    view: int
    frames: slice


def time_segments(n_views: int, n_frames: int) -> list[Segment]:
    """The ``2 V`` segments of :func:`concat_time`'s layout, in order.

    ``time_segments(2, 41)`` -> video 0 ``[0, 41)``, action 0 ``[41, 82)``, video 1
    ``[82, 123)``, action 1 ``[123, 164)``.
    """
    V = _check_n_views(n_views)
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}")
    T = int(n_frames)
    out = []
    for v in range(V):
        out.append(Segment("video", v, slice(2 * v * T, (2 * v + 1) * T)))
        out.append(Segment("action", v, slice((2 * v + 1) * T, (2 * v + 2) * T)))
    return out


def _unit(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contain NaN or inf")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            raise ValueError(f"float {name} must be in [0, 1] (min {lo:g}, max {hi:g})")
        return x.astype(np.float32)
    raise TypeError(f"{name} must be uint8 or float in [0, 1], got dtype {x.dtype}")


def overlay(action_images: np.ndarray, rgb_frames: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """Blend action images over observation frames, for viewing.

    Each pixel is mixed with weight ``w = alpha * max(R, G, B)`` of the action image:
    ``out = (1 - w) * rgb + w * action``. So a blob's peak (value 1) is drawn at
    ``alpha`` opacity in its own colour (red P, green N, blue U), the open gripper's blue
    floor (0.25) tints the frame faintly, and black (closed gripper background) leaves the
    frame unchanged.

    Args:
        action_images: ``(..., H, W, 3)`` uint8 (0..255) or float (0..1).
        rgb_frames: observation frames of the same shape, uint8 or float (0..1).
        alpha: opacity of a full-intensity blob, in [0, 1].

    Returns:
        uint8 array of the same shape.
    """
    a = np.asarray(action_images)
    b = np.asarray(rgb_frames)
    if a.shape != b.shape:
        raise ValueError(f"action_images {a.shape} and rgb_frames {b.shape} must have the same shape "
                         "(resize the frames, and use rig.resized for the cameras)")
    if a.ndim < 3 or a.shape[-1] != 3:
        raise ValueError(f"images must have shape (..., H, W, 3), got {a.shape}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    af = _unit(a, "action_images")
    bf = _unit(b, "rgb_frames")
    w = alpha * af.max(axis=-1, keepdims=True)
    out = (1.0 - w) * bf + w * af
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
