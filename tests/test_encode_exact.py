"""The numba encoder against the dense numpy oracle (tests/dense_reference.py).

uint8 images must be byte-identical and float32 images within 1e-6 (max abs) of the
published renderer's dense formula, for any camera, size, point position (inside, cut by
the border, outside, behind a camera) and gripper state.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from dense_reference import reference_encode
from hypothesis import event, given, settings
from hypothesis import strategies as st

import actimg
from actimg import ActionImageSpec, CameraRig
from actimg.testing import WORKSPACE_CENTER, image_sizes, reachable_actions, rigs, scenes

SMALL = image_sizes(128, 512)
LARGE = st.sampled_from([(1024, 1024), (768, 1024), (1024, 600), (1000, 1003)])


def reference(actions: np.ndarray, rig: CameraRig, spec: ActionImageSpec, dtype) -> np.ndarray:
    """``(V, T, H, W, 3)`` dense reference images, one view at a time."""
    K, E = rig.broadcast(actions.shape[0])
    return np.stack([reference_encode(actions, K[v], E[v], rig.height, rig.width,
                                      sigma_fraction=spec.sigma_fraction, axis_length=spec.axis_length,
                                      floor=spec.gripper_floor, behind=spec.behind_camera, dtype=dtype)
                     for v in range(rig.n_views)])


def assert_matches(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    if got.dtype == np.uint8:
        if not np.array_equal(got, want):
            diff = np.argwhere(got != want)
            idx = tuple(diff[0])
            raise AssertionError(f"{len(diff)} uint8 values differ, first at {idx}: got {got[idx]}, "
                                 f"reference {want[idx]}")
    else:
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
        assert err.max() <= 1e-6, f"float32 max abs error {err.max():.3g} at {np.unravel_index(err.argmax(), err.shape)}"


@st.composite
def encode_cases(draw, sizes=SMALL, n_views=st.integers(2, 4), n_frames=st.integers(1, 4)):
    """(rig, actions): points inside, cut by the border, far outside, or straddling a camera.

    Per frame one of: near the workspace centre; anywhere in a 1.8 m box (often outside
    the image, sometimes behind a camera); next to a camera centre so that some of P, N,
    U are behind that camera (their mirrored projection may land in the image).
    """
    T = draw(n_frames)
    rig = draw(rigs(n_views=n_views, sizes=sizes, per_frame=st.booleans(), n_frames=T))
    actions = draw(reachable_actions(n_frames=T))
    _, E = rig.broadcast(T)
    for t in range(T):
        mode = draw(st.sampled_from(["inside", "wild", "camera"]))
        if mode == "wild":
            actions[t, :3] = np.asarray(WORKSPACE_CENTER) + [draw(st.floats(-0.9, 0.9)) for _ in range(3)]
        elif mode == "camera":
            k = draw(st.integers(0, rig.n_views - 1))
            # |depth of P| >= 1 mm: a point exactly in the camera plane is ill-posed (the
            # oracle's general 4x4 inverse may give it depth +-1e-17 and draw it anywhere)
            dz = draw(st.floats(0.001, 0.12)) * draw(st.sampled_from([-1.0, 1.0]))
            local = np.array([draw(st.floats(-0.15, 0.15)), draw(st.floats(-0.15, 0.15)), dz])
            actions[t, :3] = E[k, t, :3, 3] + E[k, t, :3, :3] @ local
    return rig, actions


def _check_against_reference(rig, actions, spec, dtype):
    _, depth = actimg.project_actions(actions, rig, spec)
    if spec.behind_camera == "skip" and (depth <= 0).all(axis=(0, 2)).any():
        event("a frame with P, N, U all behind every camera: ValueError")
        with pytest.raises(ValueError, match="behind every camera"):
            actimg.encode(actions, rig, spec, dtype=dtype)
        return
    if (depth <= 0).any():
        event("some point behind some camera")
    got = actimg.encode(actions, rig, spec, dtype=dtype)
    assert_matches(got, reference(actions, rig, spec, dtype))


@settings(max_examples=60)
@given(case=encode_cases(), behind=st.sampled_from(["skip", "mirror"]),
       dtype=st.sampled_from([np.uint8, np.float32]))
def test_encode_matches_dense_reference(case, behind, dtype):
    rig, actions = case
    _check_against_reference(rig, actions, ActionImageSpec.paper(behind_camera=behind), dtype)


@settings(max_examples=6)
@given(case=encode_cases(sizes=LARGE, n_views=st.just(2), n_frames=st.integers(1, 2)),
       behind=st.sampled_from(["skip", "mirror"]), dtype=st.sampled_from([np.uint8, np.float32]))
def test_encode_matches_dense_reference_large(case, behind, dtype):
    rig, actions = case
    _check_against_reference(rig, actions, ActionImageSpec.paper(behind_camera=behind), dtype)


# Other formats and tiny or odd image sizes: the uint8 kernel draws rows in blocks of
# SPAN (16) columns, so widths below, at and around a multiple of 16 matter, as do a B
# disc that covers everything (floor 0), a small one and an empty one (floor near 1).
OTHER_SIZES = st.one_of(st.tuples(st.integers(4, 72), st.integers(4, 72)), image_sizes(100, 300))
OTHER_SPECS = st.builds(
    ActionImageSpec.paper,
    sigma_fraction=st.sampled_from([0.01, 0.03, 0.05, 0.12, 0.4]),
    gripper_floor=st.sampled_from([0.0, 1e-3, 1.0 / 510.0, 0.1, 0.25, 0.7, 0.999]),
    behind_camera=st.sampled_from(["skip", "mirror"]))


@settings(max_examples=60)
@given(case=encode_cases(sizes=OTHER_SIZES), spec=OTHER_SPECS, dtype=st.sampled_from([np.uint8, np.float32]))
def test_encode_matches_dense_reference_for_other_specs_and_sizes(case, spec, dtype):
    rig, actions = case
    _check_against_reference(rig, actions, spec, dtype)


@settings(max_examples=25)
@given(scene=scenes(sizes=SMALL, n_views=st.integers(2, 4), n_frames=st.integers(1, 4)),
       dtype=st.sampled_from([np.uint8, np.float32]))
def test_encode_matches_reference_on_scenes_with_border_cuts(scene, dtype):
    """Scenes with blobs cut by the image border (and gripper open/closed/fractional)."""
    rig, actions = scene
    _check_against_reference(rig, actions, ActionImageSpec.paper(), dtype)


@settings(max_examples=10)
@given(scene=scenes(sizes=SMALL, n_views=st.integers(2, 3), n_frames=st.integers(1, 3)),
       dtype=st.sampled_from([np.uint8, np.float32]))
def test_skip_and_mirror_agree_in_front_of_every_camera(scene, dtype):
    rig, actions = scene
    a = actimg.encode(actions, rig, ActionImageSpec.paper(behind_camera="skip"), dtype=dtype)
    b = actimg.encode(actions, rig, ActionImageSpec.paper(behind_camera="mirror"), dtype=dtype)
    assert np.array_equal(a, b)


def _two_opposite_cameras(H=256, W=320):
    c = np.asarray(WORKSPACE_CENTER)
    eyes = np.array([c + [1.0, 0.0, 0.3], c + [-1.0, 0.05, 0.3]])
    E = actimg.look_at(eyes, c)
    f = 250.0
    K = np.array([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])
    return CameraRig(np.stack([K, K]), E, H, W)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_point_behind_a_camera_skip_draws_nothing_mirror_draws_the_mirror(dtype):
    rig = _two_opposite_cameras()
    E = rig.extrinsics[0]
    # 0.3 m behind camera 0, slightly off its axis: the mirrored projection is in the image
    P = E[:3, 3] + E[:3, :3] @ np.array([0.02, -0.01, -0.3])
    actions = np.array([[*P, 0.0, 0.0, 0.0, 0.0]])
    _, depth = actimg.project_actions(actions, rig)
    assert depth[0, 0, 0] < 0 < depth[1, 0, 0]
    skip = actimg.encode(actions, rig, ActionImageSpec.paper(), dtype=dtype)
    mirror = actimg.encode(actions, rig, ActionImageSpec.paper(behind_camera="mirror"), dtype=dtype)
    assert skip[0, 0, ..., 0].max() == 0  # nothing drawn for P in view 0
    peak = 255 if dtype == np.uint8 else 0.99
    assert mirror[0, 0, ..., 0].max() >= peak  # the mirrored blob is in the image
    assert np.array_equal(skip[1], mirror[1])  # view 1 sees everything in front
    for spec, got in ((ActionImageSpec.paper(), skip), (ActionImageSpec.paper(behind_camera="mirror"), mirror)):
        assert_matches(got, reference(actions, rig, spec, dtype))


@pytest.mark.parametrize("opened", [0.0, 1.0])
def test_gripper_floor_and_channels(opened):
    rig = _two_opposite_cameras()
    actions = np.array([[*WORKSPACE_CENTER, 0.3, -0.2, 1.0, opened]])
    img = actimg.encode(actions, rig)
    assert img.shape == (2, 1, 256, 320, 3) and img.dtype == np.uint8
    B = img[..., 2]
    floor = round(255 * 0.25)
    assert B.min() == (floor if opened else 0)
    assert (img[..., 0].max(), img[..., 1].max(), B.max()) == (255, 255, 255)
    assert img[..., :2].min() == 0


def test_out_buffer_is_reused_and_fully_overwritten():
    rig = _two_opposite_cameras(128, 160)
    a1 = np.array([[*WORKSPACE_CENTER, 0.1, 0.2, 0.3, 1.0], [0.55, 0.05, 0.25, -1.0, 0.5, 2.0, 0.0]])
    a2 = a1[::-1].copy()
    for dtype in (np.uint8, np.float32):
        out = np.full((2, 2, 128, 160, 3), 7, dtype=dtype)
        r1 = actimg.encode(a1, rig, dtype=dtype, out=out)
        assert r1 is out
        assert np.array_equal(out, actimg.encode(a1, rig, dtype=dtype))
        r2 = actimg.encode(a2, rig, dtype=dtype, out=out)
        assert r2 is out
        assert np.array_equal(out, actimg.encode(a2, rig, dtype=dtype))


@settings(max_examples=10)
@given(scene=scenes(sizes=st.just((128, 160)), n_views=st.integers(2, 3), n_frames=st.integers(1, 3)))
def test_inputs_not_modified_and_output_does_not_alias(scene):
    rig, actions = scene
    a0 = actions.copy()
    K0, E0 = rig.intrinsics.copy(), rig.extrinsics.copy()
    img = actimg.encode(actions, rig)
    assert np.array_equal(actions, a0)
    assert np.array_equal(rig.intrinsics, K0) and np.array_equal(rig.extrinsics, E0)
    for arr in (actions, rig.intrinsics, rig.extrinsics):
        assert not np.shares_memory(img, arr)
    assert img.flags.c_contiguous and img.flags.writeable and img.flags.owndata


@settings(max_examples=8)
@given(scene=scenes(sizes=st.just((128, 128)), n_views=st.just(2), per_frame=st.just(False),
                    n_frames=st.integers(2, 5)))
def test_equivalent_action_inputs_give_the_same_images(scene):
    """Lists, float32-exact values, Fortran order and strided views are all accepted."""
    rig, actions = scene
    want = actimg.encode(actions, rig)
    assert np.array_equal(actimg.encode(actions.tolist(), rig), want)
    assert np.array_equal(actimg.encode(np.asfortranarray(actions), rig), want)
    wide = np.zeros((actions.shape[0], 14))
    wide[:, ::2] = actions
    assert np.array_equal(actimg.encode(wide[:, ::2], rig), want)
    # frames are independent: encoding one frame at a time gives the same images
    per = np.concatenate([actimg.encode(actions[t:t + 1], rig) for t in range(actions.shape[0])], axis=1)
    assert np.array_equal(per, want)
    # deterministic
    assert np.array_equal(actimg.encode(actions, rig), want)


@settings(max_examples=40)
@given(u=st.floats(-40.0, 300.0), v=st.floats(-40.0, 300.0), side=st.integers(128, 256),
       aspect=st.sampled_from([1.0, 1.25, 0.8]))
def test_uint8_truncation_radius_in_dense_reference(u, v, side, aspect):
    """In the dense reference a uint8 pixel farther than ``s * sqrt(2 ln 510)`` from a
    Gaussian centre is 0, and one a hair closer is not: the bound the fast encoder uses
    to skip pixels is exact."""
    H, W = side, int(round(side * aspect))
    s = 0.05 * min(H, W)
    f = 200.0
    K = np.array([[f, 0.0, 10.0], [0.0, f, 12.0], [0.0, 0.0, 1.0]])
    # camera at the origin looking along +z; P at depth 1 projects to (u, v)
    P = np.array([(u - K[0, 2]) / f, (v - K[1, 2]) / f, 1.0])
    actions = np.array([[*P, 0.0, 0.0, 0.0, 0.0]])
    img = reference_encode(actions, K, np.eye(4), H, W, dtype=np.uint8)[0, ..., 0]  # R channel = P
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    d2 = (cols - u) ** 2 + (rows - v) ** 2
    r2 = 2.0 * s * s * math.log(510.0)
    assert (img[d2 > r2] == 0).all()
    assert (img[d2 < 2.0 * s * s * (math.log(510.0) - 2e-6)] >= 1).all()
    # and the numba encoder agrees with the reference on this image
    rig = CameraRig(K[None], np.eye(4)[None], H, W)
    assert np.array_equal(actimg.encode(actions, rig)[0, 0, ..., 0], img)
