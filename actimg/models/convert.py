"""The value range and axis order video models expect, and back.

Video diffusion models (Wan and most others) take frames as float in ``[-1, 1]``
(``2 x - 1`` of ``x`` in ``[0, 1]``), channels first: ``(B, C, T, H, W)``. actimg's
frames are ``(..., T, H, W, 3)``, uint8 (``round(255 x)``) or float in ``[0, 1]``.

The functions take numpy arrays; :func:`to_channels_first` and
:func:`from_channels_first` also take torch tensors (a ``permute``, duck-typed: torch is
never imported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["from_channels_first", "from_model_range", "to_channels_first", "to_model_range", "to_uint8"]


def _finite_float(x: np.ndarray, name: str) -> None:
    if not np.isfinite(x).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"{name} must be finite; found {x[idx]} at index {idx}")


def to_model_range(frames: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """``[0, 1]`` (or uint8 ``0..255``) -> ``2 x - 1`` in ``[-1, 1]``.

    Raises:
        TypeError: not uint8 or float.
        ValueError: float values outside ``[0, 1]`` (tolerance 1e-6) or not finite.
    """
    x = np.asarray(frames)
    if x.dtype == np.uint8:
        y = x.astype(dtype)
        y *= 2.0 / 255.0
        y -= 1.0
        return y
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"frames must be uint8 or float in [0, 1], got dtype {x.dtype}")
    _finite_float(x, "frames")
    if x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise ValueError(f"float frames must be in [0, 1] (min {float(x.min()):g}, max {float(x.max()):g}); "
                         "are they already in the model range [-1, 1]?")
    y = x.astype(dtype)  # a copy
    y *= 2.0
    y -= 1.0
    return y


def from_model_range(frames: np.ndarray, dtype: type = np.uint8, clip: bool = True) -> np.ndarray:
    """``[-1, 1]`` -> ``[0, 1]`` float, or uint8 ``round(255 x)`` (the default).

    Args:
        frames: float model output.
        dtype: ``np.uint8`` (rounded, not truncated) or a float dtype.
        clip: clip to ``[-1, 1]`` first (a model overshoots a little); with ``False``
            values outside ``[-1, 1]`` (tolerance 1e-3) raise.

    Raises:
        ValueError: NaN or inf, or (``clip=False``) values out of range.
    """
    x = np.asarray(frames)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"model-range frames must be float in [-1, 1], got dtype {x.dtype}")
    _finite_float(x, "frames")
    if not clip and x.size and (x.min() < -1 - 1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"frames must be in [-1, 1] (min {float(x.min()):g}, max {float(x.max()):g})")
    u = np.clip((x.astype(np.float32) + 1.0) * 0.5, 0.0, 1.0)
    if np.dtype(dtype) == np.uint8:
        return np.rint(u * 255.0).astype(np.uint8)
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be np.uint8 or a float dtype, got {np.dtype(dtype)}")
    return u.astype(dtype)


def to_uint8(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """uint8 frames unchanged; float frames in ``[0, 1]`` -> ``round(255 x)``.

    Raises:
        TypeError: another dtype. ValueError: NaN/inf, or float values outside ``[0, 1]``
            by more than 1e-3 (values within it are clipped).
    """
    x = np.asarray(frames)
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 or float in [0, 1], got dtype {x.dtype}")
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))
        raise ValueError(f"{name} contain {int(bad.shape[0])} NaN/inf values (first at index "
                         f"{tuple(int(i) for i in bad[0])})")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < -1e-3 or hi > 1 + 1e-3:
        hint = ""
        if -1.001 <= lo < -1e-3 and hi <= 1.001:
            hint = " (they look like the model range [-1, 1]: use from_model_range)"
        elif lo >= 0 and 1.001 < hi <= 255.0:
            hint = " (they look like 0..255: divide by 255, or cast to uint8)"
        raise ValueError(f"float {name} must be in [0, 1], got min {lo:g}, max {hi:g}{hint}")
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _permute(x: Any, order: tuple[int, ...]) -> Any:
    if hasattr(x, "permute") and not isinstance(x, np.ndarray):  # torch.Tensor, without importing torch
        return x.permute(*order)
    return np.ascontiguousarray(np.transpose(np.asarray(x), order))


def to_channels_first(frames: Any) -> Any:
    """``(..., T, H, W, C)`` -> ``(..., C, T, H, W)`` (e.g. ``(B, T, H, W, 3)`` -> ``(B, C, T, H, W)``).

    numpy arrays come back C-contiguous; torch tensors as a permuted view.
    """
    nd = len(frames.shape)
    if nd < 4:
        raise ValueError(f"frames must have shape (..., T, H, W, C), got {tuple(frames.shape)}")
    lead = tuple(range(nd - 4))
    return _permute(frames, lead + (nd - 1, nd - 4, nd - 3, nd - 2))


def from_channels_first(frames: Any) -> Any:
    """``(..., C, T, H, W)`` -> ``(..., T, H, W, C)``: the inverse of :func:`to_channels_first`."""
    nd = len(frames.shape)
    if nd < 4:
        raise ValueError(f"frames must have shape (..., C, T, H, W), got {tuple(frames.shape)}")
    lead = tuple(range(nd - 4))
    return _permute(frames, lead + (nd - 3, nd - 2, nd - 1, nd - 4))
