"""actimg.models.Task: the five modes, their masks (frame and latent), validation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg.models import MODES, PUBLISHED_NAMES, Task, TemporalLayout, latent_frame_count, latent_mask

V, T, H, W = 2, 9, 32, 32


@pytest.fixture(scope="module")
def scene():
    rig, acts = actimg.default_scene(V, T, H, W)
    obs = np.random.default_rng(0).integers(1, 255, (V, H, W, 3), dtype=np.uint8)
    videos = np.random.default_rng(1).integers(1, 255, (V, T, H, W, 3), dtype=np.uint8)
    return rig, acts, obs, videos


def make(mode, scene, **kw):
    rig, acts, obs, videos = scene
    if mode == "joint":
        return Task.joint(rig, obs, acts[0], T, **kw)
    if mode == "action_to_video":
        return Task.action_to_video(rig, obs, acts, **kw)
    if mode == "video_to_action":
        return Task.video_to_action(rig, videos, pose=acts[0], **kw)
    if mode == "video_only":
        return Task.video_only(rig, obs, T, **kw)
    return Task.image_to_action(rig, obs, acts[0], T, **kw)


def test_import_is_light():
    code = ("import sys, actimg, actimg.models; "
            "bad = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", MODES)
def test_modes_fields_and_flags(mode, scene):
    rig, acts, obs, videos = scene
    task = make(mode, scene, instruction="pick the cube")
    assert task.mode == mode and task.published_name == PUBLISHED_NAMES[mode]
    assert (task.n_views, task.n_frames, task.height, task.width) == (V, T, H, W)
    assert task.instruction == "pick the cube"
    assert task.observations.shape == (V, T, H, W, 3) and task.observations.dtype == np.uint8
    assert not task.observations.flags.writeable
    # observation frame 0 is the given current view in every mode
    assert task.observation_given[:, 0].all()
    if mode == "video_to_action":
        np.testing.assert_array_equal(task.observations, videos)
    else:
        np.testing.assert_array_equal(task.observations[:, 0], obs)
    # zeros where not given
    assert not task.observations[~task.observation_given].any()
    if mode == "video_only":
        assert task.actions is None and task.action_given is None and not task.has_action_segments
        return
    assert task.actions.shape == (V, T, H, W, 3)
    assert not task.actions[~task.action_given].any()
    # action frame 0 is the current pose, drawn with actimg.encode
    np.testing.assert_array_equal(task.actions[:, 0], actimg.encode(acts[:1], rig)[:, 0])
    np.testing.assert_allclose(task.pose, acts[0])
    if mode == "action_to_video":
        np.testing.assert_allclose(task.trajectory, acts)
    else:
        assert task.trajectory is None


def test_mode_masks_are_the_published_ones(scene):
    """Latent masks per segment (Wan, c = 4, T = 9 -> 3 latent frames) as the published code builds them."""
    Tl = latent_frame_count(T)
    first = np.zeros(Tl, bool)
    first[0] = True
    full = np.ones(Tl, bool)
    expect = {
        "joint": (first, first),                     # i2va: first latent of every segment
        "action_to_video": (first, full),            # a2v: whole action segments given too
        "video_to_action": (full, first),            # v2a: whole observation segments given
        "video_only": (first, None),                 # i2v: no action segments
        "image_to_action": (np.ones(1, bool), first),  # i2a: one observation frame per view
    }
    for mode, (o, a) in expect.items():
        task = make(mode, scene)
        lm = task.latent_masks(4)
        np.testing.assert_array_equal(task.latent_mask(4).observations, lm.observations)
        np.testing.assert_array_equal(lm.observations, np.broadcast_to(o, (V, o.size)), err_msg=mode)
        if a is None:
            assert lm.actions is None
        else:
            np.testing.assert_array_equal(lm.actions, np.broadcast_to(a, (V, a.size)), err_msg=mode)
    # i2a, laid out: given latents at 0, 1, T_l + 1, T_l + 2 (the published one-frame variant)
    lay = TemporalLayout.for_task(make("image_to_action", scene))
    mask = lay.task_latent_mask(make("image_to_action", scene))
    assert np.flatnonzero(mask).tolist() == [0, 1, Tl + 1, Tl + 2]


@pytest.mark.parametrize("mode", MODES)
def test_generation_flags(mode, scene):
    task = make(mode, scene)
    assert task.generates_actions == (mode in ("joint", "video_to_action", "image_to_action"))
    assert task.generates_observations == (mode in ("joint", "action_to_video", "video_only"))
    assert task.observation_frames == (1 if mode == "image_to_action" else T)
    # a mode generates something and keeps frame 0 of the observations
    fm = task.frame_masks()
    gen = (~fm.observations).sum() + (0 if fm.actions is None else (~fm.actions).sum())
    assert gen > 0


def test_video_to_action_without_pose(scene):
    rig, acts, obs, videos = scene
    task = Task.video_to_action(rig, videos)
    assert not task.action_given.any() and task.pose is None
    assert not task.actions.any()


def test_action_images_accepted_and_per_frame_rig(scene):
    rig, acts, obs, videos = scene
    imgs = actimg.encode(acts, rig)
    t1 = Task.action_to_video(rig, obs, imgs)
    np.testing.assert_array_equal(t1.actions, imgs)
    K, E = rig.broadcast(T)
    moving = actimg.CameraRig(K.copy(), E.copy(), H, W)
    t2 = Task.joint(moving, obs[:, None], acts[0], T)
    np.testing.assert_array_equal(t2.actions[:, 0], actimg.encode(acts[:1], rig)[:, 0])


@settings(max_examples=40, deadline=None)
@given(c=st.sampled_from([1, 2, 4]), k=st.integers(0, 4), lead=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_latent_mask_matches_definition(c, k, lead, seed):
    n = c * k + 1
    m = np.random.default_rng(seed).random((lead, n)) < 0.6
    got = latent_mask(m, c)
    assert got.shape == (lead, k + 1)
    for j in range(k + 1):
        frames = [0] if j == 0 else list(range(c * (j - 1) + 1, c * j + 1))
        np.testing.assert_array_equal(got[:, j], m[:, frames].all(axis=1))


def test_latent_rules_errors():
    with pytest.raises(ValueError, match="4k\\+1"):
        latent_frame_count(8, 4)
    assert latent_frame_count(41, 4) == 11
    with pytest.raises(ValueError, match="some are given and some generated"):
        latent_mask(np.array([True, True, False, False, False]), 4, strict=True)
    with pytest.raises(TypeError, match="bool"):
        latent_mask(np.ones(5, int), 4)


def test_validation_errors(scene):
    rig, acts, obs, videos = scene
    with pytest.raises(ValueError, match="mode must be one of"):
        Task("fly", rig, T, H, W, videos, np.ones((V, T), bool), None, None)
    with pytest.raises(TypeError, match="CameraRig"):
        Task.joint("rig", obs, acts[0], T)
    with pytest.raises(TypeError, match="uint8"):
        Task.joint(rig, obs.astype(np.float32), acts[0], T)
    with pytest.raises(ValueError, match="observation must have shape"):
        Task.joint(rig, obs[:1], acts[0], T)
    with pytest.raises(ValueError, match="pose must have shape"):
        Task.joint(rig, obs, acts[0, :6], T)
    with pytest.raises(ValueError, match="n_frames must be a positive integer"):
        Task.joint(rig, obs, acts[0], 0)
    with pytest.raises(ValueError, match="finite"):
        Task.joint(rig, obs, np.full(7, np.nan), T)
    with pytest.raises(ValueError, match="actions must be"):
        Task.action_to_video(rig, obs, acts[None])
    with pytest.raises(ValueError, match="videos must have shape"):
        Task.video_to_action(rig, videos[0])
    with pytest.raises(TypeError, match="instruction"):
        Task.video_only(rig, obs, T, instruction=3)
    good = Task.joint(rig, obs, acts[0], T)
    # masks that are not the mode's
    og = good.observation_given.copy()
    og[:, 1] = True
    with pytest.raises(ValueError, match="observation_given is not the joint mode's mask"):
        Task("joint", rig, T, H, W, good.observations, og, good.actions, good.action_given)
    with pytest.raises(ValueError, match="action_given is not the joint mode's mask"):
        Task("joint", rig, T, H, W, good.observations, good.observation_given, good.actions,
             np.zeros((V, T), bool))
    with pytest.raises(ValueError, match="no action segments"):
        Task("video_only", rig, T, H, W, good.observations, good.observation_given, good.actions, good.action_given)
    with pytest.raises(ValueError, match="are required"):
        Task("joint", rig, T, H, W, good.observations, good.observation_given, None, None)
    with pytest.raises(ValueError, match="differs from the rig"):
        Task("joint", rig, T, H, W + 16, good.observations, good.observation_given, good.actions, good.action_given)
    with pytest.raises(TypeError, match="bool"):
        Task("joint", rig, T, H, W, good.observations, good.observation_given.astype(int), good.actions,
             good.action_given)
    with pytest.raises(ValueError, match="per-frame rig has T="):
        K, E = rig.broadcast(T + 4)
        Task.joint(actimg.CameraRig(K.copy(), E.copy(), H, W), obs, acts[0], T)
    with pytest.raises(ValueError, match="trajectory must have shape"):
        Task("joint", rig, T, H, W, good.observations, good.observation_given, good.actions, good.action_given,
             trajectory=acts[:3])
    with pytest.raises(TypeError, match="spec"):
        Task("joint", rig, T, H, W, good.observations, good.observation_given, good.actions, good.action_given,
             spec="paper")


def test_missing_torch_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import actimg.models.wan\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "actimg[diffusers]"' in out.stdout


def test_direct_construction_zeroes_frames_not_given(scene):
    rig, acts, obs, videos = scene
    good = Task.joint(rig, obs, acts[0], T)
    t = Task("joint", rig, T, H, W, videos, good.observation_given, np.full_like(videos, 7), good.action_given)
    assert not t.observations[:, 1:].any() and not t.actions[:, 1:].any()
    np.testing.assert_array_equal(t.observations[:, 0], videos[:, 0])
    assert videos[:, 1:].any()  # the caller's array is untouched
