"""Camera sources (actimg.cameras): conventions, round trips, rig files, Plücker rays.

Conventions under test (see actimg/cameras.py): actimg rigs use OpenCV camera axes,
cam2world extrinsics and pixel centres at integer coordinates. Every conversion has a
hypothesis round-trip test on :func:`actimg.testing.rigs` and every error path an
explicit test. No optional dependency is needed here: MuJoCo models are faked (the
builders only read attributes); real MuJoCo renders are in test_mujoco_render.py.
"""

from __future__ import annotations

import itertools
import json
import math
from types import SimpleNamespace

import numpy as np
from _rotations import Rx, Ry, Rz
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import CameraRig, cameras
from actimg.cameras import (OPENGL_TO_OPENCV, from_droid, from_mujoco, from_mujoco_trajectory, from_negated_focal,
                            from_opengl, from_rlbench, from_robosuite, from_world2cam, intrinsics_from_fovy,
                            load_rig, plucker_rays, save_rig, to_droid, to_negated_focal, to_opengl)
from actimg.testing import WORKSPACE_CENTER, image_sizes, rigs

H, W = 96, 128
FEW = settings(max_examples=25, deadline=None)


def project(K, cam2world, pts):
    """Reference pinhole projection ``u = fx x / z + s y / z + cx``, ``v = fy y / z + cy``
    of world points ``(N, 3)`` through one camera (any sign convention of K)."""
    R, c = cam2world[:3, :3], cam2world[:3, 3]
    p = (pts - c) @ R  # camera coordinates, R^T (p - c)
    x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=-1)


def workspace_points(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return np.asarray(WORKSPACE_CENTER) + rng.uniform(-0.15, 0.15, size=(n, 3))


def frames(rig):
    """``(v, t, K, cam2world)`` for every view and frame of a rig."""
    K, E = rig.broadcast(rig.n_frames)
    for v in range(K.shape[0]):
        for t in range(K.shape[1]):
            yield v, t, K[v, t], E[v, t]


@pytest.fixture
def rig():
    c = np.asarray(WORKSPACE_CENTER)
    E = actimg.look_at(np.array([c + [1.0, 0.3, 0.5], c + [0.2, 1.0, 0.6]]), c)
    K = np.array([[[100.0, 0, 63.5], [0, 100.0, 47.5], [0, 0, 1]]] * 2)
    return CameraRig(K, E, H, W)




# ===================================================================== fovy
@given(fovy=st.floats(1.0, 170.0), size=image_sizes(1, 1024))
def test_intrinsics_from_fovy_is_centred_square_pixels(fovy, size):
    h, w = size
    K = intrinsics_from_fovy(fovy, h, w)
    assert K.shape == (3, 3)
    f = (h / 2) / math.tan(math.radians(fovy) / 2)
    np.testing.assert_allclose(K, [[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], rtol=1e-15)
    # the vertical field of view is recovered across the full image height (pixel edges)
    assert math.degrees(2 * math.atan((h / 2) / K[1, 1])) == pytest.approx(fovy, rel=1e-12)


def test_intrinsics_from_fovy_broadcasts():
    K = intrinsics_from_fovy(np.array([[30.0, 45.0, 60.0]]), H, W)
    assert K.shape == (1, 3, 3, 3)
    np.testing.assert_allclose(K[0, 1], intrinsics_from_fovy(45.0, H, W))


@pytest.mark.parametrize("fovy", [0.0, -10.0, 180.0, 200.0])
def test_intrinsics_from_fovy_refuses_bad_angles(fovy):
    with pytest.raises(ValueError, match="fovy_deg must be in \\(0, 180\\)"):
        intrinsics_from_fovy(fovy, H, W)


def test_intrinsics_from_fovy_refuses_nan_and_bad_sizes():
    with pytest.raises(ValueError, match="fovy_deg must be finite"):
        intrinsics_from_fovy(float("nan"), H, W)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        intrinsics_from_fovy(45.0, 0, W)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        intrinsics_from_fovy(45.0, H, 12.5)


# =================================================================== OpenGL
@FEW
@given(rig=rigs())
def test_opengl_opencv_round_trip_is_bit_exact(rig):
    gl = to_opengl(rig)
    assert gl.shape == rig.extrinsics.shape
    # same centre, y and z camera axes flipped, x kept
    np.testing.assert_array_equal(gl[..., :3, 3], rig.extrinsics[..., :3, 3])
    np.testing.assert_array_equal(gl[..., :3, 0], rig.extrinsics[..., :3, 0])
    np.testing.assert_array_equal(gl[..., :3, 1:3], -rig.extrinsics[..., :3, 1:3])
    back = from_opengl(gl, rig.height, rig.width, intrinsics=rig.intrinsics)
    np.testing.assert_array_equal(back.extrinsics, rig.extrinsics)
    np.testing.assert_array_equal(back.intrinsics, rig.intrinsics)
    np.testing.assert_array_equal(to_opengl(back), gl)


def test_opengl_camera_looks_down_minus_z_with_y_up():
    gl = np.eye(4)[None]  # camera at the origin, OpenGL axes = world axes
    rig = from_opengl(gl, H, W, fovy_deg=60.0)
    pix, depth = rig.project(np.array([[0.0, 0.0, -2.0], [0.0, 0.1, -2.0], [0.1, 0.0, -2.0]]))
    np.testing.assert_allclose(pix[0, 0], [(W - 1) / 2, (H - 1) / 2])
    np.testing.assert_allclose(depth[0], 2.0)
    assert pix[0, 1, 1] < (H - 1) / 2  # world +y (camera up) is higher in the image
    assert pix[0, 2, 0] > (W - 1) / 2  # camera +x is to the right


@pytest.mark.parametrize("fovy", [45.0, np.array([30.0, 60.0])])
def test_opengl_fovy_gives_renderer_intrinsics(rig, fovy):
    out = from_opengl(to_opengl(rig), H, W, fovy_deg=fovy)
    np.testing.assert_allclose(out.intrinsics, intrinsics_from_fovy(np.broadcast_to(fovy, (2,)), H, W))


def test_opengl_per_frame_fovy_zoom(rig):
    gl = np.repeat(to_opengl(rig)[:, None], 3, axis=1)
    out = from_opengl(gl, H, W, fovy_deg=np.array([[40.0, 41.0, 42.0], [50.0, 50.0, 50.0]]))
    assert out.intrinsics.shape == (2, 3, 3, 3) and out.n_frames == 3


def test_opengl_errors(rig):
    gl = to_opengl(rig)
    with pytest.raises(ValueError, match="exactly one of intrinsics"):
        from_opengl(gl, H, W)
    with pytest.raises(ValueError, match="exactly one of intrinsics"):
        from_opengl(gl, H, W, intrinsics=rig.intrinsics, fovy_deg=45.0)
    with pytest.raises(ValueError, match=r"fovy_deg must be a scalar, \(V=2,\)"):
        from_opengl(gl, H, W, fovy_deg=[45.0, 45.0, 45.0])
    with pytest.raises(ValueError, match="intrinsics has V=1 views but cam2world_gl has V=2"):
        from_opengl(gl, H, W, intrinsics=rig.intrinsics[:1])
    bad = gl.copy()
    bad[1, :3, 2] *= -1  # a reflection: someone flipped only z
    with pytest.raises(ValueError, match=r"cam2world_gl \(cam2world, OpenGL axes\) of view 1 .*reflection"):
        from_opengl(bad, H, W, fovy_deg=45.0)
    with pytest.raises(ValueError, match=r"cam2world_gl .* must have shape \(V, 4, 4\)"):
        from_opengl(gl[..., :2, :], H, W, fovy_deg=45.0)
    with pytest.raises(ValueError, match="cam2world_gl must have 3 or 4 dimensions"):
        from_opengl(gl[0], H, W, fovy_deg=45.0)
    bottom = gl.copy()
    bottom[0, 3, 0] = 0.5
    with pytest.raises(ValueError, match=r"view 0 must have last row \[0, 0, 0, 1\]"):
        from_opengl(bottom, H, W, fovy_deg=45.0)
    with pytest.raises(TypeError, match="rig must be an actimg.CameraRig"):
        to_opengl(gl)


def test_opengl_accepts_3x4(rig):
    out = from_opengl(to_opengl(rig)[:, :3, :], H, W, intrinsics=rig.intrinsics)
    np.testing.assert_array_equal(out.extrinsics, rig.extrinsics)


# ================================================================ world2cam
@FEW
@given(rig=rigs())
def test_world2cam_round_trip(rig):
    w2c = rig.world2cam
    for mats in (w2c, w2c[..., :3, :]):
        back = from_world2cam(rig.intrinsics, mats, rig.height, rig.width)
        np.testing.assert_allclose(back.extrinsics, rig.extrinsics, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(back.extrinsics[..., :3, :3], rig.extrinsics[..., :3, :3])
    pts = workspace_points()
    for v, t, K, E in frames(back):
        np.testing.assert_allclose(project(K, E, pts), project(K, rig.broadcast(rig.n_frames)[1][v, t], pts),
                                   atol=1e-9)
    # x_cam = R x_world + t
    p = workspace_points(1)[0]
    K, E = rig.broadcast(rig.n_frames)
    W2 = rig.world2cam if rig.world2cam.ndim == 4 else rig.world2cam[:, None]
    xc = W2[0, 0, :3, :3] @ p + W2[0, 0, :3, 3]
    np.testing.assert_allclose(xc, E[0, 0, :3, :3].T @ (p - E[0, 0, :3, 3]), atol=1e-12)


def test_world2cam_errors(rig):
    w2c = rig.world2cam
    bad = w2c.copy()
    bad[1, :3, :3] *= 2.0
    with pytest.raises(ValueError, match=r"world2cam \(world2cam, OpenCV axes\) of view 1 has a rotation block "
                                         r"that is not a rotation"):
        from_world2cam(rig.intrinsics, bad, H, W)
    moving = np.repeat(w2c[:, None], 3, axis=1)
    moving[0, 2, :3, :3] = moving[0, 2, :3, :3] @ np.diag([1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match=r"of view 0, frame 2 .*reflection"):
        from_world2cam(rig.intrinsics, moving, H, W)
    with pytest.raises(ValueError, match="intrinsics has T=2 frames but world2cam has T=3"):
        from_world2cam(np.repeat(rig.intrinsics[:, None], 2, axis=1), np.repeat(w2c[:, None], 3, axis=1), H, W)
    with pytest.raises(ValueError, match=r"intrinsics must have shape \(\.\.\., 3, 3\)"):
        from_world2cam(rig.intrinsics[..., :2], w2c, H, W)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        from_world2cam(rig.intrinsics, w2c, -1, W)


# ============================================================ negated focal
@FEW
@given(rig=rigs())
def test_negated_focal_round_trip_and_projection_unchanged(rig):
    Kn, En = to_negated_focal(rig)
    assert (Kn[..., 0, 0] < 0).all() and (Kn[..., 1, 1] < 0).all()
    # the negated pair projects every point to exactly the same pixel (the flips cancel)
    pts = workspace_points()
    Kb = np.broadcast_to(Kn if Kn.ndim == 4 else Kn[:, None], rig.broadcast(rig.n_frames)[0].shape)
    Eb = En if En.ndim == 4 else En[:, None]
    for v, t, K, E in frames(rig):
        np.testing.assert_array_equal(project(Kb[v, t], Eb[v, min(t, Eb.shape[1] - 1)], pts), project(K, E, pts))
    back = from_negated_focal(Kn, En, rig.height, rig.width)
    np.testing.assert_array_equal(back.intrinsics, rig.intrinsics)
    np.testing.assert_array_equal(back.extrinsics, rig.extrinsics)
    pix, _ = back.project(pts if rig.is_static else np.broadcast_to(pts, (rig.n_frames,) + pts.shape))
    pix0, _ = rig.project(pts if rig.is_static else np.broadcast_to(pts, (rig.n_frames,) + pts.shape))
    np.testing.assert_array_equal(pix, pix0)


def test_negated_focal_skew_changes_sign(rig):
    K = rig.intrinsics.copy()
    K[:, 0, 1] = 3.0
    r = CameraRig(K, rig.extrinsics, H, W)
    Kn, En = to_negated_focal(r)
    assert (Kn[:, 0, 1] == -3.0).all()
    pts = workspace_points()
    np.testing.assert_array_equal(project(Kn[0], En[0], pts), project(K[0], rig.extrinsics[0], pts))


def test_negated_focal_errors(rig):
    Kn, En = to_negated_focal(rig)
    pos = Kn.copy()
    pos[1, 0, 0] *= -1  # only fy negated: a mirror image
    with pytest.raises(ValueError, match="intrinsics of view 1 has fx = 100.0 >= 0; the negated-focal"):
        from_negated_focal(pos, En, H, W)
    with pytest.raises(ValueError, match="intrinsics of view 0 has fx = 100.0 >= 0"):
        from_negated_focal(rig.intrinsics, rig.extrinsics, H, W)
    bad = En.copy()
    bad[0, :3, 0] *= -1
    with pytest.raises(ValueError, match=r"cam2world \(cam2world, negated x/y camera axes\) of view 0 .*reflection"):
        from_negated_focal(Kn, bad, H, W)
    with pytest.raises(ValueError, match="intrinsics has V=2 views but cam2world has V=1"):
        from_negated_focal(Kn, En[:1], H, W)


# ================================================================== MuJoCo
class FakeModel:
    """What the MuJoCo builders read from ``mujoco.MjModel`` (no mujoco needed)."""

    def __init__(self, names, fovy, sensorsize=None, intrinsic=None, projection=None):
        self._names = list(names)
        self.ncam = len(self._names)
        self.cam_fovy = np.asarray(fovy, dtype=np.float64)
        self.cam_sensorsize = np.zeros((self.ncam, 2), np.float32) if sensorsize is None else np.asarray(sensorsize)
        self.cam_intrinsic = np.zeros((self.ncam, 4), np.float32) if intrinsic is None else np.asarray(intrinsic)
        self.cam_projection = np.zeros(self.ncam, np.int32) if projection is None else np.asarray(projection)

    def camera(self, i):
        return SimpleNamespace(name=self._names[i], id=i)


def fake_data(rig):
    """MuJoCo ``data.cam_xpos`` / ``cam_xmat`` (row-major, OpenGL axes) of a static rig."""
    gl = to_opengl(rig)
    return SimpleNamespace(cam_xpos=gl[:, :3, 3].copy(), cam_xmat=gl[:, :3, :3].reshape(-1, 9).copy())


@FEW
@given(rig=rigs(per_frame=False), fovy=st.floats(20.0, 100.0))
def test_mujoco_fovy_cameras_match_opengl(rig, fovy):
    V = rig.n_views
    model = FakeModel([f"cam{i}" for i in range(V)], [fovy] * V)
    out = from_mujoco(model, fake_data(rig), None, rig.height, rig.width)
    np.testing.assert_array_equal(out.extrinsics, rig.extrinsics)
    np.testing.assert_allclose(out.intrinsics, intrinsics_from_fovy(np.full(V, fovy), rig.height, rig.width))


def test_mujoco_selects_cameras_by_name_and_id(rig):
    model = FakeModel(["front", "side"], [45.0, 60.0])
    data = fake_data(rig)
    a = from_mujoco(model, data, ["side", "front"], H, W)
    b = from_mujoco(model, data, [1, 0], H, W)
    c = from_mujoco(model, data, "side", H, W)
    np.testing.assert_array_equal(a.extrinsics, rig.extrinsics[::-1])
    np.testing.assert_array_equal(a.extrinsics, b.extrinsics)
    np.testing.assert_array_equal(c.extrinsics, rig.extrinsics[1:])
    np.testing.assert_allclose(c.intrinsics[0], intrinsics_from_fovy(60.0, H, W))


def test_mujoco_sensorsize_cameras(rig):
    # focal (0.005, 0.0052) m on a 6 x 4.5 mm sensor, principal offset (0.3, -0.2) mm
    model = FakeModel(["a", "b"], [45.0, 45.0], sensorsize=[[0.006, 0.0045], [0, 0]],
                      intrinsic=[[0.005, 0.0052, 0.0003, -0.0002], [0.01, 0.01, 0, 0]])
    out = from_mujoco(model, fake_data(rig), None, 240, 320)
    K = out.intrinsics[0]
    np.testing.assert_allclose(K[0, 0], 0.005 / 0.006 * 320, rtol=1e-6)
    np.testing.assert_allclose(K[1, 1], 0.0052 / 0.0045 * 240, rtol=1e-6)
    np.testing.assert_allclose(K[:2, 2], [159.5 - 16.0, 119.5 + 0.0002 / 0.0045 * 240], rtol=1e-6)
    np.testing.assert_allclose(out.intrinsics[1], intrinsics_from_fovy(45.0, 240, 320))


def test_mujoco_trajectory_stacks_snapshots(rig):
    T = 4
    rng = np.random.default_rng(1)
    gl = np.repeat(to_opengl(rig)[:, None], T, axis=1)
    gl[..., :3, 3] += rng.normal(scale=0.01, size=(2, T, 3))
    xpos = np.swapaxes(gl[..., :3, 3], 0, 1)  # (T, ncam, 3), as data.cam_xpos snapshots
    xmat = np.swapaxes(gl[..., :3, :3].reshape(2, T, 9), 0, 1)  # (T, ncam, 9)
    model = FakeModel(["a", "b"], [45.0, 60.0])
    out = from_mujoco_trajectory(model, xpos, xmat, ["b", "a"], H, W)
    assert out.extrinsics.shape == (2, T, 4, 4) and out.intrinsics.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.extrinsics, (gl @ OPENGL_TO_OPENCV)[::-1])
    same = from_mujoco_trajectory(model, list(xpos), [m.reshape(2, 3, 3) for m in xmat], ["b", "a"], H, W)
    np.testing.assert_array_equal(same.extrinsics, out.extrinsics)
    # each frame equals the static builder on that snapshot
    for t in range(T):
        one = from_mujoco(model, SimpleNamespace(cam_xpos=xpos[t], cam_xmat=xmat[t]), ["b", "a"], H, W)
        np.testing.assert_array_equal(one.extrinsics, out.extrinsics[:, t])


def test_mujoco_errors(rig):
    model = FakeModel(["front", "side"], [45.0, 60.0])
    data = fake_data(rig)
    with pytest.raises(ValueError, match=r"no camera named 'top' in the model; cameras: \['front', 'side'\]"):
        from_mujoco(model, data, ["top"], H, W)
    with pytest.raises(ValueError, match="camera id 5 is out of range: the model has 2 cameras"):
        from_mujoco(model, data, [5], H, W)
    with pytest.raises(TypeError, match="camera_names must hold camera names"):
        from_mujoco(model, data, [1.5], H, W)
    with pytest.raises(ValueError, match="camera_names is empty"):
        from_mujoco(model, data, [], H, W)
    with pytest.raises(ValueError, match="model has no cameras"):
        from_mujoco(FakeModel([], []), data, None, H, W)
    ortho = FakeModel(["front", "side"], [45.0, 60.0], projection=[0, 1])
    with pytest.raises(ValueError, match="camera 'side' is orthographic"):
        from_mujoco(ortho, data, None, H, W)
    half = FakeModel(["front", "side"], [45.0, 60.0], sensorsize=[[0.006, 0.0], [0, 0]])
    with pytest.raises(ValueError, match="camera 'front' has cam_sensorsize .* both entries must be positive"):
        from_mujoco(half, data, None, H, W)
    skew = SimpleNamespace(cam_xpos=data.cam_xpos, cam_xmat=data.cam_xmat * 1.01)
    with pytest.raises(ValueError, match=r"data.cam_xmat/cam_xpos \(cam2world, OpenGL axes\) of view 0"):
        from_mujoco(model, skew, None, H, W)
    xpos, xmat = data.cam_xpos[None], data.cam_xmat[None]
    with pytest.raises(ValueError, match=r"cam_xpos must have shape \(T, ncam=2, 3\)"):
        from_mujoco_trajectory(model, xpos[:, :1], xmat, None, H, W)
    with pytest.raises(ValueError, match=r"cam_xmat must have shape \(T, ncam=2, 9\)"):
        from_mujoco_trajectory(model, xpos, xmat[..., :8], None, H, W)
    with pytest.raises(ValueError, match="cam_xpos has T=2 snapshots but cam_xmat has T=1"):
        from_mujoco_trajectory(model, np.repeat(xpos, 2, axis=0), xmat, None, H, W)


# ================================================================= RLBench
def pyrep_intrinsics(res_wh, angle_deg):
    """PyRep's ``VisionSensor.get_intrinsic_matrix`` (negated focal lengths, pp = res / 2)."""
    res = np.array(res_wh, dtype=np.float64)
    pp = res / 2
    ratio = res[0] / res[1]
    pa_x = pa_y = math.radians(angle_deg)
    if ratio > 1:
        pa_y = 2 * np.arctan(np.tan(pa_y / 2) / ratio)
    elif ratio < 1:
        pa_x = 2 * np.arctan(np.tan(pa_x / 2) * ratio)
    f = -res / (2 * np.tan(np.array([pa_x, pa_y]) / 2))
    return np.array([[f[0], 0.0, pp[0]], [0.0, f[1], pp[1]], [0.0, 0.0, 1.0]])


def point_to_pixel_rlbench(point, extrinsics, intrinsics):
    """ARM / C2F-ARM's ``_point_to_pixel_index`` without the int(): projection of a point
    with RLBench's stored matrices as is."""
    p = np.linalg.inv(extrinsics) @ np.append(point, 1.0)
    px, py, pz = p[:3]
    u = 2 * intrinsics[0, 2] - (-intrinsics[0, 0] * (px / pz) + intrinsics[0, 2])
    v = 2 * intrinsics[1, 2] - (-intrinsics[1, 1] * (py / pz) + intrinsics[1, 2])
    return np.array([u, v])


def rlbench_misc(rig, names, res_wh, angle_deg):
    """RLBench ``obs.misc`` dicts of a rig's poses with PyRep intrinsics."""
    _, En = to_negated_focal(rig)
    En = En if En.ndim == 4 else En[:, None]
    K = pyrep_intrinsics(res_wh, angle_deg)
    T = En.shape[1]
    return [{**{f"{n}_camera_extrinsics": En[v, t] for v, n in enumerate(names)},
             **{f"{n}_camera_intrinsics": K for n in names},
             **{f"{n}_camera_near": 0.01 for n in names}} for t in range(T)]


@FEW
@given(rig=rigs(per_frame=True), angle=st.floats(30.0, 90.0), res=st.sampled_from([(128, 128), (320, 240), (240, 320)]))
def test_rlbench_matches_its_own_projection(rig, angle, res):
    names = [f"cam{i}" for i in range(rig.n_views)]
    misc = rlbench_misc(rig, names, res, angle)
    out = from_rlbench(misc, names, pixel_center="integer")
    assert (out.height, out.width) == (res[1], res[0]) and out.n_frames == rig.n_frames
    assert out.intrinsics.shape == (rig.n_views, 3, 3)  # identical over frames: stored once
    np.testing.assert_allclose(out.extrinsics, rig.extrinsics, atol=1e-12)
    pts = workspace_points(5)
    pix, depth = out.project(np.broadcast_to(pts, (rig.n_frames,) + pts.shape))
    for v, n in enumerate(names):
        for t, m in enumerate(misc):
            ref = np.array([point_to_pixel_rlbench(p, m[f"{n}_camera_extrinsics"], m[f"{n}_camera_intrinsics"])
                            for p in pts])
            np.testing.assert_allclose(pix[v, t], ref, atol=1e-8)
    assert (depth > 0).all()
    # default: as stored (the published pipeline's convention)
    np.testing.assert_array_equal(from_rlbench(misc, names).intrinsics, out.intrinsics)
    # "half": the stored principal point res / 2 is the render centre of "half" pixel centres
    half = from_rlbench(misc, names, pixel_center="half")
    np.testing.assert_allclose(half.intrinsics[..., :2, 2], out.intrinsics[..., :2, 2] - 0.5)
    np.testing.assert_allclose(half.intrinsics[..., 0, 2], (res[0] - 1) / 2)
    np.testing.assert_allclose(half.intrinsics[..., 1, 2], (res[1] - 1) / 2)
    assert (half.intrinsics[..., 0, 0] > 0).all() and (half.intrinsics[..., 1, 1] > 0).all()


def test_rlbench_accepts_observation_objects_and_per_frame_intrinsics(rig):
    moving = CameraRig(rig.intrinsics, np.repeat(rig.extrinsics[:, None], 2, axis=1), H, W)
    misc = rlbench_misc(moving, ["front", "wrist"], (128, 96), 60.0)
    misc[1]["wrist_camera_intrinsics"] = pyrep_intrinsics((128, 96), 50.0)
    obs = [SimpleNamespace(misc=m, gripper_open=1.0) for m in misc]
    out = from_rlbench(obs, ["front", "wrist"], height=96, width=128)
    assert out.intrinsics.shape == (2, 2, 3, 3)
    assert out.intrinsics[1, 0, 0, 0] < out.intrinsics[1, 1, 0, 0]  # narrower angle: longer focal length
    three = [{**m, "front_camera_extrinsics": m["front_camera_extrinsics"][:3]} for m in misc]
    np.testing.assert_array_equal(from_rlbench(three, ["front", "wrist"]).extrinsics, out.extrinsics)


def test_rlbench_reorthonormalises_single_precision_poses(rig):
    misc = rlbench_misc(rig, ["front"], (128, 96), 60.0)
    misc[0]["front_camera_extrinsics"] = misc[0]["front_camera_extrinsics"].astype(np.float32).astype(np.float64)
    out = from_rlbench(misc, ["front"])
    R = out.extrinsics[0, 0, :3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-14)


def test_rlbench_errors(rig):
    misc = rlbench_misc(rig, ["front", "wrist"], (128, 96), 60.0)
    with pytest.raises(ValueError, match=r"observations\[0\] has no misc\['top_camera_extrinsics'\]; camera "
                                         r"extrinsics present: \['front_camera_extrinsics', 'wrist_camera_extrinsics'\]"):
        from_rlbench(misc, ["top"])
    with pytest.raises(ValueError, match="camera_names must be a non-empty sequence"):
        from_rlbench(misc, [])
    with pytest.raises(ValueError, match="observations is empty"):
        from_rlbench([], ["front"])
    with pytest.raises(TypeError, match=r"observations\[0\] must be a misc dict"):
        from_rlbench([42], ["front"])
    with pytest.raises(ValueError, match=r"width=256 does not match the RLBench principal point \(res / 2 = 64.0\) "
                                         r"of camera 'front' in observations\[0\]"):
        from_rlbench(misc, ["front"], width=256)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        from_rlbench(misc, ["front"], height=0)
    bad = [dict(m) for m in misc]
    bad[0]["wrist_camera_intrinsics"] = np.eye(4)
    with pytest.raises(ValueError, match=r"misc\['wrist_camera_intrinsics'\] of observations\[0\] must have shape"):
        from_rlbench(bad, ["front", "wrist"])
    bad = [dict(m) for m in misc]
    bad[0]["wrist_camera_extrinsics"] = misc[0]["wrist_camera_extrinsics"] @ np.diag([1.0, 1.0, 1.001, 1.0])
    with pytest.raises(ValueError, match=r"extrinsics \(RLBench cam2world\) of view 1, frame 0 has a rotation"):
        from_rlbench(bad, ["front", "wrist"])
    other = [dict(m) for m in misc]
    other[0]["wrist_camera_intrinsics"] = pyrep_intrinsics((64, 48), 60.0)
    with pytest.raises(ValueError, match="cannot read the image size from the RLBench intrinsics"):
        from_rlbench(other, ["front", "wrist"])
    with pytest.raises(ValueError, match="pixel_center must be one of"):
        from_rlbench(misc, ["front"], pixel_center="corner")


# =================================================================== DROID
# Public DROID calibration (droid-dataset/droid, droid/calibration/calibration_info.json):
# [x, y, z, rx, ry, rz] cam2base poses of the left and right lenses of ZED stereo cameras.
DROID_CALIBRATION = {
    "26405488_left": [0.1113325872574514, 0.8207481722451926, 0.04550905451430457,
                      -1.64633974845365, -0.17857016318886476, -2.937663676632542],
    "26405488_right": [-0.009417838799177, 0.7972668750161092, 0.0693151223699266,
                       -1.6473025257925253, -0.18917295438381165, -2.942218897492042],
    "29838012_left": [0.41548840480128696, 0.4775470950869088, 0.4114322255308952,
                      -2.2160410202605263, -0.02257694787387754, -2.963723863071196],
    "29838012_right": [0.294022371612491, 0.45672117609819446, 0.4111009411005134,
                       -2.2079948175639927, -0.01940119744356439, -2.959776211707233],
    "23404442_left": [0.25955495037528126, -0.5001018266363574, 0.436881899751338,
                      -2.2773456296459424, 0.3361897716248827, -0.5369007045203406],
    "23404442_right": [0.3520388119867355, -0.5577297192334658, 0.4018245547798702,
                       -2.279806362246719, 0.34639742666205775, -0.5475215836690435],
}


@FEW
@given(rig=rigs())
def test_droid_euler_round_trip(rig):
    e = to_droid(rig)
    assert e.shape == rig.extrinsics.shape[:-2] + (6,)
    np.testing.assert_array_equal(e[..., :3], rig.extrinsics[..., :3, 3])
    back = from_droid(e, rig.intrinsics, rig.height, rig.width)
    np.testing.assert_allclose(back.extrinsics, rig.extrinsics, atol=1e-12)
    np.testing.assert_allclose(to_droid(back), e, atol=1e-9)


def test_droid_euler_is_extrinsic_xyz():
    e = np.array([[0.1, 0.2, 0.3, 0.4, -0.5, 2.0]])
    rig = from_droid(e, np.array([[[500.0, 0, 639.5], [0, 500.0, 359.5], [0, 0, 1]]]), 720, 1280)
    np.testing.assert_allclose(rig.extrinsics[0, :3, :3], Rz(2.0) @ Ry(-0.5) @ Rx(0.4), atol=1e-15)
    np.testing.assert_array_equal(rig.centers[0], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("serial", ["26405488", "29838012", "23404442"])
def test_droid_real_calibration_is_cam2base_with_opencv_axes(serial):
    """The stereo baseline of a real DROID ZED 2 calibration lies along the left lens's
    camera +x axis (OpenCV: x right), 12 cm long, and camera y points down: only the
    cam2base reading with extrinsic "xyz" Euler angles and OpenCV axes gives that."""
    e = np.array([DROID_CALIBRATION[f"{serial}_left"], DROID_CALIBRATION[f"{serial}_right"]])
    K = np.repeat(np.array([[[530.0, 0, 639.5], [0, 530.0, 359.5], [0, 0, 1]]]), 2, axis=0)
    rig = from_droid(e, K, 720, 1280)
    left, right = rig.extrinsics
    b = left[:3, :3].T @ (right[:3, 3] - left[:3, 3])  # baseline in the left camera frame
    assert 0.11 < b[0] < 0.13 and abs(b[1]) < 0.006 and abs(b[2]) < 0.006
    assert left[2, 1] < -0.7  # camera +y (image down) points down in the robot base frame
    # intrinsic "XYZ" angles put the baseline further off the x axis (by 2x to 30x)
    R_intrinsic = actimg.euler_to_matrix(e[0, 3:], "XYZ")
    b2 = R_intrinsic.T @ (right[:3, 3] - left[:3, 3])
    assert np.abs(b2[1:]).max() > 2 * np.abs(b[1:]).max()


def test_droid_errors():
    K = np.array([[[500.0, 0, 639.5], [0, 500.0, 359.5], [0, 0, 1]]])
    with pytest.raises(ValueError, match=r"extrinsics must have shape \(\.\.\., 6\)"):
        from_droid(np.zeros((1, 7)), K, 720, 1280)
    with pytest.raises(ValueError, match="extrinsics must have 2 or 3 dimensions"):
        from_droid(np.zeros(6), K, 720, 1280)
    with pytest.raises(ValueError, match="intrinsics has V=1 views but extrinsics has V=2"):
        from_droid(np.zeros((2, 6)), K, 720, 1280)
    with pytest.raises(ValueError, match="extrinsics must be finite"):
        from_droid(np.full((1, 6), np.inf), K, 720, 1280)
    with pytest.raises(TypeError, match="rig must be an actimg.CameraRig"):
        to_droid(np.zeros((1, 6)))


# =============================================================== robosuite
def robosuite_matrices(gl, fovy, height, width):
    """robosuite's camera_utils on MuJoCo poses: K with (W / 2, H / 2), axis-corrected pose."""
    f = 0.5 * height / np.tan(fovy * np.pi / 360)
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
    correction = np.array([[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, -1.0, 0], [0, 0, 0, 1.0]])
    return K, gl @ correction


@FEW
@given(rig=rigs(), fovy=st.floats(20.0, 100.0))
def test_robosuite_matches_mujoco_renderer_intrinsics(rig, fovy):
    V = rig.n_views
    K, E = robosuite_matrices(to_opengl(rig), fovy, rig.height, rig.width)
    out = from_robosuite(np.repeat(K[None], V, axis=0), E, rig.height, rig.width)
    np.testing.assert_array_equal(out.extrinsics, rig.extrinsics)
    np.testing.assert_allclose(out.intrinsics, intrinsics_from_fovy(np.full(V, fovy), rig.height, rig.width),
                               rtol=1e-14)
    raw = from_robosuite(np.repeat(K[None], V, axis=0), to_opengl(rig), rig.height, rig.width,
                         pixel_center="integer", axes="opengl")
    np.testing.assert_array_equal(raw.extrinsics, rig.extrinsics)
    np.testing.assert_allclose(raw.intrinsics[..., :2, 2], out.intrinsics[..., :2, 2] + 0.5)


def test_robosuite_errors(rig):
    K, E = robosuite_matrices(to_opengl(rig), 45.0, H, W)
    Ks = np.repeat(K[None], 2, axis=0)
    with pytest.raises(ValueError, match="axes must be one of"):
        from_robosuite(Ks, E, H, W, axes="blender")
    with pytest.raises(ValueError, match="pixel_center must be one of"):
        from_robosuite(Ks, E, H, W, pixel_center=0.5)
    with pytest.raises(ValueError, match=r"extrinsics \(robosuite cam2world, opencv axes\) of view 0 .*reflection"):
        from_robosuite(Ks, E @ np.diag([1.0, -1.0, 1.0, 1.0]), H, W)
    with pytest.raises(ValueError, match="intrinsics has V=2 views but extrinsics has V=1"):
        from_robosuite(Ks, E[:1], H, W)


# =============================================================== rig files
COMBOS = list(itertools.product(cameras.AXES, cameras.EXTRINSICS, cameras.PIXEL_CENTERS))


@pytest.mark.parametrize("axes,extrinsics,pixel_center", COMBOS)
@settings(max_examples=12, deadline=None)
@given(rig=rigs(per_frame=st.booleans()))
def test_save_load_round_trip_is_exact(tmp_path_factory, axes, extrinsics, pixel_center, rig):
    path = tmp_path_factory.mktemp("rig") / "rig.json"
    save_rig(rig, path, axes=axes, extrinsics=extrinsics, pixel_center=pixel_center)
    doc = json.loads(path.read_text())
    assert doc["conventions"] == {"axes": axes, "extrinsics": extrinsics, "pixel_center": pixel_center,
                                  "units": "m"}
    assert doc["static"] is rig.is_static and doc["n_frames"] == rig.n_frames and doc["n_views"] == rig.n_views
    back = load_rig(path)
    assert back.intrinsics.shape == rig.intrinsics.shape and back.extrinsics.shape == rig.extrinsics.shape
    np.testing.assert_array_equal(back.intrinsics, rig.intrinsics)
    np.testing.assert_array_equal(back.extrinsics, rig.extrinsics)
    assert (back.height, back.width) == (rig.height, rig.width)
    # a plain float reader (another tool) gets the conventions' values to within rounding
    K = np.array(doc["intrinsics"], dtype=float)
    np.testing.assert_allclose(K[..., :2, 2], rig.intrinsics[..., :2, 2] + (0.5 if pixel_center == "half" else 0.0))
    E = np.array(doc["extrinsics"], dtype=float)
    E_gl = to_opengl(rig) if axes == "opengl" else rig.extrinsics
    np.testing.assert_allclose(E, np.linalg.inv(E_gl) if extrinsics == "world2cam" else E_gl, atol=1e-12)


@pytest.mark.parametrize("axes,extrinsics,pixel_center", COMBOS[::3])
@settings(max_examples=6, deadline=None)
@given(rig=rigs(per_frame=st.booleans()))
def test_save_load_round_trip_yaml(tmp_path_factory, axes, extrinsics, pixel_center, rig):
    yaml = pytest.importorskip("yaml")
    path = tmp_path_factory.mktemp("rig") / "rig.yaml"
    save_rig(rig, path, axes=axes, extrinsics=extrinsics, pixel_center=pixel_center)
    assert yaml.safe_load(path.read_text())["conventions"]["axes"] == axes  # plain YAML readers work
    back = load_rig(path)
    np.testing.assert_array_equal(back.intrinsics, rig.intrinsics)
    np.testing.assert_array_equal(back.extrinsics, rig.extrinsics)


def test_default_file_is_opencv_cam2world_and_bit_exact(tmp_path, rig):
    path = tmp_path / "rig.json"
    save_rig(rig, path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "actimg.camera_rig" and doc["version"] == 1
    assert doc["conventions"] == {"axes": "opencv", "extrinsics": "cam2world", "pixel_center": "integer",
                                  "units": "m"}
    back = load_rig(str(path))
    assert back.intrinsics.tobytes() == rig.intrinsics.tobytes()
    assert back.extrinsics.tobytes() == rig.extrinsics.tobytes()


@pytest.mark.parametrize("axes,extrinsics,pixel_center", COMBOS)
def test_round_trip_of_hard_values(tmp_path, axes, extrinsics, pixel_center):
    """Values whose converted form needs more digits than a float repr: cy + 0.5 crossing
    a binade (512.00006103515625 reads back as 511.50006103515625 only with all its
    digits), a subnormal cx (cx + 0.5 is not a float), a camera centre with exact zeros
    and tiny components (world2cam translation)."""
    K = np.array([[[1406.7, 0.0, 5e-324], [0.0, 1406.7, 511.50006103515625], [0.0, 0.0, 1.0]]] * 2)
    E = actimg.look_at(np.array([[0.0, -1.0, 1e-300], [0.3, 0.1, 0.7]]), np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0]]))
    rig = CameraRig(K, E, 1024, 1024)
    path = tmp_path / "rig.json"
    save_rig(rig, path, axes=axes, extrinsics=extrinsics, pixel_center=pixel_center)
    back = load_rig(path)
    np.testing.assert_array_equal(back.intrinsics, rig.intrinsics)
    np.testing.assert_array_equal(back.extrinsics, rig.extrinsics)


def foreign_doc(rig, **conv):
    """A rig file as another tool would write it: OpenGL cam2world poses (NeRF style),
    half-pixel principal point, millimetres, no format/version fields."""
    gl = to_opengl(rig)
    gl_mm = gl.copy()
    gl_mm[..., :3, 3] *= 1000.0
    K = rig.intrinsics.copy()
    K[..., :2, 2] += 0.5
    return {"conventions": {"axes": "opengl", "extrinsics": "cam2world", "pixel_center": "half", "units": "mm",
                            **conv},
            "height": rig.height, "width": rig.width, "n_views": rig.n_views, "n_frames": None, "static": True,
            "intrinsics": K.tolist(), "extrinsics": gl_mm.tolist()}


def test_load_converts_foreign_conventions(tmp_path, rig):
    path = tmp_path / "nerf.json"
    path.write_text(json.dumps(foreign_doc(rig)))
    back = load_rig(path)
    np.testing.assert_allclose(back.extrinsics, rig.extrinsics, atol=1e-12)
    np.testing.assert_allclose(back.intrinsics, rig.intrinsics, atol=1e-12)
    # world2cam with (3, 4) matrices, COLMAP/VGGT style, in centimetres
    doc = foreign_doc(rig, axes="opencv", extrinsics="world2cam", pixel_center="integer", units="cm")
    w2c = rig.world2cam[:, :3, :].copy()
    w2c[..., 3] *= 100.0
    doc.update(intrinsics=rig.intrinsics.tolist(), extrinsics=w2c.tolist())
    path.write_text(json.dumps(doc))
    back = load_rig(path)
    np.testing.assert_allclose(back.extrinsics, rig.extrinsics, atol=1e-12)


def test_load_reads_yaml_written_by_others(tmp_path, rig):
    pytest.importorskip("yaml")
    doc = foreign_doc(rig, units="m")
    doc["extrinsics"] = to_opengl(rig).tolist()
    lines = json.dumps(doc)  # JSON is YAML; add a YAML 1.1 dot-less exponent too
    path = tmp_path / "rig.yml"
    path.write_text(lines.replace('"static": true', '"static": true, "note": 1e-05'))
    back = load_rig(path)
    np.testing.assert_allclose(back.extrinsics, rig.extrinsics, atol=1e-15)


def write(tmp_path, doc, name="rig.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.parametrize("field", ["axes", "extrinsics", "pixel_center", "units"])
def test_load_refuses_missing_convention(tmp_path, rig, field):
    doc = foreign_doc(rig)
    del doc["conventions"][field]
    with pytest.raises(ValueError, match=f"rig file lacks the field conventions.'{field}'"):
        load_rig(write(tmp_path, doc))


@pytest.mark.parametrize("field,value", [("axes", "blender"), ("extrinsics", "cam2cam"), ("pixel_center", "corner"),
                                         ("units", "inch")])
def test_load_refuses_unknown_convention(tmp_path, rig, field, value):
    doc = foreign_doc(rig, **{field: value})
    with pytest.raises(ValueError, match=f"conventions.{field} must be one of .* got '{value}'"):
        load_rig(write(tmp_path, doc))


@pytest.mark.parametrize("field", ["conventions", "height", "width", "n_views", "n_frames", "static", "intrinsics",
                                   "extrinsics"])
def test_load_refuses_missing_field(tmp_path, rig, field):
    doc = foreign_doc(rig)
    del doc[field]
    with pytest.raises(ValueError, match=f"lacks the field '{field}'"):
        load_rig(write(tmp_path, doc))


def test_load_refuses_inconsistent_files(tmp_path, rig):
    doc = foreign_doc(rig)
    cases = [
        ({"static": False}, ValueError, "field 'static' is False but 'n_frames' is None"),
        ({"n_frames": 3}, ValueError, "field 'static' is True but 'n_frames' is 3"),
        ({"n_views": 3}, ValueError, r"field 'intrinsics' must have shape \(3, 3, 3\) \(n_views=3"),
        ({"height": 0}, ValueError, "height must be a positive integer"),
        ({"n_views": "2"}, ValueError, "field 'n_views' must be a positive integer"),
        ({"n_frames": 0, "static": False}, ValueError, "field 'n_frames' must be a positive integer or null"),
        ({"static": "yes"}, TypeError, "field 'static' must be true or false"),
        ({"conventions": "opencv"}, TypeError, "field 'conventions' must be a mapping"),
        ({"format": "nerf"}, ValueError, "field 'format' must be 'actimg.camera_rig'"),
        ({"version": 2}, ValueError, "field 'version' must be 1"),
        ({"intrinsics": [[[1, 0, 0], [0, 1, 0]]] * 2}, ValueError, r"field 'intrinsics' must have shape"),
        ({"extrinsics": np.zeros((2, 2, 4, 4)).tolist()}, ValueError, r"field 'extrinsics' must have shape \(2, 4, 4\)"),
        ({"intrinsics": [[[1, 0, 0], [0, 1], [0, 0, 1]]] * 2}, ValueError, "field 'intrinsics' is ragged"),
        ({"intrinsics": [[[1, 0, "x"], [0, 1, 0], [0, 0, 1]]] * 2}, TypeError, "field 'intrinsics' must hold only numbers"),
        ({"intrinsics": [[[1, 0, True], [0, 1, 0], [0, 0, 1]]] * 2}, TypeError, "must hold only numbers, found True"),
        ({"intrinsics": []}, ValueError, "field 'intrinsics' has an empty list"),
    ]
    for change, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            load_rig(write(tmp_path, {**doc, **change}))
    per_frame = {**doc, "n_frames": 3, "static": False}
    with pytest.raises(ValueError, match="neither 'intrinsics' nor 'extrinsics' has a frame axis"):
        load_rig(write(tmp_path, per_frame))
    bad_t = {**per_frame, "intrinsics": np.repeat(np.array(doc["intrinsics"])[:, None], 2, axis=1).tolist()}
    with pytest.raises(ValueError, match=r"field 'intrinsics' must have shape \(2, 3, 3\) or \(2, 3, 3, 3\)"):
        load_rig(write(tmp_path, bad_t))


def test_load_refuses_non_rigid_or_invalid_matrices(tmp_path, rig):
    doc = foreign_doc(rig)
    E = np.array(doc["extrinsics"])
    E[1, :3, :3] *= 1.01
    with pytest.raises(ValueError, match=r"field 'extrinsics' \(cam2world, opengl axes, as written\) of view 1 "
                                         r"has a rotation block that is not a rotation"):
        load_rig(write(tmp_path, {**doc, "extrinsics": E.tolist()}))
    E = np.array(doc["extrinsics"])
    E[0, 3, 3] = 2.0
    with pytest.raises(ValueError, match=r"of view 0 must have last row \[0, 0, 0, 1\]"):
        load_rig(write(tmp_path, {**doc, "extrinsics": E.tolist()}))
    K = np.array(doc["intrinsics"])
    K[0, 1, 1] *= -1
    with pytest.raises(ValueError, match="rig.json': intrinsics of view 0 has fy = .* <= 0"):
        load_rig(write(tmp_path, {**doc, "intrinsics": K.tolist()}))


def test_load_refuses_bad_text_and_paths(tmp_path, rig):
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_rig(write(tmp_path, "{not json"))
    text = json.dumps(foreign_doc(rig)).replace("1.0]", "NaN]", 1)
    with pytest.raises(ValueError, match="finite numbers, found NaN"):
        load_rig(write(tmp_path, text))
    with pytest.raises(TypeError, match="a rig file holds a mapping"):
        load_rig(write(tmp_path, "[1, 2]"))
    with pytest.raises(ValueError, match="path must end in .json, .yaml or .yml"):
        load_rig(tmp_path / "rig.txt")
    with pytest.raises(ValueError, match="path must end in .json, .yaml or .yml"):
        save_rig(rig, tmp_path / "rig.npz")
    with pytest.raises(ValueError, match="axes must be one of"):
        save_rig(rig, tmp_path / "rig.json", axes="GL")
    with pytest.raises(ValueError, match="extrinsics must be one of"):
        save_rig(rig, tmp_path / "rig.json", extrinsics="w2c")
    with pytest.raises(ValueError, match="pixel_center must be one of"):
        save_rig(rig, tmp_path / "rig.json", pixel_center="center")
    with pytest.raises(TypeError, match="rig must be an actimg.CameraRig"):
        save_rig({"K": 1}, tmp_path / "rig.json")


def test_yaml_needs_pyyaml(tmp_path, rig, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_yaml(name, *args, **kwargs):
        if name == "yaml":
            raise ImportError("no yaml here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_yaml)
    with pytest.raises(ImportError, match="YAML rig files need PyYAML"):
        save_rig(rig, tmp_path / "rig.yaml")
    save_rig(rig, tmp_path / "rig.json")  # JSON needs nothing


# ============================================================ Plücker rays
small_rigs = rigs(sizes=image_sizes(6, 40), n_views=st.integers(1, 3), n_frames=st.integers(1, 3))


@FEW
@given(rig=small_rigs, pixel_center=st.sampled_from(cameras.PIXEL_CENTERS))
def test_plucker_rays_are_unit_directions_with_moments(rig, pixel_center):
    P = plucker_rays(rig, pixel_center, dtype=np.float64)
    lead = (rig.n_views,) if rig.is_static else (rig.n_views, rig.n_frames)
    assert P.shape == lead + (rig.height, rig.width, 6) and P.dtype == np.float64
    d, m = P[..., :3], P[..., 3:]
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    o = rig.centers.reshape(lead + (1, 1, 3))
    np.testing.assert_allclose(m, np.cross(np.broadcast_to(o, d.shape), d), atol=1e-12)
    np.testing.assert_allclose(np.einsum("...i,...i", m, d), 0.0, atol=1e-12)  # Plücker constraint
    # rays look forward: the camera z axis has a positive component along every ray
    _, E = rig.broadcast(rig.n_frames)
    z = E[..., :3, 2].reshape(lead + (1, 1, 3))
    assert (np.einsum("...i,...i", d, z) > 0).all()


@FEW
@given(rig=small_rigs, pixel_center=st.sampled_from(cameras.PIXEL_CENTERS), depth=st.floats(0.1, 5.0))
def test_plucker_ray_passes_through_unprojected_pixel(rig, pixel_center, depth):
    P = plucker_rays(rig, pixel_center, dtype=np.float64)
    h = 0.5 if pixel_center == "half" else 0.0
    rows, cols = np.mgrid[0:rig.height, 0:rig.width]
    px = np.stack([cols + h, rows + h], axis=-1).astype(float)
    lead = (rig.n_views,) if rig.is_static else (rig.n_views, rig.n_frames)
    pixels = np.broadcast_to(px, lead + px.shape)
    X = rig.unproject(pixels, np.full(pixels.shape[:-1], depth))
    d, m = P[..., :3], P[..., 3:]
    # X lies on the line: X x d equals the moment, and X - o is parallel to d
    np.testing.assert_allclose(np.cross(X, d), m, atol=1e-9)
    o = rig.centers.reshape(lead + (1, 1, 3))
    v = (X - o) / np.linalg.norm(X - o, axis=-1, keepdims=True)
    np.testing.assert_allclose(v, d, atol=1e-9)


@FEW
@given(rig=small_rigs)
def test_plucker_reproduces_published_formula(rig):
    """Published conditioning: x = (col + 0.5 - cx) / fx, y = (row + 0.5 - cy) / fy,
    d = normalize(R [x, y, 1]), m = o x d, channels [d, m]."""
    P = plucker_rays(rig)
    assert P.dtype == np.float32
    K, E = rig.broadcast(rig.n_frames)
    Pb = P if not rig.is_static else P[:, None]
    for v in range(K.shape[0]):
        for t in range(K.shape[1]):
            k, e = K[v, t], E[v, t]
            for row in range(0, rig.height, 5):
                for col in range(0, rig.width, 7):
                    x = (col + 0.5 - k[0, 2]) / k[0, 0]
                    y = (row + 0.5 - k[1, 2]) / k[1, 1]
                    dw = e[:3, :3] @ np.array([x, y, 1.0])
                    dw /= np.linalg.norm(dw)
                    ref = np.concatenate([dw, np.cross(e[:3, 3], dw)])
                    np.testing.assert_allclose(Pb[v, t, row, col], ref, atol=2e-6)


def test_plucker_skew_and_errors(rig):
    K = rig.intrinsics.copy()
    K[:, 0, 1] = 5.0
    r = CameraRig(K, rig.extrinsics, H, W)
    P = plucker_rays(r, "integer", dtype=np.float64)
    pts = workspace_points(4)
    pix, _ = r.project(pts)
    for v in range(2):
        for (u, vv) in pix[v]:
            col, row = int(round(u)), int(round(vv))
            d = P[v, row, col, :3]
            X = r.unproject(np.array([[[col, row]]], float).repeat(2, 0), np.ones((2, 1)))[v, 0]
            np.testing.assert_allclose(d, (X - r.centers[v]) / np.linalg.norm(X - r.centers[v]), atol=1e-12)
    with pytest.raises(ValueError, match="pixel_center must be one of"):
        plucker_rays(rig, "center")
    with pytest.raises(TypeError, match="rig must be an actimg.CameraRig"):
        plucker_rays(np.eye(3))


def test_import_actimg_does_not_import_mujoco():
    import subprocess
    import sys

    code = "import sys, actimg, actimg.cameras; print('mujoco' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
