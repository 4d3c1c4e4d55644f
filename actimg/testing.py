"""Hypothesis strategies for testing code built on ``actimg``.

Import this module explicitly (``from actimg import testing``); ``import actimg`` does
not import it, so ``hypothesis`` is only needed by test suites.

Everything is in metres, radians and pixels, with the conventions of :mod:`actimg`:
OpenCV camera axes, ``cam2world`` extrinsics, pixel centres at integer coordinates,
actions ``[x, y, z, rx, ry, rz, openness]`` with the spec's Euler sequence (default
extrinsic ``"xyz"``).

The strategies build a *workspace* around :data:`WORKSPACE_CENTER` that every camera
looks at:

* :func:`image_sizes` -- ``(H, W)`` image sizes;
* :func:`rigs` -- :class:`~actimg.CameraRig` with ``V`` cameras on a shell around the
  centre, static or moving per frame;
* :func:`reachable_actions` -- ``(T, 7)`` actions in a box around the centre;
* :func:`scenes` -- ``(rig, actions)`` where every point P, N, U of every frame is in
  front of every camera and inside the image of at least two views (some blobs are cut
  by the image border in the other views);
* :func:`action_images` -- ``(rig, actions, images)`` rendered with :func:`actimg.encode`.

All strategies are cheap (no rejection sampling that could trip hypothesis' health
checks): scenes are *constructed* to be visible rather than filtered. Cameras come from
:func:`actimg.look_at` followed by a random roll about the optical axis, so nothing here
depends on which way ``look_at`` turns the image.

Example::

    from hypothesis import given, settings, strategies as st
    from actimg.testing import scenes

    @settings(max_examples=20, deadline=None)
    @given(scenes(n_views=st.integers(2, 4)))
    def test_something(scene):
        rig, actions = scene
        ...
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .geometry.camera import CameraRig, look_at
from .codec.encoder import encode, project_actions
from .geometry.rotations import matrix_to_euler, quat_to_matrix
from .codec.actions import action_points
from .codec.spec import ActionImageSpec, resolve_spec

__all__ = [
    "WORKSPACE_CENTER", "COMMON_SIZES", "image_sizes", "rigs", "reachable_actions", "scenes",
    "action_images", "unit_quaternions", "rotation_matrices",
]

#: Point every generated camera looks at (world frame, metres).
WORKSPACE_CENTER = (0.5, 0.0, 0.2)

#: Frequent real image sizes ``(H, W)`` in pixels, all within 128..1024.
COMMON_SIZES = ((128, 128), (224, 224), (256, 256), (240, 320), (256, 320), (320, 256), (480, 640),
                (360, 640), (512, 512), (480, 480), (720, 1024), (1024, 1024), (1024, 768))

#: Per-frame camera jitter of a moving rig: rotation (radians) and translation (metres).
JITTER_ROTATION = math.radians(2.0)
JITTER_TRANSLATION = 0.02

_SHELL = (0.6, 1.6)          # camera distance to the centre, metres
_FOV_DEG = (40.0, 75.0)      # field of view across the shorter image side
_BASELINES = ("any", "wide", "narrow")
_OPENNESS = ("binary", "uniform", "any")


def _strategy(x: Any) -> SearchStrategy:
    """A strategy as is; any other value as ``st.just(value)``."""
    return x if isinstance(x, SearchStrategy) else st.just(x)


def _unit(lo: float = 0.0, hi: float = 1.0) -> SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _choices(**allowed: tuple[str, ...]) -> Any:
    """Check string options when the strategy is *built* (not when it is drawn from)."""

    def deco(factory: Any) -> Any:
        sig = inspect.signature(factory)

        @functools.wraps(factory)
        def checked(*args: Any, **kwargs: Any) -> SearchStrategy:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, options in allowed.items():
                if bound.arguments[name] not in options:
                    raise ValueError(f"{name} must be one of {options}, got {bound.arguments[name]!r}")
            return factory(*args, **kwargs)

        return checked

    return deco


# --------------------------------------------------------------------------- sizes
def image_sizes(min_side: int = 128, max_side: int = 1024) -> SearchStrategy[tuple[int, int]]:
    """Image sizes ``(H, W)`` in pixels with ``min_side <= H, W <= max_side``.

    Half of the draws come from :data:`COMMON_SIZES` (within the bounds), the rest are
    arbitrary (often odd, non-square) sizes.
    """
    if not (1 <= min_side <= max_side):
        raise ValueError(f"need 1 <= min_side <= max_side, got {min_side}, {max_side}")
    common = [s for s in COMMON_SIZES if min_side <= min(s) and max(s) <= max_side]
    free = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))
    return st.one_of(st.sampled_from(common), free) if common else free


# ----------------------------------------------------------------------- rotations
@_choices(order=("xyzw", "wxyz"))
@st.composite
def unit_quaternions(draw: Any, order: str = "xyzw") -> np.ndarray:
    """One uniformly distributed unit quaternion ``(4,)`` in ``order`` (``"xyzw"``/``"wxyz"``).

    Shoemake's method from three uniforms, so no rejection; the sign is random too
    (``q`` and ``-q`` are the same rotation).
    """
    u1, u2, u3 = draw(_unit()), draw(_unit()), draw(_unit())
    a, b = math.sqrt(1.0 - u1), math.sqrt(u1)
    x, y = a * math.sin(2 * math.pi * u2), a * math.cos(2 * math.pi * u2)
    z, w = b * math.sin(2 * math.pi * u3), b * math.cos(2 * math.pi * u3)
    q = np.array([x, y, z, w] if order == "xyzw" else [w, x, y, z])
    return -q if draw(st.booleans()) else q


def rotation_matrices() -> SearchStrategy[np.ndarray]:
    """One uniformly distributed rotation matrix ``(3, 3)`` (``tool2world``)."""
    return unit_quaternions("xyzw").map(lambda q: quat_to_matrix(q, "xyzw"))


def _rot_about(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    ce = math.cos(elevation)
    return np.array([ce * math.cos(azimuth), ce * math.sin(azimuth), math.sin(elevation)])


# ---------------------------------------------------------------------------- rigs
@_choices(baseline=_BASELINES)
@st.composite
def rigs(draw: Any, n_views: Any = st.integers(2, 6), sizes: Any = None, per_frame: Any = st.booleans(),
         n_frames: Any = st.integers(1, 6), baseline: str = "any",
         center: tuple[float, float, float] = WORKSPACE_CENTER) -> CameraRig:
    """A :class:`~actimg.CameraRig` of cameras looking at ``center``.

    Args:
        n_views: strategy (or int) for the number of cameras ``V``.
        sizes: strategy (or tuple) for the image size ``(H, W)``; default
            :func:`image_sizes` (128..1024 px, not always square).
        per_frame: strategy (or bool): whether the rig moves per frame; a moving rig
            has ``(V, T, 4, 4)`` extrinsics (each camera jittered per frame by up to
            2 degrees and 2 cm around its base pose) and, half the time, per-frame
            intrinsics ``(V, T, 3, 3)`` (focal length zooming by up to 1 %).
        n_frames: strategy (or int) for ``T`` of a moving rig (ignored when static).
        baseline: how the viewing directions (centre to camera) are spread.
            ``"any"``: azimuth anywhere, elevation -20..60 degrees, except that view 1
            is 60..180 degrees of azimuth away from view 0 (so that pair is at least
            29 degrees apart and the rig can always triangulate the centre);
            ``"wide"``: neighbouring views 60..120 degrees apart in azimuth, elevation
            0..35 degrees (neighbours at least 48 degrees apart);
            ``"narrow"``: every view within 7.5 degrees of a common direction (any two
            within 15 degrees), views 0 and 1 8..15 degrees apart.
        center: the workspace centre every optical axis passes through (metres).

    The cameras sit 0.6..1.6 m from ``center`` with a random roll about the optical
    axis (up to 30 degrees), a field of view of 40..75 degrees across the shorter image
    side, ``fy = fx * (1 +- 3 %)``, no skew, and a principal point within 2 % of the
    image size of ``((W - 1) / 2, (H - 1) / 2)``.
    """
    V = draw(_strategy(n_views))
    H, W = draw(_strategy(sizes if sizes is not None else image_sizes()))
    moving = draw(_strategy(per_frame))
    c = np.asarray(center, dtype=np.float64)

    # viewing directions (from the centre towards the cameras)
    dirs = []
    if baseline == "narrow":
        base = _direction(draw(_unit(0.0, 2 * math.pi)), math.radians(draw(_unit(-10.0, 70.0))))
        e1 = np.cross(base, [0.0, 0.0, 1.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(base, e1)
        b0 = draw(_unit(0.0, 2 * math.pi))
        for i in range(V):
            # views 0 and 1 on opposite sides of the base direction: 8..15 degrees apart
            a = math.radians(draw(_unit(4.0, 7.5) if i < 2 else _unit(0.0, 7.5)))
            b = b0 + math.pi * i if i < 2 else draw(_unit(0.0, 2 * math.pi))
            dirs.append(math.cos(a) * base + math.sin(a) * (math.cos(b) * e1 + math.sin(b) * e2))
    elif baseline == "wide":
        az = draw(_unit(0.0, 2 * math.pi))
        for i in range(V):
            if i:
                az += math.radians(draw(_unit(60.0, 120.0)))
            dirs.append(_direction(az, math.radians(draw(_unit(0.0, 35.0)))))
    else:
        az0 = draw(_unit(0.0, 2 * math.pi))
        for i in range(V):
            # view 1 is 60..180 degrees of azimuth from view 0: the pair is >= 29 degrees apart
            az = az0 + math.radians(draw(_unit(60.0, 180.0))) if i == 1 else draw(_unit(0.0, 2 * math.pi))
            dirs.append(_direction(az0 if i == 0 else az, math.radians(draw(_unit(-20.0, 60.0)))))

    K = np.zeros((V, 3, 3))
    E = np.zeros((V, 4, 4))
    for i, d in enumerate(dirs):
        dist = draw(_unit(*_SHELL))
        roll = math.radians(draw(_unit(-30.0, 30.0)))
        e = look_at(c + dist * d, c)
        e[:3, :3] = e[:3, :3] @ _rot_about([0.0, 0.0, 1.0], roll)
        E[i] = e
        fov = math.radians(draw(_unit(*_FOV_DEG)))
        f = 0.5 * min(H, W) / math.tan(fov / 2.0)
        K[i] = [[f, 0.0, (W - 1) / 2.0 + draw(_unit(-0.02, 0.02)) * W],
                [0.0, f * draw(_unit(0.97, 1.03)), (H - 1) / 2.0 + draw(_unit(-0.02, 0.02)) * H],
                [0.0, 0.0, 1.0]]
    if not moving:
        return CameraRig(K, E, H, W)

    T = draw(_strategy(n_frames))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    Et = np.repeat(E[:, None], T, axis=1)
    for i in range(V):
        for t in range(T):
            axis = rng.normal(size=3)
            Rj = _rot_about(axis, rng.uniform(0.0, JITTER_ROTATION))
            Et[i, t, :3, :3] = Rj @ E[i, :3, :3]
            step = rng.normal(size=3)
            Et[i, t, :3, 3] += JITTER_TRANSLATION * rng.uniform() * step / np.linalg.norm(step)
    if draw(st.booleans()):
        Kt = np.repeat(K[:, None], T, axis=1)
        zoom = 1.0 + rng.uniform(-0.01, 0.01, size=(V, T))
        Kt[..., 0, 0] *= zoom
        Kt[..., 1, 1] *= zoom
        return CameraRig(Kt, Et, H, W)
    return CameraRig(K, Et, H, W)


# ------------------------------------------------------------------------- actions
@_choices(openness=_OPENNESS)
@st.composite
def reachable_actions(draw: Any, n_frames: Any = st.integers(1, 6),
                      center: tuple[float, float, float] = WORKSPACE_CENTER,
                      extent: tuple[float, float, float] = (0.12, 0.12, 0.1), openness: str = "any",
                      spec: ActionImageSpec | None = None) -> np.ndarray:
    """``(T, 7)`` float64 actions ``[x, y, z, rx, ry, rz, openness]``.

    Args:
        n_frames: strategy (or int) for ``T``.
        center, extent: positions are uniform in ``center +- extent`` (metres).
        openness: ``"binary"`` (each frame 0.0 or 1.0), ``"uniform"`` (in [0, 1]) or
            ``"any"`` (one of the two per example).
        spec: gives the Euler sequence of ``rx, ry, rz`` (default extrinsic ``"xyz"``).

    Orientations are uniformly random rotations (any roll, pitch, yaw), as Euler angles
    in radians in scipy's ranges.
    """
    spec = resolve_spec(spec)
    T = draw(_strategy(n_frames))
    mode = draw(st.sampled_from(["binary", "uniform"])) if openness == "any" else openness
    c = np.asarray(center, dtype=np.float64)
    ext = np.asarray(extent, dtype=np.float64)
    out = np.empty((T, 7))
    quats = np.empty((T, 4))
    for t in range(T):
        out[t, :3] = c + ext * np.array([draw(_unit(-1.0, 1.0)) for _ in range(3)])
        quats[t] = draw(unit_quaternions("xyzw"))
        out[t, 6] = draw(st.sampled_from([0.0, 1.0])) if mode == "binary" else draw(_unit())
    out[:, 3:6] = matrix_to_euler(quat_to_matrix(quats, "xyzw"), spec.euler)
    return out


def _visible(pix: np.ndarray, depth: np.ndarray, H: int, W: int, min_depth: float = 0.05) -> np.ndarray:
    """``(V, T, 3)`` True where a point is in front and inside the ``H x W`` pixel grid."""
    u, v = pix[..., 0], pix[..., 1]
    with np.errstate(invalid="ignore"):
        return (depth > min_depth) & (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)


def _frame_ok(rig: CameraRig, actions: np.ndarray, spec: ActionImageSpec, min_views: int,
              min_angle_deg: float) -> np.ndarray:
    """``(T,)`` True where every point is in front of every camera (depth > 5 cm) and inside
    at least ``min_views`` views, two of which see it from directions at least
    ``min_angle_deg`` apart."""
    pix, depth = project_actions(actions, rig, spec)
    vis = _visible(pix, depth, rig.height, rig.width)  # (V, T, 3)
    ok = (depth > 0.05).all(axis=(0, 2)) & (vis.sum(axis=0) >= min_views).all(axis=1)
    if min_angle_deg > 0:
        pts = action_points(actions, spec)  # (T, 3, 3)
        _, E = rig.broadcast(actions.shape[0])
        ray = pts[None] - E[:, :, None, :3, 3]  # (V, T, 3, 3)
        ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
        cos = np.einsum("atpi,btpi->abtp", ray, ray)  # (V, V, T, 3)
        pair = vis[:, None] & vis[None, :]
        best = np.where(pair, cos, 1.0).min(axis=(0, 1))  # (T, 3)
        ok &= (best <= math.cos(math.radians(min_angle_deg))).all(axis=1)
    return ok


_MIN_ANGLE = {"any": 12.0, "wide": 25.0, "narrow": 4.0}


# -------------------------------------------------------------------------- scenes
@_choices(baseline=_BASELINES, openness=_OPENNESS)
@st.composite
def scenes(draw: Any, n_views: Any = st.integers(2, 6), sizes: Any = None, per_frame: Any = st.booleans(),
           n_frames: Any = st.integers(1, 6), baseline: str = "any", openness: str = "any",
           border: bool = True, min_views: int = 2, min_angle_deg: float | None = None,
           spec: ActionImageSpec | None = None) -> tuple[CameraRig, np.ndarray]:
    """``(rig, actions)``: a rig from :func:`rigs` and ``(T, 7)`` actions it sees.

    Every point P, N, U of every frame is in front of every camera (depth > 5 cm) and
    projects inside the pixel grid (``0 <= u <= W - 1``, ``0 <= v <= H - 1``) of at
    least ``min_views`` views. Positions start in a box around the workspace centre;
    with ``border=True`` some frames are moved so that P projects near (or just past)
    the border of one view, so that view's blobs are cut by the image border or lie
    outside it. A frame that misses the visibility requirement is pulled towards the
    centre (where every camera sees the whole triad: that is what the field of view and
    distances of :func:`rigs` guarantee), so examples are constructed, not filtered;
    only the rare triad that is still not triangulable at the centre (see
    ``min_angle_deg``) is rejected with ``hypothesis.assume``.

    ``min_angle_deg`` (default 12, 25 and 4 degrees for the ``"any"``, ``"wide"`` and
    ``"narrow"`` baselines) also requires, for every point, two views that see it
    inside the image from directions at least that far apart, so that it can be
    triangulated. Other arguments as for :func:`rigs` and :func:`reachable_actions`;
    ``T`` is shared.
    """
    spec = resolve_spec(spec)
    T = draw(_strategy(n_frames))
    rig = draw(rigs(n_views=n_views, sizes=sizes, per_frame=per_frame, n_frames=T, baseline=baseline))
    actions = draw(reachable_actions(n_frames=T, openness=openness, spec=spec))
    V, H, W = rig.n_views, rig.height, rig.width
    c = np.asarray(WORKSPACE_CENTER)

    if border:
        for t in range(T):
            if not draw(st.integers(0, 2)) == 0:  # about a third of the frames
                continue
            k = draw(st.integers(0, V - 1))
            side = draw(st.integers(0, 3))
            off = draw(_unit(-0.04, 0.06))  # fraction of the image size from the edge
            u = (W - 1) / 2.0 + draw(_unit(-0.4, 0.4)) * W
            v = (H - 1) / 2.0 + draw(_unit(-0.4, 0.4)) * H
            if side == 0:
                u = off * W
            elif side == 1:
                u = (W - 1) - off * W
            elif side == 2:
                v = off * H
            else:
                v = (H - 1) - off * H
            rig_t = rig.with_frames([t]) if not rig.is_static else rig
            _, dc = rig_t.project(c[None] if rig.is_static else c[None, None])
            kv = rig_t.with_views([k])
            d = float(dc.reshape(V)[k]) * draw(_unit(0.85, 1.15))
            px = np.array([[u, v]]) if rig.is_static else np.array([[[u, v]]])
            p = kv.unproject(px[None], np.full(px.shape[:-1], d)[None])
            actions[t, :3] = p.reshape(3)

    if min_angle_deg is None:
        min_angle_deg = _MIN_ANGLE[baseline]
    ok = _frame_ok(rig, actions, spec, min_views, min_angle_deg)
    for factor in (0.6, 0.3, 0.0):
        if ok.all():
            break
        bad = ~ok
        actions[bad, :3] = c + factor * (actions[bad, :3] - c)
        ok = _frame_ok(rig, actions, spec, min_views, min_angle_deg)
    # at the centre the triad is always seen by every view; only the (rare) case of a
    # triad whose N or U is seen too obliquely by the only well separated pair is left
    assume(bool(ok.all()))
    return rig, actions


@st.composite
def action_images(draw: Any, dtype: Any = np.uint8, spec: ActionImageSpec | None = None,
                  **scene_kwargs: Any) -> tuple[CameraRig, np.ndarray, np.ndarray]:
    """``(rig, actions, images)``: a :func:`scenes` example rendered by :func:`actimg.encode`.

    ``images`` is ``(V, T, H, W, 3)`` of ``dtype`` (``np.uint8`` or ``np.float32``, or a
    strategy of them). ``scene_kwargs`` go to :func:`scenes`.
    """
    rig, actions = draw(scenes(spec=spec, **scene_kwargs))
    dt = draw(_strategy(dtype))
    return rig, actions, encode(actions, rig, spec, dtype=dt)
