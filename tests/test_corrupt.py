"""actimg.corrupt: seeded, shape- and dtype-preserving corruptions of action images."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import ActionImageSpec
from actimg import corrupt as C
from actimg.testing import action_images

# ----------------------------------------------------------------------------- data
SMALL = dict(n_views=st.integers(1, 2), n_frames=st.integers(1, 3), min_views=1,
             sizes=st.tuples(st.integers(32, 96), st.integers(32, 96)))


@st.composite
def images_st(draw, dtypes=(np.uint8, np.float32, np.float64)):
    """Small ``(V, T, H, W, 3)`` action images of a random dtype (V <= 2, T <= 3, 32..96 px)."""
    dt = np.dtype(draw(st.sampled_from(dtypes)))
    _, _, img = draw(action_images(dtype=np.uint8 if dt == np.uint8 else np.float32, **SMALL))
    return img.astype(dt)


def scene_images(dtype=np.uint8, V=2, T=3, H=64, W=80):
    """Deterministic images: frames 0 and 2 open (blue floor 0.25), frame 1 closed (T=3)."""
    rig, actions = actimg.default_scene(n_views=V, n_frames=T, height=H, width=W)
    return actimg.encode(actions, rig, dtype=np.uint8 if dtype == np.uint8 else np.float32).astype(dtype)


def to_unit(x):
    return x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)


def mad(a, b):
    """Mean absolute difference in intensity units."""
    return float(np.mean(np.abs(to_unit(a) - to_unit(b))))


LEVEL = 1.0 / 255.0

# name -> (corrupt(images, seed), random?)
CORRUPTIONS = {
    "gaussian_noise": (lambda x, s: C.gaussian_noise(x, 0.08, s), True),
    "blur": (lambda x, s: C.blur(x, 2.0), False),
    "resample": (lambda x, s: C.resample(x, 4), False),
    "jpeg": (lambda x, s: C.jpeg(x, 40), False),
    "ghost_blob": (lambda x, s: C.ghost_blob(x, "G", 1.0, seed=s), True),
    "drop_blob": (lambda x, s: C.drop_blob(x, "B", 0), False),
    "channel_crosstalk": (lambda x, s: C.channel_crosstalk(x, 0.1), False),
    "tone_curve": (lambda x, s: C.tone_curve(x, 0.05, 0.9, 1.2), False),
    "noisy_floor": (lambda x, s: C.noisy_floor(x, 0.05, s, correlation_px=2.0), True),
}
RANDOM = [k for k, (_, r) in CORRUPTIONS.items() if r]

IDENTITIES = {
    "gaussian_noise": lambda x: C.gaussian_noise(x, 0.0, 3),
    "blur": lambda x: C.blur(x, 0.0),
    "resample": lambda x: C.resample(x, 1.0),
    "ghost_blob": lambda x: C.ghost_blob(x, "R", 0.0, seed=3),
    "channel_crosstalk": lambda x: C.channel_crosstalk(x, 0.0),
    "tone_curve": lambda x: C.tone_curve(x),
    "noisy_floor": lambda x: C.noisy_floor(x, 0.0, 3),
}

# name -> (corrupt(images, strength), increasing strengths)
MONOTONIC = {
    "gaussian_noise": (lambda x, a: C.gaussian_noise(x, a, 0), [0.02, 0.08, 0.2]),
    "blur": (lambda x, a: C.blur(x, a), [1.0, 3.0, 6.0]),
    "resample": (lambda x, a: C.resample(x, a), [2.0, 4.0, 8.0]),
    "jpeg": (lambda x, a: C.jpeg(x, a), [95, 40, 5]),
    "ghost_blob": (lambda x, a: C.ghost_blob(x, "R", a, seed=0), [0.3, 0.6, 1.0]),
    "channel_crosstalk": (lambda x, a: C.channel_crosstalk(x, a), [0.05, 0.2, 0.6]),
    "tone_curve": (lambda x, a: C.tone_curve(x, gamma=a), [1.1, 1.5, 2.5]),
    "noisy_floor": (lambda x, a: C.noisy_floor(x, a, 0), [0.02, 0.05, 0.2]),
}


# ====================================================================== contract
@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@settings(max_examples=12, deadline=None)
@given(images=images_st())
def test_shape_dtype_no_alias_input_untouched(name, images):
    fn, _ = CORRUPTIONS[name]
    ref = images.copy()
    images.flags.writeable = False  # any write to the input raises
    out = fn(images, 0)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert not np.shares_memory(out, images)
    np.testing.assert_array_equal(images, ref)
    if out.dtype.kind == "f":
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    out[...] = 0  # the result is writeable and ours
    np.testing.assert_array_equal(images, ref)


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_seeds(name, dtype):
    fn, _ = CORRUPTIONS[name]
    x = scene_images(dtype)
    np.testing.assert_array_equal(fn(x, 7), fn(x, 7))
    np.testing.assert_array_equal(fn(x, np.int64(7)), fn(x, 7))
    np.testing.assert_array_equal(fn(x, np.random.default_rng(3)), fn(x, np.random.default_rng(3)))
    assert not np.array_equal(fn(x, 7), fn(x, 8))
    g = np.random.default_rng(5)
    assert not np.array_equal(fn(x, g), fn(x, g))  # a Generator is consumed
    assert fn(x, None).shape == x.shape


@pytest.mark.parametrize("name", sorted(IDENTITIES))
@settings(max_examples=8, deadline=None)
@given(images=images_st())
def test_strength_zero_is_identity(name, images):
    out = IDENTITIES[name](images)
    np.testing.assert_array_equal(out, images)
    assert out.dtype == images.dtype and not np.shares_memory(out, images)


@pytest.mark.parametrize("name", sorted(MONOTONIC))
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_effect_grows_with_strength(name, dtype):
    fn, strengths = MONOTONIC[name]
    x = scene_images(dtype, H=96, W=96)
    d = [mad(fn(x, a), x) for a in strengths]
    assert 0.0 < d[0] < d[1] < d[2], d


# ================================================================ pixel corruptions
def test_gaussian_noise_statistics():
    x = np.full((1, 2, 64, 64, 3), 0.5)
    y = C.gaussian_noise(x, 0.08, 0)
    assert y.dtype == np.float64
    assert abs(float(np.std(y - x)) - 0.08) < 0.005 and abs(float(np.mean(y - x))) < 0.005
    u8 = C.gaussian_noise(np.full((1, 1, 64, 64, 3), 128, np.uint8), 0.08, 0)
    assert abs(float(np.std(u8.astype(float))) - 0.08 * 255) < 1.0


def test_gaussian_noise_clips():
    x = np.zeros((1, 1, 32, 32, 3), np.float32)
    y = C.gaussian_noise(x, 0.5, 1)
    assert y.min() == 0.0 and y.max() <= 1.0 and (y > 0).mean() > 0.4


def test_blur_keeps_constant_floor_and_lowers_peak():
    x = scene_images(np.float32, H=128, W=128)
    y = C.blur(x, 6.0)
    s = ActionImageSpec().sigma_px(128, 128)
    # a Gaussian blob of sigma s blurred by sigma b has peak s^2 / (s^2 + b^2)
    want = s * s / (s * s + 36.0)
    peak = y[..., 0].max(axis=(2, 3))
    assert np.all(peak < x[..., 0].max(axis=(2, 3)))
    assert np.all(np.abs(peak[x[..., 0].max(axis=(2, 3)) > 0.99] - want) < 0.03)
    np.testing.assert_allclose(y[:, 0, 0, 0, 2], 0.25, atol=1e-6)  # open frame, corner: floor


def test_resample_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    x = scene_images(np.uint8, H=96, W=96)
    y = C.resample(x, 4)
    f = cv2.resize(cv2.resize(x[1, 2], (24, 24), interpolation=cv2.INTER_AREA), (96, 96),
                   interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(y[1, 2], f)
    # a huge factor down-samples to 1 px: every frame becomes constant
    z = C.resample(x, 1000.0)
    assert np.all(z.min(axis=(2, 3)) == z.max(axis=(2, 3)))


def test_jpeg_keeps_channel_order():
    for c in range(3):
        x = np.zeros((1, 1, 32, 48, 3), np.uint8)
        x[..., c] = 255
        y = C.jpeg(x, 40)
        assert np.all(np.abs(y[..., c].astype(int) - 255) <= 6)
        assert np.all(np.delete(y, c, axis=-1) <= 6)
    xf = np.zeros((1, 1, 32, 32, 3), np.float32)
    xf[..., 2] = 1.0
    yf = C.jpeg(xf, 90)
    assert yf.dtype == np.float32 and yf[..., 2].min() > 0.97 and yf[..., :2].max() < 0.03


@settings(max_examples=8, deadline=None)
@given(images=images_st())
def test_jpeg_best_quality_is_near_identity(images):
    y = C.jpeg(images, 100)
    assert mad(y, images) < 1.5 * LEVEL


def test_channel_crosstalk_formula():
    x = scene_images(np.float64)
    a = 0.3
    y = C.channel_crosstalk(x, a)
    R, G, B = x[..., 0], x[..., 1], x[..., 2]
    np.testing.assert_allclose(y[..., 0], (1 - a) * R + a / 2 * (G + B), atol=1e-12)
    np.testing.assert_allclose(y[..., 1], (1 - a) * G + a / 2 * (R + B), atol=1e-12)
    np.testing.assert_allclose(y[..., 2], (1 - a) * B + a / 2 * (R + G), atol=1e-12)
    np.testing.assert_allclose(y.sum(-1), x.sum(-1), atol=1e-12)  # total intensity preserved
    full = C.channel_crosstalk(x, 2.0 / 3.0)  # complete mixing: every channel is the mean
    np.testing.assert_allclose(full, np.repeat(x.mean(-1, keepdims=True), 3, axis=-1), atol=1e-12)
    x8 = scene_images(np.uint8)
    y8 = C.channel_crosstalk(x8, a)
    assert np.abs(to_unit(y8) - C.channel_crosstalk(to_unit(x8), a)).max() <= 0.5 * LEVEL + 1e-6


def test_tone_curve_formula():
    x = scene_images(np.float64)
    b, c, g = 0.05, 0.9, 1.2
    want = np.clip(c * (x ** g - 0.5) + 0.5 + b, 0.0, 1.0)
    np.testing.assert_allclose(C.tone_curve(x, b, c, g), want, atol=1e-12)
    x8 = scene_images(np.uint8)
    want8 = 255 * np.clip(c * ((x8 / 255.0) ** g - 0.5) + 0.5 + b, 0, 1)
    assert np.abs(C.tone_curve(x8, b, c, g) - want8).max() <= 0.5 + 1e-9  # uint8: rounded
    # gamma 2 moves the blue floor from 0.25 to 0.0625; contrast 0 makes everything 0.5 + brightness
    assert C.tone_curve(x, gamma=2.0)[0, 0, 0, 0, 2] == pytest.approx(0.0625)
    np.testing.assert_allclose(C.tone_curve(x, brightness=0.1, contrast=0.0), 0.6)


# ================================================================= blob corruptions
def _ghost_check(images, out, pos, c, rel, spec=None):
    """Every ghost is >= 3 sigma from the true blob and drawn by max with the said peak."""
    spec = spec or ActionImageSpec()
    V, T, H, W = images.shape[:4]
    s = spec.sigma_px(H, W)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    rows, cols = np.arange(H)[:, None], np.arange(W)[None, :]
    for v, t in itertools.product(range(V), range(T)):
        if np.isnan(pos[v, t]).any():
            np.testing.assert_array_equal(out[v, t], images[v, t])
            continue
        u, vv = pos[v, t]
        assert 0.0 <= u <= W - 1 and 0.0 <= vv <= H - 1
        ch = images[v, t, :, :, c]
        r0, c0 = np.unravel_index(int(np.argmax(ch)), ch.shape)
        assert math.hypot(u - c0, vv - r0) >= 3.0 * s - 1e-9
        peak = ch.max() / scale
        g = np.minimum(rel * peak * np.exp(-((cols - u) ** 2 + (rows - vv) ** 2) / (2 * s * s)), 1.0)
        want = np.maximum(ch / scale, g)
        np.testing.assert_allclose(out[v, t, :, :, c] / scale, want, atol=0.5 / scale + 1e-6)
        # at the ghost centre the channel is (at least) rel * true peak
        rc, cc = int(round(vv)), int(round(u))
        assert out[v, t, rc, cc, c] / scale >= min(1.0, rel * peak) * math.exp(-0.25 / (s * s)) - 1.0 / scale
        others = [k for k in range(3) if k != c]
        np.testing.assert_array_equal(out[v, t][..., others], images[v, t][..., others])


@settings(max_examples=15, deadline=None)
@given(images=images_st(), channel=st.sampled_from(["R", "G", "B", 0, 1, 2, "r"]),
       rel=st.floats(0.2, 1.5), seed=st.integers(0, 2**31))
def test_ghost_blob_where_and_how_bright(images, channel, rel, seed):
    out, pos = C.ghost_blob(images, channel, rel, seed=seed, return_positions=True)
    c = {"R": 0, "G": 1, "B": 2, "r": 0}.get(channel, channel)
    assert pos.shape == images.shape[:2] + (2,)
    # default: exactly one view per frame
    np.testing.assert_array_equal((~np.isnan(pos[..., 0])).sum(axis=0), np.ones(images.shape[1]))
    _ghost_check(images, out, pos, c, rel)


def test_ghost_blob_views_frames_and_spec():
    x = scene_images(np.uint8, H=96, W=96)
    spec = ActionImageSpec(sigma_fraction=0.03)
    out, pos = C.ghost_blob(x, "B", 1.0, views=[0, 1], frames=2, seed=1, spec=spec, return_positions=True)
    assert not np.isnan(pos[:, 2]).any() and np.isnan(pos[:, :2]).all()
    _ghost_check(x, out, pos, 2, 1.0, spec)
    out1, pos1 = C.ghost_blob(x, 0, 0.5, views=1, seed=2, return_positions=True)
    assert np.isnan(pos1[0]).all() and not np.isnan(pos1[1]).any()
    _ghost_check(x, out1, pos1, 0, 0.5)
    # as bright as the true blob: two maxima of (almost) the same height in that view
    r = out1[1, 0, :, :, 0].astype(float)
    u, v = pos1[1, 0]
    assert r[int(round(v)), int(round(u))] >= 0.97 * x[1, 0, :, :, 0].max() * 0.5


def test_ghost_blob_on_open_floor_only_shows_above_floor():
    x = scene_images(np.float32, H=96, W=96)
    out, pos = C.ghost_blob(x, "B", 0.2, views=0, frames=0, seed=0, return_positions=True)
    # a ghost of peak 0.2 under a 0.25 floor is invisible, as the format's max rule says
    np.testing.assert_array_equal(out, x)
    assert not np.isnan(pos[0, 0]).any()


def test_drop_blob_removes_the_blob():
    for dt in (np.uint8, np.float32, np.float64):
        x = scene_images(dt)
        scale = 255.0 if dt == np.uint8 else 1.0
        y = C.drop_blob(x, "B", views=1)
        # open frames 0, 2: blue floor 0.25; closed frame 1: 0
        np.testing.assert_allclose(y[1, :, :, :, 2].max(axis=(1, 2)) / scale, [0.25, 0.0, 0.25], atol=0.5 / 255)
        assert np.all(y[1, :, :, :, 2].min(axis=(1, 2)) == y[1, :, :, :, 2].max(axis=(1, 2)))
        np.testing.assert_array_equal(y[0], x[0])
        np.testing.assert_array_equal(y[1, ..., :2], x[1, ..., :2])
        z = C.drop_blob(x, "R", views=[0, 1], frames=[0, 2])
        assert np.all(z[:, [0, 2], :, :, 0] == 0)
        np.testing.assert_array_equal(z[:, 1], x[:, 1])
        np.testing.assert_array_equal(z[..., 1:], x[..., 1:])


@settings(max_examples=10, deadline=None)
@given(images=images_st(), channel=st.sampled_from(["R", "G", "B"]))
def test_drop_blob_channel_becomes_constant_background(images, channel):
    c = "RGB".index(channel)
    y = C.drop_blob(images, channel, views=0)
    ch = y[0, ..., c]
    assert np.all(ch.min(axis=(1, 2)) == ch.max(axis=(1, 2)))
    med = np.median(images[0, ..., c], axis=(1, 2))
    np.testing.assert_allclose(ch[:, 0, 0], np.rint(med) if images.dtype == np.uint8 else med, atol=1e-6)


def _floor_masks(x):
    b = to_unit(x[..., 2])
    floor = np.median(b, axis=(2, 3), keepdims=True)
    return b <= floor + LEVEL + 1e-9, floor


@settings(max_examples=12, deadline=None)
@given(images=images_st(), sigma=st.floats(0.01, 0.3), corr=st.sampled_from([0.0, 3.0]))
def test_noisy_floor_leaves_blob_cores_untouched(images, sigma, corr):
    y = C.noisy_floor(images, sigma, 0, correlation_px=corr)
    np.testing.assert_array_equal(y[..., :2], images[..., :2])
    bg, _ = _floor_masks(images)
    np.testing.assert_array_equal(y[..., 2][~bg], images[..., 2][~bg])  # blob pixels are exact copies
    assert (y[..., 2][bg] != images[..., 2][bg]).any()


@pytest.mark.parametrize("corr, tol", [(0.0, 0.1), (4.0, 0.3)])
def test_noisy_floor_noise_level(corr, tol):
    x = scene_images(np.float64, H=128, W=128)
    y = C.noisy_floor(x, 0.05, 1, correlation_px=corr)
    bg, _ = _floor_masks(x)
    d = (y - x)[..., 2][:, [0, 2]][bg[:, [0, 2]]]  # open frames: floor 0.25, no clipping at 5 sigma
    assert abs(float(np.std(d)) / 0.05 - 1.0) < tol
    if corr:  # blotchy: neighbouring pixels are strongly correlated
        n = (y - x)[0, 0, :, :, 2]
        m = bg[0, 0, :, :-1] & bg[0, 0, :, 1:]
        assert np.corrcoef(n[:, :-1][m], n[:, 1:][m])[0, 1] > 0.8


# ==================================================================== video codecs
def _pairs():
    return [(c, b) for c, b in itertools.product(C.VIDEO_CODECS, ("pyav", "opencv"))]


@pytest.fixture
def fresh_codec_cache():
    C._works.cache_clear()
    yield
    C._works.cache_clear()


def test_available_video_codecs_is_a_subset():
    auto = C.available_video_codecs()
    assert set(auto) <= set(C.VIDEO_CODECS)
    assert set(C.available_video_codecs("pyav")) | set(C.available_video_codecs("opencv")) == set(auto)
    assert list(auto) == [c for c in C.VIDEO_CODECS if c in auto]  # preference order


@pytest.mark.parametrize("codec, backend", _pairs())
def test_video_codec_round_trip(codec, backend):
    if codec not in C.available_video_codecs(backend):
        pytest.skip(f"{codec} not available via {backend} here")
    for dt, (T, H, W) in ((np.uint8, (3, 64, 80)), (np.float32, (1, 33, 47))):
        x = scene_images(dt, T=T, H=H, W=W)
        ref = x.copy()
        y, info = C.video_codec(x, codec=codec, backend=backend)
        assert y.shape == x.shape and y.dtype == x.dtype and not np.shares_memory(x, y)
        np.testing.assert_array_equal(x, ref)
        assert info.codec == codec and info.backend == backend and info.n_bytes > 0
        names = C._CODECS[codec].decoded_names if backend == "pyav" else C._CODECS[codec].fourccs_back
        assert info.decoded_as in names
        assert (info.quantizer == C._CODECS[codec].q_default) if backend == "pyav" else info.quantizer is None
        assert info.bits_per_pixel == pytest.approx(8 * info.n_bytes / x[..., 0].size)
        assert 0.0 < mad(y, x) < 4 * LEVEL


@pytest.mark.parametrize("codec", C.VIDEO_CODECS)
def test_video_codec_quantizer(codec):
    if codec not in C.available_video_codecs("pyav"):
        pytest.skip(f"{codec} not available via PyAV here")
    x = scene_images(np.uint8, T=3, H=64, W=64)
    lo, hi = C._CODECS[codec].q_range
    best, info = C.video_codec(x, lo, codec, backend="pyav")
    assert info.quantizer == lo and mad(best, x) < 2 * LEVEL  # best quality: near identity
    worst, info_w = C.video_codec(x, hi, codec, backend="pyav")
    assert mad(worst, x) > mad(best, x) and info_w.n_bytes < info.n_bytes
    y1, _ = C.video_codec(x, (lo + hi) // 2, codec, backend="pyav")
    y2, _ = C.video_codec(x, (lo + hi) // 2, codec, backend="pyav")
    np.testing.assert_array_equal(y1, y2)  # deterministic


def test_video_codec_h264_grows_with_crf():
    if "h264" not in C.available_video_codecs("pyav"):
        pytest.skip("H.264 (libx264) needs PyAV")
    x = scene_images(np.uint8, T=3, H=96, W=96)
    d = [mad(C.video_codec(x, q, "h264")[0], x) for q in (0, 30, 51)]
    assert d[0] < d[1] < d[2], d


def test_video_codec_unavailable_raises(monkeypatch):
    monkeypatch.setattr(C, "_works", lambda codec, backend: False)
    assert C.available_video_codecs() == ()
    with pytest.raises(RuntimeError, match="video codec 'h264' is not available via PyAV or OpenCV"):
        C.video_codec(scene_images(), codec="h264")
    with pytest.raises(RuntimeError, match="'mpeg4' is not available via opencv"):
        C.video_codec(scene_images(), codec="mpeg4", backend="opencv")


def test_video_codec_never_claims_a_codec_that_did_not_run(monkeypatch):
    monkeypatch.setattr(C, "_works", lambda codec, backend: backend == "opencv")
    monkeypatch.setattr(C, "_round_trip_opencv", lambda frames, cd: (frames.copy(), 100, "MJPG"))
    with pytest.raises(RuntimeError, match=r"asked for h264 via opencv, but the decoder reports a 'MJPG' stream"):
        C.video_codec(scene_images(), codec="h264")
    monkeypatch.setattr(C, "_round_trip_opencv", lambda frames, cd: (frames[:-1].copy(), 100, "avc1"))
    with pytest.raises(RuntimeError, match=r"h264 round trip via opencv returned 2 frames .* expected 3 frames"):
        C.video_codec(scene_images(), codec="h264")
    monkeypatch.setattr(C, "_round_trip_opencv", lambda frames, cd: (frames[:, :-2].copy(), 100, "avc1"))
    with pytest.raises(RuntimeError, match=r"returned 3 frames of \(62, 80\), expected 3 frames of \(64, 80\)"):
        C.video_codec(scene_images(), codec="h264")
    with pytest.raises(ValueError, match="OpenCV's FFmpeg writer cannot set the h264 quantizer"):
        C.video_codec(scene_images(), 23, "h264")
    # a round trip whose decoder reports the codec that was asked for passes
    monkeypatch.setattr(C, "_round_trip_opencv", lambda frames, cd: (frames.copy(), 100, "avc1"))
    y, info = C.video_codec(scene_images(), codec="h264")
    np.testing.assert_array_equal(y, scene_images())
    assert (info.codec, info.backend, info.decoded_as, info.quantizer, info.n_bytes) == ("h264", "opencv", "avc1",
                                                                                          None, 200)


def test_video_codec_works_without_pyav(monkeypatch, fresh_codec_cache):
    monkeypatch.setattr(C, "_pyav", lambda: None)
    assert C.available_video_codecs("pyav") == ()
    opencv = C.available_video_codecs("opencv")
    assert C.available_video_codecs() == opencv
    if not opencv:
        with pytest.raises(RuntimeError, match="PyAV is not installed"):
            C.video_codec(scene_images(), codec="mpeg4")
        return
    y, info = C.video_codec(scene_images(), codec=opencv[0])
    assert info.backend == "opencv" and info.codec == opencv[0] and y.shape == scene_images().shape
    with pytest.raises(ValueError, match="install PyAV"):
        C.video_codec(scene_images(), 10, opencv[0])


# ===================================================================== error paths
def test_bad_images():
    x = scene_images()
    with pytest.raises(TypeError, match=r"images must be a numpy array of shape \(V, T, H, W, 3\), got list"):
        C.blur(x.tolist(), 1.0)
    with pytest.raises(TypeError, match="images must have dtype uint8, float32 or float64, got int16"):
        C.blur(x.astype(np.int16), 1.0)
    with pytest.raises(TypeError, match="got float16"):
        C.jpeg(x.astype(np.float16), 40)
    with pytest.raises(ValueError, match=r"images must have shape \(V, T, H, W, 3\), got \(3, 64, 80, 3\)"):
        C.gaussian_noise(x[0], 0.1)
    with pytest.raises(ValueError, match=r"got \(2, 3, 64, 80, 4\)"):
        C.resample(np.zeros((2, 3, 64, 80, 4), np.uint8), 2)
    with pytest.raises(ValueError, match="images is empty"):
        C.tone_curve(x[:, :0])
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]; found values in \[1.5, 1.5\]"):
        C.channel_crosstalk(np.full((1, 1, 8, 8, 3), 1.5), 0.1)
    with pytest.raises(ValueError, match=r"found values in \[-0.1, -0.1\]"):
        C.noisy_floor(np.full((1, 1, 8, 8, 3), -0.1, np.float32), 0.1)
    bad = to_unit(x)
    bad[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="float images must be finite"):
        C.drop_blob(bad, "R", 0)
    bad[0, 0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="float images must be finite"):
        C.ghost_blob(bad, "R")
    with pytest.raises(ValueError, match="images must have shape"):
        C.video_codec(x[0], codec="mpeg4")


def test_bad_strengths():
    x = scene_images()
    cases = [
        (lambda: C.gaussian_noise(x, -0.1), ValueError, r"sigma must be in \[0, 1\], got -0.1"),
        (lambda: C.gaussian_noise(x, 1.5), ValueError, r"sigma must be in \[0, 1\], got 1.5"),
        (lambda: C.gaussian_noise(x, float("nan")), ValueError, "sigma must be finite"),
        (lambda: C.gaussian_noise(x, "0.1"), TypeError, "sigma must be a real number, got str"),
        (lambda: C.gaussian_noise(x, True), TypeError, "sigma must be a real number, got bool"),
        (lambda: C.blur(x, -1.0), ValueError, r"sigma_px must be in \[0, inf\), got -1"),
        (lambda: C.blur(x, float("inf")), ValueError, "sigma_px must be finite"),
        (lambda: C.resample(x, 0.5), ValueError, r"factor must be in \[1, inf\), got 0.5"),
        (lambda: C.resample(x, None), TypeError, "factor must be a real number, got NoneType"),
        (lambda: C.jpeg(x, 101), ValueError, r"quality must be in \[0, 100\], got 101"),
        (lambda: C.jpeg(x, -1), ValueError, r"quality must be in \[0, 100\], got -1"),
        (lambda: C.jpeg(x, 40.0), TypeError, "quality must be an integer, got float"),
        (lambda: C.channel_crosstalk(x, 1.2), ValueError, r"amount must be in \[0, 1\], got 1.2"),
        (lambda: C.channel_crosstalk(x, -0.2), ValueError, r"amount must be in \[0, 1\], got -0.2"),
        (lambda: C.tone_curve(x, brightness=2.0), ValueError, r"brightness must be in \[-1, 1\], got 2"),
        (lambda: C.tone_curve(x, contrast=-1.0), ValueError, r"contrast must be in \[0, inf\), got -1"),
        (lambda: C.tone_curve(x, gamma=0.0), ValueError, r"gamma must be in \(0, inf\), got 0"),
        (lambda: C.tone_curve(x, gamma=-2), ValueError, r"gamma must be in \(0, inf\), got -2"),
        (lambda: C.noisy_floor(x, 2.0), ValueError, r"sigma must be in \[0, 1\], got 2"),
        (lambda: C.noisy_floor(x, 0.1, correlation_px=-1), ValueError, r"correlation_px must be in \[0, inf\)"),
        (lambda: C.noisy_floor(x, 0.1, tolerance=1.5), ValueError, r"tolerance must be in \[0, 1\], got 1.5"),
        (lambda: C.ghost_blob(x, "R", -0.5), ValueError, r"relative_brightness must be in \[0, inf\), got -0.5"),
        (lambda: C.ghost_blob(x, "R", 1.0, min_separation=-1), ValueError, r"min_separation must be in \[0, inf\)"),
        (lambda: C.ghost_blob(x, "R", 1.0, min_separation=100.0), ValueError,
         r"no pixel of the 64x80 image \(view \d, frame 0\) is min_separation=100 sigmas"),
        (lambda: C.ghost_blob(x, "R", 1.0, spec=3), TypeError, "spec must be an actimg.ActionImageSpec, a name in"),
        (lambda: C.ghost_blob(x, "R", 1.0, spec="papr"), ValueError, "unknown spec name 'papr'"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


def test_bad_seeds():
    x = scene_images()
    for fn in (lambda s: C.gaussian_noise(x, 0.1, s), lambda s: C.noisy_floor(x, 0.1, s),
               lambda s: C.ghost_blob(x, "R", 1.0, seed=s)):
        with pytest.raises(TypeError, match="seed must be an int, a numpy.random.Generator or None, got str"):
            fn("0")
        with pytest.raises(TypeError, match="got float"):
            fn(1.5)
        with pytest.raises(TypeError, match="got bool"):
            fn(True)
        with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
            fn(-1)


def test_bad_channels_views_frames():
    x = scene_images()
    cases = [
        (lambda: C.ghost_blob(x, "X"), ValueError, r"channel must be 'R', 'G', 'B' or 0, 1, 2, got 'X'"),
        (lambda: C.ghost_blob(x, 3), ValueError, r"channel must be .* got 3"),
        (lambda: C.drop_blob(x, -1, 0), ValueError, r"channel must be .* got -1"),
        (lambda: C.drop_blob(x, 1.0, 0), TypeError, r"channel must be .* got float"),
        (lambda: C.drop_blob(x, True, 0), TypeError, r"channel must be .* got bool"),
        (lambda: C.drop_blob(x, "R", 2), ValueError, r"views must be in \[0, 2\), got \[2\]"),
        (lambda: C.drop_blob(x, "R", [0, -1]), ValueError, r"views must be in \[0, 2\), got \[0, -1\]"),
        (lambda: C.drop_blob(x, "R", []), ValueError, "views is empty"),
        (lambda: C.drop_blob(x, "R", None), TypeError, "views is required"),
        (lambda: C.drop_blob(x, "R", [0.5]), TypeError, "views must be an int or a sequence of ints"),
        (lambda: C.drop_blob(x, "R", True), TypeError, "views must be an int or a sequence of ints, got bool"),
        (lambda: C.drop_blob(x, "R", [[0, 1]]), TypeError, "views must be an int or a sequence of ints"),
        (lambda: C.drop_blob(x, "R", 0, frames=3), ValueError, r"frames must be in \[0, 3\), got \[3\]"),
        (lambda: C.ghost_blob(x, "R", views=5), ValueError, r"views must be in \[0, 2\), got \[5\]"),
        (lambda: C.ghost_blob(x, "R", frames=[0, 7]), ValueError, r"frames must be in \[0, 3\), got \[0, 7\]"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


def test_bad_video_codec_arguments(monkeypatch):
    x = scene_images()
    with pytest.raises(ValueError, match=r"codec must be one of \('h264', 'hevc', 'vp9', 'mpeg4'\), got 'divx'"):
        C.video_codec(x, codec="divx")
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'pyav', 'opencv'\), got 'ffmpeg'"):
        C.video_codec(x, codec="mpeg4", backend="ffmpeg")
    with pytest.raises(ValueError, match=r"backend must be one of"):
        C.available_video_codecs("gstreamer")
    with pytest.raises(ValueError, match=r"quantizer \(h264 CRF\) must be in \[0, 51\], got 60"):
        C.video_codec(x, 60, "h264")
    with pytest.raises(ValueError, match=r"quantizer \(mpeg4 qscale\) must be in \[1, 31\], got 0"):
        C.video_codec(x, 0, "mpeg4")
    with pytest.raises(ValueError, match=r"quantizer \(vp9 CRF\) must be in \[0, 63\], got 64"):
        C.video_codec(x, 64, "vp9")
    with pytest.raises(TypeError, match=r"quantizer \(h264 CRF\) must be an integer, got float"):
        C.video_codec(x, 23.0, "h264")


def _flaky_pyav(monkeypatch, outcomes):
    """Replace the PyAV round trip with one that follows ``outcomes``, one per call:
    ``"error"`` (an FFmpeg error), ``"short"`` (one frame missing) or ``"ok"``."""
    AvError = type("FFmpegError", (Exception,), {"__module__": "av.error"})
    calls = []

    def fake(frames, cd, q):
        what = outcomes[len(calls)]
        calls.append(what)
        if what == "error":
            raise AvError("transient encoder failure")
        out = frames[:-1] if what == "short" else frames
        return out.copy(), 10, next(iter(cd.decoded_names))

    monkeypatch.setattr(C, "_round_trip_pyav", fake)
    return calls


@pytest.mark.parametrize("outcomes", [["ok"], ["error", "ok"], ["error", "short", "ok"], ["short", "error", "ok"]])
def test_pyav_round_trip_retries_transient_failures(monkeypatch, outcomes):
    calls = _flaky_pyav(monkeypatch, outcomes)
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    out, _, _ = C._round_trip(frames, C._CODECS["h264"], "pyav", None)
    assert out.shape == frames.shape and calls == outcomes


def test_pyav_round_trip_gives_up_after_three_tries(monkeypatch):
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    calls = _flaky_pyav(monkeypatch, ["error", "short", "error", "ok"])
    with pytest.raises(Exception, match="transient encoder failure"):
        C._round_trip(frames, C._CODECS["h264"], "pyav", None)
    assert len(calls) == 3
    # ... and a short read on the last try is an error too
    calls = _flaky_pyav(monkeypatch, ["short", "error", "short", "ok"])
    with pytest.raises(RuntimeError, match="returned 2 frames"):
        C._round_trip(frames, C._CODECS["h264"], "pyav", None)
    assert len(calls) == 3


def test_pyav_round_trip_does_not_retry_our_own_errors(monkeypatch):
    calls = []

    def broken(frames, cd, q):
        calls.append(1)
        raise ValueError("a bug, not FFmpeg")

    monkeypatch.setattr(C, "_round_trip_pyav", broken)
    with pytest.raises(ValueError, match="a bug"):
        C._round_trip(np.zeros((3, 16, 16, 3), np.uint8), C._CODECS["h264"], "pyav", None)
    assert len(calls) == 1
