"""Label unlabelled robot video with actions: the video-to-action mode, end to end."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..codec.decoder import DecodeResult, decode
from ..codec.spec import PAPER, ActionImageSpec
from ..geometry.camera import CameraRig
from ._models import Task, run_model

__all__ = ["label_actions"]


def label_actions(model: Any, videos: np.ndarray, rig: CameraRig, instruction: str | None = None, *,
                  pose: np.ndarray | None = None, spec: ActionImageSpec | None = None) -> DecodeResult:
    """Actions for a multi-view robot video, read from the action images a model draws for it.

    The model gets a ``"video_to_action"`` task (every observation frame given, every
    action frame generated; :meth:`actimg.models.Task.video_to_action`), its action images
    are validated by :func:`actimg.models.run_model` and decoded by :func:`actimg.decode`.

    Args:
        model: callable ``model(task)`` behind actimg's adapter protocol.
        videos: ``(V, T, H, W, 3)`` uint8 observation frames, views in rig order.
        rig: the cameras (static, or per-frame with ``T`` frames), ``H x W``.
        instruction: optional task text.
        pose: optional ``(7,)`` pose at frame 0, given to the model as action frame 0 (the
            published video-to-action mask); without it every action frame is generated.
        spec: the action-image format (default: the published one).

    Returns:
        :class:`actimg.DecodeResult` with ``T`` frames: ``actions (T, 7)`` (NaN where
        ``valid`` is False), ``confidence``, ``single_view``, ...; check them before use.

    Raises:
        TypeError / ValueError: bad videos or rig, or a model output that
            :func:`~actimg.models.run_model` refuses.
    """
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be an actimg.CameraRig, got {type(rig).__name__}")
    v = np.asarray(videos)
    if v.ndim != 5 or v.shape[-1] != 3:
        raise ValueError(f"videos must have shape (V, T, H, W, 3), got {v.shape}")
    if v.dtype != np.uint8:
        raise TypeError(f"videos must be uint8 (0..255), got dtype {v.dtype}")
    if v.shape[0] != rig.n_views:
        raise ValueError(f"videos has V={v.shape[0]} views but the rig has {rig.n_views}")
    if v.shape[2:4] != (rig.height, rig.width):
        raise ValueError(f"videos are {v.shape[2]}x{v.shape[3]} but the rig is for {rig.height}x{rig.width}")
    spec = spec or PAPER
    task = Task.video_to_action(rig, v, instruction=instruction, pose=pose, spec=spec)
    generated = run_model(model, task)
    if generated.actions is None:
        raise ValueError("the model returned no action images (video_to_action mode must generate actions)")
    return decode(generated.actions, rig, spec)
