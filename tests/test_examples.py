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
