"""actimg.policy: queue semantics, observation keys, the safety rule, label_actions, errors.

No MuJoCo here (see test_policy_sim.py): the models are small callables that draw known
trajectories with actimg.encode on the default scene's cameras (3 views, 128 px).
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg.models import Task
from actimg.policy import ActionImagePolicy, UnsafeActionError, frame_problems, label_actions, parse_observation

H = W = 128
RIG, TRAJ = actimg.default_scene(n_views=3, n_frames=41, height=H, width=W)
POSE = TRAJ[0].copy()
STEP = np.array([0.004, -0.003, 0.002, 0.0, 0.0, 0.0, 0.0])


def _images(rng_seed: int = 0) -> np.ndarray:
    return np.random.default_rng(rng_seed).integers(0, 256, (3, H, W, 3), dtype=np.uint8)


def _obs(pose: np.ndarray = POSE, **extra: object) -> dict:
    return {"images": _images(), "pose": pose, **extra}


class LineModel:
    """Draws frame k at ``pose + k * STEP`` (pose = the task's pose, i.e. action frame 0);
    records every task it gets. ``bad`` maps a call index to a function that spoils the images."""

    def __init__(self, bad: dict | None = None) -> None:
        self.tasks: list[Task] = []
        self.bad = bad or {}

    def plan(self, pose: np.ndarray, T: int) -> np.ndarray:
        return pose[None] + np.arange(T)[:, None] * STEP[None]

    def __call__(self, task: Task) -> np.ndarray:
        i = len(self.tasks)
        self.tasks.append(task)
        imgs = actimg.encode(self.plan(task.pose, task.n_frames), task.rig, task.spec)
        if i in self.bad:
            imgs = self.bad[i](imgs)
        return imgs


def _close(a: np.ndarray, b: np.ndarray, tol: float = 2e-3) -> bool:
    return bool(np.all(np.abs(a[:3] - b[:3]) < tol) and a[6] == b[6])


# ------------------------------------------------------------------ queue semantics
def test_first_select_action_returns_frame_1_then_2_and_replans_when_empty():
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=4)
    out = [policy.select_action(_obs()) for _ in range(6)]
    assert len(model.tasks) == 2  # steps 1-4 from chunk 0, step 5 asks again
    t = model.tasks[0]
    assert t.mode == "joint" and t.n_frames == 5  # horizon + 1
    # frame 0 of every view is the current pose, given
    assert np.array_equal(t.actions[:, 0], actimg.encode(POSE[None], RIG)[:, 0])
    assert t.action_given[:, 0].all() and not t.action_given[:, 1:].any()
    for k in range(4):
        assert _close(out[k], POSE + (k + 1) * STEP), k
    assert policy.last_info["frame"] == 2
    # the second chunk starts from the pose in the observation (unchanged here): frame 1 again
    assert _close(out[4], POSE + STEP) and _close(out[5], POSE + 2 * STEP)
    assert all(np.isfinite(o).all() and o.shape == (7,) for o in out)


def test_replan_every_executes_only_the_first_frames():
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=4, replan_every=2)
    assert policy.n_action_steps == 2
    frames, queued = [], []
    for _ in range(6):
        policy.select_action(_obs())
        frames.append(policy.last_info["frame"])
        queued.append(policy.n_queued)
    assert frames == [1, 2, 1, 2, 1, 2] and queued == [1, 0, 1, 0, 1, 0]
    assert len(model.tasks) == 3


def test_reset_clears_the_queue():
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=4)
    policy.select_action(_obs())
    policy.reset()
    a = policy.select_action(_obs())
    assert len(model.tasks) == 2 and policy.last_info["frame"] == 1 and _close(a, POSE + STEP)


def test_predict_action_chunk_returns_horizon_future_frames():
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=4)
    chunk = policy.predict_action_chunk(_obs())
    assert chunk.shape == (4, 7)
    for k in range(4):
        assert _close(chunk[k], POSE + (k + 1) * STEP)
    info = policy.last_chunk
    assert info.safe.all() and info.reasons == (None,) * 4 and info.images.shape == (3, 5, H, W, 3)
    assert (info.confidence > 0.5).all()


def test_instruction_and_pose_are_passed_to_the_model():
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=2, instruction="default text")
    policy.select_action(_obs(instruction="pick the cube"))
    assert model.tasks[-1].instruction == "pick the cube"
    policy.reset()
    policy.select_action(_obs())
    assert model.tasks[-1].instruction == "default text"
    policy.reset()
    policy.select_action(_obs(task=["lerobot task"]))
    assert model.tasks[-1].instruction == "lerobot task"


# ------------------------------------------------------------------ observations
def _lerobot(images: np.ndarray, names: list[str], batch: bool, channels_first: bool = True) -> dict:
    obs = {}
    for v, name in enumerate(names):
        x = images[v].astype(np.float32) / 255.0
        if channels_first:
            x = np.moveaxis(x, -1, 0)
        obs[f"observation.images.{name}"] = x[None] if batch else x
    obs["observation.state"] = POSE[None] if batch else POSE
    obs["task"] = ["go"] if batch else "go"
    return obs


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("channels_first", [True, False])
def test_lerobot_keys_map_to_views_by_camera_names(batch, channels_first):
    imgs = _images(3)
    names = ["wrist", "front", "side"]
    obs = _lerobot(imgs, names, batch, channels_first)
    parsed = parse_observation(obs, 3, H, W, cameras=["front", "observation.images.side", "wrist"])
    assert np.array_equal(parsed.images, imgs[[1, 2, 0]])
    assert np.array_equal(parsed.pose, POSE) and parsed.instruction == "go"
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=2, cameras=names)
    a = policy.select_action(obs)
    assert np.array_equal(model.tasks[0].observations[:, 0], imgs) and _close(a, POSE + STEP)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_lerobot_float_images_round_trip_to_uint8(seed, batch):
    imgs = np.random.default_rng(seed).integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
    obs = _lerobot(imgs, ["a", "b"], batch)
    parsed = parse_observation(obs, 2, 8, 6, cameras=["a", "b"])
    assert parsed.images.dtype == np.uint8 and np.array_equal(parsed.images, imgs)


def test_images_key_accepts_float_and_a_batch_of_one():
    imgs = _images(4)
    p = parse_observation({"images": imgs[None].astype(np.float64) / 255.0, "pose": POSE}, 3, H, W)
    assert np.array_equal(p.images, imgs) and p.instruction is None


@pytest.mark.parametrize("obs, err, match", [
    ({"pose": POSE}, KeyError, "no images"),
    ({"images": _images()}, KeyError, "no current pose"),
    ({"images": _images()[:2], "pose": POSE}, ValueError, "2 views but the rig has 3"),
    ({"images": _images()[:, :64], "pose": POSE}, ValueError, "64x128 but the rig is for 128x128"),
    ({"images": _images(), "pose": POSE[:6]}, ValueError, "7-vector"),
    ({"images": _images(), "pose": np.full(7, np.nan)}, ValueError, "NaN"),
    ({"images": _images().astype(np.float32), "pose": POSE}, ValueError, r"in \[0, 1\]"),
    ({"images": _images(), "pose": POSE, "task": 3}, TypeError, "must be a string"),
    ({"images": _images(), "pose": POSE, "task": ["a", "b"]}, ValueError, "one string"),
    ([1, 2], TypeError, "must be a dict"),
])
def test_observation_errors(obs, err, match):
    with pytest.raises(err, match=match):
        parse_observation(obs, 3, H, W)


def test_lerobot_keys_need_camera_names():
    obs = _lerobot(_images(), ["a", "b", "c"], batch=False)
    with pytest.raises(ValueError, match="cameras="):
        parse_observation(obs, 3, H, W)
    with pytest.raises(KeyError, match="lacks camera key"):
        parse_observation(obs, 3, H, W, cameras=["a", "b", "x"])
    big = dict(obs)
    big["observation.images.a"] = np.zeros((2, 3, H, W), np.float32)
    with pytest.raises(ValueError, match="batch of 2"):
        parse_observation(big, 3, H, W, cameras=["a", "b", "c"])


# ------------------------------------------------------------------ safety rule
def _garbage(imgs: np.ndarray) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, imgs.shape, dtype=np.uint8)


def _blank(imgs: np.ndarray) -> np.ndarray:
    return np.zeros_like(imgs)


def _one_view(imgs: np.ndarray) -> np.ndarray:
    out = imgs.copy()
    out[1:] = 0  # only view 0 sees the blobs
    return out


def _noisy(imgs: np.ndarray) -> np.ndarray:
    return actimg.corrupt.gaussian_noise(imgs, 0.12, seed=1)


@pytest.mark.parametrize("spoil, reasons", [
    (_garbage, {"invalid", "single_view", "low_confidence", "ambiguous"}),
    (_blank, {"invalid"}),
    (_one_view, {"ambiguous", "single_view", "invalid"}),
])
def test_bad_chunks_are_held_and_raise_after_max_retries(spoil, reasons):
    model = LineModel(bad={i: spoil for i in range(10)})
    policy = ActionImagePolicy(model, RIG, horizon=4, max_retries=2)
    for k in range(2):  # the first bad chunk and the first re-ask: held at the observed pose
        a = policy.select_action(_obs())
        assert np.array_equal(a, POSE) and np.isfinite(a).all()
        info = policy.last_info
        assert info["held"] and info["reason"] in reasons and info["bad_chunks"] == k + 1
        assert info["confidence"] == 1.0 and len(model.tasks) == k + 1
    with pytest.raises(UnsafeActionError, match="3 unsafe action chunks in a row"):
        policy.select_action(_obs())  # the second re-ask (max_retries=2) fails too: raise, do not move
    assert len(model.tasks) == 3
    policy.reset()  # a new episode starts clean
    with pytest.raises(UnsafeActionError):
        for _ in range(3):
            policy.select_action(_obs())


def test_low_confidence_frames_are_held():
    model = LineModel(bad={0: _noisy})
    policy = ActionImagePolicy(model, RIG, horizon=4, min_confidence=0.999)
    a = policy.select_action(_obs())
    assert np.array_equal(a, POSE) and policy.last_info["reason"] == "low_confidence"
    assert policy.last_info["rejected_confidence"] < 0.999
    b = policy.select_action(_obs())  # asked again at once; chunk 1 is clean
    assert len(model.tasks) == 2 and not policy.last_info["held"] and _close(b, POSE + STEP)


def test_bad_frame_mid_chunk_holds_last_safe_action_and_drops_the_rest():
    def spoil_frame_3(imgs):
        out = imgs.copy()
        out[:, 3] = 0
        return out

    model = LineModel(bad={0: spoil_frame_3})
    policy = ActionImagePolicy(model, RIG, horizon=4)
    a1 = policy.select_action(_obs())
    a2 = policy.select_action(_obs())
    a3 = policy.select_action(_obs())  # frame 3 is blank: hold frame 2
    assert _close(a1, POSE + STEP) and _close(a2, POSE + 2 * STEP)
    assert np.array_equal(a3, a2) and policy.last_info["held"] and policy.last_info["reason"] == "invalid"
    assert policy.last_info["confidence"] == pytest.approx(float(policy.last_chunk.confidence[1]))
    a4 = policy.select_action(_obs())  # the rest of chunk 0 was dropped: a new chunk, its frame 1
    assert len(model.tasks) == 2 and policy.last_info["frame"] == 1 and _close(a4, POSE + STEP)
    assert policy.last_info["bad_chunks"] == 0


def test_max_position_step_rejects_jumps():
    model = LineModel()
    policy = ActionImagePolicy(model, RIG, horizon=4, max_position_step=0.001)  # STEP moves 5.4 mm
    a = policy.select_action(_obs())
    assert np.array_equal(a, POSE) and policy.last_info["reason"] == "jump"


def test_frame_problems_reads_ambiguous_when_the_decoder_provides_it():
    T = 4
    res = types.SimpleNamespace(actions=np.zeros((T, 7)), valid=np.array([True, False, True, True]),
                                confidence=np.array([0.9, 0.0, 0.9, 0.2]), single_view=np.zeros(T, bool),
                                ambiguous=np.array([False, False, True, False]))
    assert frame_problems(res, 0.5) == [None, "invalid", "ambiguous", "low_confidence"]
    del res.ambiguous
    assert frame_problems(res, 0.5) == [None, "invalid", None, "low_confidence"]


# ------------------------------------------------------------------ label_actions
def test_label_actions_decodes_what_the_model_draws_for_a_video():
    truth = TRAJ[:9]
    seen = []

    def labeller(task):
        seen.append(task)
        return actimg.encode(truth, task.rig, task.spec).astype(np.float32) / 255.0  # float output accepted

    videos = np.random.default_rng(1).integers(0, 256, (3, 9, H, W, 3), dtype=np.uint8)
    res = label_actions(labeller, videos, RIG, instruction="label me")
    t = seen[0]
    assert t.mode == "video_to_action" and t.observation_given.all() and not t.action_given.any()
    assert t.instruction == "label me" and np.array_equal(t.observations, videos)
    assert res.actions.shape == (9, 7) and res.valid.all()
    assert np.abs(res.positions - truth[:, :3]).max() < 1e-3
    assert np.array_equal(res.openness, truth[:, 6])
    label_actions(labeller, videos, RIG, pose=truth[0])  # the published mask: action frame 0 given
    assert seen[-1].action_given[:, 0].all() and not seen[-1].action_given[:, 1:].any()
    assert np.array_equal(seen[-1].actions[:, 0], actimg.encode(truth[:1], RIG)[:, 0])


def test_label_actions_errors():
    videos = np.zeros((3, 5, H, W, 3), np.uint8)
    ok = LineModel()
    with pytest.raises(TypeError, match="CameraRig"):
        label_actions(ok, videos, "rig")
    with pytest.raises(ValueError, match=r"\(V, T, H, W, 3\)"):
        label_actions(ok, videos[0], RIG)
    with pytest.raises(TypeError, match="uint8"):
        label_actions(ok, videos.astype(np.float32), RIG)
    with pytest.raises(ValueError, match="2 views but the rig has 3"):
        label_actions(ok, videos[:2], RIG)
    with pytest.raises(ValueError, match="64x128"):
        label_actions(ok, videos[:, :, :64], RIG)
    with pytest.raises(ValueError, match="shape"):
        label_actions(lambda task: np.zeros((3, 2, H, W, 3), np.uint8), videos, RIG)


# ------------------------------------------------------------------ constructor errors
@pytest.mark.parametrize("kwargs, err, match", [
    ({"horizon": 0}, ValueError, "horizon"),
    ({"horizon": 2.5}, ValueError, "horizon"),
    ({"replan_every": 9}, ValueError, "replan_every"),
    ({"replan_every": 0}, ValueError, "replan_every"),
    ({"min_confidence": 1.5}, ValueError, "min_confidence"),
    ({"max_retries": -1}, ValueError, "max_retries"),
    ({"max_position_step": 0.0}, ValueError, "max_position_step"),
    ({"cameras": ["a"]}, ValueError, "1 cameras but the rig has 3"),
    ({"spec": "paper"}, TypeError, "ActionImageSpec"),
])
def test_constructor_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        ActionImagePolicy(LineModel(), RIG, **kwargs)


def test_constructor_type_errors_and_frame_rules():
    with pytest.raises(TypeError, match="callable"):
        ActionImagePolicy("model", RIG)
    with pytest.raises(TypeError, match="CameraRig"):
        ActionImagePolicy(LineModel(), "rig")
    per_frame = actimg.CameraRig(np.repeat(RIG.intrinsics[:, None], 5, 1), np.repeat(RIG.extrinsics[:, None], 5, 1),
                                 H, W)
    with pytest.raises(ValueError, match="horizon \\+ 1 = 9"):
        ActionImagePolicy(LineModel(), per_frame, horizon=8)
    ActionImagePolicy(LineModel(), per_frame, horizon=4)

    wan = LineModel()
    wan.backbone = "wan2.2-5b"
    with pytest.raises(ValueError, match="4k\\+1 frames.*use horizon = 4 or 8"):
        ActionImagePolicy(wan, RIG, horizon=6)
    ActionImagePolicy(wan, RIG, horizon=8)  # 9 = 4 * 2 + 1
    tc = LineModel()
    tc.temporal_compression = 4
    with pytest.raises(ValueError, match="4k\\+1"):
        ActionImagePolicy(tc, RIG, horizon=7)


def test_model_output_errors_surface_from_run_model():
    policy = ActionImagePolicy(lambda task: np.zeros((3, 2, H, W, 3), np.uint8), RIG, horizon=4)
    with pytest.raises(ValueError, match="shape"):
        policy.select_action(_obs())
    policy = ActionImagePolicy(lambda task: np.full((3, 5, H, W, 3), np.nan, np.float32), RIG, horizon=4)
    with pytest.raises(ValueError, match="NaN"):
        policy.select_action(_obs())


def test_import_actimg_does_not_import_the_policy():
    import subprocess
    import sys

    code = "import sys, actimg; print('actimg.policy' in sys.modules, 'mujoco' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    code = "import sys, actimg.policy, actimg.policy.sim; print('mujoco' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_lerobot_torch_tensors_are_read():
    torch = pytest.importorskip("torch")
    imgs = _images(5)
    obs = {f"observation.images.{n}": torch.from_numpy(np.moveaxis(imgs[v], -1, 0)[None].astype(np.float32) / 255)
           for v, n in enumerate(["a", "b", "c"])}
    obs["observation.state"] = torch.from_numpy(POSE[None]).float()
    obs["task"] = ["go"]
    p = parse_observation(obs, 3, H, W, cameras=["a", "b", "c"])
    assert np.array_equal(p.images, imgs) and np.allclose(p.pose, POSE, atol=1e-6) and p.instruction == "go"
