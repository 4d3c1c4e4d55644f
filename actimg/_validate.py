"""Input checks at the API boundary: one place, one style of message."""

from __future__ import annotations

import numpy as np


def as_float_array(x: object, name: str, *, last: tuple[int, ...] = (), min_ndim: int | None = None,
                   ndim: tuple[int, ...] | None = None, finite: bool = True,
                   allow_nan: bool = False) -> np.ndarray:
    """Return ``x`` as a float64 array, checking its trailing shape and values.

    ``last``: required trailing dimensions. ``ndim``: allowed total numbers of dims.
    ``finite``: refuse inf (and NaN unless ``allow_nan``).
    """
    try:
        a = np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if np.iscomplexobj(a):
        raise TypeError(f"{name} must be real, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if last and (a.ndim < len(last) or a.shape[a.ndim - len(last):] != last):
        want = "(..., " + ", ".join(map(str, last)) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if ndim is not None and a.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {a.shape}")
    if min_ndim is not None and a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if finite:
        bad = ~np.isfinite(a)
        if allow_nan:
            bad &= ~np.isnan(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} must be finite; found {a[idx]} at index {idx}")
    return a


def kernel_input(x: np.ndarray, dtype: object = None) -> np.ndarray:
    """``x`` as the one array type the numba kernels are compiled for.

    C-contiguous, aligned, native byte order, of ``dtype`` (default: ``x``'s own, in
    native order) and *read-only*: numba compiles a separate specialization for each
    combination of layout, byte order, alignment and writeability, so every array a
    kernel only reads goes through here, and one compiled signature serves inputs that
    arrive strided, Fortran-ordered, big-endian, read-only or not. A view when ``x``
    already is all that (no copy); a copy otherwise.
    """
    a = np.asarray(x)
    dt = a.dtype.newbyteorder("=") if dtype is None else np.dtype(dtype)
    a = np.require(a, dt, ["C", "A"])
    a = a.view()
    a.flags.writeable = False
    return a
