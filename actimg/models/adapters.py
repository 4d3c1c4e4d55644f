"""The model protocol: a model is any callable ``model(task)``; :func:`run_model` checks
what it returns.

A model returns the frames it generated in the task's shapes:

- an array ``(V, T, H, W, 3)``: the action frames (uint8, or float in ``[0, 1]``);
- or a :class:`Generated` / a dict with keys ``"actions"`` and/or ``"observations"``
  (each ``(V, T, H, W, 3)``; torch tensors are accepted and moved to numpy).

What each mode requires: action frames in ``joint``, ``video_to_action`` and
``image_to_action``; observation frames in ``action_to_video`` and ``video_only``
(optional in ``joint``); no action frames in ``video_only``. In ``image_to_action`` the
layout holds one observation frame per view, so observations, if returned, may be
``(V, 1, H, W, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .convert import to_uint8
from .task import Task

__all__ = ["Generated", "Model", "run_model"]

#: A video model: ``model(task) -> array | Generated | dict``.
Model = Callable[[Task], Any]


@dataclass(frozen=True)
class Generated:
    """What a model drew, as uint8 frames in the task's shapes.

    Attributes:
        actions: ``(V, T, H, W, 3)`` uint8 action frames, or ``None``.
        observations: ``(V, T, H, W, 3)`` uint8 observation frames (``(V, 1, ...)`` in
            ``image_to_action``), or ``None``.
    """

    actions: np.ndarray | None = None
    observations: np.ndarray | None = None

    def with_given(self, task: Task) -> "Generated":
        """A copy whose given frames are the task's (what was generated elsewhere kept)."""
        acts = obs = None
        if self.actions is not None and task.actions is not None:
            acts = np.where(task.action_given[:, :, None, None, None], task.actions, self.actions)
        if self.observations is not None:
            To = self.observations.shape[1]
            g = task.observation_given[:, :To, None, None, None]
            obs = np.where(g, task.observations[:, :To], self.observations)
        return Generated(acts, obs)


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu") and not isinstance(x, np.ndarray):  # a torch tensor
        x = x.detach().cpu()
        if getattr(x, "dtype", None) is not None and str(x.dtype) not in ("torch.uint8",):
            x = x.float()
        x = x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds
        raise TypeError(f"{name} must be an array, got {type(x).__name__}") from exc


def _frames(x: Any, name: str, task: Task, n_frames: tuple[int, ...]) -> np.ndarray:
    a = _to_numpy(x, name)
    V, H, W = task.n_views, task.height, task.width
    if a.ndim != 5 or a.shape[0] != V or a.shape[1] not in n_frames or a.shape[2:] != (H, W, 3):
        want = " or ".join(f"({V}, {t}, {H}, {W}, 3)" for t in n_frames)
        hint = ""
        if a.ndim == 5 and a.shape[2] == 3 and a.shape[-1] != 3:
            hint = " (channels first? move the channel axis last: actimg.models.from_channels_first)"
        elif a.ndim == 4:
            hint = " (one stream? split a layout first: TemporalLayout.split / SpatialLayout.split)"
        raise ValueError(f"the model returned {name} of shape {a.shape}; {task.mode} needs (V, T, H, W, 3) = "
                         f"{want}{hint}")
    if a.dtype == np.bool_ or not (a.dtype == np.uint8 or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"the model returned {name} of dtype {a.dtype}; use uint8 (0..255) or float in [0, 1]")
    return to_uint8(a, f"{name} returned by the model")


def run_model(model: Model, task: Task) -> Generated:
    """Run ``model(task)`` and check what it returns.

    Args:
        model: any callable taking a :class:`Task`.
        task: the request.

    Returns:
        :class:`Generated` with uint8 frames (float outputs in ``[0, 1]`` are rounded:
        ``round(255 x)``).

    Raises:
        TypeError: ``model`` is not callable, or returned something that is not an
            array, a :class:`Generated` or a dict; a frame dtype other than uint8/float.
        ValueError: naming what is wrong: a wrong shape (the expected one is given), NaN
            or inf, float values outside ``[0, 1]``, frames the mode requires missing,
            action frames in ``video_only``, unknown dict keys.
    """
    if not callable(model):
        raise TypeError(f"model must be callable as model(task), got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be an actimg.models.Task, got {type(task).__name__}")
    out = model(task)
    if isinstance(out, Generated):
        acts, obs = out.actions, out.observations
    elif isinstance(out, Mapping):
        unknown = set(out) - {"actions", "observations"}
        if unknown:
            raise ValueError(f"the model returned a dict with unknown keys {sorted(unknown)}; "
                             "use 'actions' and/or 'observations'")
        acts, obs = out.get("actions"), out.get("observations")
    elif out is None:
        raise TypeError("the model returned None; return the action frames (V, T, H, W, 3), a Generated or a dict")
    elif isinstance(out, (tuple, list)):
        raise TypeError("the model returned a tuple/list; return a Generated or a dict "
                        "{'actions': ..., 'observations': ...} so that each array is named")
    else:
        acts, obs = out, None
    T = task.n_frames
    if acts is not None:
        if not task.has_action_segments:
            raise ValueError("the model returned action frames, but a video_only task has no action segments")
        acts = _frames(acts, "actions", task, (T,))
    elif task.generates_actions:
        raise ValueError(f"the model returned no action frames; a {task.mode} task generates them "
                         f"(V, T, H, W, 3) = ({task.n_views}, {T}, {task.height}, {task.width}, 3)")
    if obs is not None:
        allowed = (T, 1) if task.mode == "image_to_action" else (T,)
        obs = _frames(obs, "observations", task, allowed)
    elif task.requires_observations:
        raise ValueError(f"the model returned no observation frames; a {task.mode} task generates them "
                         f"(V, T, H, W, 3) = ({task.n_views}, {T}, {task.height}, {task.width}, 3)")
    return Generated(acts, obs)
