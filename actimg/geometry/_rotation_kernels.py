"""Numba rotation conversions used inside kernels: matrix -> quaternion -> Euler angles.

The Euler extraction is the direct quaternion method of Bernardes and Viollet (PLoS ONE
17(11), 2022), the method scipy's ``Rotation.as_euler`` uses, with scipy's conventions:
lower-case sequences are extrinsic, upper-case intrinsic; angles in ``[-pi, pi)``
(middle angle of a Tait-Bryan sequence in ``[-pi/2, pi/2]``, of a proper Euler sequence
in ``[0, pi]``); at gimbal lock (middle angle within 1e-7 rad of its limits) the third
angle is set to zero. For proper rotations it agrees with scipy to rounding
(``tests/test_conversions.py``). The public :func:`actimg.matrix_to_euler` stays on scipy:
it also accepts slightly non-orthonormal input, which scipy projects onto SO(3) first.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_AXES = {"x": 0, "y": 1, "z": 2}


def euler_code(seq: str) -> np.ndarray:
    """A scipy Euler sequence (``"xyz"``, ``"ZYX"``, ``"zxz"`` ...) as ``int64 (4,)``:
    the three axis indices in extrinsic order and 1 for extrinsic, 0 for intrinsic."""
    if not isinstance(seq, str):
        raise TypeError(f"Euler sequence must be a str, got {type(seq).__name__}")
    if len(seq) != 3 or not (seq.islower() or seq.isupper()) or any(c not in _AXES for c in seq.lower()):
        raise ValueError(f"Euler sequence must be 3 of x, y, z, all lower (extrinsic) or all upper (intrinsic) "
                         f"case, got {seq!r}")
    if seq[0].lower() == seq[1].lower() or seq[1].lower() == seq[2].lower():
        raise ValueError(f"Euler sequence must not repeat an axis consecutively, got {seq!r}")
    extrinsic = seq.islower()
    axes = [_AXES[c] for c in seq.lower()]
    if not extrinsic:
        axes = axes[::-1]  # an intrinsic sequence is the reversed extrinsic one
    return np.array(axes + [int(extrinsic)], dtype=np.int64)


@njit(cache=True, nogil=True)
def quat_of_matrix(R, q):
    """Unit quaternion ``q (4,)`` = ``(x, y, z, w)`` of a rotation matrix ``R (3, 3)``,
    sign unspecified (``q`` and ``-q`` are the same rotation); the branch on the largest
    of the trace and the diagonal keeps it well conditioned."""
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    best = 3
    big = tr
    for i in range(3):
        if R[i, i] > big:
            big = R[i, i]
            best = i
    if best == 3:
        q[0] = R[2, 1] - R[1, 2]
        q[1] = R[0, 2] - R[2, 0]
        q[2] = R[1, 0] - R[0, 1]
        q[3] = 1.0 + tr
    else:
        i = best
        j = (i + 1) % 3
        k = (j + 1) % 3
        q[i] = 1.0 - tr + 2.0 * R[i, i]
        q[j] = R[j, i] + R[i, j]
        q[k] = R[k, i] + R[i, k]
        q[3] = R[k, j] - R[j, k]
    n = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    for m in range(4):
        q[m] /= n


@njit(cache=True, nogil=True)
def euler_of_matrix(R, code, out):
    """Euler angles ``out (3,)`` (radians) of rotation ``R (3, 3)`` in the sequence
    ``code`` (:func:`euler_code`)."""
    q = np.empty(4)
    quat_of_matrix(R, q)
    i = code[0]
    j = code[1]
    k = code[2]
    extrinsic = code[3] == 1
    symmetric = i == k
    if symmetric:
        k = 3 - i - j
    sign = float((i - j) * (j - k) * (k - i) // 2)  # parity of (i, j, k)
    if symmetric:
        a = q[3]
        b = q[i]
        c = q[j]
        d = q[k] * sign
    else:
        a = q[3] - q[j]
        b = q[i] + q[k] * sign
        c = q[j] + q[3]
        d = q[k] * sign - q[i]
    half_sum = math.atan2(b, a)
    half_diff = math.atan2(d, c)
    a1 = 2.0 * math.atan2(math.hypot(c, d), math.hypot(a, b))
    first = 0 if extrinsic else 2
    third = 2 if extrinsic else 0
    ang = np.zeros(3)
    ang[1] = a1
    if abs(a1) <= 1e-7:
        ang[0] = 2.0 * half_sum  # gimbal lock: the third angle is zero
    elif abs(a1 - math.pi) <= 1e-7:
        ang[0] = 2.0 * half_diff * (-1.0 if extrinsic else 1.0)
    else:
        ang[first] = half_sum - half_diff
        ang[third] = half_sum + half_diff
    if not symmetric:
        ang[third] *= sign
        ang[1] -= 0.5 * math.pi
    for m in range(3):
        out[m] = (ang[m] + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True, nogil=True)
def matrix_of_euler(angles, code, R):
    """Rotation matrix ``R (3, 3)`` of Euler angles ``angles (3,)`` (radians) in the
    sequence ``code`` (:func:`euler_code`): the product of the elementary rotations,
    ``R = R_k(c) R_j(b) R_i(a)`` for an extrinsic sequence ``(i, j, k)``; an intrinsic
    sequence is the reversed extrinsic one with the angles reversed."""
    b = np.empty(3)
    for m in range(3):
        b[m] = angles[m] if code[3] == 1 else angles[2 - m]
    for i in range(3):
        for j in range(3):
            R[i, j] = 1.0 if i == j else 0.0
    E = np.empty((3, 3))
    T = np.empty((3, 3))
    for m in range(3):
        ax = code[m]
        c = math.cos(b[m])
        s = math.sin(b[m])
        # elementary rotation about axis ax (active, right-handed)
        for i in range(3):
            for j in range(3):
                E[i, j] = 1.0 if i == j else 0.0
        p = (ax + 1) % 3
        q = (ax + 2) % 3
        E[p, p] = c
        E[q, q] = c
        E[p, q] = -s
        E[q, p] = s
        # R <- E @ R (later rotations act on the left)
        for i in range(3):
            for j in range(3):
                T[i, j] = E[i, 0] * R[0, j] + E[i, 1] * R[1, j] + E[i, 2] * R[2, j]
        for i in range(3):
            for j in range(3):
                R[i, j] = T[i, j]
