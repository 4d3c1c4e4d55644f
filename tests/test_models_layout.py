"""actimg.models layouts (temporal and spatial), conversions and backbone rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg.models import (BACKBONES, SpatialLayout, Task, TemporalLayout, check_backbone, from_channels_first,
                           from_model_range, latent_mask, to_channels_first, to_model_range, to_uint8)

DTYPES = st.sampled_from([np.uint8, np.float32, np.float16])


def _frames(rng, shape, dtype):
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.random(shape).astype(dtype)


@st.composite
def temporal_cases(draw):
    V = draw(st.integers(1, 3))
    T = draw(st.sampled_from([1, 5, 9]))
    actions = draw(st.booleans())
    To = draw(st.sampled_from([1, T])) if actions else T
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    return TemporalLayout(V, T, To, actions), H, W, draw(DTYPES), np.random.default_rng(seed)


@settings(max_examples=60, deadline=None)
@given(case=temporal_cases())
def test_temporal_round_trip_and_masks_follow(case):
    lay, H, W, dtype, rng = case
    V, T, To = lay.n_views, lay.n_frames, lay.observation_frames
    obs = _frames(rng, (V, To, H, W, 3), dtype)
    act = _frames(rng, (V, T, H, W, 3), dtype) if lay.actions else None
    frames = lay.build(obs, act)
    assert frames.shape == (lay.total_frames, H, W, 3) and frames.dtype == np.dtype(dtype)
    o2, a2 = lay.split(frames)
    np.testing.assert_array_equal(o2, obs)
    if lay.actions:
        np.testing.assert_array_equal(a2, act)
    else:
        assert a2 is None
    # segments name the frames: observation segment v holds obs[v], action segment v act[v]
    for seg in lay.segments:
        src = obs if seg.kind == "video" else act
        np.testing.assert_array_equal(frames[seg.frames], src[seg.view])
    # the frame mask follows the layout: lay the masks out as frames and compare
    og = rng.random((V, To)) < 0.5
    ag = rng.random((V, T)) < 0.5 if lay.actions else None
    as_frames = lay.build(np.broadcast_to(og[..., None, None, None], (V, To, 1, 1, 3)).astype(np.uint8),
                          None if ag is None else np.broadcast_to(ag[..., None, None, None], (V, T, 1, 1, 3))
                          .astype(np.uint8))
    np.testing.assert_array_equal(lay.frame_mask(og, ag), as_frames[:, 0, 0, 0].astype(bool))
    # latent mask: each segment's frame mask at latent resolution, concatenated in order
    lm = lay.latent_mask(og, ag, 4, strict=False)
    fm = lay.frame_mask(og, ag)
    lsegs = lay.latent_segments(4)
    assert lm.shape == (lay.total_latent_frames(4),)
    for seg, lseg in zip(lay.segments, lsegs):
        np.testing.assert_array_equal(lm[lseg.frames], latent_mask(fm[seg.frames], 4))


@st.composite
def spatial_cases(draw):
    V = draw(st.integers(1, 3))
    T = draw(st.sampled_from([1, 5, 9]))
    lay = SpatialLayout(V, T, draw(st.booleans()), draw(st.sampled_from(["height", "time"])))
    return lay, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(DTYPES), \
        np.random.default_rng(draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None)
@given(case=spatial_cases())
def test_spatial_round_trip_and_masks_follow(case):
    lay, H, W, dtype, rng = case
    V, T = lay.n_views, lay.n_frames
    obs = _frames(rng, (V, T, H, W, 3), dtype)
    act = _frames(rng, (V, T, H, W, 3), dtype) if lay.actions else None
    stream = lay.build(obs, act)
    assert stream.shape == (lay.total_frames,) + lay.frame_size(H, W) + (3,)
    o2, a2 = lay.split(stream)
    np.testing.assert_array_equal(o2, obs)
    if lay.actions:
        np.testing.assert_array_equal(a2, act)
    # tile (r, v) of stream frame n holds view v's frame of that row
    for n in range(lay.total_frames):
        for r in range(lay.rows):
            for v in range(V):
                tile = stream[n, r * H:(r + 1) * H, v * W:(v + 1) * W]
                if lay.stack == "time" and lay.actions:
                    src, t = (obs, n) if n < T else (act, n - T)
                else:
                    src, t = (obs if r == 0 else act), n
                np.testing.assert_array_equal(tile, src[v, t])
    og = rng.random((V, T)) < 0.5
    ag = rng.random((V, T)) < 0.5 if lay.actions else None
    pm = lay.pixel_mask(og, ag, H, W)
    as_frames = lay.build(np.broadcast_to(og[..., None, None, None], (V, T, H, W, 3)).astype(np.uint8),
                          None if ag is None else np.broadcast_to(ag[..., None, None, None], (V, T, H, W, 3))
                          .astype(np.uint8))
    np.testing.assert_array_equal(pm, as_frames[..., 0].astype(bool))
    lt = lay.latent_tile_mask(og, ag, 4, strict=False)
    tm = lay.tile_mask(og, ag)
    if lay.stack == "time" and lay.actions:
        np.testing.assert_array_equal(lt[:lt.shape[0] // 2], latent_mask(tm[:T].transpose(1, 2, 0), 4)
                                      .transpose(2, 0, 1))
    else:
        np.testing.assert_array_equal(lt, latent_mask(tm.transpose(1, 2, 0), 4).transpose(2, 0, 1))


def test_published_sizes():
    lay = TemporalLayout(2, 41)
    assert lay.total_frames == 164 and lay.total_latent_frames(4) == 44
    assert [(s.kind, s.view, s.frames.start) for s in lay.segments] == [
        ("video", 0, 0), ("action", 0, 41), ("video", 1, 82), ("action", 1, 123)]
    one = TemporalLayout(2, 41, observation_frames=1)
    assert one.total_frames == 84 and one.total_latent_frames(4) == 24
    assert TemporalLayout(2, 41, actions=False).total_latent_frames(4) == 22


def test_pack_equals_build_of_task():
    rig, acts = actimg.default_scene(2, 5, 16, 16)
    obs = np.full((2, 16, 16, 3), 9, np.uint8)
    task = Task.image_to_action(rig, obs, acts[0], 5)
    lay = TemporalLayout.for_task(task)
    frames, mask = lay.pack(task)
    assert frames.shape == (12, 16, 16, 3)
    assert np.flatnonzero(mask).tolist() == [0, 1, 6, 7]
    np.testing.assert_array_equal(frames[1], task.actions[0, 0])
    stream, tiles = SpatialLayout.for_task(task).pack(task)
    assert stream.shape == (5, 32, 32, 3) and tiles.shape == (5, 2, 2)
    assert tiles[0].all() and not tiles[1:].any()
    with pytest.raises(ValueError, match="does not fit"):
        TemporalLayout(3, 5).pack(task)


def test_layout_errors():
    with pytest.raises(ValueError, match="observation_frames must be 1 or"):
        TemporalLayout(2, 9, 3)
    with pytest.raises(ValueError, match="n_views must be a positive integer"):
        TemporalLayout(0, 9)
    with pytest.raises(ValueError, match="needs actions=True"):
        TemporalLayout(2, 9, 1, actions=False)
    lay = TemporalLayout(2, 5)
    x = np.zeros((2, 5, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="pass actions"):
        lay.build(x)
    with pytest.raises(TypeError, match="same dtype"):
        lay.build(x, x.astype(np.float32))
    with pytest.raises(ValueError, match="frames must have shape \\(20"):
        lay.split(np.zeros((19, 4, 4, 3)))
    with pytest.raises(ValueError, match="bool \\(V, T\\)"):
        lay.frame_mask(np.ones((2, 5)), np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="no action segments"):
        TemporalLayout(2, 5, actions=False).build(x, x)
    with pytest.raises(ValueError, match="stack must be"):
        SpatialLayout(2, 5, stack="depth")
    with pytest.raises(ValueError, match="frames must have shape"):
        SpatialLayout(2, 5).split(np.zeros((5, 7, 8, 3)))
    with pytest.raises(ValueError, match="3k\\+1 frame rule"):
        lay.latent_mask(np.ones((2, 5), bool), np.ones((2, 5), bool), 3)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=4, max_size=6), seed=st.integers(0, 2**16))
def test_conversions_round_trip(shape, seed):
    rng = np.random.default_rng(seed)
    u8 = rng.integers(0, 256, shape + [3], dtype=np.uint8)
    m = to_model_range(u8)
    assert m.dtype == np.float32 and m.min() >= -1 and m.max() <= 1
    np.testing.assert_array_equal(from_model_range(m), u8)
    f = rng.random(shape + [3]).astype(np.float32)
    np.testing.assert_allclose(from_model_range(to_model_range(f), np.float32), f, atol=1e-6)
    np.testing.assert_array_equal(to_uint8(f), np.rint(f * 255).astype(np.uint8))
    cf = to_channels_first(u8)
    assert cf.shape == tuple(shape[:-3]) + (3,) + tuple(shape[-3:])
    np.testing.assert_array_equal(from_channels_first(cf), u8)
    np.testing.assert_array_equal(np.moveaxis(u8, -1, -4), cf)


def test_conversion_errors_and_torch():
    with pytest.raises(ValueError, match="already in the model range"):
        to_model_range(np.array([-0.5, 0.5]))
    with pytest.raises(TypeError, match="uint8 or float"):
        to_model_range(np.array([1, 2]))
    with pytest.raises(ValueError, match="finite"):
        from_model_range(np.array([np.nan]))
    with pytest.raises(ValueError, match="must be in \\[-1, 1\\]"):
        from_model_range(np.array([1.5]), clip=False)
    np.testing.assert_array_equal(from_model_range(np.array([1.5, -3.0])), [255, 0])
    with pytest.raises(ValueError, match="use from_model_range"):
        to_uint8(np.array([-0.5, 0.5]))
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.array([np.nan]))
    with pytest.raises(ValueError, match="\\(\\.\\.\\., T, H, W, C\\)"):
        to_channels_first(np.zeros((2, 2, 3)))
    torch = pytest.importorskip("torch")
    x = torch.arange(2 * 3 * 4 * 5 * 3).reshape(2, 3, 4, 5, 3)
    y = to_channels_first(x)
    assert isinstance(y, torch.Tensor) and tuple(y.shape) == (2, 3, 3, 4, 5)
    assert torch.equal(from_channels_first(y), x)


def test_backbone_rules():
    assert check_backbone(41, 512, 512, "wan2.2-5b").size_multiple == 32
    assert check_backbone(41, 480, 832, "wan2.1").size_multiple == 16
    assert BACKBONES["wan2.2-5b"].latent_shape(41, 512, 512) == (48, 11, 32, 32)
    assert BACKBONES["wan2.1"].latent_shape(81, 480, 832) == (16, 21, 60, 104)
    with pytest.raises(ValueError, match="4k\\+1 frames per segment.*use 41 or 45"):
        check_backbone(42, 512, 512)
    with pytest.raises(ValueError, match="height to be a multiple of 32"):
        check_backbone(41, 496, 512, "wan2.2-5b")
    check_backbone(41, 496, 512, "wan2.1")
    with pytest.raises(ValueError, match="width to be a multiple of 16"):
        check_backbone(41, 480, 840, "wan2.1")
    with pytest.raises(ValueError, match="unknown backbone"):
        check_backbone(41, 512, 512, "sora")
    with pytest.raises(ValueError, match="n_frames must be a positive integer"):
        check_backbone(0, 512, 512)
