"""The released model's bfloat16 rendering (``ActionImageSpec(precision="bfloat16")``) and
its 8-bit output path (``quantize="truncate"``).

The numpy emulation in ``actimg.codec.bf16`` must equal, bit for bit, a torch transcription
of the published bfloat16 renderer (``tests/bf16_reference.py``); torch-dependent tests
skip when torch is missing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import ActionImageSpec
from actimg.codec import bf16
from actimg.geometry.camera import _frame_cameras
from actimg.testing import image_sizes, reachable_actions, rigs, scenes

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

BF16 = ActionImageSpec.paper(precision="bfloat16", behind_camera="mirror")
ALL_BF16 = (np.arange(65536, dtype=np.uint32) << 16).view(np.float32)  # every bfloat16 value


def _torch_images(actions, rig):
    from bf16_reference import torch_bf16_render

    Ks, _, C2W = _frame_cameras(rig, actions.shape[0])
    return torch_bf16_render(actions, np.swapaxes(Ks, 0, 1), np.swapaxes(C2W, 0, 1), rig.height, rig.width)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


# ------------------------------------------------------------------- the number format
@needs_torch
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=64))
@settings(max_examples=60, deadline=None)
def test_to_bf16_matches_torch(values):
    x = np.array(values, dtype=np.float32)
    want = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    assert _same(bf16.to_bf16(x), want)


@needs_torch
def test_to_bf16_matches_torch_on_random_bit_patterns():
    bits = np.random.default_rng(0).integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    assert _same(bf16.to_bf16(x), torch.from_numpy(x).to(torch.bfloat16).float().numpy())


@needs_torch
@pytest.mark.parametrize("name", ["exp", "cos", "sin"])
def test_unary_maps_match_torch_on_every_bfloat16_input(name):
    """cos, sin and exp take bfloat16 inputs: checked exhaustively (65536 inputs)."""
    x = ALL_BF16
    want = getattr(torch, name)(torch.from_numpy(x).to(torch.bfloat16)).float().numpy()
    assert _same(bf16._unary(getattr(np, name), x), want)


@needs_torch
@pytest.mark.parametrize("size", [64, 100, 256, 333, 512, 1024])
def test_gaussian_table_matches_torch_on_every_input(size):
    """exp(-d / (2 s^2)) over every bfloat16 d, s = 0.05 * size as the published code computes it."""
    s = size * 0.05
    table = bf16._exp_table(2.0 * s**2)
    d = torch.from_numpy(ALL_BF16).to(torch.bfloat16)
    want = torch.exp(-d / (2 * s**2)).float().numpy()
    assert _same(table, want)


def test_bf16_grid_has_385_values_at_512():
    g = bf16.bf16_grid(512)
    assert np.unique(g).size == 385
    assert np.array_equal(g[:257], np.arange(257))
    assert g[257] == 256 and g[259] == 260 and g[511] == 512
    assert np.all(np.abs(g - np.arange(512)) <= 1)


@needs_torch
def test_bf16_grid_matches_torch_arange():
    for n in (300, 512, 1024, 1500):
        assert np.array_equal(bf16.bf16_grid(n), torch.arange(n, dtype=torch.bfloat16).float().numpy())


# ------------------------------------------------------------ the renderer, bit exact
@needs_torch
@given(scenes(n_views=st.integers(1, 3), sizes=image_sizes(48, 160), n_frames=st.integers(1, 2), per_frame=st.booleans()))
@settings(max_examples=20, deadline=None)
def test_render_is_bit_exact_to_torch_small(scene):
    rig, actions = scene
    got = actimg.encode(actions, rig, BF16, dtype=np.float32)
    want = _torch_images(actions, rig)
    assert got.dtype == np.float32 and got.shape == want.shape
    bad = got != want
    assert not bad.any(), f"{bad.sum()} values differ, first at {np.argwhere(bad)[0]}"


@needs_torch
@given(scenes(n_views=st.integers(1, 2), sizes=st.sampled_from([(300, 520), (512, 512), (264, 1030)]),
              n_frames=1, per_frame=False))
@settings(max_examples=5, deadline=None)
def test_render_is_bit_exact_to_torch_on_rounded_grids(scene):
    """Above 256 px the bfloat16 grid rounds (to even, then to multiples of 4)."""
    rig, actions = scene
    assert np.array_equal(actimg.encode(actions, rig, BF16, dtype=np.float32), _torch_images(actions, rig))


@needs_torch
@given(rigs(n_views=st.integers(1, 3), sizes=image_sizes(48, 128), n_frames=st.integers(1, 3)),
       reachable_actions(n_frames=3, extent=(0.9, 0.9, 0.9)))
@settings(max_examples=20, deadline=None)
def test_mirror_is_bit_exact_to_torch_anywhere(rig, actions):
    """Points anywhere in a 1.8 m box: outside the image, behind cameras (no depth test)."""
    actions = actions[: rig.n_frames] if rig.n_frames else actions
    assert np.array_equal(actimg.encode(actions, rig, BF16, dtype=np.float32), _torch_images(actions, rig))


@needs_torch
@given(scenes(n_views=st.integers(1, 3), sizes=image_sizes(48, 128), n_frames=st.integers(1, 2)))
@settings(max_examples=10, deadline=None)
def test_uint8_paths(scene):
    """round: floor(255 x + 0.5); truncate: the published output path from [-1, 1] in torch."""
    rig, actions = scene
    want = torch.from_numpy(_torch_images(actions, rig)).to(torch.bfloat16)
    got_round = actimg.encode(actions, rig, BF16)
    assert np.array_equal(got_round, np.floor(want.float().numpy() * 255 + 0.5).astype(np.uint8))
    y = want * 2 - 1  # the model's target, bfloat16
    published = ((y.float() + 1) * 127.5).clip(0, 255).numpy().astype(np.uint8)
    got_trunc = actimg.encode(actions, rig, ActionImageSpec.paper(precision="bfloat16", behind_camera="mirror",
                                                                  quantize="truncate"))
    assert np.array_equal(got_trunc, published)


@given(scenes(n_views=st.integers(2, 3), sizes=image_sizes(48, 128), n_frames=st.integers(1, 2)))
@settings(max_examples=10, deadline=None)
def test_skip_equals_mirror_in_front_and_float_truncate(scene):
    rig, actions = scene  # every point in front of every camera
    a = actimg.encode(actions, rig, ActionImageSpec.paper(precision="bfloat16"), dtype=np.float32)
    b = actimg.encode(actions, rig, BF16, dtype=np.float32)
    assert np.array_equal(a, b)
    # float32 precision, truncating 8 bits: floor-like, at most one level below rounding
    f = actimg.encode(actions, rig, dtype=np.float32)
    t = actimg.encode(actions, rig, ActionImageSpec.paper(quantize="truncate")).astype(int)
    r = actimg.encode(actions, rig).astype(int)
    assert np.array_equal(t, np.clip(((f * 2 - 1 + 1) * 127.5), 0, 255).astype(np.uint8))
    assert ((r - t) >= 0).all() and ((r - t) <= 1).all()


def test_point_behind_camera_is_skipped():
    rig, actions = actimg.default_scene(n_views=2, n_frames=1, height=64, width=64)
    eye = np.asarray(rig.extrinsics)[0, :3, 3]
    back = np.asarray(rig.extrinsics)[0, :3, 2]  # view 0's optical axis
    a = actions.copy()
    a[0, :3] = eye - 0.3 * back  # P behind view 0
    a[0, 6] = 0.0
    skip = actimg.encode(a, rig, ActionImageSpec.paper(precision="bfloat16"), dtype=np.float32)
    assert skip[0, 0, :, :, 0].max() == 0.0


def test_blobs_near_the_float_ones():
    """The bfloat16 blobs sit near the float ones (the released targets are not far off)."""
    rig, actions = actimg.default_scene(n_views=2, n_frames=6, height=256, width=256)
    f = actimg.encode(actions, rig, dtype=np.float32)
    b = actimg.encode(actions, rig, ActionImageSpec.paper(precision="bfloat16"), dtype=np.float32)
    assert not np.array_equal(f, b)
    res = actimg.decode(b, rig)
    assert res.valid.all()
    assert np.median(np.linalg.norm(res.positions - actions[:, :3], axis=1)) < 0.01  # metres


# ------------------------------------------------------------------------ decoding
def test_decoder_unbiased_on_truncated_frames():
    """Truncated 8-bit frames (floor instead of round) decode like rounded ones: no shift of
    the blob centres, same accuracy, same gripper."""
    rig, actions = actimg.default_scene(n_views=3, n_frames=8, height=256, width=256)
    f = actimg.encode(actions, rig, dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 0.02, f.shape).astype(np.float32)
    f = np.clip(f + noise, 0, 1)
    rounded = np.floor(f * 255 + 0.5).astype(np.uint8)
    truncated = bf16.to_uint8(f, "truncate", "float32")
    assert 0.3 < (rounded.astype(float) - truncated).mean() < 0.7  # about half a level
    r, t = actimg.decode(rounded, rig), actimg.decode(truncated, rig)
    assert r.valid.all() and t.valid.all()
    shift = (t.detections - r.detections).reshape(-1, 2)
    assert np.abs(shift.mean(axis=0)).max() < 0.01  # pixels
    et = np.linalg.norm(t.positions - actions[:, :3], axis=1)
    er = np.linalg.norm(r.positions - actions[:, :3], axis=1)
    assert np.median(et) < 1.5 * np.median(er) + 1e-5
    assert np.array_equal(t.openness, r.openness)


def test_regrid_restores_integer_grid():
    """A Gaussian drawn on the bfloat16 grid, resampled, is the Gaussian on the integer grid."""
    W = 512
    g = bf16.bf16_grid(W).astype(np.float64)
    u = 383.3
    row = np.exp(-((g - u) ** 2) / (2 * 25.6**2)).astype(np.float32)
    img = np.broadcast_to(row[None, None, None, :, None], (1, 1, 4, W, 3))
    out = bf16.regrid(img)
    want = np.exp(-((np.arange(W) - u) ** 2) / (2 * 25.6**2))
    assert np.abs(out[0, 0, 0, :, 0] - want).max() < 2e-3
    small = np.random.default_rng(0).random((1, 1, 8, 200, 3)).astype(np.float32)
    assert np.array_equal(bf16.regrid(small), small)  # exact grid up to 256 px


def test_bf16_aware_decode_helps():
    """Decoding with the bfloat16 spec (its grid, its rounded cameras) beats the float decoder."""
    rig, actions = actimg.default_scene(n_views=3, n_frames=6, height=512, width=512)
    spec = ActionImageSpec.paper(precision="bfloat16")
    img = actimg.encode(actions, rig, spec)
    plain = actimg.decode(img, rig)
    aware = actimg.decode(img, rig, spec)
    e_plain = np.median(np.linalg.norm(plain.positions - actions[:, :3], axis=1))
    e_aware = np.median(np.linalg.norm(aware.positions - actions[:, :3], axis=1))
    assert aware.valid.all()
    assert e_aware < e_plain
    assert e_aware < 0.005  # metres


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kw, rule", [
    (dict(precision="float16"), "precision must be"),
    (dict(quantize="floor"), "quantize must be"),
    (dict(precision="bfloat16", euler="XYZ"), "euler='xyz'"),
    (dict(precision="bfloat16", pixel_origin="half"), "pixel_origin='integer'"),
])
def test_spec_rejects(kw, rule):
    with pytest.raises(ValueError, match=rule):
        ActionImageSpec.paper(**kw)
