"""A frame ``decode`` reports valid and confident (>= 0.5) is right (within 2 mm and 2 deg).

Single-view frames (a one-camera rig, a view gone blank) fit up to four poses exactly;
these tests check that the decoder never picks one of them confidently unless something
(another view, a trusted neighbouring frame) decides, that ``ambiguous`` says so, and that
no corruption of :mod:`actimg.corrupt` makes a wrong frame confident.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

import actimg
from actimg import corrupt
from actimg.scenes import default_rig, default_trajectory
from actimg.testing import reachable_actions, rigs, scenes

POS_MM, ROT_DEG, CONF = 2.0, 2.0, 0.5
SIZES = st.sampled_from([(128, 128), (192, 192), (256, 256), (160, 224)])


def errors(result: actimg.DecodeResult, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame position (mm) and rotation (deg) error; inf where not valid."""
    pos = np.linalg.norm(result.positions - actions[:, :3], axis=1) * 1e3
    rot = actimg.rotation_angle_deg(result.rotations, actimg.euler_to_matrix(actions[:, 3:6]))
    ok = result.valid & np.isfinite(pos) & np.isfinite(rot)
    return np.where(ok, pos, np.inf), np.where(ok, rot, np.inf)


def confident_wrong(result: actimg.DecodeResult, actions: np.ndarray) -> np.ndarray:
    """Frames valid with confidence >= 0.5 that are off by > 2 mm or > 2 deg."""
    pos, rot = errors(result, actions)
    return np.flatnonzero(result.valid & (result.confidence >= CONF) & ((pos > POS_MM) | (rot > ROT_DEG)))


def assert_trustworthy(result: actimg.DecodeResult, actions: np.ndarray) -> None:
    bad = confident_wrong(result, actions)
    pos, rot = errors(result, actions)
    assert bad.size == 0, (f"confident but wrong frames {bad.tolist()}: pos {pos[bad]} mm, rot {rot[bad]} deg, "
                           f"confidence {result.confidence[bad]}, single_view {result.single_view[bad]}, "
                           f"ambiguous {result.ambiguous[bad]}")
    T = actions.shape[0]
    assert result.ambiguous.shape == (T,) and result.ambiguous.dtype == bool
    assert not result.ambiguous[~result.valid].any()
    # a multi-view frame is ambiguous only through a drift the images cannot attribute,
    # and then it is not confident
    multi = result.ambiguous & result.valid & ~result.single_view
    assert not (multi & (result.confidence >= CONF)).any()


def blank(images: np.ndarray, view: int, frames: list[int]) -> np.ndarray:
    """Every blob of ``view`` gone in ``frames`` (the view went blank or turned away)."""
    out = images
    for ch in range(3):
        out = corrupt.drop_blob(out, channel=ch, views=[view], frames=frames)
    return out


def smooth_trajectory(a0: np.ndarray, a1: np.ndarray, T: int) -> np.ndarray:
    """``(T, 7)`` from ``a0`` to ``a1``: positions linear, rotation along the geodesic."""
    from scipy.spatial.transform import Rotation, Slerp

    R = Rotation.from_matrix(actimg.euler_to_matrix(np.stack([a0[3:6], a1[3:6]])))
    s = np.linspace(0.0, 1.0, T)
    out = np.empty((T, 7))
    out[:, :3] = a0[:3] + s[:, None] * (a1[:3] - a0[:3])
    out[:, 3:6] = actimg.matrix_to_euler(Slerp([0.0, 1.0], R)(s).as_matrix())
    out[:, 6] = np.where(s < 0.5, a0[6], a1[6])
    return out


# ------------------------------------------------------------------ property tests
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(n_views=1, sizes=SIZES, per_frame=False, n_frames=st.integers(2, 6), min_views=1,
                    min_angle_deg=0.0, border=False))
def test_one_view_rig_random_poses_never_confidently_wrong(scene):
    """A one-camera rig: every frame fits up to four poses; nothing links independent
    frames, so no wrong pose may come out confident."""
    rig, actions = scene
    result = actimg.decode(actimg.encode(actions, rig), rig)
    assert_trustworthy(result, actions)
    assert result.single_view[result.valid].all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rig=rigs(n_views=st.integers(1, 2), sizes=SIZES, per_frame=False), ends=reachable_actions(n_frames=2),
       T=st.integers(4, 10), step=st.floats(0.05, 1.0), data=st.data())
def test_trajectories_with_views_blanked_never_confidently_wrong(rig, ends, T, step, data):
    """One- and two-view rigs, a smooth trajectory (from a random pose towards another,
    ``step`` of the way), some views blanked in some frames: any frame off by > 2 mm or
    > 2 deg is invalid or below confidence 0.5."""
    actions = smooth_trajectory(ends[0], ends[0] + step * (ends[1] - ends[0]), T)
    images = actimg.encode(actions, rig)
    for _ in range(data.draw(st.integers(0, 2), label="n_blank")):
        v = data.draw(st.integers(0, rig.n_views - 1), label="view")
        frames = data.draw(st.lists(st.integers(0, T - 1), min_size=1, max_size=T, unique=True), label="frames")
        images = blank(images, v, frames)
    result = actimg.decode(images, rig)
    assert_trustworthy(result, actions)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(n_views=2, sizes=SIZES, per_frame=st.booleans(), n_frames=st.integers(3, 6)), data=st.data())
def test_two_view_random_poses_one_view_blanked(scene, data):
    """Two views, independent random poses, one view blank in some frames: those frames
    are single-view; a neighbouring frame cannot decide between their poses (nothing links
    random poses), so they are confident only if right."""
    rig, actions = scene
    T = actions.shape[0]
    frames = data.draw(st.lists(st.integers(0, T - 1), min_size=1, max_size=T, unique=True), label="frames")
    images = blank(actimg.encode(actions, rig), data.draw(st.integers(0, 1), label="view"), frames)
    result = actimg.decode(images, rig)
    assert_trustworthy(result, actions)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rig=rigs(n_views=st.integers(2, 4), sizes=SIZES, per_frame=False), ends=reachable_actions(n_frames=2),
       T=st.integers(6, 12), step=st.floats(0.05, 1.0), px=st.floats(0.5, 4.0), angle=st.floats(0.0, 2 * np.pi),
       data=st.data())
def test_a_drifted_view_never_gives_confident_wrong_frames(rig, ends, T, step, px, angle, data):
    """One view of a 2-4 view clip shifted by 0.5-4 px in any direction (a generator's
    drift, or a camera calibrated off): along the epipolar lines of a two-view rig such a
    shift moves the triangulated points with almost no residual. Every frame is either
    right or not confident; with a blank view in some frames too."""
    actions = smooth_trajectory(ends[0], ends[0] + step * (ends[1] - ends[0]), T)
    v = data.draw(st.integers(0, rig.n_views - 1), label="view")
    images = corrupt.shift_view(actimg.encode(actions, rig), v, px * np.cos(angle), px * np.sin(angle))
    if data.draw(st.booleans(), label="blank"):
        images = blank(images, data.draw(st.integers(0, rig.n_views - 1), label="blank view"),
                       list(range(T // 3, T - T // 3)))
    result = actimg.decode(images, rig)
    assert_trustworthy(result, actions)


# ------------------------------------------------------------------ explicit tests
def _rig(V: int, size: int = 256) -> actimg.CameraRig:
    return default_rig(V, size, size)


def _trajectory(T: int) -> np.ndarray:
    return default_trajectory(T)


def test_ambiguous_on_a_one_view_rig():
    """A one-camera rig: frames fit several poses and nothing decides, so they are
    ambiguous, valid, and below confidence 0.5; their predicted std covers the other
    poses; the published decoder has the field too (all False)."""
    rig = _rig(1)
    actions = _trajectory(8)
    images = actimg.encode(actions, rig)
    result = actimg.decode(images, rig)
    assert_trustworthy(result, actions)
    assert result.valid.all() and result.single_view.all()
    amb = result.ambiguous
    assert amb.any()
    assert (result.confidence[amb] < CONF).all()
    assert (result.position_std[amb] > 2e-3).all() or (result.rotation_std[amb] > 2.0).all()
    pub = actimg.decode(images, rig, method="published")
    assert pub.ambiguous.shape == (8,) and not pub.ambiguous.any()


def test_blank_view_in_a_smooth_clip_is_resolved_by_its_neighbours():
    """Two views, a smooth trajectory, view 1 blank in the middle frames: those frames are
    single-view, continuity with the multi-view frames on both sides picks the right pose,
    they are not ambiguous and stay confident (good frames are not thrown away)."""
    rig = _rig(2)
    actions = _trajectory(12)
    images = blank(actimg.encode(actions, rig), 1, [4, 5, 6, 7])
    result = actimg.decode(images, rig)
    assert_trustworthy(result, actions)
    mid = [4, 5, 6, 7]
    assert result.single_view[mid].all() and not result.single_view[[0, 1, 2, 3, 8, 9, 10, 11]].any()
    assert not result.ambiguous.any()
    pos, rot = errors(result, actions)
    assert pos[mid].max() < POS_MM and rot[mid].max() < ROT_DEG
    assert (result.confidence[mid] >= CONF).all()


def test_blank_view_between_unrelated_poses_is_ambiguous():
    """The same blank frames, but every frame an independent random pose: no neighbour
    decides, so a frame whose view fits several poses is ambiguous and not confident."""
    rig = _rig(2)
    rng = np.random.default_rng(3)
    smooth = _trajectory(12)
    actions = smooth[rng.permutation(12)]
    images = blank(actimg.encode(actions, rig), 1, [4, 5, 6, 7])
    result = actimg.decode(images, rig)
    assert_trustworthy(result, actions)
    assert result.ambiguous[[4, 5, 6, 7]].any()
    assert not result.ambiguous[[0, 1, 2, 3, 8, 9, 10, 11]].any()
    assert (result.confidence[result.ambiguous] < CONF).all()


def test_clean_multi_view_frames_stay_confident():
    """Clean frames seen by 2-4 views: valid, not ambiguous, confidence >= 0.5, right."""
    for V in (2, 3, 4):
        rig = _rig(V, 192)
        actions = _trajectory(6)
        result = actimg.decode(actimg.encode(actions, rig), rig)
        assert result.valid.all() and not result.ambiguous.any() and not result.single_view.any()
        assert (result.confidence >= CONF).all(), result.confidence
        pos, rot = errors(result, actions)
        assert pos.max() < 0.1 and rot.max() < 0.1


# ---------------------------------------------------------------- every corruption
def _strengths(size: int) -> dict[str, list]:
    """Per corruption of actimg.corrupt: callables at strengths up to and beyond the
    fidelity benchmark's strongest."""
    k = size / 512.0
    return {
        "gaussian_noise": [lambda x, s, a=a: corrupt.gaussian_noise(x, a, seed=s) for a in (0.08, 0.16, 0.24)],
        "blur": [lambda x, s, a=a: corrupt.blur(x, a * k) for a in (6.0, 12.0, 18.0)],
        "resample": [lambda x, s, a=a: corrupt.resample(x, a) for a in (4, 8)],
        "jpeg": [lambda x, s, a=a: corrupt.jpeg(x, a) for a in (40, 15, 8)],
        "channel_crosstalk": [lambda x, s, a=a: corrupt.channel_crosstalk(x, a) for a in (0.1, 0.2, 0.3)],
        "color_mixing": [lambda x, s, a=a: corrupt.color_mixing(x, strength=a, seed=s) for a in (0.1, 0.2, 0.3)],
        "motion_blur": [lambda x, s, a=a: corrupt.motion_blur(x, a * k, seed=s) for a in (5.0, 10.0, 20.0)],
        "shift_view": [lambda x, s, a=a: corrupt.shift_view(x, 1, a, -0.5 * a) for a in (1.0, 2.0, 4.0)],
        "tone_curve": [lambda x, s, a=a: corrupt.tone_curve(x, brightness=0.05 * a, contrast=1 - 0.15 * a,
                                                             gamma=1 + 0.3 * a) for a in (1.0, 2.0, 3.0)],
        "ghost_blob": [lambda x, s, a=a: _ghosts(x, a, s) for a in (0.5, 1.0, 1.5)],
        "drop_blob": [lambda x, s, a=a: _drops(x, a, s) for a in (0.3, 0.6, 0.9)],
        "noisy_floor": [lambda x, s, a=a: corrupt.noisy_floor(x, a, seed=s) for a in (0.05, 0.1, 0.15)],
        "video_codec": [lambda x, s, a=a: _codec(x, a) for a in (28, 38, 45)],
    }


def _ghosts(x: np.ndarray, brightness: float, seed: int) -> np.ndarray:
    for ch in range(3):
        x = corrupt.ghost_blob(x, channel=ch, relative_brightness=brightness, seed=seed + ch)
    return x


def _drops(x: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    V, T = x.shape[:2]
    for t in np.flatnonzero(rng.random(T) < fraction):
        x = blank(x, int(rng.integers(V)), [int(t)])
    return x


def _codec(x: np.ndarray, crf: float) -> np.ndarray:
    avail = corrupt.available_video_codecs()
    if not avail:
        pytest.skip("no video codec on this machine")
    name = "h264" if "h264" in avail else avail[0]
    q = int(crf) if name in ("h264", "hevc", "vp9") else max(1, min(31, int(crf) // 3))
    return corrupt.video_codec(x, q, codec=name)[0]


def test_every_corruption_is_covered():
    """Each image corruption that actimg.corrupt offers is in the sweep below."""
    names = {n for n in corrupt.__all__ if inspect.isfunction(getattr(corrupt, n))
             and "images" in inspect.signature(getattr(corrupt, n)).parameters}
    missing = names - set(_strengths(256))
    assert not missing, f"add strengths for {sorted(missing)} to _strengths"


@pytest.fixture(scope="module")
def corruption_sweep():
    """Decodes of two small scenes (3 views, a smooth clip and one with a view blank in
    the middle; 2 views, random poses) under every corruption and strength."""
    out = []
    rng = np.random.default_rng(7)
    scenes_ = []
    rig3 = _rig(3, 192)
    smooth = _trajectory(8)
    scenes_.append((rig3, smooth, actimg.encode(smooth, rig3)))
    scenes_.append((rig3, smooth, blank(actimg.encode(smooth, rig3), 2, [3, 4])))
    rig2 = _rig(2, 192)
    rand = smooth[rng.permutation(8)]
    scenes_.append((rig2, rand, blank(actimg.encode(rand, rig2), 0, [2, 5])))
    for name, fns in _strengths(192).items():
        for j, fn in enumerate(fns):
            for i, (rig, a, img) in enumerate(scenes_):
                out.append((name, j, a, actimg.decode(fn(img, 11 * i + j), rig)))
    return out


def test_no_corruption_gives_confident_wrong_frames(corruption_sweep):
    bad = []
    for name, j, a, res in corruption_sweep:
        idx = confident_wrong(res, a)
        if idx.size:
            pos, rot = errors(res, a)
            bad.append((name, j, idx.tolist(), pos[idx].round(2).tolist(), rot[idx].round(2).tolist()))
    assert not bad, bad


def test_confidence_ranks_error_over_all_corruptions(corruption_sweep):
    conf, err = [], []
    for _, _, a, res in corruption_sweep:
        pos, rot = errors(res, a)
        conf.append(np.where(res.valid, res.confidence, 0.0))
        err.append(np.where(np.isfinite(pos), np.maximum(pos, rot), 1e9))
    rho = spearmanr(np.concatenate(conf), np.concatenate(err)).statistic
    assert rho <= -0.5, rho
