"""The compile units of the codec's kernels (see :mod:`actimg._compile`).

Each unit names the top-level kernels one kind of call runs, with example arguments of
exactly the types the API passes them after canonicalising its inputs
(``_validate.kernel_input``); ``actimg._compile.prepare`` compiles cold units ahead, in
parallel processes. ``tests/test_compile.py`` checks that these are the signatures the
API compiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._compile import register


def _ro(ndim: int, dtype: Any = np.float64) -> np.ndarray:
    a = np.zeros((1,) * ndim, dtype)
    a.flags.writeable = False
    return a


def _rw(ndim: int, dtype: Any = np.float64) -> np.ndarray:
    return np.zeros((1,) * ndim, dtype)


def _detect(dtype: Any) -> list:
    from . import _decode_kernels as k
    acc = np.uint16 if dtype == np.uint8 else np.float64
    return [(k.detect_many, (_ro(4, dtype), 1.0, 1.0, 1, 1, 1, acc, 1, 1.0, _rw(4), _rw(3), _rw(3), _rw(3), _rw(2),
                             0, 0))]


def _noisy(dtype: Any) -> list:
    from . import _decode_kernels as k
    return [(k.refine_noisy, (_ro(4, dtype), 1.0, 1.0, 1.0, True, _rw(4), _rw(3), _rw(3), _rw(3), _rw(2),
                              _rw(1, np.uint8), 0, 0))]


def _frames_args(dtype: Any) -> tuple:
    cams = (_ro(4), _ro(4), _ro(4))
    return (_ro(5, dtype), 1.0, _rw(3), _rw(5), _rw(4), *cams, 1.0, _ro(2), 1.0, 1, 1, _rw(4), _rw(3), _rw(3),
            _rw(2), _rw(1, np.bool_), _rw(2), _rw(1, np.bool_), 0, 0)


def _frames(dtype: Any) -> list:
    from . import _decode_kernels as k
    return [(k.frames_many, _frames_args(dtype))]


def _rays(dtype: Any) -> list:
    from . import _decode_kernels as k
    return [(k.rays_many, _frames_args(dtype))]


def _finish() -> list:
    from . import _decode_kernels as k
    from ._drift_kernels import drift_normals
    return [(k.assemble_frames, (_rw(3), _rw(2), _rw(1, np.bool_), _ro(2), _ro(4), _ro(4), _rw(4),
                                 _rw(1, np.int64), _rw(3), 1.0, _rw(2), _rw(3), _rw(3), _rw(2), _rw(2), _rw(1),
                                 _rw(1), _rw(1), _rw(1), _rw(2))),
            (drift_normals, (_ro(4), _ro(3), _ro(2), _ro(1, np.bool_), _ro(2), _ro(4), _ro(4), 1.0, _rw(2), _rw(1),
                             _rw(3), _rw(1, np.bool_), _rw(1), _rw(1)))]


def _single_view() -> list:
    from . import _decode_kernels as k
    return [(k.refine_pose, (_rw(3), _rw(2), _ro(2), _ro(3), _ro(3), _rw(2), _rw(1), 1, _rw(1)))]


def _encode(dtype: Any) -> list:
    from . import _encode_kernels as k
    render = k.render_u8 if dtype == np.uint8 else k.render_f32
    return [(k.encode_inputs, (_ro(2), _ro(1, np.int64), _ro(2), _ro(4), _ro(4), 1.0, True, 1.0, _rw(4),
                               _rw(3, np.bool_), _rw(2, np.bool_), _rw(1, np.int64))),
            (render, (_rw(3, dtype), _rw(3), _rw(2, np.bool_), _rw(1, np.bool_), _rw(1, np.int64), 1.0, 1.0,
                      _rw(1, np.int64), 0))]


def _project() -> list:
    from . import _encode_kernels as k
    return [(k.project_actions_many, (_ro(2), _ro(1, np.int64), _ro(2), _ro(4), _ro(4), _rw(4), _rw(3)))]


def _triangulate() -> list:
    from ..geometry import _kernels as k
    return [(k.triangulate_many, (_rw(3), _rw(2), _ro(4), _ro(4), _ro(4), _rw(2), _rw(2), _rw(1, np.int64), 1,
                                  0, 0))]


# costs: CPU seconds to compile the unit alone in a fresh process (numba 0.68, this
# project's 2-core CI machine). The greedy split gives the caller's process the largest
# unit and so the larger share: a child starts about a second later (interpreter start,
# imports). The demo's four units split as frames, finish | detect, encode: measured
# cold demo 13.5-15.1 s wall (13.3-13.7 | 11.5-11.6 CPU s), against 14.7-16.0 s for
# frames | detect, encode, finish. rays shares its callees (_finish_frame, refine_pose,
# triangulate_point ...) with frames: compiled in one process with it when both are
# cold; alone (decode prepares it only when a frame needs the ray search) it loads
# them from the cache, and its cost here is what it adds then (5 s)
register("detect_u8", lambda: _detect(np.uint8), 6.5)
register("detect_f32", lambda: _detect(np.float32), 6.5)
register("noisy_u8", lambda: _noisy(np.uint8), 5.0)
register("noisy_f32", lambda: _noisy(np.float32), 5.0)
register("frames", lambda: _frames(np.uint8), 10.0)
register("frames_f32", lambda: _frames(np.float32), 10.5)
register("rays", lambda: _rays(np.uint8), 5.0, together="frames")
register("rays_f32", lambda: _rays(np.float32), 5.0, together="frames_f32")
register("finish", _finish, 6.0)
register("single_view", _single_view, 3.0, together="frames")
register("encode_u8", lambda: _encode(np.uint8), 4.5)
register("encode_f32", lambda: _encode(np.float32), 2.5)
register("project", _project, 1.0)
register("triangulate", _triangulate, 2.5)
