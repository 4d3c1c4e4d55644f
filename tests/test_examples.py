"""The examples run end to end (short versions): ``examples/closed_loop_mujoco.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.setdefault("MUJOCO_GL", "egl")
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_closed_loop_example_one_episode(tmp_path):
    pytest.importorskip("mujoco")
    out = _run("closed_loop_mujoco.py", "--episodes", "1", "--tasks", "reach", "--video", "loop.mp4",
               "--export", "ds", cwd=tmp_path)
    if out.returncode != 0 and ("gladLoadGL" in out.stderr or "EGL" in out.stderr):
        pytest.skip(f"MuJoCo cannot render offscreen here: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "success_rate clean=1.00 degraded=1.00", out.stdout
    assert any(line.startswith("| clean | reach | 1.00 (1/1)") for line in lines)
    assert (tmp_path / "loop.mp4").stat().st_size > 0
    ep = tmp_path / "ds" / "reach_000"
    assert np.load(ep / "actions.npy").shape[1] == 7 and (ep / "rig.json").exists()


def test_closed_loop_example_rejects_bad_arguments(tmp_path):
    pytest.importorskip("mujoco")
    out = _run("closed_loop_mujoco.py", "--episodes", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--episodes must be >= 1" in out.stderr


def _train_module():
    pytest.importorskip("torch")
    pytest.importorskip("mujoco")
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_tiny_policy", EXAMPLES / "train_tiny_policy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tiny_action_image_model_follows_the_adapter_protocol():
    mod = _train_module()
    import actimg
    from actimg.models import Task, run_model

    rig, traj = actimg.default_scene(n_views=2, n_frames=5, height=64, width=64)
    model = mod.TinyActionImageModel(mod.ActionImageNet(n_views=2, horizon=4).eval())
    obs = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    task = Task.joint(rig, obs, traj[0], n_frames=5)
    out = run_model(model, task)
    assert out.actions.shape == (2, 5, 64, 64, 3)
    assert np.array_equal(out.actions[:, 0], task.actions[:, 0])  # frame 0 is the given pose
    with pytest.raises(ValueError, match="trained for 5 frames"):
        model(Task.joint(rig, obs, traj[0], n_frames=9))
    net = mod.RegressionNet(n_views=2, horizon=4).eval()
    net.scale = mod.torch.ones(7)
    policy = mod.RegressionPolicy(net, rig, horizon=4, n_action_steps=2)
    a = policy.select_action({"images": obs, "pose": traj[0]})
    assert a.shape == (7,) and np.isfinite(a).all() and policy._n_chunks == 1
    policy.select_action({"images": obs, "pose": traj[0]})
    policy.select_action({"images": obs, "pose": traj[0]})
    assert policy._n_chunks == 2


def test_train_tiny_policy_smoke(tmp_path):
    _train_module()
    out = _run("train_tiny_policy.py", "--episodes-train", "2", "--epochs", "1", "--eval-episodes", "1",
               "--horizon", "4", "--replan-every", "4", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("success_rate oracle=1.00 action_image=") and " regression=" in last, out.stdout
