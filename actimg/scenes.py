"""Embedded scenes: cameras and trajectories generated in code (no downloads)."""

from __future__ import annotations

import numpy as np

from .geometry.camera import CameraRig, look_at

__all__ = ["default_rig", "default_trajectory", "default_scene", "WORKSPACE_CENTER"]

#: centre of the default tabletop workspace, metres (robot base frame, z up)
WORKSPACE_CENTER = np.array([0.5, 0.0, 0.15])


def default_rig(n_views: int = 3, height: int = 512, width: int = 512, fov_deg: float = 55.0) -> CameraRig:
    """``n_views`` static cameras on an arc ~1.1 m from the workspace, looking at it.

    Horizontal field of view ``fov_deg``; principal point at the image centre
    ``((W - 1) / 2, (H - 1) / 2)``; OpenCV axes, ``cam2world`` extrinsics.
    """
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    az = np.deg2rad(np.linspace(-60.0, 60.0, n_views) if n_views > 1 else np.array([0.0]))
    r, h = 0.7, 0.45
    eyes = WORKSPACE_CENTER + np.stack([r * np.cos(az) + 0.0, r * np.sin(az), np.full_like(az, h)], axis=-1)
    eyes[:, 0] += 0.35  # cameras stand in front of the robot, looking back at the table
    E = look_at(eyes, WORKSPACE_CENTER)
    f = 0.5 * width / np.tan(np.deg2rad(fov_deg) / 2.0)
    K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    return CameraRig(np.repeat(K[None], n_views, axis=0), E, height, width)


def default_trajectory(n_frames: int = 41) -> np.ndarray:
    """A pick-and-place-like ``(T, 7)`` trajectory: reach, grasp (close), lift, turn, place.

    Positions in metres around ``WORKSPACE_CENTER``, extrinsic xyz Euler angles in
    radians (tool pointing down, rolling and yawing), openness 1 -> 0 -> 1.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    s = np.linspace(0.0, 1.0, n_frames)
    x = WORKSPACE_CENTER[0] - 0.12 + 0.24 * s
    y = 0.12 * np.sin(2 * np.pi * s)
    z = WORKSPACE_CENTER[2] + 0.05 + 0.12 * np.sin(np.pi * s) ** 2
    rx = np.pi - 0.3 * np.sin(2 * np.pi * s)          # tool z axis roughly down
    ry = 0.25 * np.sin(np.pi * s)
    rz = -0.6 + 1.4 * s                                # yaw sweep
    openness = np.where((s > 0.3) & (s < 0.75), 0.0, 1.0)
    return np.stack([x, y, z, rx, ry, rz, openness], axis=-1)


def default_scene(n_views: int = 3, n_frames: int = 41, height: int = 512, width: int = 512
                  ) -> tuple[CameraRig, np.ndarray]:
    """``(rig, actions)``: :func:`default_rig` and :func:`default_trajectory`."""
    return default_rig(n_views, height, width), default_trajectory(n_frames)
