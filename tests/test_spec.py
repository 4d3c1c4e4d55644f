"""ActionImageSpec: the published defaults, immutability, derived quantities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import actimg
from actimg import ActionImageSpec, CameraRig

PUBLISHED = dict(sigma_fraction=0.05, axis_length=0.1, normal_axis=(1.0, 0.0, 0.0), up_axis=(0.0, 0.0, -1.0),
                 gripper_floor=0.25, gripper_threshold=0.5, euler="xyz", pixel_origin="integer",
                 behind_camera="skip", precision="float32", quantize="round")


def test_paper_defaults_are_the_published_values():
    spec = ActionImageSpec.paper()
    assert dataclasses.asdict(spec) == PUBLISHED
    assert spec == ActionImageSpec()
    assert {f.name for f in dataclasses.fields(ActionImageSpec)} == set(PUBLISHED)


def test_paper_overrides():
    spec = ActionImageSpec.paper(behind_camera="mirror")
    assert spec.behind_camera == "mirror"
    assert dataclasses.asdict(spec) == {**PUBLISHED, "behind_camera": "mirror"}
    assert ActionImageSpec.paper(sigma_fraction=0.04).sigma_fraction == 0.04
    assert ActionImageSpec.paper() is not ActionImageSpec.paper(behind_camera="mirror")


def test_frozen_and_hashable():
    spec = ActionImageSpec.paper()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sigma_fraction = 0.1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.behind_camera = "mirror"  # type: ignore[misc]
    assert spec.sigma_fraction == 0.05
    assert {spec: 1}[ActionImageSpec()] == 1
    assert hash(spec) == hash(ActionImageSpec())
    assert spec != ActionImageSpec(euler="XYZ")


@pytest.mark.parametrize("h,w,s", [(512, 512, 25.6), (480, 640, 24.0), (1024, 128, 6.4), (128, 1024, 6.4),
                                   (256, 256, 12.8), (1, 7, 0.05)])
def test_sigma_px(h, w, s):
    assert ActionImageSpec.paper().sigma_px(h, w) == pytest.approx(s, rel=1e-12)
    assert ActionImageSpec(sigma_fraction=0.1).sigma_px(h, w) == pytest.approx(2 * s, rel=1e-12)


def test_pixel_offset_and_tool_points():
    assert ActionImageSpec().pixel_offset == 0.0
    assert ActionImageSpec(pixel_origin="half").pixel_offset == 0.5
    np.testing.assert_array_equal(ActionImageSpec().tool_points, [[0, 0, 0], [0.1, 0, 0], [0, 0, -0.1]])
    custom = ActionImageSpec(axis_length=0.05, normal_axis=(0.0, 1.0, 0.0), up_axis=(1.0, 0.0, 0.0))
    np.testing.assert_allclose(custom.tool_points, [[0, 0, 0], [0, 0.05, 0], [0.05, 0, 0]])


def _rig():
    c = np.array([0.5, 0.0, 0.2])
    E = actimg.look_at(np.array([c + [1.0, 0.2, 0.5], c + [0.1, 1.0, 0.6]]), c)
    K = np.array([[[150.0, 0, 79.5], [0, 150.0, 63.5], [0, 0, 1]]] * 2)
    return CameraRig(K, E, 128, 160)


def test_default_spec_is_the_paper_spec_in_encode_and_decode():
    rig = _rig()
    a = np.array([[0.5, 0.0, 0.2, 0.3, -0.2, 1.0, 1.0], [0.52, 0.03, 0.18, 2.0, 0.4, -1.0, 0.0]])
    img = actimg.encode(a, rig)
    assert np.array_equal(img, actimg.encode(a, rig, ActionImageSpec.paper()))
    d0, d1 = actimg.decode(img, rig), actimg.decode(img, rig, ActionImageSpec.paper())
    np.testing.assert_array_equal(d0.actions, d1.actions)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_half_pixel_origin_is_a_half_pixel_shift_of_the_principal_point(dtype):
    """pixel_origin='half' evaluates pixel (c, r) at (c + 0.5, r + 0.5): the same image as
    the integer origin with the principal point moved by -0.5 px."""
    rig = _rig()
    K = rig.intrinsics.copy()
    K[:, :2, 2] -= 0.5
    shifted = CameraRig(K, rig.extrinsics, rig.height, rig.width)
    a = np.array([[0.5, 0.0, 0.2, 0.3, -0.2, 1.0, 1.0], [0.52, 0.03, 0.18, 2.0, 0.4, -1.0, 0.0]])
    half = actimg.encode(a, rig, ActionImageSpec(pixel_origin="half"), dtype=dtype)
    assert np.array_equal(half, actimg.encode(a, shifted, dtype=dtype))
    # and decoding with the same spec gives back the actions
    res = actimg.decode(actimg.encode(a, rig, ActionImageSpec(pixel_origin="half")), rig,
                        ActionImageSpec(pixel_origin="half"))
    assert res.valid.all()
    assert np.abs(res.positions - a[:, :3]).max() < 1e-3


def test_gripper_threshold_is_strict():
    rig = _rig()
    a = np.array([[0.5, 0.0, 0.2, 0.0, 0.0, 0.0, 0.5], [0.5, 0.0, 0.2, 0.0, 0.0, 0.0, 0.5000001]])
    img = actimg.encode(a, rig)
    assert img[:, 0, ..., 2].min() == 0       # 0.5 is closed
    assert img[:, 1, ..., 2].min() == 64      # above 0.5 is open: floor round(255 * 0.25)
    custom = actimg.encode(a, rig, ActionImageSpec(gripper_floor=0.1, gripper_threshold=0.4))
    assert custom[:, :, ..., 2].min() == round(255 * np.float32(0.1))
