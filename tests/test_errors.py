"""Every bad input gives a ValueError/TypeError whose message says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import actimg
from actimg import ActionImageSpec, CameraRig
from actimg.testing import WORKSPACE_CENTER

H, W = 96, 128


@pytest.fixture
def K():
    return np.array([[[100.0, 0, 63.5], [0, 100.0, 47.5], [0, 0, 1]]] * 2)


@pytest.fixture
def E():
    c = np.asarray(WORKSPACE_CENTER)
    return actimg.look_at(np.array([c + [1.0, 0.3, 0.5], c + [0.2, 1.0, 0.6]]), c)


@pytest.fixture
def rig(K, E):
    return CameraRig(K, E, H, W)


@pytest.fixture
def moving(K, E):
    return CameraRig(K, np.repeat(E[:, None], 3, axis=1), H, W)


@pytest.fixture
def actions():
    return np.array([[*WORKSPACE_CENTER, 0.1, 0.2, 0.3, 1.0], [0.52, 0.02, 0.21, -0.4, 0.1, 2.0, 0.0]])


@pytest.fixture
def images(rig, actions):
    return actimg.encode(actions, rig)


# ================================================================ CameraRig
def test_rig_wrong_shapes(K, E):
    with pytest.raises(ValueError, match=r"intrinsics must have shape \(\.\.\., 3, 3\)"):
        CameraRig(K[:, :2], E, H, W)
    with pytest.raises(ValueError, match=r"extrinsics must have shape \(\.\.\., 4, 4\)"):
        CameraRig(K, E[:, :3], H, W)
    with pytest.raises(ValueError, match="intrinsics must have 3 or 4 dimensions"):
        CameraRig(K[0], E, H, W)
    with pytest.raises(ValueError, match="extrinsics must have 3 or 4 dimensions"):
        CameraRig(K, E[None, None], H, W)
    with pytest.raises(ValueError, match="empty"):
        CameraRig(K, np.zeros((2, 0, 4, 4)), H, W)
    with pytest.raises(TypeError, match="intrinsics must be numeric"):
        CameraRig("K", E, H, W)
    with pytest.raises(TypeError, match="real"):
        CameraRig(K.astype(complex), E, H, W)


def test_rig_view_and_frame_count_mismatch(K, E):
    with pytest.raises(ValueError, match="intrinsics has V=2 views but extrinsics has V=1"):
        CameraRig(K, E[:1], H, W)
    Kt = np.repeat(K[:, None], 2, axis=1)
    Et = np.repeat(E[:, None], 3, axis=1)
    with pytest.raises(ValueError, match="T=2 frames but extrinsics has T=3"):
        CameraRig(Kt, Et, H, W)


@pytest.mark.parametrize("which,value", [("K", np.nan), ("K", np.inf), ("E", np.nan), ("E", -np.inf)])
def test_rig_non_finite(K, E, which, value):
    if which == "K":
        K = K.copy()
        K[1, 0, 2] = value
        with pytest.raises(ValueError, match=r"intrinsics must be finite; found .* at index \(1, 0, 2\)"):
            CameraRig(K, E, H, W)
    else:
        E = E.copy()
        E[0, 1, 3] = value
        with pytest.raises(ValueError, match=r"extrinsics must be finite; found .* at index \(0, 1, 3\)"):
            CameraRig(K, E, H, W)


@pytest.mark.parametrize("kind", ["scaled", "reflected", "negated", "sheared"])
def test_rig_non_rotation_extrinsics_name_the_view(K, E, kind):
    E = E.copy()
    if kind == "scaled":
        E[1, :3, :3] *= 1.01
        msg = r"extrinsics \(cam2world\) of view 1 has a rotation block that is not a rotation"
    elif kind == "reflected":
        E[1, :3, 0] *= -1  # det -1: a left-handed camera frame
        msg = r"extrinsics \(cam2world\) of view 1 .*reflection \(det -1\)"
    elif kind == "negated":
        E[1, :3, :3] *= -1
        msg = r"view 1 .*reflection \(det -1\)"
    else:
        E[1, 0, 1] += 0.05
        msg = r"view 1 .*not a rotation"
    with pytest.raises(ValueError, match=msg):
        CameraRig(K, E, H, W)


@pytest.mark.parametrize("kind", ["scaled", "reflected"])
def test_rig_non_rotation_extrinsics_name_view_and_frame(K, E, kind):
    Et = np.repeat(E[:, None], 4, axis=1)
    if kind == "scaled":
        Et[1, 2, :3, :3] *= 0.5
    else:
        Et[1, 2, :3, 1] *= -1
    with pytest.raises(ValueError, match=r"extrinsics \(cam2world\) of view 1, frame 2 has a rotation block"):
        CameraRig(K, Et, H, W)


def test_rig_bad_last_row(K, E):
    E = E.copy()
    E[1, 3, 2] = 1.0
    with pytest.raises(ValueError, match=r"extrinsics of view 1 must have last row \[0, 0, 0, 1\]"):
        CameraRig(K, E, H, W)


@pytest.mark.parametrize("j,name,value", [(0, "fx", 0.0), (0, "fx", -100.0), (1, "fy", -100.0), (1, "fy", 0.0)])
def test_rig_non_positive_focal(K, E, j, name, value):
    K = K.copy()
    K[1, j, j] = value
    with pytest.raises(ValueError, match=rf"intrinsics of view 1 has {name} = .* <= 0"):
        CameraRig(K, E, H, W)


def test_rig_non_positive_focal_names_frame(K, E):
    Kt = np.repeat(K[:, None], 3, axis=1)
    Kt[0, 2, 1, 1] = -1.0
    with pytest.raises(ValueError, match=r"intrinsics of view 0, frame 2 has fy"):
        CameraRig(Kt, E, H, W)


@pytest.mark.parametrize("i,j,value", [(1, 0, 2.0), (2, 0, 0.1), (2, 1, -0.1), (2, 2, 2.0), (2, 2, 0.0)])
def test_rig_bad_K_layout(K, E, i, j, value):
    K = K.copy()
    K[0, i, j] = value
    with pytest.raises(ValueError, match=r"intrinsics of view 0 is not a pinhole K \[\[fx, s, cx\], \[0, fy, cy\], \[0, 0, 1\]\]"):
        CameraRig(K, E, H, W)


def test_rig_transposed_K_is_refused(K, E):
    with pytest.raises(ValueError, match="not a pinhole K"):
        CameraRig(np.swapaxes(K, -1, -2), E, H, W)


@pytest.mark.parametrize("h,w", [(0, W), (H, 0), (-1, W), (96.0, W), (H, "128"), (True, W), (H, None)])
def test_rig_bad_height_width(K, E, h, w):
    with pytest.raises((ValueError, TypeError), match="(height|width) must be a positive integer"):
        CameraRig(K, E, h, w)


def test_rig_accepts_numpy_integer_sizes(K, E):
    rig = CameraRig(K, E, np.int64(H), np.uint16(W))
    assert (rig.height, rig.width) == (H, W) and type(rig.height) is int


def test_from_world2cam_errors(K, E):
    with pytest.raises(ValueError, match=r"world2cam must have shape \(\.\.\., 4, 4\) or \(\.\.\., 3, 4\)"):
        CameraRig.from_world2cam(K, E[:, :2], H, W)
    bad = np.linalg.inv(E)
    bad[0, :3, :3] *= 2.0
    with pytest.raises(ValueError, match=r"world2cam rotation\[0\] is not a rotation"):
        CameraRig.from_world2cam(K, bad, H, W)


def test_rig_selection_and_geometry_errors(rig, moving):
    with pytest.raises(ValueError, match="view selection is empty"):
        rig.with_views([])
    with pytest.raises(IndexError):
        rig.with_views(5)
    with pytest.raises(ValueError, match="frame selection is empty"):
        moving.with_frames(slice(3, None))
    with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 3\)"):
        rig.project(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"points must have shape \(T=3, \.\.\., 3\)"):
        moving.project(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="points must be finite"):
        rig.project(np.array([0.0, np.inf, 1.0]))
    pix, depth = rig.project(np.array([0.0, np.nan, 1.0]))  # NaN in, NaN out
    assert np.isnan(pix).all() and np.isnan(depth).all()
    with pytest.raises(ValueError, match=r"pixels must have shape \(V=2, \.\.\., 2\)"):
        rig.rays(np.zeros((3, 5, 2)))
    with pytest.raises(ValueError, match=r"pixels must have shape \(V=2, T=3, \.\.\., 2\)"):
        moving.rays(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"depth must have shape \(2, 5\)"):
        rig.unproject(np.zeros((2, 5, 2)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="rig has T=3 frames but 2 were given"):
        moving.broadcast(2)


@pytest.mark.parametrize("method", ["resized", "center_cropped_resized"])
def test_rig_resize_errors(rig, method):
    f = getattr(rig, method)
    with pytest.raises(ValueError, match=r"scaling must be one of \('corner', 'center'\)"):
        f(64, 64, scaling="centre")
    with pytest.raises(ValueError, match="height must be a positive integer"):
        f(0, 64)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        f(64, 64.5)


# ==================================================================== encode
@pytest.mark.parametrize("shape", [(7,), (2, 6), (2, 8), (1, 2, 7)])
def test_encode_wrong_action_shape(rig, shape):
    with pytest.raises(ValueError, match="actions must have"):
        actimg.encode(np.zeros(shape), rig)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_encode_non_finite_actions(rig, actions, value):
    a = actions.copy()
    a[1, 4] = value
    with pytest.raises(ValueError, match=r"actions must be finite; found .* at index \(1, 4\)"):
        actimg.encode(a, rig)


def test_encode_empty_actions(rig):
    with pytest.raises(ValueError, match=r"actions is empty \(shape \(0, 7\)\)"):
        actimg.encode(np.zeros((0, 7)), rig)


def test_encode_non_numeric_actions(rig):
    with pytest.raises(TypeError, match="actions must be numeric"):
        actimg.encode(np.array([["a"] * 7]), rig)
    with pytest.raises(TypeError, match="actions must be real"):
        actimg.encode(np.zeros((1, 7), complex), rig)


def test_encode_frame_count_mismatch_with_moving_rig(moving, actions):
    with pytest.raises(ValueError, match="actions has T=2 frames but the per-frame rig has T=3"):
        actimg.encode(actions, moving)
    with pytest.raises(ValueError, match="actions has T=2 frames but the per-frame rig has T=3"):
        actimg.project_actions(actions, moving)


@pytest.mark.parametrize("dtype", [np.float64, np.uint16, np.int8, np.float16, bool])
def test_encode_bad_dtype(rig, actions, dtype):
    with pytest.raises(TypeError, match="dtype must be np.uint8 or np.float32"):
        actimg.encode(actions, rig, dtype=dtype)


def test_encode_bad_rig(actions, K, E):
    with pytest.raises(TypeError, match="rig must be a CameraRig"):
        actimg.encode(actions, (K, E))


def test_encode_bad_out(rig, actions):
    shape = (2, 2, H, W, 3)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 2, 96, 128, 3\) and dtype uint8"):
        actimg.encode(actions, rig, out=np.empty((2, 1, H, W, 3), np.uint8))
    with pytest.raises(ValueError, match="out must have shape .* and dtype uint8, got .* float32"):
        actimg.encode(actions, rig, out=np.empty(shape, np.float32))
    with pytest.raises(ValueError, match="dtype float32"):
        actimg.encode(actions, rig, dtype=np.float32, out=np.empty(shape, np.uint8))
    big = np.empty((2, 2, H, W, 6), np.uint8)
    with pytest.raises(ValueError, match="out must be C-contiguous and writeable"):
        actimg.encode(actions, rig, out=big[..., ::2])
    with pytest.raises(ValueError, match="out must be C-contiguous and writeable"):
        actimg.encode(actions, rig, out=np.asfortranarray(np.empty(shape, np.uint8)))
    ro = np.empty(shape, np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be C-contiguous and writeable"):
        actimg.encode(actions, rig, out=ro)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        actimg.encode(actions, rig, out=[[0]])


def test_encode_point_behind_every_camera(rig, actions):
    """A frame whose points are all behind every camera is almost always a convention
    error (world2cam given as cam2world, OpenGL axes): encode refuses it instead of
    drawing nothing. The published 'mirror' behaviour draws it, as published."""
    C = rig.centers  # (V, 3)
    behind = actions.copy()
    # far beyond both cameras, on the side away from the workspace
    behind[1, :3] = np.asarray(WORKSPACE_CENTER) + 4.0 * (C.mean(axis=0) - np.asarray(WORKSPACE_CENTER))
    _, depth = actimg.project_actions(behind, rig)
    assert (depth[:, 1] < 0).all()
    with pytest.raises(ValueError, match="frame 1: P, N and U are behind every camera"):
        actimg.encode(behind, rig)
    mirrored = actimg.encode(behind, rig, ActionImageSpec.paper(behind_camera="mirror"))
    assert mirrored.shape[:2] == (rig.n_views, len(behind))
    # one point behind every camera while the others are visible is drawn where it can be
    one = actions.copy()
    one[1, :3] = np.asarray(WORKSPACE_CENTER) + 4.0 * (C.mean(axis=0) - np.asarray(WORKSPACE_CENTER))
    one[1, 3:6] = 0.0
    _, depth = actimg.project_actions(one, rig)
    if (depth[:, 1] > 0).any():
        actimg.encode(one, rig)
    # OpenGL camera axes (z backward) given as OpenCV: the workspace is behind every camera
    wrong = CameraRig(rig.intrinsics, rig.extrinsics @ np.diag([1.0, -1.0, -1.0, 1.0]), H, W)
    _, depth = actimg.project_actions(actions, wrong)
    assert (depth < 0).all()
    with pytest.raises(ValueError, match="behind every camera.*camera-to-world with OpenCV axes"):
        actimg.encode(actions, wrong)


def test_encode_bad_thread_count_env(rig, actions, monkeypatch):
    for bad in ("0", "-2", "four"):
        monkeypatch.setenv("ACTIMG_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="ACTIMG_NUM_THREADS must be a positive integer"):
            actimg.encode(np.repeat(actions, 4, axis=0), rig)


# ==================================================================== decode
@pytest.mark.parametrize("shape", [(2, H, W, 3), (2, 2, H, W), (2, 2, H, W, 4), (1, 2, 2, H, W, 3)])
def test_decode_wrong_ndim_or_channels(rig, shape):
    with pytest.raises(ValueError, match=r"images must have shape \(V, T, H, W, 3\)"):
        actimg.decode(np.zeros(shape, np.uint8), rig)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int64, np.float16, bool])
def test_decode_wrong_dtype(rig, images, dtype):
    with pytest.raises(TypeError, match=r"images must be uint8 \(0\.\.255\) or float32/float64 \(0\.\.1\)"):
        actimg.decode(images.astype(dtype), rig)


def test_decode_view_size_frame_mismatch(rig, moving, images):
    with pytest.raises(ValueError, match="images has V=1 views but the rig has 2"):
        actimg.decode(images[:1], rig)
    with pytest.raises(ValueError, match=r"images are 96x127 but the rig is for 96x128 .*resized"):
        actimg.decode(images[:, :, :, :-1], rig)
    with pytest.raises(ValueError, match="images are 48x64"):
        actimg.decode(images[:, :, ::2, ::2], rig)
    with pytest.raises(ValueError, match="images has T=2 frames but the per-frame rig has T=3"):
        actimg.decode(images, moving)
    with pytest.raises(ValueError, match="images is empty"):
        actimg.decode(images[:, :0], rig)


def test_decode_bad_rig(images, K, E):
    with pytest.raises(TypeError, match="rig must be a CameraRig"):
        actimg.decode(images, None)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_decode_non_finite_float_images(rig, images, value):
    f = images.astype(np.float32) / 255
    f[1, 0, 5, 7, 2] = value
    with pytest.raises(ValueError, match="images contain NaN or inf"):
        actimg.decode(f, rig)


def test_decode_float_images_in_0_255(rig, images):
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\] \(max is 255\).*uint8"):
        actimg.decode(images.astype(np.float32), rig)
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]"):
        actimg.decode(images.astype(np.float64), rig, method="published")


def test_decode_float_images_in_minus_1_1(rig, images):
    """The video model works on 2 x - 1 in [-1, 1] (spec); feeding its output without
    mapping back to [0, 1] must be refused like 0..255 floats are, not decoded to NaN."""
    f = images.astype(np.float32) / 255
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        actimg.decode(2 * f - 1, rig)


def test_decode_unknown_method_and_options(rig, images):
    with pytest.raises(ValueError, match=r"method must be one of \('actimg', 'published'\), got 'fast'"):
        actimg.decode(images, rig, method="fast")
    with pytest.raises(TypeError, match="unexpected options for method='actimg'"):
        actimg.decode(images, rig, near=0.1)


# =============================================================== triangulate
def test_triangulate_errors(rig, moving):
    pts = np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match=r"points2d must have shape \(\.\.\., 2\)"):
        actimg.triangulate(np.zeros((2, 3, 3)), rig)
    with pytest.raises(ValueError, match="points2d must have 3 dimensions"):
        actimg.triangulate(np.zeros((2, 2)), rig)
    with pytest.raises(ValueError, match="points2d has V=3 views but the rig has 2"):
        actimg.triangulate(np.zeros((3, 3, 2)), rig)
    with pytest.raises(ValueError, match="points2d has T=2 frames but the per-frame rig has T=3"):
        actimg.triangulate(np.zeros((2, 2, 2)), moving)
    with pytest.raises(ValueError, match=r"weights must have shape \(V=2, T=3\)"):
        actimg.triangulate(pts, rig, weights=np.ones((3, 2)))
    with pytest.raises(ValueError, match="weights must be non-negative"):
        actimg.triangulate(pts, rig, weights=np.array([[1.0, -0.1, 1.0], [1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="weights must be finite"):
        actimg.triangulate(pts, rig, weights=np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="points2d must be finite"):
        actimg.triangulate(np.full((2, 3, 2), np.inf), rig)
    with pytest.raises(TypeError, match="rig must be a CameraRig"):
        actimg.triangulate(pts, "rig")


# ============================================================ ActionImageSpec
@pytest.mark.parametrize("kwargs,msg", [
    ({"sigma_fraction": 0.0}, r"sigma_fraction must be in \(0, 1\]"),
    ({"sigma_fraction": -0.05}, "sigma_fraction"),
    ({"sigma_fraction": 1.5}, "sigma_fraction"),
    ({"sigma_fraction": float("nan")}, "sigma_fraction"),
    ({"axis_length": 0.0}, "axis_length must be a positive number of metres"),
    ({"axis_length": -0.1}, "axis_length"),
    ({"axis_length": float("inf")}, "axis_length"),
    ({"normal_axis": (1.0, 1.0, 0.0)}, "normal_axis must be a finite unit 3-vector"),
    ({"normal_axis": (1.0, 0.0)}, "normal_axis must be a finite unit 3-vector"),
    ({"up_axis": (0.0, 0.0, 2.0)}, "up_axis must be a finite unit 3-vector"),
    ({"up_axis": (1.0, 0.0, 0.0)}, "must be orthogonal"),
    ({"gripper_floor": 1.0}, r"gripper_floor must be in \[0, 1\)"),
    ({"gripper_floor": -0.1}, "gripper_floor"),
    ({"gripper_floor": float("nan")}, "gripper_floor"),
    ({"gripper_threshold": 1.5}, r"gripper_threshold must be in \[0, 1\]"),
    ({"gripper_threshold": -0.5}, "gripper_threshold"),
    ({"euler": "xyx_"}, "euler must be a scipy Euler sequence"),
    ({"euler": "xYz"}, "euler must be a scipy Euler sequence"),
    ({"euler": "xxy"}, "euler must be a scipy Euler sequence"),
    ({"euler": "abc"}, "euler must be a scipy Euler sequence"),
    ({"euler": 3}, "euler must be a scipy Euler sequence"),
    ({"pixel_origin": "center"}, "pixel_origin must be 'integer' or 'half'"),
    ({"behind_camera": "draw"}, "behind_camera must be 'skip' or 'mirror'"),
])
def test_spec_invalid_fields(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        ActionImageSpec(**kwargs)
    with pytest.raises(ValueError, match=msg):
        ActionImageSpec.paper(**kwargs)


def test_spec_unknown_field():
    with pytest.raises(TypeError):
        ActionImageSpec.paper(sigma=0.1)


# =============================================================== quaternions
def test_quaternion_order_missing_or_invalid():
    q = np.array([[0.0, 0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="quaternions .* pass quat_order='xyzw' or 'wxyz'"):
        actimg.actions_from_poses(np.zeros((1, 3)), q, 1.0)
    for bad in ("xyz", "wxzy", "XYZW", "scalar_last"):
        with pytest.raises(ValueError, match=r"quaternion order must be 'xyzw' \(scalar last\) or 'wxyz'"):
            actimg.quat_to_matrix(q, bad)
        with pytest.raises(ValueError, match="quaternion order must be"):
            actimg.matrix_to_quat(np.eye(3), bad)
        with pytest.raises(ValueError, match="quaternion order must be"):
            actimg.actions_from_poses(np.zeros((1, 3)), q, 1.0, quat_order=bad)
        with pytest.raises(ValueError, match="quaternion order must be"):
            actimg.poses_from_actions(np.zeros((1, 7)), quat_order=bad)
    with pytest.raises(TypeError):
        actimg.quat_to_matrix(q)  # the order has no default
    with pytest.raises(ValueError, match="quaternions must be non-zero"):
        actimg.quat_to_matrix(np.zeros(4), "xyzw")
    with pytest.raises(ValueError, match=r"quaternions must have shape \(\.\.\., 4\)"):
        actimg.quat_to_matrix(np.zeros(3), "xyzw")


def test_rotation_helpers_errors():
    with pytest.raises(ValueError, match=r"R\[0\] is a reflection"):
        actimg.matrix_to_euler(np.diag([1.0, 1.0, -1.0])[None])
    with pytest.raises(ValueError, match=r"R\[1\] is not a rotation"):
        actimg.matrix_to_quat(np.stack([np.eye(3), 2 * np.eye(3)]), "xyzw")
    with pytest.raises(ValueError, match=r"angles must have shape \(\.\.\., 3\)"):
        actimg.euler_to_matrix(np.zeros(4))
    with pytest.raises(ValueError, match="angles must be finite"):
        actimg.euler_to_matrix(np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"rotations is a reflection|rotations\[0\] is a reflection"):
        actimg.actions_from_poses(np.zeros((1, 3)), np.diag([1.0, -1.0, 1.0])[None], 1.0)
    with pytest.raises(ValueError, match="positions has T=2 but rotations has T=1"):
        actimg.actions_from_poses(np.zeros((2, 3)), np.eye(3)[None], 1.0)
    with pytest.raises(ValueError, match=r"actions must have shape \(\.\.\., 7\)"):
        actimg.action_points(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="actions must be finite"):
        actimg.poses_from_actions(np.full((1, 7), np.nan))
