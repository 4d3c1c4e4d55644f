"""Calibration tools: perturb_rig, refine_rig, triangulation baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import CameraRig, look_at
from actimg.robust.calibration import (MIN_POINTS_PER_VIEW, RigRefinement, _rodrigues, dlt_triangulate,
                                optimal_triangulate, perturb_rig, refine_rig, triangulation_reference)
from actimg.geometry.rotations import rotation_angle_deg
from actimg.codec.actions import action_points
from actimg.testing import WORKSPACE_CENTER, rigs, scenes

CENTER = np.asarray(WORKSPACE_CENTER)
N_FRAMES = 12  # frames of the refinement scenes (per-frame rigs and detections)
N_POINTS = 4   # points per frame: 48 points in all


# ---------------------------------------------------------------------------- helpers
def _random_points(seed: int, T: int = N_FRAMES, P: int = N_POINTS) -> np.ndarray:
    """``(T, P, 3)`` points within 10 cm of the workspace centre (seen by every view)."""
    return CENTER + np.random.default_rng(seed).uniform(-0.1, 0.1, (T, P, 3))


def _with_view(rig: CameraRig, other: CameraRig, view: int) -> CameraRig:
    """``rig`` with ``view``'s intrinsics and extrinsics taken from ``other``."""
    K, E = np.array(rig.intrinsics), np.array(rig.extrinsics)
    K[view], E[view] = other.intrinsics[view], other.extrinsics[view]
    return CameraRig(K, E, rig.height, rig.width)


def _tilt(rig: CameraRig, view: int, deg: float, axis=(1.0, 0.0, 0.0)) -> CameraRig:
    """``rig`` with one view rotated by ``deg`` about a camera axis (every frame)."""
    E = np.array(rig.extrinsics)
    E[view, ..., :3, :3] = E[view, ..., :3, :3] @ _rodrigues(math.radians(deg) * np.asarray(axis))
    return CameraRig(rig.intrinsics, E, rig.height, rig.width)


def _mean_centres(rig: CameraRig) -> np.ndarray:
    c = rig.extrinsics[..., :3, 3]
    return c if rig.extrinsics.ndim == 3 else c.mean(axis=1)


def _scale_about(X: np.ndarray, Y: np.ndarray, c: np.ndarray) -> float:
    """Least-squares ``s`` with ``X - c ~ s (Y - c)``."""
    a, b = (X - c).ravel(), (Y - c).ravel()
    return float(a @ b / (b @ b))


def _small_rig(V: int = 4, per_frame: bool = False, T: int = N_FRAMES) -> CameraRig:
    """A fixed rig of ``V`` cameras around the workspace centre (no hypothesis)."""
    K, E = [], []
    for i in range(V):
        az, el = 2 * math.pi * i / V + 0.3, 0.2 + 0.1 * i
        eye = CENTER + 1.0 * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        E.append(look_at(eye, CENTER))
        K.append([[300.0, 0.0, 159.5], [0.0, 300.0, 119.5], [0.0, 0.0, 1.0]])
    E = np.array(E)
    if per_frame:
        E = np.repeat(E[:, None], T, axis=1)
        E[..., :3, 3] += np.random.default_rng(1).normal(0.0, 0.01, E[..., :3, 3].shape)
    return CameraRig(np.array(K), E, 240, 320)


# self-calibration needs distinct viewpoints: with two (near-)coincident cameras a 3-view rig
# has two viewpoints, and a pan along their epipolar lines cannot be seen at all
refine_rigs = rigs(n_views=st.integers(3, 5), n_frames=N_FRAMES, baseline="wide")
seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------------- perturb_rig
@settings(max_examples=40)
@given(rig=rigs(n_views=st.integers(3, 5)), seed=seeds)
def test_perturb_zero_noise_is_identity(rig, seed):
    for noise in ("exact", "gaussian"):
        out = perturb_rig(rig, seed=seed, pose_noise=noise)
        assert isinstance(out, CameraRig) and out is not rig
        assert np.array_equal(out.extrinsics, rig.extrinsics)
        assert np.array_equal(out.intrinsics, rig.intrinsics)
        assert (out.height, out.width, out.n_frames) == (rig.height, rig.width, rig.n_frames)


@settings(max_examples=30)
@given(rig=rigs(n_views=st.integers(3, 5)), seed=seeds)
def test_perturb_is_seeded(rig, seed):
    kw = dict(rotation_deg=0.7, translation_m=0.005, focal_rel=0.01, principal_px=2.0)
    a, b = perturb_rig(rig, seed=seed, **kw), perturb_rig(rig, seed=seed, **kw)
    assert np.array_equal(a.extrinsics, b.extrinsics) and np.array_equal(a.intrinsics, b.intrinsics)
    g = perturb_rig(rig, seed=np.random.default_rng(seed), **kw)  # a Generator seeded the same way
    assert np.array_equal(a.extrinsics, g.extrinsics) and np.array_equal(a.intrinsics, g.intrinsics)
    c = perturb_rig(rig, seed=seed + 1, **kw)
    assert not np.allclose(a.extrinsics, c.extrinsics)


@settings(max_examples=60)
@given(rig=rigs(n_views=st.integers(3, 5)), seed=seeds, rot=st.floats(0.0, 5.0), tr=st.floats(0.0, 0.05),
       frel=st.floats(0.0, 0.05), pp=st.floats(0.0, 5.0))
def test_perturb_exact_magnitudes(rig, seed, rot, tr, frel, pp):
    out = perturb_rig(rig, rot, tr, frel, pp, seed=seed)
    assert out.extrinsics.shape == rig.extrinsics.shape and out.intrinsics.shape == rig.intrinsics.shape
    assert out.is_static == rig.is_static
    R0, R1 = rig.extrinsics[..., :3, :3], out.extrinsics[..., :3, :3]
    # every view (and frame) turned by exactly rot degrees ...
    np.testing.assert_allclose(rotation_angle_deg(R0, R1), rot, atol=1e-6)
    # ... by the same world-frame rotation in every frame of a view
    rel = R1 @ np.swapaxes(R0, -1, -2)
    if not rig.is_static:
        np.testing.assert_allclose(rel, np.broadcast_to(rel[:, :1], rel.shape), atol=1e-12)
    # the (mean) camera centre moved by exactly tr metres
    np.testing.assert_allclose(np.linalg.norm(_mean_centres(out) - _mean_centres(rig), axis=-1), tr, atol=1e-12)
    # one zoom factor for fx and fy, one principal-point shift, the same in every frame
    K0, K1 = rig.broadcast(rig.n_frames)[0], out.broadcast(out.n_frames)[0]
    fx, fy = K1[..., 0, 0] / K0[..., 0, 0], K1[..., 1, 1] / K0[..., 1, 1]
    np.testing.assert_allclose(fx, fy, rtol=1e-12)
    np.testing.assert_allclose(fx, fx[:, :1] * np.ones_like(fx), rtol=1e-12)
    shift = K1[..., :2, 2] - K0[..., :2, 2]
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1], shift.shape), atol=1e-9)
    assert np.all(np.abs(fx - 1.0) <= 6 * frel + 1e-15)
    assert np.all(np.abs(shift) <= 6 * pp + 1e-9)


@pytest.mark.parametrize("per_frame", [False, True])
def test_perturb_magnitudes_in_expectation(per_frame):
    """Gaussian pose noise has RMS angle / displacement as requested; intrinsics noise has the
    requested standard deviations (4000 views)."""
    base = _small_rig(1, per_frame, T=3)
    V = 4000
    rig = CameraRig(np.repeat(base.intrinsics, V, axis=0), np.repeat(base.extrinsics, V, axis=0),
                    base.height, base.width)
    out = perturb_rig(rig, 2.0, 0.01, 0.02, 3.0, seed=7, pose_noise="gaussian")
    ang = rotation_angle_deg(rig.extrinsics[..., :3, :3], out.extrinsics[..., :3, :3])
    assert abs(np.sqrt(np.mean(ang ** 2)) / 2.0 - 1.0) < 0.04
    disp = np.linalg.norm(_mean_centres(out) - _mean_centres(rig), axis=-1)
    assert abs(np.sqrt(np.mean(disp ** 2)) / 0.01 - 1.0) < 0.04
    f = out.intrinsics[:, 0, 0] / rig.intrinsics[:, 0, 0] - 1.0
    assert abs(f.std() / 0.02 - 1.0) < 0.05 and abs(f.mean()) < 0.002
    dc = out.intrinsics[:, :2, 2] - rig.intrinsics[:, :2, 2]
    assert np.all(np.abs(dc.std(axis=0) / 3.0 - 1.0) < 0.05)
    # exact mode: every angle and displacement exactly as requested; axes uniform (mean ~ 0)
    ex = perturb_rig(rig, 2.0, 0.01, seed=7)
    np.testing.assert_allclose(rotation_angle_deg(rig.extrinsics[..., :3, :3], ex.extrinsics[..., :3, :3]), 2.0,
                               atol=1e-6)
    d = _mean_centres(ex) - _mean_centres(rig)
    assert np.abs(d.mean(axis=0)).max() < 0.01 * 0.05


def test_perturb_sweep_shares_axes():
    """A fixed seed draws the same axes and directions whatever the magnitudes."""
    rig = _small_rig(4)
    a, b = perturb_rig(rig, 0.5, 0.002, seed=3), perturb_rig(rig, 2.0, 0.008, seed=3)
    ra = a.extrinsics[:, :3, :3] @ np.swapaxes(rig.extrinsics[:, :3, :3], -1, -2)
    rb = b.extrinsics[:, :3, :3] @ np.swapaxes(rig.extrinsics[:, :3, :3], -1, -2)
    axis = lambda R: np.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], -1)
    ua, ub = axis(ra), axis(rb)
    np.testing.assert_allclose(ua / np.linalg.norm(ua, axis=-1, keepdims=True),
                               ub / np.linalg.norm(ub, axis=-1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(4 * (a.centers - rig.centers), b.centers - rig.centers, atol=1e-12)


def test_perturb_bad_input():
    rig = _small_rig(3)
    with pytest.raises(TypeError, match="CameraRig"):
        perturb_rig(rig.extrinsics, 1.0)
    with pytest.raises(ValueError, match="rotation_deg must be finite and >= 0"):
        perturb_rig(rig, -1.0)
    with pytest.raises(ValueError, match="translation_m"):
        perturb_rig(rig, 0.0, float("nan"))
    with pytest.raises(TypeError, match="focal_rel must be a real number"):
        perturb_rig(rig, focal_rel="0.1")
    with pytest.raises(ValueError, match="pose_noise must be one of"):
        perturb_rig(rig, 1.0, pose_noise="uniform")
    with pytest.raises(TypeError, match="seed"):
        perturb_rig(rig, 1.0, seed=1.5)
    with pytest.raises(ValueError, match="focal factor"):
        perturb_rig(rig, focal_rel=100.0, seed=0)


# -------------------------------------------------------------------------- refine_rig
@settings(max_examples=20)
@given(rig=refine_rigs, seed=seeds, rot=st.floats(0.5, 1.0), ref=st.integers(0, 2))
def test_refine_recovers_rotation_errors(rig, seed, rot, ref):
    """Every non-reference view off by 0.5-1 deg: refinement restores the rig and the points."""
    X = _random_points(seed)
    det, _ = rig.project(X)
    given_rig = _with_view(perturb_rig(rig, rot, seed=seed), rig, ref)
    r = refine_rig(given_rig, det, reference_view=ref)
    assert isinstance(r, RigRefinement) and r.converged
    assert r.rig.is_static == rig.is_static and r.rig.extrinsics.shape == rig.extrinsics.shape
    assert r.rms_before.max() > 0.1
    err0 = np.linalg.norm(r.initial_points - X, axis=-1).mean()
    err1 = np.linalg.norm(r.points - X, axis=-1).mean()
    rot_err = rotation_angle_deg(r.rig.extrinsics[..., :3, :3], rig.extrinsics[..., :3, :3])
    np.testing.assert_allclose(r.rotation_deg[np.arange(rig.n_views) != ref], rot, atol=0.05)
    if rig.is_static:
        # exact: nothing but rotations was wrong and the centres gauge keeps the scale
        assert r.rms_after.max() < 1e-6
        assert err1 < 1e-6 and rot_err.max() < 1e-6
    else:
        # the per-frame jitter about each frame's own centre is not one rigid correction
        assert r.rms_after.max() < 0.05 * r.rms_before.max() + 0.02
        assert err1 < 0.25 * err0 and rot_err.max() < 0.1


@settings(max_examples=20)
@given(rig=refine_rigs, seed=seeds, rot=st.floats(0.5, 1.0), tr=st.floats(0.005, 0.01))
def test_refine_recovers_pose_errors_up_to_scale(rig, seed, rot, tr):
    """Rotation 0.5-1 deg and centre 5-10 mm off on every non-reference view."""
    X = _random_points(seed)
    det, _ = rig.project(X)
    given_rig = _with_view(perturb_rig(rig, rot, tr, seed=seed), rig, 0)
    r = refine_rig(given_rig, det)
    assert r.rms_before.max() > 0.1
    c_ref = _mean_centres(rig)[0]
    s = _scale_about(r.points, X, c_ref)
    # the only freedom left is the global scale about the reference camera, and the
    # "centres" gauge keeps it within tr / (smallest reference-to-camera distance)
    dist = np.linalg.norm(_mean_centres(rig)[1:] - c_ref, axis=-1)
    assert abs(s - 1.0) <= tr / dist.min() * 1.02 + 1e-9
    aligned = np.linalg.norm(r.points - (c_ref + s * (X - c_ref)), axis=-1)
    rot_err = rotation_angle_deg(r.rig.extrinsics[..., :3, :3], rig.extrinsics[..., :3, :3])
    if rig.is_static:
        assert r.rms_after.max() < 1e-6
        assert aligned.max() < 1e-6 and rot_err.max() < 1e-6
    else:
        assert r.rms_after.max() < 0.05 * r.rms_before.max() + 0.02
        assert aligned.max() < 2e-3 and rot_err.max() < 0.1


def test_refine_measured_numbers():
    """A fixed scene: 4 views, 48 points, 1 deg and 8 mm off on views 1-3."""
    rig = _small_rig(4)
    X = _random_points(0)
    det, _ = rig.project(X)
    given_rig = _with_view(perturb_rig(rig, 1.0, 0.008, seed=1), rig, 0)
    r = refine_rig(given_rig, det)
    err0 = np.linalg.norm(r.initial_points - X, axis=-1).mean()
    err1 = np.linalg.norm(r.points - X, axis=-1).mean()
    assert r.rms_before.min() > 1.0 and r.rms_after.max() < 1e-8
    assert err1 < 0.3 * err0
    # without translation noise the points come back exactly
    r2 = refine_rig(_with_view(perturb_rig(rig, 1.0, seed=1), rig, 0), det)
    assert np.linalg.norm(r2.points - X, axis=-1).max() < 1e-8


@pytest.mark.parametrize("per_frame", [False, True])
def test_refine_corrections_are_left_multiplied(per_frame):
    rig = _small_rig(4, per_frame)
    X = _random_points(2)
    det, _ = rig.project(X)
    given_rig = _with_view(perturb_rig(rig, 1.0, 0.005, seed=2), rig, 1)
    r = refine_rig(given_rig, det, reference_view=1)
    C = r.corrections
    assert C.shape == (4, 4, 4)
    np.testing.assert_array_equal(C[1], np.eye(4))
    np.testing.assert_array_equal(r.rig.extrinsics[1], given_rig.extrinsics[1])
    expect = C @ given_rig.extrinsics if not per_frame else C[:, None] @ given_rig.extrinsics
    np.testing.assert_allclose(r.rig.extrinsics, expect, atol=1e-12)
    np.testing.assert_array_equal(r.rig.intrinsics, given_rig.intrinsics)
    np.testing.assert_allclose(r.rotation_deg, rotation_angle_deg(np.eye(3), C[:, :3, :3]), atol=1e-9)


@settings(max_examples=20)
@given(rig=refine_rigs, seed=seeds, bad=st.integers(0, 4), axis=st.sampled_from([(1, 0, 0), (0, 1, 0)]))
def test_refine_names_a_single_offset_view(rig, seed, bad, axis):
    """One view (the reference one included) tilted by 1 deg: that view, and only it, is suspect."""
    bad = bad % rig.n_views
    X = _random_points(seed)
    det, _ = rig.project(X)
    r = refine_rig(_tilt(rig, bad, 1.0, axis), det)
    assert r.suspect_views == (bad,)
    assert r.offset_px[bad] > 0.5
    others = np.arange(rig.n_views) != bad
    assert r.offset_px[others].max() < 0.5
    text = r.report()
    assert f"view {bad}:" in text and f"{r.offset_px[bad]:.2f} px" in text
    assert text.count("Suspect: view") == 1


def test_refine_clean_rig_has_no_suspect():
    rig = _small_rig(4)
    X = _random_points(3)
    det, _ = rig.project(X)
    r = refine_rig(rig, det)
    assert r.suspect_views == ()
    assert r.rms_after.max() < 1e-8 and r.offset_px.max() < 1e-6
    np.testing.assert_allclose(r.corrections, np.broadcast_to(np.eye(4), (4, 4, 4)), atol=1e-9)
    assert "No view is systematically offset" in r.report()
    assert "RigRefinement(V=4" in repr(r)


def test_refine_weights_nan_and_points():
    rig = _small_rig(5)
    X = _random_points(4, T=20)
    det, _ = rig.project(X)
    rng = np.random.default_rng(4)
    det[rng.random(det.shape[:3]) < 0.2] = np.nan  # 20 % unseen
    w = rng.uniform(0.5, 2.0, det.shape[:3])
    w[0, :3] = 0.0  # ignored detections
    given_rig = _with_view(perturb_rig(rig, 1.0, seed=4), rig, 0)
    r = refine_rig(given_rig, det, w)
    seen = np.isfinite(det).all(-1) & (w > 0)
    assert r.n_observations.sum() <= seen.sum()
    assert r.rms_after.max() < 1e-6
    assert np.nanmax(np.linalg.norm(r.points - X, axis=-1)) < 1e-6
    # starting points given explicitly (NaN = unknown)
    P0 = X + 0.01
    P0[0, 0] = np.nan
    r2 = refine_rig(given_rig, det, w, points=P0)
    assert np.isnan(r2.points[0, 0]).all()
    assert np.nanmax(np.linalg.norm(r2.points - X, axis=-1)) < 1e-6
    # a robust loss still converges on exact data
    r3 = refine_rig(given_rig, det, w, loss="soft_l1")
    assert r3.rms_after.max() < 1e-6


def test_refine_scale_gauges():
    rig = _small_rig(4)
    X = _random_points(5)
    det, _ = rig.project(X)
    given_rig = _with_view(perturb_rig(rig, 0.5, 0.01, seed=5), rig, 0)
    a = refine_rig(given_rig, det, scale_gauge="centres")
    b = refine_rig(given_rig, det, scale_gauge="baseline")
    assert a.scale_gauge == "centres" and b.scale_gauge == "baseline"
    assert a.rms_after.max() < 1e-8 and b.rms_after.max() < 1e-8
    c = _mean_centres(given_rig)
    cb = _mean_centres(b.rig)
    far = 1 + int(np.argmax(np.linalg.norm(c[1:] - c[0], axis=-1)))
    assert abs(np.linalg.norm(cb[far] - c[0]) - np.linalg.norm(c[far] - c[0])) < 1e-9
    # centres: the least total displacement among the equivalent solutions
    ca = _mean_centres(a.rig)
    for s in (0.999, 1.001):
        moved = c[0] + s * (ca - c[0])
        assert np.sum((moved - c) ** 2) > np.sum((ca - c) ** 2)


def test_refine_errors():
    rig = _small_rig(4)
    X = _random_points(6)
    det, _ = rig.project(X)
    with pytest.raises(TypeError, match="CameraRig"):
        refine_rig(det, det)
    with pytest.raises(ValueError, match="at least 3 views"):
        refine_rig(rig.with_views([0, 1]), det[:2])
    with pytest.raises(ValueError, match="detections must have 4 dimensions"):
        refine_rig(rig, det[:, :, 0])
    with pytest.raises(ValueError, match=r"detections must have shape \(\.\.\., 2\)"):
        refine_rig(rig, np.zeros(det.shape[:3] + (3,)))
    with pytest.raises(ValueError, match="V=3 views but the rig has 4"):
        refine_rig(rig, det[:3])
    with pytest.raises(ValueError, match="T=12 frames but the per-frame rig has T=5"):
        refine_rig(_small_rig(4, per_frame=True, T=5), det)
    with pytest.raises(ValueError, match="weights must have shape"):
        refine_rig(rig, det, np.ones(det.shape[:2]))
    with pytest.raises(ValueError, match="non-negative"):
        refine_rig(rig, det, -np.ones(det.shape[:3]))
    with pytest.raises(ValueError, match=r"reference_view must be in 0\.\.3, got 4"):
        refine_rig(rig, det, reference_view=4)
    with pytest.raises(ValueError, match="reference_view must be in"):
        refine_rig(rig, det, reference_view=-1)
    with pytest.raises(TypeError, match="reference_view must be an int"):
        refine_rig(rig, det, reference_view=1.0)
    with pytest.raises(TypeError, match="reference_view must be an int"):
        refine_rig(rig, det, reference_view=True)
    with pytest.raises(ValueError, match="points must have shape"):
        refine_rig(rig, det, points=X[:, :2])
    with pytest.raises(ValueError, match="scale_gauge must be one of"):
        refine_rig(rig, det, scale_gauge="none")
    with pytest.raises(ValueError, match="loss must be one of"):
        refine_rig(rig, det, loss="l2")
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        refine_rig(rig, det, iterations=0)
    with pytest.raises(ValueError, match=r"only 2 of 2 frames .* min_frames=4"):
        refine_rig(rig, det[:, :2])
    sparse = det.copy()
    sparse[:, 2:] = np.nan
    with pytest.raises(ValueError, match=r"only 2 of 12 frames"):
        refine_rig(rig, sparse)
    blind = det.copy()
    blind[2, 1:] = np.nan  # view 2 sees one frame only: 4 points, just enough
    refine_rig(rig, blind)
    blind[2, 0, 1:] = np.nan
    with pytest.raises(ValueError, match=f"view 2 sees only 1 usable points \\(need {MIN_POINTS_PER_VIEW}\\)"):
        refine_rig(rig, blind)


# ---------------------------------------------------------------------- triangulation
@settings(max_examples=40)
@given(scene=scenes(n_views=st.integers(3, 5)))
def test_triangulators_agree_on_exact_data(scene):
    rig, actions = scene
    pts = action_points(actions)  # (T, 3, 3)
    pix, _ = rig.project(pts)  # (V, T, 3, 2)
    for p in range(3):
        truth = pts[:, p]
        x = pix[:, :, p]
        for X in (dlt_triangulate(x, rig), optimal_triangulate(x, rig), actimg.triangulate(x, rig)[0]):
            assert X.shape == truth.shape
            np.testing.assert_allclose(X, truth, atol=1e-6)


@settings(max_examples=25)
@given(scene=scenes(n_views=st.integers(3, 5)), seed=seeds)
def test_optimal_triangulation_minimises_reprojection(scene, seed):
    rig, actions = scene
    truth = action_points(actions)[:, 0]
    pix, _ = rig.project(truth)
    x = pix + np.random.default_rng(seed).normal(0.0, 1.0, pix.shape)

    def sse(X):
        p, _ = rig.project(X)
        return np.sum((p - x) ** 2, axis=(0, 2))

    d, o = dlt_triangulate(x, rig), optimal_triangulate(x, rig)
    t = actimg.triangulate(x, rig)[0]
    assert np.all(sse(o) <= sse(d) * (1 + 1e-9) + 1e-9)
    np.testing.assert_allclose(sse(o), sse(t), rtol=1e-5, atol=1e-6)


def test_triangulators_unseen_views():
    rig = _small_rig(3)
    X = _random_points(7, T=5, P=1)[:, 0]
    pix, _ = rig.project(X)
    pix[0, 0] = np.nan  # frame 0 seen by views 1, 2
    pix[1:, 1] = np.nan  # frame 1 seen by view 0 only
    pix[2, 2, 0] = np.nan  # one NaN coordinate = unseen
    for f in (dlt_triangulate, optimal_triangulate):
        out = f(pix, rig)
        assert out.shape == (5, 3)
        assert np.isnan(out[1]).all()
        np.testing.assert_allclose(out[[0, 2, 3, 4]], X[[0, 2, 3, 4]], atol=1e-6)
    with pytest.raises(ValueError, match="points2d has V=2 views but the rig has 3"):
        dlt_triangulate(pix[:2], rig)
    with pytest.raises(TypeError, match="CameraRig"):
        optimal_triangulate(pix, None)
    with pytest.raises(ValueError, match="per-frame rig has T=12"):
        dlt_triangulate(pix, _small_rig(3, per_frame=True))


@settings(max_examples=25)
@given(rig=rigs(n_views=st.integers(3, 5), n_frames=N_FRAMES), seed=seeds)
def test_triangulation_reference(rig, seed):
    X = _random_points(seed)
    same = triangulation_reference(rig, rig, X)
    assert same.shape == X.shape
    np.testing.assert_allclose(same, X, atol=1e-6)
    used = perturb_rig(rig, 1.0, 0.01, seed=seed)
    ref = triangulation_reference(rig, used, X)
    err = np.linalg.norm(ref - X, axis=-1)
    assert np.isfinite(err).all() and err.mean() > 1e-4
    # in_image_only drops views whose projection falls outside the image
    inside = triangulation_reference(rig, used, X, in_image_only=True)
    assert inside.shape == X.shape


def test_triangulation_reference_errors():
    rig = _small_rig(3)
    with pytest.raises(ValueError, match="rig_true has 3 views but rig_used has 4"):
        triangulation_reference(rig, _small_rig(4), _random_points(0))
    with pytest.raises(ValueError, match="points3d must have 3 dimensions"):
        triangulation_reference(rig, rig, _random_points(0)[0])
    with pytest.raises(ValueError, match="per-frame rig_used has T=12"):
        triangulation_reference(rig, _small_rig(3, per_frame=True), _random_points(0, T=5))


def test_refine_decoded_detections():
    """End to end: images rendered with the true rig, decoded through a rig whose view 2 is
    tilted by 1 deg; DecodeResult.detections / detection_weight go straight in."""
    rig, actions = actimg.default_scene(4, 16, 256, 256)
    images = actimg.encode(actions, rig)
    used = _tilt(rig, 2, 1.0)
    res = actimg.decode(images, used)
    r = refine_rig(used, res.detections, res.detection_weight)
    truth = action_points(actions)
    assert r.suspect_views == (2,)
    assert r.rms_before[2] > 1.0 and r.rms_after.max() < 0.02
    assert np.nanmean(np.linalg.norm(r.points - truth, axis=-1)) < 0.2e-3
    assert np.nanmean(np.linalg.norm(r.initial_points - truth, axis=-1)) > 1e-3
    np.testing.assert_allclose(rotation_angle_deg(r.rig.extrinsics[2, :3, :3], rig.extrinsics[2, :3, :3]), 0.0,
                               atol=0.01)
