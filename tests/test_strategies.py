"""The hypothesis strategies of actimg.testing keep their documented promises."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import ActionImageSpec, CameraRig
from actimg.testing import (WORKSPACE_CENTER, action_images, image_sizes, reachable_actions, rigs,
                            rotation_matrices, scenes, unit_quaternions)


def test_import_actimg_does_not_import_hypothesis():
    code = "import sys, actimg; assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@given(size=image_sizes())
def test_image_sizes(size):
    H, W = size
    assert isinstance(H, int) and isinstance(W, int)
    assert 128 <= H <= 1024 and 128 <= W <= 1024


@given(size=image_sizes(200, 300))
def test_image_sizes_bounds(size):
    assert all(200 <= s <= 300 for s in size)


def _view_dirs(rig: CameraRig) -> np.ndarray:
    d = rig.centers - np.asarray(WORKSPACE_CENTER)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


@settings(max_examples=60)
@given(rig=rigs())
def test_rigs_look_at_the_workspace(rig):
    assert 2 <= rig.n_views <= 6
    assert 128 <= rig.height <= 1024 and 128 <= rig.width <= 1024
    K, E = rig.broadcast(rig.n_frames)
    c = np.asarray(WORKSPACE_CENTER)
    dist = np.linalg.norm(E[..., :3, 3] - c, axis=-1)
    assert (dist > 0.6 - 0.021).all() and (dist < 1.6 + 0.021).all()
    # the centre is in front of every camera, near the principal point
    pix, depth = rig.project(c if rig.is_static else np.broadcast_to(c, (rig.n_frames, 3)))
    assert (depth > 0.5).all()
    S = min(rig.height, rig.width)
    pp = K[..., :2, 2].reshape(pix.shape)
    assert np.abs(pix - pp).max() < 0.06 * max(rig.height, rig.width) + 1
    # field of view across the shorter side: 40..75 degrees (fx); fy within 3 %
    fov = np.degrees(2 * np.arctan(0.5 * S / K[..., 0, 0]))
    assert (fov > 40 - 1).all() and (fov < 75 + 1).all()
    assert (np.abs(K[..., 1, 1] / K[..., 0, 0] - 1) <= 0.031).all()
    centre = np.array([(rig.width - 1) / 2, (rig.height - 1) / 2])
    assert (np.abs(K[..., :2, 2] - centre) <= 0.021 * np.array([rig.width, rig.height])).all()


@settings(max_examples=30)
@given(rig=rigs(per_frame=True, n_frames=st.integers(2, 5)))
def test_moving_rigs_jitter_a_little(rig):
    assert not rig.is_static and rig.extrinsics.ndim == 4
    T = rig.n_frames
    assert 2 <= T <= 5
    C = rig.extrinsics[..., :3, 3]
    assert np.linalg.norm(C - C[:, :1], axis=-1).max() <= 0.04 + 1e-9
    R = rig.extrinsics[..., :3, :3]
    ang = actimg.rotation_angle_deg(R, R[:, :1])
    assert ang.max() <= 4.0 + 1e-6


@settings(max_examples=30)
@given(rig=rigs(baseline="narrow", per_frame=False))
def test_narrow_baseline(rig):
    d = _view_dirs(rig)
    cos = np.clip(d @ d.T, -1, 1)
    assert np.degrees(np.arccos(cos)).max() <= 15.0 + 1e-6
    assert np.degrees(np.arccos(cos[0, 1])) >= 8.0 - 1e-6


@settings(max_examples=30)
@given(rig=rigs(baseline="wide", per_frame=False))
def test_wide_baseline(rig):
    d = _view_dirs(rig)
    for i in range(rig.n_views - 1):
        ang = math.degrees(math.acos(np.clip(d[i] @ d[i + 1], -1, 1)))
        assert 45.0 <= ang <= 121.0, ang


@settings(max_examples=30)
@given(rig=rigs(baseline="any", per_frame=False))
def test_any_baseline_has_a_separated_pair(rig):
    d = _view_dirs(rig)
    assert math.degrees(math.acos(np.clip(d[0] @ d[1], -1, 1))) >= 28.0


def test_bad_strategy_arguments():
    # refused when the strategy is built, not when it is drawn from
    with pytest.raises(ValueError, match=r"baseline must be one of \('any', 'wide', 'narrow'\)"):
        rigs(baseline="medium")
    with pytest.raises(ValueError, match="openness must be one of"):
        reachable_actions(openness="half")
    with pytest.raises(ValueError, match="baseline must be one of"):
        scenes(baseline="far")
    with pytest.raises(ValueError, match="order must be one of"):
        unit_quaternions("xyz")
    with pytest.raises(ValueError, match="min_side"):
        image_sizes(300, 200)


@given(a=reachable_actions(n_frames=st.integers(1, 6), openness="binary"))
def test_reachable_actions(a):
    assert a.dtype == np.float64 and a.ndim == 2 and a.shape[1] == 7 and 1 <= len(a) <= 6
    assert (np.abs(a[:, :3] - WORKSPACE_CENTER) <= np.array([0.12, 0.12, 0.1]) + 1e-12).all()
    assert set(np.unique(a[:, 6])) <= {0.0, 1.0}
    assert (np.abs(a[:, 3:6]) <= math.pi + 1e-12).all()


@given(a=reachable_actions(openness="uniform"))
def test_reachable_actions_uniform_openness(a):
    assert ((a[:, 6] >= 0) & (a[:, 6] <= 1)).all()


@given(q=unit_quaternions("wxyz"), R=rotation_matrices())
def test_rotation_strategies(q, R):
    assert np.linalg.norm(q) == pytest.approx(1.0)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)


@settings(max_examples=60)
@given(scene=scenes())
def test_scenes_are_visible_and_triangulable(scene):
    rig, a = scene
    T = a.shape[0]
    assert rig.is_static or rig.n_frames == T
    pix, depth = actimg.project_actions(a, rig)
    assert (depth > 0.05).all()
    inside = (pix[..., 0] >= 0) & (pix[..., 0] <= rig.width - 1) & (pix[..., 1] >= 0) & (pix[..., 1] <= rig.height - 1)
    assert (inside.sum(axis=0) >= 2).all()


def test_scenes_produce_border_cuts_often_enough():
    found = []

    @settings(max_examples=40, database=None, derandomize=True)
    @given(scene=scenes(n_views=st.just(3)))
    def check(scene):
        rig, a = scene
        pix, _ = actimg.project_actions(a, rig)
        s = 0.05 * min(rig.height, rig.width)
        found.append(bool(((pix[..., 0] < s) | (pix[..., 0] > rig.width - 1 - s)
                           | (pix[..., 1] < s) | (pix[..., 1] > rig.height - 1 - s)).any()))

    check()
    assert 0.1 <= np.mean(found) <= 0.95


@settings(max_examples=10)
@given(data=action_images(dtype=st.sampled_from([np.uint8, np.float32]), sizes=image_sizes(128, 256),
                          spec=ActionImageSpec(sigma_fraction=0.04)))
def test_action_images(data):
    rig, a, img = data
    assert img.shape == (rig.n_views, a.shape[0], rig.height, rig.width, 3)
    assert img.dtype in (np.uint8, np.float32)
    np.testing.assert_array_equal(img, actimg.encode(a, rig, ActionImageSpec(sigma_fraction=0.04), dtype=img.dtype))
