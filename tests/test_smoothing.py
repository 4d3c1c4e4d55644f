"""actimg.smoothing: gap filling and lag-free / causal smoothing of decoded trajectories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import actimg
from actimg.codec.decoder import DecodeResult
from actimg.geometry.rotations import matrix_to_euler, rotation_angle_deg
from actimg.robust.smoothing import SmoothResult, smooth
from actimg.codec.spec import ActionImageSpec

SPEC = ActionImageSpec()
V = 2


# --------------------------------------------------------------------------------------- helpers


def make_result(pos, R, openness=None, valid=None, confidence=None, spec=SPEC, method="actimg"):
    """A DecodeResult built the way the decoder builds one: NaN where not valid."""
    pos = np.asarray(pos, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    T = pos.shape[0]
    valid = np.ones(T, bool) if valid is None else np.asarray(valid, bool)
    opn = np.ones(T) if openness is None else np.asarray(openness, dtype=np.float64)
    conf = np.full(T, 0.9) if confidence is None else np.asarray(confidence, dtype=np.float64)
    pos = np.where(valid[:, None], pos, np.nan)
    R = np.where(valid[:, None, None], R, np.nan)
    opn = np.where(valid, opn, np.nan)
    actions = np.full((T, 7), np.nan)
    if valid.any():
        actions[valid, :3] = pos[valid]
        actions[valid, 3:6] = matrix_to_euler(R[valid], spec.euler)
        actions[valid, 6] = opn[valid]
    points = pos[:, None, :] + np.einsum("tij,pj->tpi", R, spec.tool_points)
    return DecodeResult(actions=actions, positions=pos, rotations=R, openness=opn,
                        confidence=np.where(valid, conf, 0.0), valid=valid.copy(),
                        reprojection_error=np.where(valid[:, None, None], 0.1, np.nan) * np.ones((T, V, 3)),
                        detections=np.zeros((V, T, 3, 2)), detection_weight=np.ones((V, T, 3)),
                        points=points, gripper_floor=np.full((V, T), 0.25), method=method)


def truth_trajectory(T, seed=0):
    """A smooth pose trajectory: slow sinusoids in position (m) and rotation vector (rad)."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0.0, 1.0, T)[:, None]
    f = rng.uniform(0.3, 1.0, (1, 3))
    ph = rng.uniform(0, 2 * np.pi, (1, 3))
    pos = np.array([0.5, 0.0, 0.2]) + 0.1 * np.sin(2 * np.pi * f * s + ph)
    base = Rotation.from_rotvec(rng.normal(size=3))
    rv = 0.6 * np.sin(2 * np.pi * f[:, ::-1] * s + ph)
    R = (Rotation.from_rotvec(rv) * base).as_matrix()
    return pos, R


def constant_rate(T, R0, omega, world=True):
    """Rotations at a constant angular velocity ``omega`` (rad/frame), world or body frame."""
    steps = Rotation.from_rotvec(np.arange(T)[:, None] * np.asarray(omega)[None])
    R0 = Rotation.from_matrix(R0)
    return (steps * R0 if world else R0 * steps).as_matrix()


def rms(a):
    return float(np.sqrt(np.nanmean(np.square(a))))


def check_consistent(res: DecodeResult, spec=SPEC):
    """actions, poses and points of a smoothed result agree; invalid frames are NaN."""
    v = res.valid
    T = v.shape[0]
    assert res.actions.shape == (T, 7) and res.rotations.shape == (T, 3, 3) and res.points.shape == (T, 3, 3)
    assert np.isnan(res.actions[~v]).all() and np.isnan(res.positions[~v]).all()
    assert np.isnan(res.rotations[~v]).all() and (res.confidence[~v] == 0).all()
    if v.any():
        assert np.isfinite(res.actions[v]).all()
        np.testing.assert_allclose(res.actions[v, :3], res.positions[v], atol=0)
        np.testing.assert_allclose(res.actions[v, 6], res.openness[v], atol=0)
        Rv = res.rotations[v]
        np.testing.assert_allclose(np.swapaxes(Rv, 1, 2) @ Rv, np.broadcast_to(np.eye(3), Rv.shape), atol=1e-9)
        np.testing.assert_allclose(res.actions[v, 3:6], matrix_to_euler(Rv, spec.euler), atol=1e-12)
        pts = res.positions[v, None] + np.einsum("tij,pj->tpi", Rv, spec.tool_points)
        np.testing.assert_allclose(res.points[v], pts, atol=1e-12)
        assert ((res.confidence[v] >= 0) & (res.confidence[v] <= 1)).all()


def frozen(res: DecodeResult) -> DecodeResult:
    """Make every input array read-only, so any write into the input raises."""
    for name in ("actions", "positions", "rotations", "openness", "confidence", "valid", "reprojection_error",
                 "detections", "detection_weight", "points", "gripper_floor"):
        getattr(res, name).flags.writeable = False
    return res


# --------------------------------------------------------------------------------------- noise


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31 - 1), sigma_p=st.floats(0.001, 0.01), sigma_r=st.floats(0.5, 3.0),
       window=st.sampled_from([7, 9, 11]))
def test_savgol_reduces_noise_in_position_and_rotation(seed, sigma_p, sigma_r, window):
    T = 80
    pos, R = truth_trajectory(T, seed)
    rng = np.random.default_rng(seed + 1)
    noisy_p = pos + rng.normal(0, sigma_p, pos.shape)
    noisy_R = (Rotation.from_rotvec(rng.normal(0, np.radians(sigma_r), (T, 3))) * Rotation.from_matrix(R)).as_matrix()
    out = smooth(frozen(make_result(noisy_p, noisy_R)), window=window).result
    check_consistent(out)
    before_p, after_p = rms(noisy_p - pos), rms(out.positions - pos)
    before_r, after_r = rms(rotation_angle_deg(noisy_R, R)), rms(rotation_angle_deg(out.rotations, R))
    assert after_p < 0.75 * before_p
    assert after_r < 0.75 * before_r


def test_one_euro_reduces_noise_on_a_slow_trajectory():
    T = 120
    pos, R = truth_trajectory(T, 3)
    rng = np.random.default_rng(4)
    noisy_p = pos + rng.normal(0, 0.005, pos.shape)
    noisy_R = (Rotation.from_rotvec(rng.normal(0, np.radians(2.0), (T, 3))) * Rotation.from_matrix(R)).as_matrix()
    out = smooth(make_result(noisy_p, noisy_R), method="one_euro", fps=30.0, min_cutoff=2.0, beta=5.0).result
    check_consistent(out)
    assert rms(out.positions - pos) < 0.85 * rms(noisy_p - pos)
    assert rms(rotation_angle_deg(out.rotations, R)) < 0.85 * rms(rotation_angle_deg(noisy_R, R))
    # a separate beta for rotation (s/rad) and position (s/m)
    pair = smooth(make_result(noisy_p, noisy_R), method="one_euro", min_cutoff=2.0, beta=(20.0, 0.0)).result
    assert rms(pair.positions - pos) < 0.85 * rms(noisy_p - pos)
    assert rms(rotation_angle_deg(pair.rotations, R)) < 0.95 * rms(rotation_angle_deg(noisy_R, R))


def test_one_euro_is_causal_and_keeps_a_constant_pose():
    T = 40
    pos, R = truth_trajectory(T, 5)
    rng = np.random.default_rng(6)
    pos = pos + rng.normal(0, 0.003, pos.shape)
    a = smooth(make_result(pos, R), method="one_euro", beta=1.0).result
    pos2, R2 = pos.copy(), R.copy()
    pos2[25:] += 0.2
    R2[25:] = Rotation.from_rotvec([0.0, 1.0, 0.0]).as_matrix() @ R2[25:]
    b = smooth(make_result(pos2, R2), method="one_euro", beta=1.0).result
    np.testing.assert_array_equal(a.actions[:25], b.actions[:25])  # the future does not matter
    assert not np.allclose(a.actions[25:], b.actions[25:])
    Rc = np.repeat(R[:1], T, axis=0)
    c = smooth(make_result(np.repeat(pos[:1], T, axis=0), Rc), method="one_euro").result
    np.testing.assert_allclose(c.positions, np.repeat(pos[:1], T, axis=0), atol=1e-12)
    assert rotation_angle_deg(c.rotations, Rc).max() < 1e-6


def test_one_euro_lags_less_than_a_moving_average_with_beta():
    T = 60
    pos = np.zeros((T, 3))
    pos[:, 0] = 0.01 * np.arange(T)  # 0.3 m/s at 30 fps
    R = np.repeat(np.eye(3)[None], T, axis=0)
    slow = smooth(make_result(pos, R), method="one_euro", beta=0.0, min_cutoff=1.0).result
    fast = smooth(make_result(pos, R), method="one_euro", beta=20.0, min_cutoff=1.0).result
    lag_slow = np.abs(slow.positions[-10:, 0] - pos[-10:, 0]).mean()
    lag_fast = np.abs(fast.positions[-10:, 0] - pos[-10:, 0]).mean()
    assert lag_fast < 0.5 * lag_slow


# --------------------------------------------------------------------------------------- no lag


@settings(max_examples=25)
@given(window=st.sampled_from([3, 5, 7, 9, 11, 15]), polyorder=st.integers(0, 4), seed=st.integers(0, 2**31 - 1),
       T=st.integers(16, 40), world=st.booleans())
def test_savgol_preserves_polynomials_and_constant_angular_velocity(window, polyorder, seed, T, world):
    polyorder = min(polyorder, window - 1)
    rng = np.random.default_rng(seed)
    t = np.arange(T, dtype=np.float64) / T
    coeffs = rng.normal(0, 0.2, (polyorder + 1, 3))
    pos = sum(c * t[:, None] ** k for k, c in enumerate(coeffs)) + np.array([0.5, 0.0, 0.2])
    if polyorder >= 1:
        # constant angular velocity, up to ~0.2 rad/frame: a window never turns past 180 deg
        omega = rng.normal(size=3)
        omega *= rng.uniform(0.0, 0.2) / np.linalg.norm(omega)
    else:
        omega = np.zeros(3)
    R = constant_rate(T, Rotation.random(random_state=seed % 2**32).as_matrix(), omega, world)
    src = make_result(pos, R)
    out = smooth(src, window=window, polyorder=polyorder).result
    check_consistent(out)
    np.testing.assert_allclose(out.positions, pos, atol=1e-9)
    assert rotation_angle_deg(out.rotations, R).max() < 1e-6
    np.testing.assert_allclose(out.actions[:, :6], src.actions[:, :6], atol=1e-7)


def test_savgol_preserves_quadratic_angle_about_a_fixed_axis():
    T = 30
    k = np.arange(T)
    angle = 0.02 * k + 0.004 * k**2
    axis = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    R = (Rotation.from_rotvec(angle[:, None] * axis) * Rotation.from_euler("xyz", [3.0, 0.2, -1.0])).as_matrix()
    out = smooth(make_result(np.zeros((T, 3)), R), window=9, polyorder=2).result
    assert rotation_angle_deg(out.rotations, R).max() < 1e-6


def test_yaw_through_180_degrees_is_smoothed_without_a_jump():
    T = 61
    yaw = np.radians(np.linspace(150.0, 210.0, T))  # Euler rz wraps from +180 to -180 halfway
    eul = np.stack([np.full(T, np.pi - 0.1), np.full(T, 0.05), yaw], axis=1)
    R = Rotation.from_euler("xyz", eul).as_matrix()
    rng = np.random.default_rng(0)
    noisy = (Rotation.from_rotvec(rng.normal(0, np.radians(1.0), (T, 3))) * Rotation.from_matrix(R)).as_matrix()
    src = make_result(np.zeros((T, 3)), noisy)
    assert np.abs(np.diff(src.actions[:, 5])).max() > np.pi  # the Euler angles do jump
    out = smooth(src, window=9).result
    check_consistent(out)
    err = rotation_angle_deg(out.rotations, R)
    assert err.max() < 3.0 and err[25:36].max() < 2.0  # naive Euler smoothing is off by ~180 deg here
    assert rms(err) < 0.75 * rms(rotation_angle_deg(noisy, R))
    step = rotation_angle_deg(out.rotations[:-1], out.rotations[1:])
    assert step.max() < 3.0  # true step is 1 deg; no artefact at the wrap
    # and the clean trajectory passes unchanged (constant angular velocity)
    clean = smooth(make_result(np.zeros((T, 3)), R), window=9).result
    assert rotation_angle_deg(clean.rotations, R).max() < 1e-6
    oe = smooth(src, method="one_euro", beta=1.0).result
    assert rotation_angle_deg(oe.rotations[:-1], oe.rotations[1:]).max() < 3.0


def test_openness_median_keeps_steps_and_removes_flicker():
    T = 30
    opn = np.where(np.arange(T) < 15, 1.0, 0.0)
    flick = opn.copy()
    flick[5] = 0.0
    flick[22] = 1.0
    pos, R = truth_trajectory(T, 1)
    out = smooth(make_result(pos, R, openness=flick), window=5).result
    np.testing.assert_array_equal(out.openness, opn)
    np.testing.assert_array_equal(out.actions[:, 6], opn)


# --------------------------------------------------------------------------------------- gaps


def test_gap_is_filled_by_interpolation_and_marked():
    T = 21
    pos = np.zeros((T, 3))
    pos[:, 0] = 0.01 * np.arange(T)
    pos[:, 2] = 0.3
    axis = np.array([0.0, 0.0, 1.0])
    R = constant_rate(T, np.eye(3), 0.05 * axis)
    opn = np.where(np.arange(T) < 10, 1.0, 0.0)
    valid = np.ones(T, bool)
    valid[7:12] = False  # frames 7..11, neighbours 6 and 12, midpoint 9
    conf = np.full(T, 0.8)
    src = frozen(make_result(pos, R, opn, valid, conf))
    res = smooth(src, method=None)
    assert isinstance(res, SmoothResult)
    out = res.result
    check_consistent(out)
    assert res.filled.tolist() == (~valid).tolist()
    assert out.valid.all() and not res.rejected.any()
    np.testing.assert_allclose(out.positions[9], [0.09, 0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(out.positions, pos, atol=1e-12)  # linear: exact everywhere
    assert rotation_angle_deg(out.rotations, R).max() < 1e-6  # SLERP of a constant rate: exact
    np.testing.assert_allclose(out.actions[9, 5], 0.45, atol=1e-9)  # yaw midway between 0.30 and 0.60
    # openness from the nearest measured frame (earlier one on a tie)
    assert out.openness[7:12].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    # measured frames keep their confidence; filled ones are lower, lowest in the middle
    np.testing.assert_array_equal(out.confidence[valid], conf[valid])
    np.testing.assert_allclose(out.confidence[7:12], 0.8 * 0.5 ** np.array([1, 2, 3, 2, 1]))
    # smoothing a linear trajectory after filling changes nothing either
    sg = smooth(src, window=7).result
    np.testing.assert_allclose(sg.positions, pos, atol=1e-12)
    assert rotation_angle_deg(sg.rotations, R).max() < 1e-6


def test_slerp_midpoint_of_a_large_rotation():
    T = 3
    R = np.stack([np.eye(3), np.eye(3), Rotation.from_rotvec([0.0, 2.0, 0.0]).as_matrix()])
    out = smooth(make_result(np.zeros((3, 3)), R, valid=[True, False, True]), method=None).result
    np.testing.assert_allclose(Rotation.from_matrix(out.rotations[1]).as_rotvec(), [0.0, 1.0, 0.0], atol=1e-12)
    assert T == out.valid.sum()


def test_cubic_interpolation_reproduces_a_cubic():
    T = 25
    t = np.arange(T) / T
    pos = np.stack([t**3, 0.5 * t**2 - t, np.full(T, 0.2)], axis=1)
    R = constant_rate(T, np.eye(3), [0.02, -0.03, 0.05])
    valid = np.ones(T, bool)
    valid[10:16] = False
    lin = smooth(make_result(pos, R, valid=valid), method=None).result
    cub = smooth(make_result(pos, R, valid=valid), method=None, interpolation="cubic").result
    check_consistent(cub)
    np.testing.assert_allclose(cub.positions, pos, atol=1e-12)
    assert np.abs(lin.positions - pos).max() > 1e-4
    assert rotation_angle_deg(cub.rotations, R).max() < 1e-4


def test_gaps_longer_than_max_gap_stay_invalid_and_split_the_trajectory():
    T = 30
    pos, R = truth_trajectory(T, 2)
    valid = np.ones(T, bool)
    valid[5:7] = False  # 2 frames: filled
    valid[15:20] = False  # 5 frames: too long
    res = smooth(make_result(pos, R, valid=valid), max_gap=3, window=5)
    out = res.result
    check_consistent(out)
    assert res.filled.tolist() == [5 <= i < 7 for i in range(T)]
    assert out.valid.tolist() == [not (15 <= i < 20) for i in range(T)]
    assert np.isnan(out.actions[15:20]).all() and (out.confidence[15:20] == 0).all()
    assert res.rejected[15:20].all()
    # max_gap=0 fills nothing; fill_gaps=False neither
    for kw in ({"max_gap": 0}, {"fill_gaps": False}):
        r = smooth(make_result(pos, R, valid=valid), window=5, **kw)
        assert not r.filled.any() and r.result.valid.tolist() == valid.tolist()
        check_consistent(r.result)


def test_leading_and_trailing_gaps_are_held():
    T = 12
    pos, R = truth_trajectory(T, 7)
    valid = np.ones(T, bool)
    valid[:3] = False
    valid[-2:] = False
    res = smooth(make_result(pos, R, valid=valid), method=None)
    out = res.result
    assert res.filled.tolist() == (~valid).tolist() and out.valid.all()
    np.testing.assert_array_equal(out.positions[:3], np.repeat(pos[3:4], 3, axis=0))
    np.testing.assert_array_equal(out.positions[-2:], np.repeat(pos[-3:-2], 2, axis=0))
    np.testing.assert_allclose(out.rotations[0], R[3], atol=1e-12)
    np.testing.assert_allclose(out.confidence[:3], 0.9 * 0.5 ** np.array([3, 2, 1]))
    # a leading gap longer than max_gap is not held
    r2 = smooth(make_result(pos, R, valid=valid), method=None, max_gap=2)
    assert r2.result.valid[:3].tolist() == [False] * 3 and r2.filled[-2:].all()


def test_low_confidence_frames_are_replaced():
    T = 15
    pos = np.zeros((T, 3))
    pos[:, 1] = 0.02 * np.arange(T)
    R = np.repeat(np.eye(3)[None], T, axis=0)
    bad = pos.copy()
    bad[7] += [0.0, 0.0, 0.5]  # an outlier the decoder was unsure of
    conf = np.full(T, 0.9)
    conf[7] = 0.1
    res = smooth(make_result(bad, R, confidence=conf), method=None, min_confidence=0.5)
    assert res.filled.tolist() == [i == 7 for i in range(T)]
    np.testing.assert_allclose(res.result.positions[7], pos[7], atol=1e-12)
    assert res.result.confidence[7] == pytest.approx(0.45)
    # rejected and not filled: invalid
    r2 = smooth(make_result(bad, R, confidence=conf), method=None, min_confidence=0.5, fill_gaps=False)
    assert r2.result.valid.tolist() == [i != 7 for i in range(T)]
    # default min_confidence keeps it
    r3 = smooth(make_result(bad, R, confidence=conf), method=None)
    assert not r3.filled.any() and r3.result.positions[7, 2] == 0.5


@pytest.mark.parametrize("method", ["savgol", "one_euro", None])
def test_all_invalid_input_stays_invalid(method):
    T = 9
    pos, R = truth_trajectory(T)
    res = smooth(frozen(make_result(pos, R, valid=np.zeros(T, bool))), method=method)
    assert not res.result.valid.any() and not res.filled.any()
    check_consistent(res.result)
    assert np.isnan(res.result.points).all()


@pytest.mark.parametrize("method", ["savgol", "one_euro", None])
def test_nan_safe_and_input_untouched(method):
    T = 25
    pos, R = truth_trajectory(T, 9)
    valid = np.ones(T, bool)
    valid[[0, 4, 5, 12, 20, 21, 22, 23, 24]] = False
    src = make_result(pos, R, valid=valid)
    src.actions[3, 2] = np.nan  # valid flag but a NaN action: treated as a gap
    before = {k: np.array(getattr(src, k), copy=True) for k in ("actions", "positions", "rotations", "points")}
    frozen(src)
    res = smooth(src, method=method, window=5, max_gap=3)
    check_consistent(res.result)
    assert res.filled[3] and res.filled[[0, 4, 5, 12]].all() and not res.result.valid[20:].any()
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(src, k), v)
    assert res.result.positions is not src.positions
    assert res.result.detections is not src.detections
    np.testing.assert_array_equal(res.result.detections, src.detections)


def test_short_stretches_use_a_smaller_window_and_published_u_stays_nan():
    T = 20
    pos, R = truth_trajectory(T, 11)
    valid = np.ones(T, bool)
    valid[4:12] = False  # leaves stretches of 4 and 8 frames
    src = make_result(pos, R, valid=valid, method="published")
    src.points[:, 2] = np.nan
    out = smooth(src, window=7, max_gap=2).result
    assert out.method == "published"
    assert np.isnan(out.points[:, 2]).all() and np.isfinite(out.points[out.valid, :2]).all()
    assert out.valid.tolist() == valid.tolist()


def test_custom_spec_euler_and_tool_points():
    spec = ActionImageSpec(euler="ZYX", axis_length=0.2, normal_axis=(0.0, 1.0, 0.0), up_axis=(1.0, 0.0, 0.0))
    T = 15
    pos, R = truth_trajectory(T, 12)
    out = smooth(make_result(pos, R, spec=spec), window=5, spec=spec).result
    check_consistent(out, spec)


# --------------------------------------------------------------------------------------- errors


def _small():
    pos, R = truth_trajectory(10)
    return make_result(pos, R)


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 6}, "odd"),
    ({"window": 1}, ">= 3"),
    ({"window": 11}, "longer than the trajectory"),
    ({"window": 5, "polyorder": 5}, "polyorder must be less than window"),
    ({"window": 5, "polyorder": 7}, "polyorder must be less than window"),
    ({"polyorder": -1}, "polyorder must be >= 0"),
    ({"method": "kalman"}, "method must be one of"),
    ({"interpolation": "quadratic"}, "interpolation must be one of"),
    ({"max_gap": -1}, "max_gap"),
    ({"min_confidence": 1.5}, "min_confidence"),
    ({"min_confidence": float("nan")}, "min_confidence"),
    ({"openness_window": 4}, "openness_window"),
    ({"method": "one_euro", "min_cutoff": 0.0}, "min_cutoff"),
    ({"method": "one_euro", "beta": -1.0}, "beta"),
    ({"method": "one_euro", "beta": (1.0, 2.0, 3.0)}, "pair"),
    ({"method": "one_euro", "beta": (1.0, -2.0)}, "beta"),
    ({"method": "one_euro", "d_cutoff": float("inf")}, "d_cutoff"),
    ({"method": "one_euro", "fps": 0}, "fps"),
])
def test_bad_options_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        smooth(_small(), **kwargs)


@pytest.mark.parametrize("kwargs", [{"window": 7.0}, {"window": True}, {"polyorder": 2.0}, {"max_gap": 2.5},
                                    {"fill_gaps": "yes"}, {"spec": 3},
                                    {"method": "one_euro", "beta": "1"}])
def test_bad_option_types_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        smooth(_small(), **kwargs)


def test_unknown_spec_name_raises_value_error():
    with pytest.raises(ValueError, match="unknown spec name 'xyz'"):
        smooth(_small(), spec="xyz")


def test_bad_result_raises():
    with pytest.raises(TypeError, match="DecodeResult"):
        smooth(np.zeros((10, 7)))
    r = _small()
    bad = DecodeResult(**{**r.__dict__, "positions": r.positions[:5]})
    with pytest.raises(ValueError, match="positions"):
        smooth(bad)
    R = r.rotations.copy()
    R[2] *= 2.0
    with pytest.raises(ValueError, match="rotations"):
        smooth(DecodeResult(**{**r.__dict__, "rotations": R}))


def test_window_not_checked_without_savgol():
    r = _small()
    assert smooth(r, method=None, window=100).result.valid.all()
    assert smooth(r, method="one_euro", window=4).result.valid.all()


# --------------------------------------------------------------------------------------- integration


def test_encode_decode_smooth_fills_dropped_frames():
    rig, actions = actimg.default_scene(n_views=3, n_frames=25, height=160, width=160)
    images = actimg.encode(actions, rig)
    images[:, 10:12] = 0  # two frames lost in every view
    decoded = actimg.decode(images, rig)
    assert decoded.valid.tolist() == [not (10 <= i < 12) for i in range(25)]
    res = smooth(decoded, window=5)
    out = res.result
    check_consistent(out)
    assert out.valid.all() and res.filled.tolist() == (~decoded.valid).tolist()
    R_true = actimg.euler_to_matrix(actions[:, 3:6])
    assert np.abs(out.positions - actions[:, :3]).max() < 0.01  # metres
    assert rotation_angle_deg(out.rotations, R_true).max() < 3.0
    np.testing.assert_array_equal(out.openness, actions[:, 6])


def test_smooth_keeps_ambiguous_flags():
    """A one-camera clip decodes to ambiguous frames; smoothing keeps the flag (it never
    turns an ambiguous frame into a trusted one)."""
    import actimg

    rig, actions = actimg.default_scene(n_views=3, n_frames=12, height=128, width=128)
    one = actimg.CameraRig(rig.intrinsics[:1], rig.extrinsics[:1], 128, 128)
    res = actimg.decode(actimg.encode(actions, one), one)
    assert res.ambiguous is not None and res.ambiguous.any()
    sm = smooth(res, window=5)
    keep = sm.result.valid & ~sm.filled
    np.testing.assert_array_equal(sm.result.ambiguous[keep], res.ambiguous[keep])
    assert not sm.result.ambiguous[~sm.result.valid].any()
