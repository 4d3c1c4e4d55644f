"""Crop and resize frames and cameras together.

The crop is the largest centred rectangle of the target aspect, in whole pixels (so that
no pixel is interpolated twice), then an area resize. The rig gets the same transform:
``rig._crop_scale`` with that integer box, i.e. exactly
``rig.center_cropped_resized(H, W, scaling)`` whenever the ideal crop is whole pixels
(any 4:3 or 16:9 source to a square target), and the integer box otherwise.
"""

from __future__ import annotations

import numpy as np

from ..geometry.camera import SCALINGS, CameraRig

__all__ = ["crop_box", "crop_resize_frame", "crop_resize_frames", "crop_resize_rig"]


def crop_box(height: int, width: int, out_height: int, out_width: int) -> tuple[int, int, int, int]:
    """``(dy, dx, Hc, Wc)``: the centred crop of aspect ``out_width / out_height``, whole pixels."""
    target = out_width / out_height
    if width / height >= target:
        Hc, Wc = height, min(width, max(1, int(round(height * target))))
    else:
        Hc, Wc = min(height, max(1, int(round(width / target)))), width
    return (height - Hc) // 2, (width - Wc) // 2, Hc, Wc


def crop_resize_rig(rig: CameraRig, out_height: int, out_width: int, scaling: str = "center") -> CameraRig:
    """The rig of frames transformed by :func:`crop_resize_frames`.

    ``scaling="center"`` (default here) is exact for the frames this module produces
    (OpenCV's resize maps pixel centres ``(u + 0.5) s - 0.5``); ``"corner"`` is the
    published pipeline's rule, off by ``0.5 (s - 1)`` px.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    dy, dx, Hc, Wc = crop_box(rig.height, rig.width, out_height, out_width)
    return rig._crop_scale(out_height, out_width, float(dx), float(dy), float(Wc), float(Hc), scaling)


def crop_resize_frames(frames: np.ndarray, out_height: int, out_width: int) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 -> ``(T, out_height, out_width, 3)``: centre crop, then area resize
    (linear when enlarging); frame by frame, :func:`crop_resize_frame`."""
    T, H, W, _ = frames.shape
    out = np.empty((T, out_height, out_width, 3), np.uint8)
    for t in range(T):
        crop_resize_frame(frames[t], out_height, out_width, out=out[t])
    return out


def crop_resize_frame(frame: np.ndarray, out_height: int, out_width: int, out: np.ndarray | None = None) -> np.ndarray:
    """One ``(H, W, 3)`` uint8 frame -> ``(out_height, out_width, 3)``, as :func:`crop_resize_frames`.

    ``out``: an optional ``(out_height, out_width, 3)`` uint8 array to write into.
    """
    import cv2

    H, W, _ = frame.shape
    dy, dx, Hc, Wc = crop_box(H, W, out_height, out_width)
    crop = frame[dy:dy + Hc, dx:dx + Wc]
    if out is None:
        out = np.empty((out_height, out_width, 3), np.uint8)
    if (Hc, Wc) == (out_height, out_width):
        out[...] = crop
        return out
    interp = cv2.INTER_AREA if (Hc >= out_height and Wc >= out_width) else cv2.INTER_LINEAR
    cv2.resize(crop, (out_width, out_height), dst=out, interpolation=interp)
    return out
