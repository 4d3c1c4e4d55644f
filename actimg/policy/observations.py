"""Robot-learning observation dicts -> what an action-image model needs.

Two layouts are read (see :func:`parse_observation`):

- actimg's own: ``"images"`` ``(V, H, W, 3)`` uint8 (or float in [0, 1]), ``"pose"`` ``(7,)``,
  ``"instruction"``;
- LeRobot's: ``"observation.images.<camera>"`` ``(3, H, W)`` or ``(1, 3, H, W)`` float in
  [0, 1] (channels first, with or without the batch dimension; torch tensors are accepted
  and converted without importing torch here), ``"observation.state"`` ``(7,)`` or
  ``(1, 7)``, ``"task"`` (a string or a one-element list of strings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LEROBOT_IMAGE_PREFIX", "ParsedObservation", "parse_observation", "to_numpy"]

#: LeRobot's key prefix for camera images
LEROBOT_IMAGE_PREFIX = "observation.images."


@dataclass(frozen=True)
class ParsedObservation:
    """One observation, read.

    Attributes:
        images: ``(V, H, W, 3)`` uint8, the current frame of every view, in rig order.
        pose: ``(7,)`` float64 current end-effector action ``[x, y, z, rx, ry, rz, openness]``
            (metres, radians in the spec's Euler sequence, 1 = open).
        instruction: the task text, or None.
    """

    images: np.ndarray
    pose: np.ndarray
    instruction: str | None


def to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array; torch tensors (any device, with grad) are detached and copied
    to the CPU through their own methods, so torch is never imported here."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor (duck-typed)
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"observation[{name!r}] cannot be read as an array: {type(x).__name__}") from exc


def _unit_to_u8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
        raise TypeError(f"observation[{name!r}] must be uint8 (0..255) or float in [0, 1], got dtype {a.dtype}")
    if a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"observation[{name!r}] integer images must be in 0..255")
        return a.astype(np.uint8)
    af = a.astype(np.float64, copy=False)
    if not np.isfinite(af).all():
        raise ValueError(f"observation[{name!r}] contains NaN or inf")
    if af.size and (af.min() < -1e-3 or af.max() > 1.0 + 1e-3):
        raise ValueError(f"observation[{name!r}] float images must be in [0, 1] (got {af.min():g}..{af.max():g}); "
                         "0..255 data must be uint8")
    return np.rint(np.clip(af, 0.0, 1.0) * 255.0).astype(np.uint8)


def _lerobot_image(x: Any, key: str) -> np.ndarray:
    """One LeRobot camera image -> (H, W, 3) uint8; accepts (3,H,W), (1,3,H,W), (H,W,3), (1,H,W,3)."""
    a = to_numpy(x, key)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"observation[{key!r}] has a batch of {a.shape[0]}; the policy acts on one "
                             "environment at a time (batch size 1)")
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"observation[{key!r}] must be (3, H, W) or (1, 3, H, W) (channels first), "
                         f"or (H, W, 3); got shape {a.shape}")
    if a.shape[0] == 3 and a.shape[-1] != 3:
        a = np.moveaxis(a, 0, -1)
    elif a.shape[-1] != 3:
        raise ValueError(f"observation[{key!r}] must have 3 colour channels (channels first), got shape {a.shape}")
    return _unit_to_u8(a, key)


def _camera_key(name: str) -> str:
    return name if name.startswith(LEROBOT_IMAGE_PREFIX) else LEROBOT_IMAGE_PREFIX + name


def _images(obs: Mapping[str, Any], n_views: int, height: int, width: int,
            cameras: Sequence[str] | None) -> np.ndarray:
    lerobot_keys = sorted(k for k in obs if isinstance(k, str) and k.startswith(LEROBOT_IMAGE_PREFIX))
    if "images" in obs:
        a = to_numpy(obs["images"], "images")
        if a.ndim == 5 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 4 or a.shape[-1] != 3:
            raise ValueError(f"observation['images'] must have shape (V, H, W, 3), got {a.shape}")
        images = _unit_to_u8(a, "images")
    elif lerobot_keys:
        if cameras is None:
            if len(lerobot_keys) != 1 or n_views != 1:
                raise ValueError(f"the observation has LeRobot camera keys {lerobot_keys}: pass "
                                 "cameras=[...] (one name per rig view, in rig order) to map them to views")
            keys = lerobot_keys
        else:
            keys = [_camera_key(c) for c in cameras]
            missing = [k for k in keys if k not in obs]
            if missing:
                raise KeyError(f"observation lacks camera key(s) {missing}; it has {lerobot_keys}")
        images = np.stack([_lerobot_image(obs[k], k) for k in keys])
    else:
        raise KeyError("observation has no images: expected 'images' (V, H, W, 3) or LeRobot keys "
                       f"'{LEROBOT_IMAGE_PREFIX}<camera>'; got keys {sorted(map(str, obs))}")
    V, H, W = images.shape[:3]
    if V != n_views:
        raise ValueError(f"observation has {V} views but the rig has {n_views}")
    if (H, W) != (height, width):
        raise ValueError(f"observation images are {H}x{W} but the rig is for {height}x{width} "
                         "(resize the images and use rig.resized / rig.center_cropped_resized)")
    return np.ascontiguousarray(images)


def _pose(obs: Mapping[str, Any]) -> np.ndarray:
    for key in ("pose", "observation.state"):
        if key in obs:
            p = to_numpy(obs[key], key).astype(np.float64)
            if p.ndim == 2 and p.shape[0] == 1:
                p = p[0]
            if p.shape != (7,):
                raise ValueError(f"observation[{key!r}] must be the 7-vector [x, y, z, rx, ry, rz, openness] "
                                 f"(actimg's action convention), or (1, 7); got shape {p.shape}")
            if not np.isfinite(p).all():
                raise ValueError(f"observation[{key!r}] contains NaN or inf: {p}")
            return p
    raise KeyError("observation has no current pose: expected 'pose' or 'observation.state', the 7-vector "
                   "[x, y, z, rx, ry, rz, openness] drawn as action frame 0")


def _instruction(obs: Mapping[str, Any]) -> str | None:
    for key in ("instruction", "task"):
        if key in obs and obs[key] is not None:
            v = obs[key]
            if isinstance(v, (list, tuple)):
                if len(v) != 1:
                    raise ValueError(f"observation[{key!r}] must be one string (or a list of one), got {len(v)}")
                v = v[0]
            if not isinstance(v, str):
                raise TypeError(f"observation[{key!r}] must be a string, got {type(v).__name__}")
            return v
    return None


def parse_observation(observation: Mapping[str, Any], n_views: int, height: int, width: int,
                      cameras: Sequence[str] | None = None) -> ParsedObservation:
    """Read images, current pose and instruction from an observation dict.

    Args:
        observation: a mapping; images under ``"images"`` ``(V, H, W, 3)`` (uint8, or
            float in [0, 1]; a leading batch of 1 is dropped) or LeRobot keys
            ``"observation.images.<camera>"`` (``(3, H, W)`` / ``(1, 3, H, W)`` float in
            [0, 1], channels first; channels-last and uint8 also read); the pose under
            ``"pose"`` or ``"observation.state"`` (``(7,)`` or ``(1, 7)``); the instruction
            under ``"instruction"`` or ``"task"`` (optional).
        n_views, height, width: what the rig expects.
        cameras: LeRobot camera names (``"front"`` or ``"observation.images.front"``), one
            per rig view in rig order; needed when the images come as LeRobot keys (unless
            there is exactly one key and one view).

    Raises:
        TypeError: not a mapping, or bad dtypes.
        KeyError: images or pose missing.
        ValueError: wrong shapes, view count or image size, values out of range, NaN.
    """
    if not isinstance(observation, Mapping):
        raise TypeError(f"observation must be a dict (mapping), got {type(observation).__name__}")
    images = _images(observation, n_views, height, width, cameras)
    return ParsedObservation(images=images, pose=_pose(observation), instruction=_instruction(observation))
