"""Generated-image faults: colour mixing, motion blur and view drift (corruptions and decoder)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import corrupt as C
from actimg.codec import drift as D
from actimg.codec.actions import action_points
from actimg.testing import action_images


@st.composite
def images_st(draw, dtypes=(np.uint8, np.float32, np.float64)):
    dt = np.dtype(draw(st.sampled_from(dtypes)))
    _, _, img = draw(action_images(dtype=np.uint8 if dt == np.uint8 else np.float32, n_views=st.integers(1, 2),
                                   n_frames=st.integers(1, 2), min_views=1,
                                   sizes=st.tuples(st.integers(32, 80), st.integers(32, 80))))
    return img.astype(dt)


def _unit(x):
    return x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)


CENTER = np.array([0.5, 0.0, 0.15])


def _scene(V=3, T=6, size=256, seed=0):
    """A seeded random rig (cameras 0.7-1.2 m from the workspace, 45-65 degree field of
    view) and ``T`` random poses whose points are all inside every image, encoded."""
    rng = np.random.default_rng([7919, seed, V, size])
    az = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, V, endpoint=False) * rng.uniform(0.3, 0.8)
    el = rng.uniform(np.radians(20), np.radians(55), V)
    r = rng.uniform(0.7, 1.2, V)
    eyes = CENTER + np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], -1)
    E = actimg.look_at(eyes, np.broadcast_to(CENTER, eyes.shape))
    f = 0.5 * size / np.tan(np.radians(rng.uniform(45, 65, V)) / 2)
    K = np.zeros((V, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, :2, 2] = (size - 1) / 2
    K[:, 2, 2] = 1
    rig = actimg.CameraRig(K, E, size, size)
    out = []
    while len(out) < T:
        a = np.empty((32, 7))
        a[:, :3] = CENTER + rng.uniform(-0.1, 0.1, (32, 3))
        a[:, 3:6] = actimg.matrix_to_euler(actimg.quat_to_matrix(rng.normal(size=(32, 4)), "xyzw"))
        a[:, 6] = rng.integers(0, 2, 32)
        pix, depth = actimg.project_actions(a, rig)
        m = 0.05 * size
        inside = ((pix >= m) & (pix <= size - 1 - m)).all(axis=-1)
        out.extend(a[(depth > 0.1).all(axis=(0, 2)) & inside.all(axis=(0, 2))])
    actions = np.array(out[:T])
    return rig, actions, actimg.encode(actions, rig)


def _errors(res, actions):
    pos = np.linalg.norm(res.positions - actions[:, :3], axis=1) * 1e3
    rot = actimg.rotation_angle_deg(res.rotations, actimg.euler_to_matrix(actions[:, 3:6]))
    pos = np.where(res.valid, pos, np.inf)
    rot = np.where(res.valid, rot, np.inf)
    return pos, rot


# ================================================================= corruptions
CORR = {
    "color_mixing": lambda x: C.color_mixing(x, strength=0.2, seed=1),
    "color_mixing_matrix": lambda x: C.color_mixing(x, np.array([[0.8, 0.1, 0.05], [0.15, 0.7, 0.1], [0.05, 0.2, 0.85]])),
    "motion_blur": lambda x: C.motion_blur(x, 7.5, seed=2),
    "shift_view": lambda x: C.shift_view(x, 0, 1.5, -0.75),
}


@pytest.mark.parametrize("name", sorted(CORR))
@settings(max_examples=8, deadline=None)
@given(images=images_st())
def test_shape_dtype_no_alias(name, images):
    ref = images.copy()
    images.flags.writeable = False
    out = CORR[name](images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert not np.shares_memory(out, images)
    np.testing.assert_array_equal(images, ref)
    if out.dtype.kind == "f":
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@settings(max_examples=8, deadline=None)
@given(images=images_st())
def test_zero_strength_is_identity(images):
    for out in (C.color_mixing(images, strength=0.0), C.color_mixing(images, np.eye(3)),
                C.motion_blur(images, 0.0), C.shift_view(images, images.shape[0] - 1, 0.0, 0.0)):
        np.testing.assert_array_equal(out, images)
        assert out.dtype == images.dtype and not np.shares_memory(out, images)


@settings(max_examples=20, deadline=None)
@given(M=st.lists(st.floats(-0.3, 1.0), min_size=9, max_size=9), seed=st.integers(0, 2**16))
def test_color_mixing_convention(M, seed):
    """out[..., i] = sum_j M[i, j] in[..., j], then clipped."""
    M = np.array(M).reshape(3, 3)
    x = np.random.default_rng(seed).random((2, 1, 5, 4, 3))
    out = C.color_mixing(x, M)
    np.testing.assert_allclose(out, np.clip(np.einsum("ij,vthwj->vthwi", M, x), 0, 1), atol=1e-12)
    # one matrix per view
    M2 = np.stack([M, np.eye(3)])
    out2 = C.color_mixing(x, M2)
    np.testing.assert_allclose(out2[0], out[0], atol=1e-12)
    np.testing.assert_array_equal(out2[1], x[1])


@settings(max_examples=30, deadline=None)
@given(strength=st.one_of(st.just(0.0), st.floats(1e-3, 0.6)), seed=st.integers(0, 2**20))
def test_random_mixing_matrix(strength, seed):
    M = C.random_mixing_matrix(strength, seed)
    off = M[~np.eye(3, dtype=bool)]
    assert (off >= 0).all()
    np.testing.assert_allclose(M.sum(axis=0), 1.0, atol=1e-12)  # what a channel loses, the others get
    leak = M.sum(axis=0) - np.diag(M)
    assert (leak <= 0.9 + 1e-12).all()
    if (leak < 0.9 - 1e-9).all():
        assert abs(leak.mean() - strength) < 1e-9
    np.testing.assert_array_equal(M, C.random_mixing_matrix(strength, seed))
    if strength > 0:
        assert len(np.unique(off)) == 6  # unequal leaks


def test_color_mixing_per_view_and_seed():
    _, _, img = _scene(V=2, T=1, size=64)
    a = C.color_mixing(img, strength=0.2, seed=3)
    np.testing.assert_array_equal(a, C.color_mixing(img, strength=0.2, seed=3))
    assert not np.array_equal(a, C.color_mixing(img, strength=0.2, seed=4))
    M = C.random_mixing_matrix(0.2, 3)
    np.testing.assert_array_equal(a, C.color_mixing(img, M))
    pv = C.color_mixing(img, strength=0.2, seed=3, per_view=True)
    rng = np.random.default_rng(3)
    Ms = [C.random_mixing_matrix(0.2, rng) for _ in range(2)]
    np.testing.assert_array_equal(pv, C.color_mixing(img, np.stack(Ms)))


def _blob(H=96, W=96, u=40.3, v=51.7, s=6.0):
    yy, xx = np.mgrid[:H, :W]
    img = np.zeros((1, 1, H, W, 3))
    img[0, 0, :, :, 1] = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * s * s))
    img[0, 0, :, :, 2] = 0.25
    return img


def _moments(ch):
    yy, xx = np.mgrid[:ch.shape[0], :ch.shape[1]]
    m = ch.sum()
    cu, cv = (ch * xx).sum() / m, (ch * yy).sum() / m
    cov = np.array([[(ch * (xx - cu) ** 2).sum(), (ch * (xx - cu) * (yy - cv)).sum()],
                    [(ch * (xx - cu) * (yy - cv)).sum(), (ch * (yy - cv) ** 2).sum()]]) / m
    return cu, cv, cov


@pytest.mark.parametrize("length, angle", [(5.0, 0.0), (10.0, 30.0), (20.0, 90.0), (13.3, 137.0)])
def test_motion_blur_line_kernel(length, angle):
    img = _blob()
    out = C.motion_blur(img, length, angle_deg=angle)
    cu0, cv0, cov0 = _moments(img[0, 0, :, :, 1])
    cu, cv, cov = _moments(out[0, 0, :, :, 1])
    assert abs(cu - cu0) < 1e-6 and abs(cv - cv0) < 1e-6  # centred: the centroid stays
    d = np.array([np.cos(np.radians(angle)), -np.sin(np.radians(angle))])  # v points down
    n = np.array([d[1], -d[0]])
    # a line of length L adds L^2 / 12 of variance along it (plus the splat's bit), ~0 across
    assert abs(d @ (cov - cov0) @ d - length ** 2 / 12) < 0.25 + 0.02 * length ** 2 / 12
    assert abs(n @ (cov - cov0) @ n) < 0.25
    np.testing.assert_allclose(out[0, 0, :, :, 2], 0.25, atol=1e-12)  # a constant floor stays


def test_motion_blur_random_angles_seeded():
    _, _, img = _scene(V=2, T=2, size=64)
    a = C.motion_blur(img, 6.0, seed=1)
    np.testing.assert_array_equal(a, C.motion_blur(img, 6.0, seed=1))
    assert not np.array_equal(a, C.motion_blur(img, 6.0, seed=2))


@pytest.mark.parametrize("dx, dy", [(1.5, 0.0), (-0.7, 1.2), (0.25, -2.0)])
def test_shift_view_moves_the_blob(dx, dy):
    img = np.concatenate([_blob(), _blob(u=60.0, v=30.0)], axis=0)  # (2, 1, H, W, 3)
    out = C.shift_view(img, 1, dx, dy)
    np.testing.assert_array_equal(out[0], img[0])
    cu0, cv0, _ = _moments(img[1, 0, :, :, 1])
    cu, cv, _ = _moments(out[1, 0, :, :, 1])
    assert abs(cu - cu0 - dx) < 0.02 and abs(cv - cv0 - dy) < 0.02
    np.testing.assert_allclose(out[1, 0, :, :, 2], 0.25, atol=1e-6)


def test_error_paths():
    _, _, x = _scene(V=2, T=1, size=32)
    cases = [
        (lambda: C.color_mixing(x, np.eye(2)), ValueError, r"matrix must have shape \(3, 3\) or \(V, 3, 3\) = \(2, 3, 3\)"),
        (lambda: C.color_mixing(x, np.ones((3, 3, 3))), ValueError, "matrix must have shape"),
        (lambda: C.color_mixing(x, np.full((3, 3), np.nan)), ValueError, "matrix must be finite"),
        (lambda: C.color_mixing(x, np.full((3, 3), 3.0)), ValueError, r"matrix entries must be in \[-1, 2\]"),
        (lambda: C.color_mixing(x, "eye"), TypeError, "matrix must be a"),
        (lambda: C.color_mixing(x, [["a"] * 3] * 3), TypeError, "matrix must be a"),
        (lambda: C.color_mixing(x, strength=0.7), ValueError, r"strength must be in \[0, 0.6\], got 0.7"),
        (lambda: C.color_mixing(x, strength=-0.1), ValueError, r"strength must be in \[0, 0.6\]"),
        (lambda: C.color_mixing(x, strength="0.1"), TypeError, "strength must be a real number"),
        (lambda: C.color_mixing(x, seed="0"), TypeError, "seed must be an int"),
        (lambda: C.color_mixing(x.tolist()), TypeError, "images must be a numpy array"),
        (lambda: C.random_mixing_matrix(1.0), ValueError, r"strength must be in \[0, 0.6\]"),
        (lambda: C.motion_blur(x, -1.0), ValueError, r"length_px must be in \[0, inf\), got -1"),
        (lambda: C.motion_blur(x, float("inf")), ValueError, "length_px must be finite"),
        (lambda: C.motion_blur(x, 5.0, angle_deg=float("nan")), ValueError, "angle_deg must be finite"),
        (lambda: C.motion_blur(x, 5.0, angle_deg="up"), TypeError, "angle_deg must be a real number"),
        (lambda: C.motion_blur(x, 5.0, seed=-1), ValueError, "seed must be >= 0"),
        (lambda: C.motion_blur(x[0], 5.0), ValueError, r"images must have shape \(V, T, H, W, 3\)"),
        (lambda: C.shift_view(x, 2, 1.0, 0.0), ValueError, r"view must be in \[0, 1\], got 2"),
        (lambda: C.shift_view(x, 1.0, 1.0, 0.0), TypeError, "view must be an integer, got float"),
        (lambda: C.shift_view(x, 0, 40.0, 0.0), ValueError, r"dx must be in \[-32, 32\], got 40"),
        (lambda: C.shift_view(x, 0, 0.0, float("nan")), ValueError, "dy must be finite"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


# ===================================================================== decoder
def test_clean_decode_reports_no_mixing_no_drift():
    rig, actions, img = _scene()
    res = actimg.decode(img, rig)
    assert res.mixing is None and res.view_offsets is None
    pos, rot = _errors(res, actions)
    assert np.median(pos) < 0.05 and rot.max() < 0.2


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16), strength=st.sampled_from([0.05, 0.1, 0.2]), per_view=st.booleans())
def test_decode_under_color_mixing(seed, strength, per_view):
    rig, actions, img = _scene(size=256, seed=seed % 5)
    bad = C.color_mixing(img, strength=strength, seed=seed, per_view=per_view)
    res = actimg.decode(bad, rig)
    pos, rot = _errors(res, actions)
    assert res.valid.all()
    assert np.median(pos) < 0.5 and np.percentile(pos, 90) < 1.5, pos
    assert np.median(rot) < 0.5 and np.percentile(rot, 90) < 1.5, rot
    assert (res.openness == (actions[:, 6] > 0.5)).all()
    # the estimated matrix is the one applied (up to the noise of 8-bit images)
    rng = np.random.default_rng(seed)
    Ms = (np.stack([C.random_mixing_matrix(strength, rng) for _ in range(3)]) if per_view
          else np.broadcast_to(C.random_mixing_matrix(strength, seed), (3, 3, 3)))
    assert res.mixing is not None and res.mixing.shape == (3, 3, 3)
    assert np.abs(res.mixing - Ms).max() < 0.02


def test_decode_under_explicit_mixing_matrix_float():
    rig, actions, _ = _scene(size=256, seed=2)
    img = actimg.encode(actions, rig, dtype=np.float32)
    M = np.array([[0.75, 0.2, 0.02], [0.03, 0.8, 0.25], [0.22, 0.0, 0.73]])
    res = actimg.decode(C.color_mixing(img, M), rig)
    pos, rot = _errors(res, actions)
    assert np.median(pos) < 0.2 and pos.max() < 1.0 and rot.max() < 1.0
    assert np.abs(res.mixing - M).max() < 0.01


@pytest.mark.parametrize("length", [5.0, 10.0, 20.0])
def test_decode_under_motion_blur(length):
    rig, actions, img = _scene(size=512, T=5, seed=3)
    res = actimg.decode(C.motion_blur(img, length, seed=int(length)), rig)
    pos, rot = _errors(res, actions)
    assert res.valid.all() and res.mixing is None
    assert np.median(pos) < 0.5 and np.percentile(pos, 90) < 1.5, pos
    assert np.median(rot) < 0.5 and np.percentile(rot, 90) < 1.5, rot


@pytest.mark.parametrize("size", [256, 512])
def test_drift_of_one_view_is_recovered(size):
    rig, actions, img = _scene(V=3, T=8, size=size, seed=1)
    clean = actimg.decode(img, rig)
    res = actimg.decode(C.shift_view(img, 1, 1.5, -0.5), rig)
    assert res.view_offsets is not None and res.view_offsets.shape == (3, 2)
    np.testing.assert_allclose(res.view_offsets[1], [1.5, -0.5], atol=0.2)
    assert np.abs(res.view_offsets[[0, 2]]).max() < 0.2
    pos, rot = _errors(res, actions)
    assert np.median(pos) < 0.2 and pos.max() < 0.5 and rot.max() < 0.5
    assert np.median(res.confidence) > 0.9 and res.confidence.min() > 0.5 * clean.confidence.min()
    # detections are where the blobs are in the drifted image; reprojection after removal
    proj = np.stack([rig.project(action_points(actions)[:, k])[0] for k in range(3)], axis=2)
    d = res.detections[1] - proj[1]
    assert np.abs(np.nanmedian(d.reshape(-1, 2), axis=0) - [1.5, -0.5]).max() < 0.2
    assert np.nanmedian(res.reprojection_error) < 0.1


def _exact_detections(V: int, offsets: np.ndarray, seed: int = 4):
    """Exact projections of a random scene's points plus per-view ``offsets (V, 2)``, with
    everything the drift stage takes: ``(uv (T, V, 3, 2), R, t, ok, model, Ks, W2C)``."""
    rig, actions, _ = _scene(V=V, T=6, size=256, seed=seed)
    from actimg.geometry.camera import _frame_cameras
    from actimg.geometry.rotations import euler_to_matrix
    Ks, W2C, _ = _frame_cameras(rig, 6)
    model = actimg.ActionImageSpec().tool_points
    P = action_points(actions)  # (T, 3, 3)
    uv = np.stack([rig.project(P[:, k])[0] for k in range(3)], axis=2).transpose(1, 0, 2, 3).copy()  # (T, V, 3, 2)
    uv += offsets[None, :, None, :]
    rng = np.random.default_rng(seed)
    uv += rng.normal(0, 0.01, uv.shape)  # detection noise, so the fits have a scale
    return uv, euler_to_matrix(actions[:, 3:6]), actions[:, :3].copy(), np.ones(6, bool), model, Ks, W2C


@pytest.mark.parametrize("V, view", [(2, 0), (2, 1), (3, 2), (4, 1)])
def test_drift_system_finds_the_view_that_drifted(V, view):
    """From the exact poses and detections of a scene with one view shifted, the
    hypothesis with that view alone fits, and its offset is the shift; two views suffice
    because eliminating the rigid pose keeps the triad's shape."""
    o = np.zeros((V, 2))
    o[view] = [1.2, -0.8]
    sys_ = D.drift_system(*_exact_detections(V, o))
    assert sys_ is not None and sys_.n_frames == 6 and sys_.H.shape == (2 * V, 2 * V)
    found = D.select_drift(sys_)
    assert found is not None and found.drifted == (view,)
    np.testing.assert_allclose(found.offsets, o, atol=0.05)
    assert found.position_std < 0.5e-3 and not found.ambiguous


def test_drift_system_without_drift_finds_none():
    assert D.select_drift(D.drift_system(*_exact_detections(3, np.zeros((3, 2))))) is None


def test_drift_stage_needs_two_views_and_four_frames():
    uv, R, t, ok, model, Ks, W2C = _exact_detections(3, np.zeros((3, 2)))
    assert D.estimate_view_offsets(uv[:, :1], R, t, ok, model, Ks[:, :1], W2C[:, :1], None) is None
    ok[:3] = False
    assert D.estimate_view_offsets(uv, R, t, ok, model, Ks, W2C, None) is None


def test_drift_of_one_of_two_views_is_recovered():
    rig, actions, img = _scene(V=2, T=8, size=256, seed=1)
    res = actimg.decode(C.shift_view(img, 1, 1.5, 0.0), rig)
    assert res.view_offsets is not None
    np.testing.assert_allclose(res.view_offsets, [[0.0, 0.0], [1.5, 0.0]], atol=0.2)
    pos, rot = _errors(res, actions)
    assert np.median(pos) < 0.3 and rot.max() < 0.5
    conf = res.valid & (res.confidence >= 0.5)
    assert not (conf & ((pos > 2.0) | (rot > 2.0))).any()


@pytest.mark.parametrize("name", ["noise", "ghost", "blur", "jpeg"])
def test_no_false_mixing_or_drift(name):
    """Other corruptions are not mistaken for colour mixing or view drift."""
    rig, actions, img = _scene(V=3, T=8, size=256, seed=6)
    bad = {"noise": lambda: C.gaussian_noise(img, 0.08, seed=0),
           "ghost": lambda: C.ghost_blob(img, "G", 1.0, seed=0),
           "blur": lambda: C.blur(img, 3.0),
           "jpeg": lambda: C.jpeg(img, 40)}[name]()
    res = actimg.decode(bad, rig)
    assert res.mixing is None
    assert res.view_offsets is None or np.abs(res.view_offsets).max() < 0.3
