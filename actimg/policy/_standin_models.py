"""TEMPORARY stand-in for actimg.models (TASK_API.md) until agent/models is merged. NOT TO SHIP."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import actimg
from actimg.codec.spec import PAPER

MODES = ("joint", "action_to_video", "video_to_action", "video_only", "image_to_action")


@dataclass(frozen=True, eq=False)
class Task:
    mode: str
    rig: object
    n_frames: int
    height: int
    width: int
    observations: np.ndarray
    observation_given: np.ndarray
    actions: np.ndarray | None
    action_given: np.ndarray | None
    instruction: str | None
    spec: object

    @property
    def n_views(self) -> int:
        return self.rig.n_views

    @classmethod
    def joint(cls, rig, observation, pose, n_frames, instruction=None, spec=None):
        spec = spec or PAPER
        V, H, W = rig.n_views, rig.height, rig.width
        obs = np.zeros((V, n_frames, H, W, 3), np.uint8)
        o = np.asarray(observation)
        obs[:, 0] = o.reshape(V, H, W, 3)
        og = np.zeros((V, n_frames), bool)
        og[:, 0] = True
        act = np.zeros_like(obs)
        r = rig if rig.n_frames is None else rig.frames(slice(0, 1)) if hasattr(rig, "frames") else rig
        act[:, 0] = actimg.encode(np.asarray(pose, float)[None], r, spec)[:, 0]
        ag = og.copy()
        return cls("joint", rig, n_frames, H, W, obs, og, act, ag, instruction, spec)

    @classmethod
    def video_to_action(cls, rig, videos, instruction=None, pose=None, spec=None):
        spec = spec or PAPER
        v = np.asarray(videos)
        V, T, H, W, _ = v.shape
        return cls("video_to_action", rig, T, H, W, v, np.ones((V, T), bool), np.zeros_like(v),
                   np.zeros((V, T), bool), instruction, spec)


@dataclass(frozen=True)
class Generated:
    actions: np.ndarray | None
    observations: np.ndarray | None = None


def run_model(model, task):
    out = model(task)
    if isinstance(out, Generated):
        a = out.actions
    elif isinstance(out, dict):
        a = out.get("actions")
    else:
        a = out
    a = np.asarray(a)
    if a.shape != (task.n_views, task.n_frames, task.height, task.width, 3):
        raise ValueError(f"model returned actions of shape {a.shape}")
    if a.dtype != np.uint8:
        if not np.isfinite(a).all():
            raise ValueError("model output contains NaN")
        a = np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)
    return Generated(actions=a, observations=None)
