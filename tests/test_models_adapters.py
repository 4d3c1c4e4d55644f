"""run_model: the model protocol and the checks on what a model returns."""

from __future__ import annotations

import numpy as np
import pytest

import actimg
from actimg.models import Generated, Task, run_model

V, T, H, W = 2, 5, 32, 32


@pytest.fixture(scope="module")
def scene():
    rig, acts = actimg.default_scene(V, T, H, W)
    obs = np.random.default_rng(0).integers(1, 255, (V, H, W, 3), dtype=np.uint8)
    return rig, acts, obs


def test_callable_returning_action_images_decodes(scene):
    rig, acts, obs = scene
    task = Task.joint(rig, obs, acts[0], T, instruction="pick")
    truth = actimg.encode(acts, rig)

    def oracle(t):  # a "model" that knows the future: it draws the true trajectory
        assert t is task
        return truth.astype(np.float32) / 255.0

    gen = run_model(oracle, task)
    assert gen.observations is None
    np.testing.assert_array_equal(gen.actions, truth)  # round(255 x) of x = k / 255
    result = actimg.decode(gen.actions, task.rig)
    assert result.valid.all()
    assert np.abs(result.positions - acts[:, :3]).max() < 2e-3


def test_dict_generated_and_torch(scene):
    rig, acts, obs = scene
    task = Task.action_to_video(rig, obs, acts)
    video = np.full((V, T, H, W, 3), 0.5)
    gen = run_model(lambda t: {"observations": video}, task)
    assert gen.actions is None and gen.observations.dtype == np.uint8 and (gen.observations == 128).all()
    gen2 = run_model(lambda t: Generated(observations=gen.observations), task)
    np.testing.assert_array_equal(gen2.observations, gen.observations)
    merged = gen.with_given(task)
    np.testing.assert_array_equal(merged.observations[:, 0], obs)
    assert (merged.observations[:, 1:] == 128).all()
    torch = pytest.importorskip("torch")
    gen3 = run_model(lambda t: {"observations": torch.full((V, T, H, W, 3), 0.5, dtype=torch.bfloat16)}, task)
    assert (gen3.observations == 128).all()


def test_image_to_action_accepts_one_observation_frame(scene):
    rig, acts, obs = scene
    task = Task.image_to_action(rig, obs, acts[0], T)
    a = np.zeros((V, T, H, W, 3), np.uint8)
    gen = run_model(lambda t: {"actions": a, "observations": obs[:, None]}, task)
    assert gen.observations.shape == (V, 1, H, W, 3)


def test_errors_say_what_is_wrong(scene):
    rig, acts, obs = scene
    joint = Task.joint(rig, obs, acts[0], T)
    ok = np.zeros((V, T, H, W, 3), np.uint8)
    with pytest.raises(TypeError, match="callable"):
        run_model(ok, joint)
    with pytest.raises(TypeError, match="Task"):
        run_model(lambda t: ok, "task")
    with pytest.raises(ValueError, match=r"shape \(2, 4, 32, 32, 3\).*\(2, 5, 32, 32, 3\)"):
        run_model(lambda t: ok[:, :4], joint)
    with pytest.raises(ValueError, match="channels first"):
        run_model(lambda t: np.zeros((V, T, 3, H, W), np.uint8), joint)
    with pytest.raises(ValueError, match="one stream"):
        run_model(lambda t: np.zeros((2 * V * T, H, W, 3), np.uint8), joint)
    with pytest.raises(ValueError, match="NaN"):
        run_model(lambda t: np.full(ok.shape, np.nan, np.float32), joint)
    with pytest.raises(ValueError, match="must be in \\[0, 1\\].*from_model_range"):
        run_model(lambda t: np.full(ok.shape, -0.5, np.float32), joint)
    with pytest.raises(ValueError, match="got min 255, max 255 \\(they look like 0..255"):
        run_model(lambda t: np.full(ok.shape, 255.0), joint)
    with pytest.raises(TypeError, match="dtype int64"):
        run_model(lambda t: ok.astype(np.int64), joint)
    with pytest.raises(TypeError, match="returned None"):
        run_model(lambda t: None, joint)
    with pytest.raises(TypeError, match="tuple/list"):
        run_model(lambda t: (ok, ok), joint)
    with pytest.raises(ValueError, match="unknown keys \\['action'\\]"):
        run_model(lambda t: {"action": ok}, joint)
    with pytest.raises(ValueError, match="no action frames; a joint task generates them"):
        run_model(lambda t: {"observations": ok}, joint)
    a2v = Task.action_to_video(rig, obs, acts)
    with pytest.raises(ValueError, match="no observation frames; a action_to_video task"):
        run_model(lambda t: ok, a2v)
    vo = Task.video_only(rig, obs, T)
    with pytest.raises(ValueError, match="video_only task has no action segments"):
        run_model(lambda t: {"actions": ok, "observations": ok}, vo)
    with pytest.raises(ValueError, match="observations of shape"):
        run_model(lambda t: {"actions": ok, "observations": ok[:, :1]}, joint)
