"""The closed loop in MuJoCo (actimg.policy.sim): expert, oracle, one short episode, export.

Skipped when MuJoCo is missing or cannot render offscreen (``MUJOCO_GL=egl`` is set here
before MuJoCo is imported unless MUJOCO_GL is already set).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
try:
    import mujoco  # noqa: F401
except ModuleNotFoundError:
    pytest.skip("mujoco is not installed (pip install mujoco)", allow_module_level=True)
except Exception as exc:  # a GL backend whose library is missing
    pytest.skip(f"mujoco cannot be imported with MUJOCO_GL={os.environ['MUJOCO_GL']}: {exc}", allow_module_level=True)

import actimg  # noqa: E402
from actimg.policy import ActionImagePolicy  # noqa: E402
from actimg.policy import sim  # noqa: E402


@pytest.fixture(scope="module")
def reach_env():
    try:
        env = sim.SimEnv("reach", 128, 128)
        env.render()
    except Exception as exc:  # no offscreen GL context
        pytest.skip(f"MuJoCo cannot render offscreen: {type(exc).__name__}: {exc}")
    yield env
    env.close()


@pytest.mark.parametrize("task", sim.TASKS)
def test_scripted_expert_solves_its_task(task):
    env = sim.SimEnv(task, 64, 64)
    for seed in range(3):
        env.reset(seed)
        assert not env.success()
        assert any(env.step(env.expert_plan(1)[0]) for _ in range(env.max_steps)), (task, seed)
    env.close()


def test_expert_plan_matches_what_the_environment_does():
    env = sim.SimEnv("pick", 64, 64)
    env.reset(5)
    plan = env.expert_plan(8)
    for a in plan:  # executing the plan open loop follows it exactly (mocap is kinematic)
        env.step(a)
        assert np.allclose(env.pose()[:3], a[:3], atol=1e-9)
    env.close()


def test_rig_projects_the_gripper_where_mujoco_draws_it(reach_env):
    env = reach_env
    env.reset(0)
    px, depth = env.rig.project(env.pose()[None, :3])
    assert (depth > 0).all()
    assert ((px > 0) & (px < 127)).all()  # the tool point is inside every view


def test_oracle_draws_the_expert_plan_with_frame_0_given(reach_env):
    env = reach_env
    env.reset(1)
    oracle = sim.ExpertOracle(env)
    policy = ActionImagePolicy(oracle, env.rig, horizon=4)
    chunk = policy.predict_action_chunk(env.observation())
    assert np.abs(chunk[:, :3] - oracle.last_plan[1:, :3]).max() < 1e-3
    assert np.array_equal(policy.last_chunk.images[:, 0], actimg.encode(env.pose()[None], env.rig)[:, 0])


def test_one_short_closed_loop_episode_clean_and_degraded(reach_env):
    env = reach_env
    for degraded in (False, True):
        envd = env if not degraded else sim.SimEnv("reach", 384, 384)  # degraded frames are confident from ~320 px
        policy = ActionImagePolicy(sim.ExpertOracle(envd, degraded=degraded, seed=3), envd.rig, horizon=4)
        res = sim.run_episode(envd, policy, seed=11, record=True)
        assert res.success, (degraded, res)
        assert res.error is None and res.steps <= envd.max_steps and res.model_calls >= 1
        assert res.images.shape[:2] == (3, res.steps + 1) and res.drawn.shape[:2] == (3, res.steps)
        assert np.isfinite(res.poses).all()
        assert np.median(res.position_error_mm) < (0.05 if not degraded else 2.0)
        if degraded:
            envd.close()


def test_garbage_oracle_never_moves_and_raises(reach_env):
    env = reach_env
    obs = env.reset(2)
    start = env.pose()
    policy = ActionImagePolicy(lambda task: np.zeros((3, task.n_frames, 128, 128, 3), np.uint8), env.rig,
                               horizon=4, max_retries=1)
    a = policy.select_action(obs)
    assert np.array_equal(a, start) and policy.last_info["held"]
    res = sim.run_episode(env, policy, seed=2)
    assert not res.success and res.error is not None and "unsafe" in res.error
    assert np.allclose(res.poses, res.poses[0])


def test_export_writes_the_published_layout(tmp_path, reach_env):
    env = reach_env
    policy = ActionImagePolicy(sim.ExpertOracle(env), env.rig, horizon=4)
    res = sim.run_episode(env, policy, seed=4, record=True)
    sim.export_episode(tmp_path / "ep", env, res)
    files = sorted(p.name for p in (tmp_path / "ep").iterdir())
    assert files == ["action_view0.mkv", "action_view1.mkv", "action_view2.mkv", "actions.npy", "instruction.txt",
                     "observation_view0.mkv", "observation_view1.mkv", "observation_view2.mkv", "rig.json"]
    actions = np.load(tmp_path / "ep" / "actions.npy")
    assert actions.shape == (res.steps + 1, 7) and np.array_equal(actions, res.poses)
    rig = actimg.load_rig(tmp_path / "ep" / "rig.json")
    assert np.allclose(rig.extrinsics, env.rig.extrinsics) and np.allclose(rig.intrinsics, env.rig.intrinsics)
    act = actimg.video.read_video(tmp_path / "ep" / "action_view1.mkv", expected_frames=res.steps + 1)
    assert np.array_equal(act, actimg.encode(actions, env.rig)[1])  # lossless
    decoded = actimg.decode(np.stack([actimg.video.read_video(tmp_path / "ep" / f"action_view{v}.mkv")
                                      for v in range(3)]), rig)
    assert np.abs(decoded.positions - actions[:, :3]).max() < 1e-3
    obs = actimg.video.read_video(tmp_path / "ep" / "observation_view0.mkv")
    assert np.array_equal(obs, res.images[0])
    assert (tmp_path / "ep" / "instruction.txt").read_text().strip() == sim.INSTRUCTIONS["reach"]
    with pytest.raises(ValueError, match="record=True"):
        sim.export_episode(tmp_path / "x", env, sim.run_episode(env, policy, seed=4))


def test_sim_errors():
    with pytest.raises(ValueError, match="task must be one of"):
        sim.SimEnv("stack")
    with pytest.raises(ValueError, match="unknown camera"):
        sim.SimEnv("reach", cameras=["top"])
    env = sim.SimEnv("reach", 64, 64)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full(7, np.nan))
    env.close()
