"""Rotation conversions, action <-> pose helpers, CameraRig geometry and triangulation."""

from __future__ import annotations

import math
import warnings

import numpy as np
from _rotations import Rx, Ry, Rz
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg import ActionImageSpec, CameraRig
from actimg.geometry._rotation_kernels import euler_code, euler_of_matrix, matrix_of_euler
from actimg.testing import WORKSPACE_CENTER, image_sizes, reachable_actions, rigs, rotation_matrices, unit_quaternions

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


def batch(strategy, n=st.integers(1, 5)):
    return n.flatmap(lambda k: st.lists(strategy, min_size=k, max_size=k)).map(np.array)




def assert_rotation(R, atol=1e-9):
    np.testing.assert_allclose(np.swapaxes(R, -1, -2) @ R, np.broadcast_to(np.eye(3), R.shape), atol=atol)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=atol)


# ============================================================== rotations
@given(angles=st.tuples(finite, finite, finite))
def test_euler_xyz_is_extrinsic_Rz_Ry_Rx(angles):
    rx, ry, rz = angles
    np.testing.assert_allclose(actimg.euler_to_matrix(np.array(angles), "xyz"), Rz(rz) @ Ry(ry) @ Rx(rx), atol=1e-12)
    np.testing.assert_allclose(actimg.euler_to_matrix(np.array(angles), "XYZ"), Rx(rx) @ Ry(ry) @ Rz(rz), atol=1e-12)
    # the default sequence is the published one
    np.testing.assert_allclose(actimg.euler_to_matrix(np.array(angles)), Rz(rz) @ Ry(ry) @ Rx(rx), atol=1e-12)


@pytest.mark.parametrize("seq", ["xyz", "XYZ"])
@given(Rs=batch(rotation_matrices()))
def test_matrix_euler_matrix_roundtrip(seq, Rs):
    e = actimg.matrix_to_euler(Rs, seq)
    assert e.shape == (len(Rs), 3)
    assert (np.abs(e[:, [0, 2]]) <= math.pi + 1e-12).all() and (np.abs(e[:, 1]) <= math.pi / 2 + 1e-12).all()
    np.testing.assert_allclose(actimg.euler_to_matrix(e, seq), Rs, atol=1e-9)


@pytest.mark.parametrize("seq", ["xyz", "XYZ"])
@given(angles=batch(st.tuples(st.floats(-3.1, 3.1), st.floats(-1.5, 1.5), st.floats(-3.1, 3.1))))
def test_euler_matrix_euler_roundtrip_in_principal_range(seq, angles):
    np.testing.assert_allclose(actimg.matrix_to_euler(actimg.euler_to_matrix(angles, seq), seq), angles, atol=1e-7)


def test_euler_batch_shapes_and_gimbal_lock():
    a = np.random.default_rng(0).uniform(-3, 3, size=(2, 4, 3))
    R = actimg.euler_to_matrix(a)
    assert R.shape == (2, 4, 3, 3)
    assert actimg.matrix_to_euler(R).shape == (2, 4, 3)
    # gimbal lock: one of the solutions, no warning, and it reproduces the matrix
    R = actimg.euler_to_matrix(np.array([0.3, math.pi / 2, -0.2]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = actimg.matrix_to_euler(R)
    np.testing.assert_allclose(actimg.euler_to_matrix(e), R, atol=1e-9)


ALL_SEQS = [a + b + c for a in "xyz" for b in "xyz" for c in "xyz" if a != b and b != c]
ALL_SEQS += [q.upper() for q in ALL_SEQS]


def _kernel_euler(Rs, seq):
    code = euler_code(seq)
    out = np.empty((len(Rs), 3))
    for i, R in enumerate(Rs):
        euler_of_matrix(np.ascontiguousarray(R), code, out[i])
    return out


def _angle_diff(a, b):
    return np.abs((a - b + math.pi) % (2 * math.pi) - math.pi)


@pytest.mark.parametrize("seq", ALL_SEQS)
@given(Rs=batch(rotation_matrices()))
def test_kernel_euler_matches_scipy(seq, Rs):
    # the decoder's numba Euler angles are scipy's (matrix_to_euler) to rounding
    np.testing.assert_array_less(_angle_diff(_kernel_euler(Rs, seq), actimg.matrix_to_euler(Rs, seq)), 1e-12)


@pytest.mark.parametrize("seq", ALL_SEQS)
@given(a=st.floats(-3.1, 3.1), c=st.floats(-3.1, 3.1), upper=st.booleans())
def test_kernel_euler_gimbal_lock_matches_scipy(seq, a, c, upper):
    # middle angle at its limit: scipy's choice (third angle zero) and the same matrix
    proper = seq[0].lower() == seq[2].lower()
    mid = (math.pi if upper else 0.0) if proper else (math.pi / 2 if upper else -math.pi / 2)
    R = actimg.euler_to_matrix(np.array([a, mid, c]), seq)[None]
    mine = _kernel_euler(R, seq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = actimg.matrix_to_euler(R, seq)
    np.testing.assert_array_less(_angle_diff(mine, ref), 1e-9)
    np.testing.assert_allclose(actimg.euler_to_matrix(mine, seq), R, atol=1e-12)


@pytest.mark.parametrize("seq", ALL_SEQS)
@given(angles=st.tuples(finite, finite, finite))
def test_kernel_euler_to_matrix_matches_scipy(seq, angles):
    R = np.empty((3, 3))
    matrix_of_euler(np.array(angles), euler_code(seq), R)
    np.testing.assert_allclose(R, actimg.euler_to_matrix(np.array(angles), seq), rtol=0, atol=1e-14)


@settings(max_examples=30)
@given(rig=rigs(sizes=image_sizes(128, 1024), n_frames=st.integers(1, 3)), seed=st.integers(0, 2**16),
       seq=st.sampled_from(["xyz", "XYZ", "zyz"]))
def test_project_actions_is_rig_project_of_action_points(rig, seed, seq):
    # encode's numba projection == the documented composition of public functions
    spec = ActionImageSpec(euler=seq)
    T = rig.n_frames or 4
    rng = np.random.default_rng(seed)
    a = np.empty((T, 7))
    a[:, :3] = WORKSPACE_CENTER + rng.uniform(-0.2, 0.2, (T, 3))
    a[:, 3:6] = rng.uniform(-3.0, 3.0, (T, 3))
    a[:, 6] = rng.integers(0, 2, T)
    pix, depth = actimg.project_actions(a, rig, spec)
    ref_pix, ref_depth = rig.project(actimg.action_points(a, spec))
    assert pix.shape == (rig.n_views, T, 3, 2) and depth.shape == (rig.n_views, T, 3)
    np.testing.assert_allclose(depth, ref_depth, rtol=1e-12, atol=1e-12)
    ok = np.abs(ref_depth) > 1e-3  # (near depth 0 the pixels blow up alike)
    np.testing.assert_allclose(pix[ok], ref_pix[ok], rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("seq", ["xy", "xyzx", "xxy", "xYz", "abc", "xzz"])
def test_kernel_euler_code_rejects_bad_sequences(seq):
    with pytest.raises(ValueError, match="Euler sequence"):
        euler_code(seq)


@pytest.mark.parametrize("seq", [3, None, ["x", "y", "z"]])
def test_kernel_euler_code_rejects_non_strings(seq):
    with pytest.raises(TypeError, match="Euler sequence must be a str"):
        euler_code(seq)


@pytest.mark.parametrize("order", ["xyzw", "wxyz"])
@given(q=unit_quaternions("xyzw"), scale=st.floats(0.1, 10.0))
def test_quat_matrix_roundtrip_both_orders(order, q, scale):
    qo = q if order == "xyzw" else q[[3, 0, 1, 2]]
    R = actimg.quat_to_matrix(qo * scale, order)  # normalised
    assert_rotation(R)
    back = actimg.matrix_to_quat(R, order)
    assert back.shape == (4,)
    np.testing.assert_allclose(np.linalg.norm(back), 1.0, atol=1e-12)
    # q and -q are the same rotation: compare up to sign, and the returned scalar is >= 0
    sign = 1.0 if np.dot(back, qo) >= 0 else -1.0
    np.testing.assert_allclose(back, sign * qo, atol=1e-9)
    w = back[3] if order == "xyzw" else back[0]
    assert w >= 0
    np.testing.assert_allclose(actimg.quat_to_matrix(-qo, order), R, atol=1e-12)


@given(Rs=batch(rotation_matrices()))
def test_quat_orders_agree(Rs):
    a = actimg.matrix_to_quat(Rs, "xyzw")
    b = actimg.matrix_to_quat(Rs, "wxyz")
    np.testing.assert_allclose(b, a[:, [3, 0, 1, 2]], atol=1e-15)
    np.testing.assert_allclose(actimg.quat_to_matrix(a, "xyzw"), Rs, atol=1e-9)
    np.testing.assert_allclose(actimg.quat_to_matrix(b, "wxyz"), Rs, atol=1e-9)


def test_quat_known_values():
    s = math.sqrt(0.5)
    Rz90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(actimg.quat_to_matrix(np.array([0, 0, s, s]), "xyzw"), Rz90, atol=1e-12)
    np.testing.assert_allclose(actimg.quat_to_matrix(np.array([s, 0, 0, s]), "wxyz"), Rz90, atol=1e-12)
    np.testing.assert_allclose(actimg.matrix_to_quat(Rz90, "wxyz"), [s, 0, 0, s], atol=1e-12)
    np.testing.assert_allclose(actimg.matrix_to_quat(np.eye(3), "xyzw"), [0, 0, 0, 1], atol=1e-15)


@given(M=st.lists(finite, min_size=9, max_size=9).map(lambda x: np.array(x).reshape(3, 3)), R=rotation_matrices())
def test_closest_rotation(M, R):
    np.testing.assert_allclose(actimg.closest_rotation(R), R, atol=1e-12)  # idempotent on rotations
    if abs(np.linalg.det(M)) > 1e-3 and np.linalg.cond(M) < 1e6:
        Q = actimg.closest_rotation(M)
        assert_rotation(Q, atol=1e-9)
        np.testing.assert_allclose(actimg.closest_rotation(Q), Q, atol=1e-9)
        # Frobenius-closest: no worse than the given rotation R
        assert np.linalg.norm(M - Q) <= np.linalg.norm(M - R) + 1e-9


def test_closest_rotation_of_a_reflection_is_a_rotation():
    Q = actimg.closest_rotation(np.diag([1.0, 1.0, -1.0]) @ Rz(0.3))
    assert_rotation(Q)


@given(Rs=batch(rotation_matrices()), scale_n=st.floats(0.01, 10.0), scale_u=st.floats(0.01, 10.0))
def test_rotation_from_axes_recovers_R(Rs, scale_n, scale_u):
    spec = ActionImageSpec()
    n = scale_n * Rs @ np.array(spec.normal_axis)
    u = scale_u * Rs @ np.array(spec.up_axis)
    np.testing.assert_allclose(actimg.rotation_from_axes(n, u), Rs, atol=1e-9)
    custom = ActionImageSpec(normal_axis=(0.0, 1.0, 0.0), up_axis=(1.0, 0.0, 0.0))
    n = Rs @ np.array(custom.normal_axis)
    u = Rs @ np.array(custom.up_axis)
    np.testing.assert_allclose(actimg.rotation_from_axes(n, u, custom, weights=(2.0, 0.5)), Rs, atol=1e-9)


@given(R=rotation_matrices(), noise=st.lists(st.floats(-0.2, 0.2), min_size=6, max_size=6))
def test_rotation_from_noisy_axes_is_a_rotation(R, noise):
    n = R[:, 0] + np.array(noise[:3])
    u = -R[:, 2] + np.array(noise[3:])
    Q = actimg.rotation_from_axes(n, u)
    assert_rotation(Q)
    assert actimg.rotation_angle_deg(Q, R) < 30


@given(R=rotation_matrices(), angle=st.floats(0.0, math.pi), axis=unit_quaternions().map(lambda q: q[:3]))
def test_rotation_angle_deg(R, angle, axis):
    if np.linalg.norm(axis) < 1e-3:
        axis = np.array([0.0, 0.0, 1.0])
    k = axis / np.linalg.norm(axis)
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    D = np.eye(3) + math.sin(angle) * Kx + (1 - math.cos(angle)) * Kx @ Kx
    got = actimg.rotation_angle_deg(R, R @ D)
    np.testing.assert_allclose(got, math.degrees(angle), atol=1e-6)
    np.testing.assert_allclose(actimg.rotation_angle_deg(R @ D, R), got, atol=1e-9)


def test_rotation_angle_small_and_nan():
    assert actimg.rotation_angle_deg(np.eye(3), Rz(1e-9)) == pytest.approx(math.degrees(1e-9), rel=1e-6)
    assert actimg.rotation_angle_deg(np.eye(3), np.eye(3)) == 0.0
    nan = np.full((3, 3), np.nan)
    assert np.isnan(actimg.rotation_angle_deg(nan, np.eye(3)))
    assert actimg.rotation_angle_deg(np.stack([np.eye(3)] * 4), np.stack([Rz(0.1)] * 4)).shape == (4,)


# ===================================================== actions <-> poses
@given(actions=reachable_actions(n_frames=st.integers(1, 6)))
def test_actions_poses_roundtrip(actions):
    p, R, o = actimg.poses_from_actions(actions)
    assert p.shape == (len(actions), 3) and R.shape == (len(actions), 3, 3) and o.shape == (len(actions),)
    assert_rotation(R)
    np.testing.assert_allclose(R, actimg.euler_to_matrix(actions[:, 3:6]), atol=1e-12)
    back = actimg.actions_from_poses(p, R, o)
    np.testing.assert_allclose(back[:, :3], actions[:, :3], atol=0)
    np.testing.assert_allclose(back[:, 6], actions[:, 6], atol=0)
    np.testing.assert_allclose(actimg.euler_to_matrix(back[:, 3:6]), R, atol=1e-9)
    for order in ("xyzw", "wxyz"):
        p2, q, o2 = actimg.poses_from_actions(actions, quat_order=order)
        assert q.shape == (len(actions), 4)
        np.testing.assert_allclose(actimg.quat_to_matrix(q, order), R, atol=1e-9)
        back = actimg.actions_from_poses(p2, q, o2, quat_order=order)
        np.testing.assert_allclose(actimg.euler_to_matrix(back[:, 3:6]), R, atol=1e-9)
    # a returned array is a copy, not a view of the actions
    p[:] = 0
    assert not np.shares_memory(p, actions)


@given(actions=reachable_actions(n_frames=st.integers(1, 4), spec=ActionImageSpec(euler="XYZ")))
def test_actions_poses_roundtrip_intrinsic_euler(actions):
    spec = ActionImageSpec(euler="XYZ")
    p, R, o = actimg.poses_from_actions(actions, spec=spec)
    np.testing.assert_allclose(R, actimg.euler_to_matrix(actions[:, 3:6], "XYZ"), atol=1e-12)
    back = actimg.actions_from_poses(p, R, o, spec=spec)
    np.testing.assert_allclose(actimg.euler_to_matrix(back[:, 3:6], "XYZ"), R, atol=1e-9)


def test_actions_from_poses_scalar_openness():
    R = np.stack([np.eye(3), Rz(0.5)])
    a = actimg.actions_from_poses(np.zeros((2, 3)), R, 1.0)
    assert a.shape == (2, 7) and (a[:, 6] == 1.0).all()
    np.testing.assert_allclose(a[1, 3:6], [0, 0, 0.5], atol=1e-12)


@pytest.mark.parametrize("spec", [ActionImageSpec(), ActionImageSpec(axis_length=0.05, euler="XYZ"),
                                  ActionImageSpec(normal_axis=(0.0, 1.0, 0.0), up_axis=(0.0, 0.0, 1.0))])
@given(actions=reachable_actions(n_frames=st.integers(1, 6)))
def test_action_points_geometry(spec, actions):
    pts = actimg.action_points(actions, spec)
    assert pts.shape == (len(actions), 3, 3)
    P, N, U = pts[:, 0], pts[:, 1], pts[:, 2]
    L = spec.axis_length
    np.testing.assert_allclose(P, actions[:, :3], atol=0)
    np.testing.assert_allclose(np.linalg.norm(N - P, axis=1), L, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(U - P, axis=1), L, atol=1e-12)
    np.testing.assert_allclose(np.einsum("ti,ti->t", N - P, U - P), 0.0, atol=1e-12)
    R = actimg.euler_to_matrix(actions[:, 3:6], spec.euler)
    np.testing.assert_allclose(N - P, L * R @ np.array(spec.normal_axis), atol=1e-12)
    np.testing.assert_allclose(U - P, L * R @ np.array(spec.up_axis), atol=1e-12)
    # the triad fixes the rotation, roll included
    np.testing.assert_allclose(actimg.rotation_from_axes(N - P, U - P, spec), R, atol=1e-9)


def test_action_points_published_convention():
    # identity orientation: N along world +x, U along world -z (spec section "three 3D points")
    pts = actimg.action_points(np.array([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(pts[0], [[1, 2, 3], [1.1, 2, 3], [1, 2, 2.9]], atol=1e-12)


# ============================================================== CameraRig
def _points_in_front(rig: CameraRig, rng: np.random.Generator, shape=(5,)) -> np.ndarray:
    return np.asarray(WORKSPACE_CENTER) + rng.uniform(-0.2, 0.2, size=shape + (3,))


@settings(max_examples=30)
@given(rig=rigs(sizes=image_sizes(128, 1024)), seed=st.integers(0, 2**16))
def test_project_matches_pinhole_formula_and_unproject_inverts_it(rig, seed):
    rng = np.random.default_rng(seed)
    T = rig.n_frames
    X = _points_in_front(rig, rng, (T, 5) if T else (5,))
    pix, depth = rig.project(X)
    V = rig.n_views
    assert pix.shape == (V,) + X.shape[:-1] + (2,) and depth.shape == (V,) + X.shape[:-1]
    assert (depth > 0).all()
    # the pinhole formula with K and inv(cam2world)
    K, E = rig.broadcast(T)
    for v in range(V):
        for t in range(T or 1):
            Xt = X[t] if T else X
            cam = (np.linalg.inv(E[v, t]) @ np.c_[Xt, np.ones(len(Xt))].T)[:3]
            hom = K[v, t] @ cam
            want = (hom[:2] / hom[2]).T
            got = pix[v, t] if T else pix[v]
            np.testing.assert_allclose(got, want, atol=1e-8)
            np.testing.assert_allclose(depth[v, t] if T else depth[v], cam[2], atol=1e-12)
    back = rig.unproject(pix, depth)
    np.testing.assert_allclose(back, np.broadcast_to(X, back.shape), atol=1e-10)
    # rays: unit directions from the camera centres through the points
    o, d = rig.rays(pix)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    rel = X[None] - o
    np.testing.assert_allclose(np.cross(rel, d), 0.0, atol=1e-10)
    assert (np.einsum("...i,...i->...", rel, d) > 0).all()
    centers = rig.centers
    np.testing.assert_allclose(o, np.broadcast_to(centers.reshape(centers.shape[:-1] + (1,) * (o.ndim - centers.ndim) + (3,)), o.shape), atol=0)


@given(rig=rigs(n_frames=st.integers(1, 3)))
def test_world2cam_cam2world_inverse_and_from_world2cam(rig):
    I = np.broadcast_to(np.eye(4), rig.extrinsics.shape)
    np.testing.assert_allclose(rig.world2cam @ rig.cam2world, I, atol=1e-12)
    np.testing.assert_allclose(rig.cam2world @ rig.world2cam, I, atol=1e-12)
    np.testing.assert_allclose(rig.world2cam, np.linalg.inv(rig.cam2world), atol=1e-12)
    assert rig.cam2world is rig.extrinsics
    np.testing.assert_allclose(rig.centers, rig.extrinsics[..., :3, 3])
    again = CameraRig.from_world2cam(rig.intrinsics, rig.world2cam, rig.height, rig.width)
    np.testing.assert_allclose(again.extrinsics, rig.extrinsics, atol=1e-12)
    np.testing.assert_array_equal(again.intrinsics, rig.intrinsics)
    three = CameraRig.from_world2cam(rig.intrinsics, rig.world2cam[..., :3, :], rig.height, rig.width)
    np.testing.assert_allclose(three.extrinsics, rig.extrinsics, atol=1e-12)


def test_look_at():
    eye = np.array([1.5, 0.4, 1.0])
    target = np.array([0.5, 0.0, 0.2])
    E = actimg.look_at(eye, target)
    assert_rotation(E[:3, :3], atol=1e-12)
    np.testing.assert_allclose(E[:3, 3], eye)
    np.testing.assert_allclose(E[3], [0, 0, 0, 1])
    K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
    rig = CameraRig(K[None], E[None], 240, 320)
    pix, depth = rig.project(target)
    np.testing.assert_allclose(pix[0], [159.5, 119.5], atol=1e-9)
    assert depth[0] == pytest.approx(np.linalg.norm(target - eye))
    # world "up" is up in the image (smaller row)
    above, _ = rig.project(target + [0, 0, 0.05])
    assert above[0, 1] < 119.5
    assert actimg.look_at(np.stack([eye, eye + 1]), np.stack([target, target])).shape == (2, 4, 4)
    with pytest.raises(ValueError, match="parallel"):
        actimg.look_at(np.array([0.0, 0, 2]), np.zeros(3))


def test_rig_properties_selection_and_indexing():
    rng = np.random.default_rng(3)
    c = np.asarray(WORKSPACE_CENTER)
    eyes = c + rng.uniform(0.5, 1.0, size=(3, 3))
    E = actimg.look_at(eyes, c)
    K = np.array([[[200.0 + 10 * i, 0, 100], [0, 200, 80], [0, 0, 1]] for i in range(3)])
    rig = CameraRig(K, E, 160, 200)
    assert (rig.n_views, rig.n_frames, rig.is_static, len(rig)) == (3, None, True, 3)
    assert "V=3" in repr(rig) and "static" in repr(rig)
    X = c + rng.uniform(-0.1, 0.1, size=(4, 3))
    pix, depth = rig.project(X)
    for sel in (1, [2, 0], slice(1, None), np.array([0, 2])):
        sub = rig[sel] if not isinstance(sel, int) else rig[sel]
        idx = np.atleast_1d(np.arange(3)[sel])
        assert sub.n_views == len(idx)
        np.testing.assert_array_equal(sub.extrinsics, E[idx])
        np.testing.assert_array_equal(sub.intrinsics, K[idx])
        np.testing.assert_allclose(sub.project(X)[0], pix[idx])
        np.testing.assert_array_equal(rig.with_views(sel).extrinsics, sub.extrinsics)
    assert rig.with_frames([0]) is rig  # static rigs have no frames
    Kb, Eb = rig.broadcast(5)
    assert Kb.shape == (3, 5, 3, 3) and Eb.shape == (3, 5, 4, 4)
    assert rig.broadcast()[0].shape == (3, 1, 3, 3)

    # per frame
    T = 4
    Et = np.repeat(E[:, None], T, axis=1)
    Et[:, :, :3, 3] += rng.uniform(-0.01, 0.01, size=(3, T, 3))
    moving = CameraRig(K, Et, 160, 200)
    assert (moving.n_frames, moving.is_static) == (T, False)
    assert "T=4" in repr(moving)
    Xt = c + rng.uniform(-0.1, 0.1, size=(T, 2, 3))
    pix_t, _ = moving.project(Xt)
    sub = moving.with_frames([1, 3])
    assert sub.n_frames == 2
    np.testing.assert_array_equal(sub.extrinsics, Et[:, [1, 3]])
    np.testing.assert_allclose(sub.project(Xt[[1, 3]])[0], pix_t[:, [1, 3]])
    np.testing.assert_allclose(moving.with_frames(slice(0, 2)).project(Xt[:2])[0], pix_t[:, :2])
    np.testing.assert_allclose(moving[[1]].with_frames([2]).project(Xt[[2]])[0], pix_t[[1]][:, [2]])
    # per-frame intrinsics only
    Kt = np.repeat(K[:, None], T, axis=1)
    zoom = CameraRig(Kt, E, 160, 200)
    assert zoom.n_frames == T and not zoom.is_static
    with pytest.raises(ValueError, match="T=4"):
        moving.broadcast(3)


def test_rig_stores_frozen_copies():
    K = np.array([[[200.0, 0, 100], [0, 200, 80], [0, 0, 1]]])
    E = actimg.look_at(np.array([[1.0, 1.0, 1.0]]), np.zeros(3))
    rig = CameraRig(K, E, 160, 200)
    K[0, 0, 0] = 1.0
    E[0, 0, 3] = 5.0
    assert rig.intrinsics[0, 0, 0] == 200.0 and rig.extrinsics[0, 0, 3] == 1.0
    with pytest.raises(ValueError):
        rig.intrinsics[0, 0, 0] = 3.0
    with pytest.raises(ValueError):
        rig.extrinsics[0, 0, 3] = 3.0
    with pytest.raises(AttributeError):
        rig.height = 3  # frozen dataclass


def test_project_point_at_depth_zero_warns_nothing():
    """A point in the camera plane (depth exactly 0) is documented as 'behind the
    camera'; projecting it must not leak numpy RuntimeWarnings."""
    K = np.array([[[200.0, 0, 100], [0, 200, 80], [0, 0, 1]]])
    rig = CameraRig(K, np.eye(4)[None], 160, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pix, depth = rig.project(np.array([[0.1, 0.2, 0.0], [0.0, 0.0, 0.0]]))
    assert (depth == 0).all()


# --------------------------------------------------------------- resizing
@given(rig=rigs(sizes=image_sizes(128, 1024), n_frames=st.integers(1, 2)), seed=st.integers(0, 2**16),
       new=st.tuples(st.integers(64, 1024), st.integers(64, 1024)))
def test_resized_scales_pixels_about_corner_or_centre(rig, seed, new):
    h, w = new
    T = rig.n_frames
    X = _points_in_front(rig, np.random.default_rng(seed), (T, 4) if T else (4,))
    pix, _ = rig.project(X)
    sx, sy = w / rig.width, h / rig.height
    corner = rig.resized(h, w, scaling="corner")
    assert (corner.height, corner.width) == (h, w)
    np.testing.assert_allclose(corner.project(X)[0], pix * [sx, sy], atol=1e-8)
    center = rig.resized(h, w, scaling="center")
    np.testing.assert_allclose(center.project(X)[0], (pix + 0.5) * [sx, sy] - 0.5, atol=1e-8)
    # the default is the published corner form
    np.testing.assert_array_equal(rig.resized(h, w).intrinsics, corner.intrinsics)
    np.testing.assert_array_equal(center.extrinsics, rig.extrinsics)


def _spec_crop(H, W, h, w):
    """The spec's largest centred crop of aspect w / h: (dx, dy, Wc, Hc)."""
    if W * h >= w * H:  # too wide: crop columns
        Wc, Hc = H * w / h, float(H)
    else:
        Wc, Hc = float(W), W * h / w
    return (W - Wc) / 2, (H - Hc) / 2, Wc, Hc


@pytest.mark.parametrize("src,dst", [((480, 640), (512, 512)), ((481, 640), (256, 256)), ((640, 480), (224, 224)),
                                     ((480, 640), (240, 320)), ((720, 1280), (480, 640)), ((500, 333), (300, 200)),
                                     ((333, 500), (128, 256)), ((1024, 1024), (360, 640))])
@pytest.mark.parametrize("scaling", ["corner", "center"])
def test_center_cropped_resized_matches_spec_formulas(src, dst, scaling):
    H, W = src
    h, w = dst
    K = np.array([[[0.9 * W, 0.0, (W - 1) / 2 + 3.25], [0.0, 0.95 * W, (H - 1) / 2 - 1.5], [0, 0, 1]]])
    E = actimg.look_at(np.array([[1.4, 0.3, 0.9]]), np.asarray(WORKSPACE_CENTER))
    rig = CameraRig(K, E, H, W)
    out = rig.center_cropped_resized(h, w, scaling=scaling)
    assert (out.height, out.width) == (h, w)
    dx, dy, Wc, Hc = _spec_crop(H, W, h, w)
    sx, sy = w / Wc, h / Hc
    half = 0.5 if scaling == "center" else 0.0
    fx, fy, cx, cy = K[0, 0, 0], K[0, 1, 1], K[0, 0, 2], K[0, 1, 2]
    want = np.array([[fx * sx, 0, (cx - dx + half) * sx - half], [0, fy * sy, (cy - dy + half) * sy - half], [0, 0, 1]])
    np.testing.assert_allclose(out.intrinsics[0], want, rtol=1e-12, atol=1e-9)
    # a pixel maps as the crop-and-resize of the image maps it
    X = np.asarray(WORKSPACE_CENTER) + np.array([[0.05, -0.03, 0.02], [-0.1, 0.07, 0.0]])
    u = rig.project(X)[0][0]
    got = out.project(X)[0][0]
    np.testing.assert_allclose(got, (u - [dx, dy] + half) * [sx, sy] - half, atol=1e-8)
    if (h, w) == (H, W):
        np.testing.assert_allclose(out.intrinsics, rig.intrinsics)
    # the default is the corner form
    np.testing.assert_array_equal(rig.center_cropped_resized(h, w).intrinsics,
                                  rig.center_cropped_resized(h, w, scaling="corner").intrinsics)


def test_center_crop_fractional_offset():
    # 481 -> square: dy = 0.5 exactly (a fractional crop offset)
    K = np.array([[[300.0, 0, 319.5], [0, 300.0, 240.0], [0, 0, 1]]])
    rig = CameraRig(K, np.eye(4)[None], 481, 480)
    out = rig.center_cropped_resized(480, 480, scaling="corner")
    np.testing.assert_allclose(out.intrinsics[0, 1, 2], 239.5)
    np.testing.assert_allclose(out.intrinsics[0, 0, 2], 319.5)


def test_resize_then_encode_matches_encode_of_corner_scaled_camera():
    """A 2x downscale with the centre rule moves each Gaussian centre by (u+0.5)/2-0.5."""
    K = np.array([[[300.0, 0, 255.5], [0, 300.0, 255.5], [0, 0, 1]]])
    E = actimg.look_at(np.array([[1.3, 0.4, 0.8]]), np.asarray(WORKSPACE_CENTER))
    rig = CameraRig(K, E, 512, 512)
    small = rig.resized(256, 256, scaling="center")
    np.testing.assert_allclose(small.intrinsics[0, :2, 2], [127.5, 127.5])  # stays centred
    np.testing.assert_allclose(rig.resized(256, 256).intrinsics[0, :2, 2], [127.75, 127.75])


# ============================================================ triangulate
@settings(max_examples=30)
@given(rig=rigs(n_views=st.integers(2, 5), n_frames=st.integers(1, 6), baseline="wide"),
       seed=st.integers(0, 2**16), T=st.integers(1, 6))
def test_triangulate_exact_projections(rig, seed, T):
    T = rig.n_frames or T
    X = _points_in_front(rig, np.random.default_rng(seed), (T,))
    pix, _ = rig.project(X)  # (V, T, 2)
    got, err = actimg.triangulate(pix, rig)
    assert got.shape == (T, 3) and err.shape == (T, rig.n_views)
    np.testing.assert_allclose(got, X, atol=1e-6)
    assert np.nanmax(err) < 1e-5
    # uniform weights do not matter
    got2, _ = actimg.triangulate(pix, rig, weights=np.full((rig.n_views, T), 3.0))
    np.testing.assert_allclose(got2, X, atol=1e-6)


def _tri_rig(V=3, T=None):
    c = np.asarray(WORKSPACE_CENTER)
    eyes = np.array([c + [1.0, 0.0, 0.4], c + [0.0, 1.0, 0.5], c + [-0.8, -0.4, 0.6], c + [0.3, -1, 0.2]])[:V]
    E = actimg.look_at(eyes, c)
    if T:
        E = np.repeat(E[:, None], T, axis=1)
    K = np.repeat(np.array([[[300.0, 0, 160], [0, 300, 120], [0, 0, 1]]]), V, axis=0)
    return CameraRig(K, E, 240, 320)


def test_triangulate_ignores_nan_and_zero_weight_views():
    rig = _tri_rig(4)
    X = np.asarray(WORKSPACE_CENTER) + np.array([[0.05, 0.02, -0.03], [-0.04, 0.06, 0.01], [0, 0, 0]])
    pix, _ = rig.project(X)
    pix = pix.copy()
    pix[0, 0] = np.nan          # view 0 does not see frame 0
    pix[1, 1, 0] = np.nan       # one NaN coordinate also means "unseen"
    got, err = actimg.triangulate(pix, rig)
    np.testing.assert_allclose(got, X, atol=1e-6)
    assert np.isnan(err[0, 0]) and np.isnan(err[1, 1])
    assert np.nanmax(err) < 1e-5
    # a wrong detection with weight 0 is ignored
    bad = pix.copy()
    bad[2, 2] += [40.0, -25.0]
    w = np.ones((4, 3))
    w[2, 2] = 0.0
    got, _ = actimg.triangulate(bad, rig, weights=w)
    np.testing.assert_allclose(got, X, atol=1e-6)


def test_triangulate_fewer_than_two_views_is_nan():
    rig = _tri_rig(3, T=3)
    X = np.asarray(WORKSPACE_CENTER) + np.array([[0.05, 0.02, -0.03], [-0.04, 0.06, 0.01], [0, 0, 0]])
    pix, _ = rig.project(X)
    pix = pix.copy()
    pix[:2, 0] = np.nan         # frame 0: one view
    pix[:, 1] = np.nan          # frame 1: none
    w = np.ones((3, 3))
    w[1:, 2] = 0.0              # frame 2: one view with weight
    got, err = actimg.triangulate(pix, rig, weights=w)
    assert np.isnan(got[:2]).all() and np.isnan(got[2]).all()
    assert np.isnan(err[0, :2]).all() and np.isnan(err[1]).all()
    # two views are enough
    pix2, _ = rig.project(X)
    got, _ = actimg.triangulate(pix2[:2], rig[:2])
    np.testing.assert_allclose(got, X, atol=1e-6)
