"""encode -> decode round trips: clean images give back the actions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import actimg
from actimg import ActionImageSpec, CameraRig, DecodeResult
from actimg.testing import WORKSPACE_CENTER, action_images, image_sizes

SMALL = image_sizes(128, 512)
LARGE = st.sampled_from([(1024, 1024), (768, 1024), (1024, 720)])


def errors(result: DecodeResult, actions: np.ndarray, spec: ActionImageSpec | None = None):
    """Per-frame position error (mm) and rotation error (degrees)."""
    spec = spec or ActionImageSpec()
    pos = np.linalg.norm(result.actions[:, :3] - actions[:, :3], axis=1) * 1000.0
    R_true = actimg.euler_to_matrix(actions[:, 3:6], spec.euler)
    R_dec = actimg.euler_to_matrix(np.nan_to_num(result.actions[:, 3:6]), spec.euler)
    rot = np.where(np.isnan(result.actions[:, 3:6]).any(axis=1), np.nan, actimg.rotation_angle_deg(R_true, R_dec))
    return pos, rot


def assert_decodes(result: DecodeResult, actions: np.ndarray, spec: ActionImageSpec | None = None,
                   max_mm: float = 1.0, max_deg: float = 1.0) -> None:
    spec = spec or ActionImageSpec()
    T = actions.shape[0]
    assert isinstance(result, DecodeResult)
    assert result.valid.shape == (T,) and result.valid.dtype == bool
    assert result.valid.all(), f"frames {np.flatnonzero(~result.valid).tolist()} not decoded"
    pos, rot = errors(result, actions, spec)
    assert pos.max() < max_mm, f"position error {pos.max():.4f} mm (frame {pos.argmax()})"
    assert rot.max() < max_deg, f"rotation error {rot.max():.4f} deg (frame {rot.argmax()})"
    opened = (actions[:, 6] > spec.gripper_threshold).astype(np.float64)
    assert np.array_equal(result.actions[:, 6], opened), (result.actions[:, 6], actions[:, 6])
    assert np.array_equal(result.openness, opened)


def assert_consistent(result: DecodeResult, V: int, T: int, spec: ActionImageSpec | None = None) -> None:
    """The fields of a DecodeResult have the documented shapes and agree with each other."""
    spec = spec or ActionImageSpec()
    assert result.actions.shape == (T, 7)
    assert result.positions.shape == (T, 3)
    assert result.rotations.shape == (T, 3, 3)
    assert result.openness.shape == (T,)
    assert result.confidence.shape == (T,)
    assert result.reprojection_error.shape == (T, V, 3)
    assert result.detections.shape == (V, T, 3, 2)
    assert result.detection_weight.shape == (V, T, 3)
    assert result.points.shape == (T, 3, 3)
    assert result.gripper_floor.shape == (V, T)
    assert result.single_view.shape == (T,) and result.single_view.dtype == bool
    assert result.position_std.shape == (T,) and result.rotation_std.shape == (T,)
    ok = result.valid
    assert not result.single_view[~ok].any()
    assert (result.position_std[ok] >= 0).all() and np.isnan(result.position_std[~ok]).all()
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    assert (result.confidence[~ok] == 0).all()
    assert np.isnan(result.actions[~ok]).all()
    assert np.isfinite(result.actions[ok]).all()
    np.testing.assert_allclose(result.actions[ok, :3], result.positions[ok], atol=1e-12)
    np.testing.assert_allclose(result.points[ok, 0], result.positions[ok], atol=1e-12)
    if ok.any():
        R = actimg.euler_to_matrix(result.actions[ok, 3:6], spec.euler)
        np.testing.assert_allclose(R, result.rotations[ok], atol=1e-9)
        np.testing.assert_allclose(result.points[ok], actimg.action_points(result.actions[ok], spec), atol=1e-9)


# ------------------------------------------------------------------ property tests
@settings(max_examples=40)
@given(data=action_images(sizes=SMALL, n_views=st.integers(2, 6), n_frames=st.integers(1, 4)))
def test_clean_uint8_roundtrip(data):
    rig, actions, images = data
    result = actimg.decode(images, rig)
    assert_consistent(result, rig.n_views, actions.shape[0])
    assert_decodes(result, actions)


@settings(max_examples=6)
@given(data=action_images(sizes=LARGE, n_views=st.integers(2, 3), n_frames=st.integers(1, 2)))
def test_clean_uint8_roundtrip_large(data):
    rig, actions, images = data
    assert_decodes(actimg.decode(images, rig), actions)


@settings(max_examples=15)
@given(data=action_images(sizes=SMALL, dtype=np.float32, n_views=st.integers(2, 4), n_frames=st.integers(1, 3)))
def test_clean_float32_roundtrip(data):
    rig, actions, images = data
    result = actimg.decode(images, rig)
    assert_decodes(result, actions)
    # float64 images decode too
    assert_decodes(actimg.decode(images.astype(np.float64), rig), actions)


@settings(max_examples=12)
@given(data=action_images(sizes=SMALL, baseline="wide", per_frame=st.just(True), n_views=st.integers(2, 4),
                          n_frames=st.integers(2, 5)))
def test_roundtrip_moving_cameras_wide_baseline(data):
    rig, actions, images = data
    assert not rig.is_static
    assert_decodes(actimg.decode(images, rig), actions)


CUSTOM = ActionImageSpec(sigma_fraction=0.04, axis_length=0.08, euler="XYZ", pixel_origin="half",
                         normal_axis=(0.0, 1.0, 0.0), up_axis=(0.0, 0.0, 1.0), gripper_floor=0.2)


@settings(max_examples=10)
@given(data=action_images(sizes=SMALL, spec=CUSTOM, n_views=st.integers(2, 4), n_frames=st.integers(1, 3)))
def test_roundtrip_custom_spec(data):
    rig, actions, images = data
    result = actimg.decode(images, rig, CUSTOM)
    assert_consistent(result, rig.n_views, actions.shape[0], CUSTOM)
    assert_decodes(result, actions, CUSTOM)


# ------------------------------------------------------------- fixed seeded batch
def _seeded_rig(rng: np.random.Generator, H: int, W: int, V: int) -> CameraRig:
    c = np.asarray(WORKSPACE_CENTER)
    az0 = rng.uniform(0, 2 * np.pi)
    eyes = []
    for i in range(V):
        az = az0 + 2 * np.pi * i / V + rng.uniform(-0.3, 0.3)
        el = rng.uniform(0.2, 0.8)
        d = rng.uniform(0.7, 1.4)
        eyes.append(c + d * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)]))
    E = actimg.look_at(np.array(eyes), c)
    K = np.zeros((V, 3, 3))
    for i in range(V):
        f = 0.5 * min(H, W) / np.tan(np.radians(rng.uniform(45, 70)) / 2)
        K[i] = [[f, 0, (W - 1) / 2 + rng.uniform(-3, 3)], [0, f, (H - 1) / 2 + rng.uniform(-3, 3)], [0, 0, 1]]
    return CameraRig(K, E, H, W)


def _seeded_actions(rng: np.random.Generator, T: int) -> np.ndarray:
    a = np.empty((T, 7))
    a[:, :3] = np.asarray(WORKSPACE_CENTER) + rng.uniform(-0.08, 0.08, size=(T, 3))
    a[:, 3:6] = Rotation.random(T, random_state=rng).as_euler("xyz")
    a[:, 6] = rng.integers(0, 2, size=T)
    return a


BATCHES = [((256, 256), 2), ((256, 320), 3), ((512, 512), 4), ((768, 1024), 2)]


def test_seeded_batch_accuracy_at_256px_and_above():
    """40 fixed frames (10 per rig, 256..1024 px, 2..4 views, every point in every view)."""
    rng = np.random.default_rng(20240406)
    pos_all, rot_all = [], []
    for (H, W), V in BATCHES:
        rig = _seeded_rig(rng, H, W, V)
        actions = _seeded_actions(rng, 10)
        pix, depth = actimg.project_actions(actions, rig)
        assert (depth > 0).all()
        assert ((pix >= 0) & (pix <= [W - 1, H - 1])).all(), "batch must be fully visible"
        result = actimg.decode(actimg.encode(actions, rig), rig)
        assert_decodes(result, actions)
        pos, rot = errors(result, actions)
        pos_all.append(pos)
        rot_all.append(rot)
    pos, rot = np.concatenate(pos_all), np.concatenate(rot_all)
    assert pos.size == 40
    assert np.median(pos) < 0.05, f"median position error {np.median(pos):.4f} mm"
    assert pos.max() < 0.2, f"worst position error {pos.max():.4f} mm"
    assert rot.max() < 0.2, f"worst rotation error {rot.max():.4f} deg"


# ------------------------------------------------------------------ invalid frames
def _rig2(H=192, W=256, V=2):
    c = np.asarray(WORKSPACE_CENTER)
    eyes = np.array([c + [1.0, 0.2, 0.5], c + [0.1, 1.0, 0.6], c + [-0.8, -0.3, 0.7]])[:V]
    f = 0.6 * W
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])
    return CameraRig(np.repeat(K[None], V, axis=0), actimg.look_at(eyes, c), H, W)


def _actions(T=3):
    rng = np.random.default_rng(7)
    return _seeded_actions(rng, T)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("background", ["black", "open floor"])
def test_blank_images_are_invalid_with_nan_actions(dtype, background):
    rig = _rig2()
    images = np.zeros((2, 3, 192, 256, 3), dtype=dtype)
    if background == "open floor":
        images[..., 2] = 64 if dtype == np.uint8 else 0.25
    result = actimg.decode(images, rig)
    assert_consistent(result, 2, 3)
    assert not result.valid.any()
    assert np.isnan(result.actions).all()
    assert np.isnan(result.positions).all() and np.isnan(result.rotations).all()
    assert (result.confidence == 0).all()


def test_frame_seen_by_one_view_is_decoded_from_that_view():
    """A frame that only view 0 sees is decoded from view 0 alone (P3P of the known
    triad, disambiguated by the neighbouring frames of a smooth motion) and marked
    single_view; between unrelated poses nothing disambiguates it: ambiguous."""
    rig = _rig2()
    a0 = _actions(1)[0]
    actions = np.repeat(a0[None], 3, axis=0)
    actions[:, :3] += np.outer([0.0, 1.0, 2.0], [0.004, -0.003, 0.002])  # 5 mm and 3 deg per frame
    actions[:, 3:6] = actimg.matrix_to_euler(
        Rotation.from_rotvec(np.outer([0.0, 1.0, 2.0], [0.0, 0.0, np.radians(3.0)])).as_matrix()
        @ actimg.euler_to_matrix(a0[3:6]))
    images = actimg.encode(actions, rig)
    images[1, 1] = 0  # frame 1 is only seen by view 0
    result = actimg.decode(images, rig)
    assert_consistent(result, 2, 3)
    assert result.valid.all()
    assert result.single_view.tolist() == [False, True, False]
    assert not result.ambiguous.any()
    pos, rot = errors(result, actions)
    assert pos[[0, 2]].max() < 1.0 and rot[[0, 2]].max() < 1.0
    # one view gives depth from the triad's size alone: less accurate, and it says so
    assert pos[1] < 5.0 and rot[1] < 2.0, (pos, rot)
    assert result.position_std[1] > 3 * result.position_std[[0, 2]].max()
    assert result.confidence[1] < result.confidence[[0, 2]].min()
    # unrelated poses around it: the neighbours cannot choose among the poses that fit
    actions = _actions(3)
    images = actimg.encode(actions, rig)
    images[1, 1] = 0
    result = actimg.decode(images, rig)
    assert result.single_view.tolist() == [False, True, False]
    assert result.ambiguous.tolist() == [False, True, False]
    assert result.confidence[1] < 0.5


def test_frame_without_any_full_view_is_invalid():
    """No view sees all three points and no point is seen twice: nothing to decode."""
    rig = _rig2()
    actions = _actions(3)
    images = actimg.encode(actions, rig)
    images[0, 1, ..., 0] = 0  # view 0 lacks P in frame 1
    images[1, 1, ..., 1] = 0  # view 1 lacks N in frame 1
    result = actimg.decode(images, rig)
    assert result.valid.tolist() == [True, False, True]
    assert np.isnan(result.actions[1]).all()
    assert result.confidence[1] == 0.0


def test_point_seen_by_one_view_only_still_decodes_from_the_full_view():
    """N is blanked in two of three views; view 1 still sees P, N and U, so the pose
    comes from it (refined with P and U from all three views)."""
    rig = _rig2(V=3)
    actions = _actions(2)
    images = actimg.encode(actions, rig)
    images[0, 0, ..., 1] = 0  # N of frame 0 gone from view 0 ...
    images[2, 0, ..., 1] = 0  # ... and from view 2: only view 1 sees it
    result = actimg.decode(images, rig)
    assert result.valid.all() and result.single_view.tolist() == [True, False]
    pos, rot = errors(result, actions)
    assert pos.max() < 1.0 and rot.max() < 1.0, (pos, rot)
    # one view lost out of three still decodes
    images = actimg.encode(actions, rig)
    images[1, :] = 0
    assert_decodes(actimg.decode(images, rig), actions)


def test_ghost_blob_as_bright_as_the_true_one_in_one_view_is_ignored():
    """Three views; in view 1 every channel gets a second blob, as bright as the true
    one, 4 sigma away: the combination consistent across views wins."""
    rig = _rig2(V=3)
    actions = _actions(4)
    images = actimg.encode(actions, rig)
    pix, _ = actimg.project_actions(actions, rig)
    H, W = images.shape[2:4]
    s = 0.05 * min(H, W)
    yy, xx = np.mgrid[0:H, 0:W]
    for t in range(len(actions)):
        for ch in range(3):
            u, v = pix[1, t, ch] + 4 * s * np.array([np.cos(t + ch), np.sin(t + ch)])
            blob = np.round(255 * np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * s * s))).astype(np.uint8)
            images[1, t, ..., ch] = np.maximum(images[1, t, ..., ch], blob)
    assert_decodes(actimg.decode(images, rig), actions)


def _case_489x435():
    c = np.asarray(WORKSPACE_CENTER)
    eyes = np.array([[1.2925, -0.3901, 0.0135], [1.0705, 0.7797, 0.113], [-0.6946, 0.8035, -0.0747]])
    rolls = np.radians([24.0, -20.25, 0.0])
    E = actimg.look_at(eyes, c)
    E[:, :3, :3] = E[:, :3, :3] @ actimg.euler_to_matrix(np.stack([0 * rolls, 0 * rolls, rolls], axis=1))
    K = np.array([[[356.67, 0, 217.0], [0, 363.41, 244.01], [0, 0, 1]],
                  [[324.59, 0, 217.0], [0, 333.79, 235.73], [0, 0, 1]],
                  [[310.62, 0, 221.3], [0, 316.85, 244.0], [0, 0, 1]]])
    actions = np.array([[0.6581, 0.3854, -0.1517, 3.1416, 0.0, -0.1666, 0.0]])
    # view 0: P on the left border (u = -0.03), N 35 px (1.6 sigma) outside, U inside
    return CameraRig(K, E, 489, 435), actions, [1, 2]


def _case_128():
    E = np.array([[[0.921313, 0.066663, 0.383065, -0.098539], [0.376729, -0.396844, -0.837013, 1.307832],
                   [0.096219, 0.915462, -0.390731, 0.810517], [0, 0, 0, 1]],
                  [[0.094255, 0, 0.995548, -0.495548], [0.995548, 0, -0.094255, 0.094255], [0, 1, 0, 0.2], [0, 0, 0, 1]],
                  [[0, 0, -1, 1.5], [-1, 0, 0, 0], [0, 1, 0, 0.2], [0, 0, 0, 1]]])
    E[:, :3, :3] = actimg.closest_rotation(E[:, :3, :3])
    K = np.array([[[96.69, 0, 65.5], [0, 96.69, 63.5], [0, 0, 1]], [[175.84, 0, 63.5], [0, 175.84, 63.5], [0, 0, 1]],
                  [[137.25, 0, 63.5], [0, 137.25, 63.5], [0, 0, 1]]])
    actions = np.array([[0.9358, 0.2946, 0.296, np.pi, 0.0, np.pi, 0.0]])
    # view 2: P and U 8 px (1.3 sigma) left of the image, N inside at u = 2.6
    return CameraRig(K, E, 128, 128), actions, [0, 1]


@pytest.mark.parametrize("case", [_case_489x435, _case_128], ids=["489x435", "128x128"])
def test_extra_view_with_point_just_outside_its_border_does_not_break_decoding(case):
    """Regression (found by test_clean_uint8_roundtrip / test_roundtrip_custom_spec): two
    views see every point and decode alone to ~0.01 mm; adding a third view in which a
    point lies just outside the image (its Gaussian tail is visible) must not make the
    frame undecodable."""
    rig, actions, good = case()
    pix, depth = actimg.project_actions(actions, rig)
    assert (depth > 0).all()
    inside = ((pix >= 0) & (pix <= [rig.width - 1, rig.height - 1])).all(axis=-1)[:, 0]  # (V, 3)
    assert inside[good].all() and not inside.all()
    two = rig.with_views(good)
    assert_decodes(actimg.decode(actimg.encode(actions, two), two), actions)
    assert_decodes(actimg.decode(actimg.encode(actions, rig), rig), actions)


# ------------------------------------------------------------------ published method
def test_published_method_runs_and_returns_a_decode_result():
    rig = _rig2(256, 256, V=3)
    actions = _actions(4)
    images = actimg.encode(actions, rig)
    result = actimg.decode(images, rig, method="published")
    assert isinstance(result, DecodeResult)
    assert result.method == "published"
    assert result.actions.shape == (4, 7) and result.positions.shape == (4, 3)
    assert result.rotations.shape == (4, 3, 3) and result.valid.shape == (4,)
    assert result.valid.all() and np.isfinite(result.actions).all()
    # the baseline is coarse (tens of mm) but in the right place
    err = np.linalg.norm(result.positions - actions[:, :3], axis=1)
    assert err.max() < 0.15, err
    # its options pass through
    fine = actimg.decode(images, rig, method="published", near=0.5, far=2.0, num_depth_samples=512)
    assert isinstance(fine, DecodeResult) and fine.actions.shape == (4, 7)
    assert actimg.decode(images, rig).method == "actimg"


def test_decode_does_not_modify_images():
    rig = _rig2()
    images = actimg.encode(_actions(2), rig)
    before = images.copy()
    actimg.decode(images, rig)
    actimg.decode(images, rig, method="published")
    assert np.array_equal(images, before)


# ------------------------------------------------------------------ blob fit kernel
@settings(max_examples=60)
@given(u=st.floats(10.0, 85.0), v=st.floats(10.0, 85.0), s=st.floats(2.5, 12.0), amp=st.floats(0.3, 1.3),
       floor=st.sampled_from([0.0, 0.25]), noise=st.floats(0.0, 0.05), seed=st.integers(0, 2**16),
       step=st.integers(1, 3))
def test_blob_fit_byte_tables_match_the_float_path(u, v, s, amp, floor, noise, seed, step):
    # uint8 images are fitted from per-byte tables (no branch per pixel); the same image
    # as float64 k/255 goes through the plain path: same pixels, same sums, same fit
    from actimg.codec import _decode_kernels as K

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96]
    x = floor + amp * np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * s * s)) + rng.normal(0, noise, (96, 96))
    img8 = np.zeros((96, 96, 3), np.uint8)
    img8[..., 1] = np.clip(np.round(255 * x), 0, 255).astype(np.uint8)
    imgf = img8 / 255.0
    lo = floor + 2.5 / 255 + 1e-6  # off the byte grid: no tie between k/255 and k * (1/255)
    hi = 1.0 - 0.5 / 255
    scale = 1.0 / 255
    lo_raw, hi_raw = K.byte_band(lo, hi, scale)
    k = np.arange(256)
    assert np.array_equal((k > lo_raw) & (k < hi_raw), (lo < k * scale) & (k * scale < hi))
    tabs = np.empty((3, 256))
    K.fit_tables(lo_raw, hi_raw, tabs)
    a = K.fit_gaussian(img8, 1, scale, s, u + 0.7, v - 0.4, 1.8 * s, lo, hi, step, tabs, True)
    b = K.fit_gaussian(imgf, 1, 1.0, s, u + 0.7, v - 0.4, 1.8 * s, lo, hi, step, tabs, True)
    assert a[4] == b[4]  # pixels used
    if a[4] >= 4:
        np.testing.assert_allclose(a[:4], b[:4], rtol=1e-9, atol=1e-9)


def test_fit_of_a_blob_cut_to_its_tail_reports_its_uncertainty():
    """A blob whose centre is 1.5 sigma outside the image shows a one-sided tail: its
    centre trades against its height, so the fit's variance inflation is large (the
    decoder's two-step fit: coarse from inside, then from the coarse centre); a whole
    blob's is about 1."""
    from actimg.codec import _decode_kernels as K

    s = 6.4
    yy, xx = np.mgrid[0:128, 0:128]
    scale = 1.0 / 255
    lo = 2.5 / 255 + 1e-6
    hi = 1.0 - 0.5 / 255
    tabs = np.empty((3, 256))
    K.fit_tables(*K.byte_band(lo, hi, scale), tabs)
    vifs = []
    for u in (60.3, 127 + 1.5 * s):
        img = np.zeros((128, 128, 3), np.uint8)
        img[..., 0] = np.round(255 * np.exp(-((xx - u) ** 2 + (yy - 64.2) ** 2) / (2 * s * s)))
        coarse = K.fit_gaussian(img, 0, scale, s, min(u, 125.0), 64.0, 1.8 * s, lo, hi, 2, tabs, False)
        fine = K.fit_gaussian(img, 0, scale, s, coarse[0], coarse[1], 1.8 * s, lo, hi, 1, tabs, True)
        assert abs(fine[0] - u) < 0.5
        vifs.append(fine[5])
    assert vifs[0] < 1.5
    assert vifs[1] > 100.0


def test_blob_cut_to_its_tail_does_not_pull_the_decode():
    """Clean uint8 images where one view sees only the tail of P's blob (its centre 0.5-2
    sigma outside the image) and the other two views see everything: that detection's
    weight follows its uncertainty, so the frame decodes as exactly as the others."""
    rng = np.random.default_rng(3)
    wide, _ = actimg.default_scene(n_views=3, n_frames=1, height=128, width=128)
    K = wide.intrinsics.copy()
    K[1, :2, :2] *= 4.0  # view 1 zoomed in: the tool leaves its image
    rig = actimg.CameraRig(K, wide.extrinsics, 128, 128)
    s = ActionImageSpec().sigma_px(128, 128)
    lim = np.array([rig.width - 1, rig.height - 1])
    found: list[np.ndarray] = []
    for _ in range(20):
        a = np.empty((4096, 7))
        a[:, :3] = WORKSPACE_CENTER + rng.uniform(-0.15, 0.15, (4096, 3))
        a[:, 3:6] = actimg.matrix_to_euler(actimg.quat_to_matrix(rng.normal(size=(4096, 4)), "xyzw"))
        a[:, 6] = 1.0
        pix, depth = actimg.project_actions(a, rig)  # (V, N, 3, 2), (V, N, 3)
        out = np.maximum(-pix, pix - lim).max(axis=-1)  # px outside the image (negative: inside)
        inside = (out < -s) & (depth > 0.1)
        ok = inside[0].all(-1) & inside[2].all(-1) & inside[1, :, 1:].all(-1) & (0.5 * s < out[1, :, 0]) & (
            out[1, :, 0] < 2 * s)
        found.extend(a[ok])
        if len(found) >= 6:
            break
    assert len(found) >= 6, "no such poses for this rig"
    actions = np.array(found[:6])
    result = actimg.decode(actimg.encode(actions, rig), rig)
    assert_decodes(result, actions)
    # the tail's detection is no more certain than it is right: within 5 of its own sigmas
    true_px = actimg.project_actions(actions, rig)[0][1, :, 0]  # (T, 2)
    err2 = ((result.detections[1, :, 0] - true_px) ** 2).sum(axis=-1)
    seen = np.isfinite(err2)
    assert seen.any()
    assert (err2[seen] * result.detection_weight[1, seen, 0] < 25.0).all(), (err2, result.detection_weight[1, :, 0])
