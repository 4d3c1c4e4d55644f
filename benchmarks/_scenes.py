"""Synthetic multi-view scenes shared by the benchmarks.

A scene is ``V`` static OpenCV pinhole cameras placed with :func:`actimg.look_at` on a
sphere of radius ~1 m around a workspace centre, focal length ``0.9 * W`` pixels,
principal point at the image centre ``((W - 1) / 2, (H - 1) / 2)``, and a smooth random
trajectory of ``T`` actions (sums of low-frequency sinusoids, seeded) whose P, N and U
points are all in view of every camera, with the gripper switching from open to closed
half-way through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import actimg

__all__ = ["Scene", "make_scene", "add_noise", "WORKSPACE_CENTER"]

#: Workspace centre (metres, world frame): in front of a robot base at the origin.
WORKSPACE_CENTER = np.array([0.5, 0.0, 0.15])


@dataclass(frozen=True)
class Scene:
    """Actions ``(T, 7)`` and the rig that sees them, plus how they were made."""

    actions: np.ndarray
    rig: actimg.CameraRig
    seed: int

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """``(V, T, H, W, 3)`` of the scene's action images."""
        return (self.rig.n_views, self.actions.shape[0], self.rig.height, self.rig.width, 3)

    def label(self) -> str:
        V, T, H, W, _ = self.shape
        return f"{V} views x {T} frames x {H}x{W}"


def make_rig(n_views: int, height: int, width: int, distance: float = 1.0,
             center: np.ndarray = WORKSPACE_CENTER) -> actimg.CameraRig:
    """``n_views`` static cameras at ``distance`` metres around ``center``, looking at it.

    Azimuths are spread over a 150 degree arc facing the robot (one camera: straight in
    front), elevations alternate between 30 and 45 degrees.
    """
    if n_views == 1:
        az = np.array([0.0])
    else:
        az = np.deg2rad(np.linspace(-75.0, 75.0, n_views))
    el = np.deg2rad(np.where(np.arange(n_views) % 2 == 0, 30.0, 45.0))
    # cameras sit on the far side of the workspace (+x), looking back towards the robot
    dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
    eyes = center + distance * dirs
    E = actimg.look_at(eyes, np.broadcast_to(center, eyes.shape))
    f = 0.9 * width
    K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    return actimg.CameraRig(np.broadcast_to(K, (n_views, 3, 3)), E, height, width)


def _smooth(rng: np.random.Generator, t: np.ndarray, dims: int, n_terms: int = 3) -> np.ndarray:
    """``(T, dims)`` smooth signals in about [-1, 1]: sums of low-frequency sinusoids."""
    out = np.zeros((t.size, dims))
    for _ in range(n_terms):
        freq = rng.uniform(0.3, 1.5, size=dims)
        phase = rng.uniform(0.0, 2 * np.pi, size=dims)
        amp = rng.uniform(0.5, 1.0, size=dims)
        out += amp * np.sin(2 * np.pi * freq * t[:, None] + phase)
    return out / n_terms


def _trajectory(rng: np.random.Generator, n_frames: int, amplitude: float,
                center: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n_frames)
    pos = center + amplitude * _smooth(rng, t, 3)
    ang = _smooth(rng, t, 3) * np.array([0.35, 0.35, 0.9])
    ang[:, 0] += np.pi  # gripper pointing down: tool -z (U) points up, like a top grasp
    ang = (ang + np.pi) % (2 * np.pi) - np.pi
    opened = (np.arange(n_frames) < n_frames // 2).astype(np.float64)  # open, then closed
    return np.concatenate([pos, ang, opened[:, None]], axis=1)


def _in_view(actions: np.ndarray, rig: actimg.CameraRig, margin_px: float) -> bool:
    pix, depth = actimg.project_actions(actions, rig)
    H, W = rig.height, rig.width
    u, v = pix[..., 0], pix[..., 1]
    return bool((depth > 0.2).all() and (u >= margin_px).all() and (u <= W - 1 - margin_px).all()
                and (v >= margin_px).all() and (v <= H - 1 - margin_px).all())


def make_scene(n_views: int = 2, n_frames: int = 41, height: int = 512, width: int = 512,
               seed: int = 0, distance: float = 1.0, amplitude: float = 0.12,
               margin_fraction: float = 0.05) -> Scene:
    """A seeded scene whose points stay at least ``margin_fraction * min(H, W)`` px inside
    every image (one Gaussian sigma of the published format, by default).

    Deterministic for a given argument set: trajectories are redrawn from ``seed``-derived
    generators (and the amplitude shrinks) until every point is in view.
    """
    rig = make_rig(n_views, height, width, distance)
    margin = margin_fraction * min(height, width)
    amp = amplitude
    for attempt in range(200):
        rng = np.random.default_rng([seed, attempt])
        actions = _trajectory(rng, n_frames, amp, WORKSPACE_CENTER)
        if _in_view(actions, rig, margin):
            return Scene(actions=actions, rig=rig, seed=seed)
        if attempt % 20 == 19:
            amp *= 0.8
    raise RuntimeError("could not place a trajectory in view of every camera")


def add_noise(images: np.ndarray, sigma: float = 0.08, seed: int = 0) -> np.ndarray:
    """uint8 images with Gaussian noise of ``sigma`` (in [0, 1] units) added, clipped, rounded."""
    rng = np.random.default_rng(seed)
    x = images.astype(np.float32) / np.float32(255.0)
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
    np.clip(x, 0.0, 1.0, out=x)
    return np.rint(x * np.float32(255.0)).astype(np.uint8)
