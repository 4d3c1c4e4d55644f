"""Quality filter: score an episode, as the paper filtered DROID.

Four checks, each a number with a threshold (:class:`Thresholds`):

- ``outside``: fraction of frames whose end effector (the position point ``P``) is
  outside every view (or behind every camera, or nearer than 5 cm);
- ``jump_m`` / ``jump_deg``: the largest step between consecutive frames, metres and
  degrees (teleoperation glitches, wrapped angles, swapped columns);
- ``triangulation_deg``: the widest angle between two views' rays to the median end
  effector position (median over frames for a moving rig); below the threshold the views
  cannot triangulate (one view, coincident or collinear cameras: a degenerate rig);
- ``decode_mm``: median position error of :func:`actimg.decode` run on the episode's own
  action images, as stored (a check of cameras, codec and conventions together); frames
  the decoder rejects count as infinitely wrong.

``quality = 1 - max(ratio)`` clipped to ``[0, 1]``, where each ratio is ``value /
threshold`` (``threshold / value`` for ``triangulation_deg``): 1 is perfect, 0 is at or
past a threshold. ``flags`` names the checks past their threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..geometry.camera import CameraRig
from ..geometry.rotations import euler_to_matrix, rotation_angle_deg

__all__ = ["QualityScore", "Thresholds", "score_episode"]


@dataclass(frozen=True)
class Thresholds:
    """Limits of the quality checks (see the module docstring); ``None`` turns a check off."""

    max_outside: float | None = 0.2
    max_jump_m: float | None = 0.1
    max_jump_deg: float | None = 45.0
    min_triangulation_deg: float | None = 5.0
    max_decode_mm: float | None = 5.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"threshold {f.name} must be a positive number or None, got {v!r}")


@dataclass(frozen=True)
class QualityScore:
    """The checks' values, the combined ``quality`` in ``[0, 1]`` and the failed checks."""

    outside: float
    jump_m: float
    jump_deg: float
    triangulation_deg: float
    decode_mm: float
    quality: float
    flags: tuple[str, ...]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = ",".join(self.flags)
        return d


def _outside(actions: np.ndarray, rig: CameraRig) -> float:
    pix, depth = rig.project(actions[:, :3])  # (V, T, 2), (V, T)
    u, v = pix[..., 0], pix[..., 1]
    seen = (depth > 0.05) & (u >= 0) & (v >= 0) & (u <= rig.width - 1) & (v <= rig.height - 1)
    seen &= np.isfinite(u) & np.isfinite(v)
    return float(np.mean(~seen.any(axis=0)))


def _jumps(actions: np.ndarray) -> tuple[float, float]:
    if len(actions) < 2:
        return 0.0, 0.0
    dp = float(np.linalg.norm(np.diff(actions[:, :3], axis=0), axis=1).max())
    R = euler_to_matrix(actions[:, 3:6], "xyz")
    dr = float(np.nanmax(rotation_angle_deg(R[:-1], R[1:])))
    return dp, dr


def _triangulation_deg(actions: np.ndarray, rig: CameraRig) -> float:
    if rig.n_views < 2:
        return 0.0
    target = np.median(actions[:, :3], axis=0)
    E = rig.extrinsics if rig.is_static else rig.extrinsics.transpose(1, 0, 2, 3)  # (V,4,4) or (T,V,4,4)
    d = target - E[..., :3, 3]
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    d = np.where(n > 1e-9, d / np.where(n > 1e-9, n, 1.0), 0.0)
    cos = np.einsum("...id,...jd->...ij", d, d)
    ang = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    best = ang.reshape(ang.shape[:-2] + (-1,)).max(axis=-1)
    return float(np.median(best))


def score_episode(actions: np.ndarray, rig: CameraRig, action_images: np.ndarray | None,
                  thresholds: Thresholds = Thresholds()) -> QualityScore:
    """Score one episode.

    Args:
        actions: ``(T, 7)`` actions.
        rig: the rig of ``action_images`` (static or per frame).
        action_images: ``(V, T, H, W, 3)`` uint8 action images as stored (decoded from
            the written files for a lossy codec), or None to skip ``decode_mm``.
        thresholds: the limits; ``None`` entries are not checked (their value is still
            computed, except ``decode_mm`` without images: NaN).
    """
    outside = _outside(actions, rig)
    jm, jd = _jumps(actions)
    tri = _triangulation_deg(actions, rig)
    dec = float("nan")
    if action_images is not None and thresholds.max_decode_mm is not None:
        from ..codec.decoder import decode

        res = decode(action_images, rig)
        err = np.linalg.norm(res.positions - actions[:, :3], axis=1) * 1e3
        err = np.where(res.valid & np.isfinite(err), err, np.inf)
        dec = float(np.median(err))
    t = thresholds
    ratios = {
        "outside": outside / t.max_outside if t.max_outside else 0.0,
        "jump_m": jm / t.max_jump_m if t.max_jump_m else 0.0,
        "jump_deg": jd / t.max_jump_deg if t.max_jump_deg else 0.0,
        "triangulation_deg": (t.min_triangulation_deg / tri if tri > 0 else np.inf) if t.min_triangulation_deg
        else 0.0,
        "decode_mm": (dec / t.max_decode_mm if np.isfinite(dec) or dec == np.inf else 0.0) if t.max_decode_mm
        else 0.0,
    }
    flags = tuple(k for k, r in ratios.items() if r > 1.0)
    quality = float(np.clip(1.0 - max(ratios.values()), 0.0, 1.0))
    return QualityScore(outside, jm, jd, tri, dec, quality, flags)
