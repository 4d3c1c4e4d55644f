"""Sequence layouts that put a task's segments into the one video a model sees.

:class:`TemporalLayout` is the published layout: segments concatenated along time, view
by view, ``[obs v1 | action v1 | obs v2 | action v2 | ...]``, each segment encoded by the
video VAE on its own (so latent masks are per segment, then concatenated). Variants: one
observation frame per view (``[obs v1 frame 0 | action v1 | ...]``, the published
image-to-action layout) and no action segments (``[obs v1 | obs v2 | ...]``, video only).

:class:`SpatialLayout` tiles the views side by side in one frame (for models that take
one stream): views along the width, and observation and action rows either stacked along
the height (one ``T``-frame video of ``2 x V`` tiles) or along time (two segments).

Both are pure reshuffles (no resampling, any dtype) built on :mod:`actimg.media.layout`;
``split(build(x)) == x`` exactly, and the masks follow the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..media.layout import Segment, concat_time, side_by_side, split_side_by_side, split_time
from .task import Task, latent_frame_count, latent_mask

__all__ = ["Segment", "SpatialLayout", "TemporalLayout"]


def _pos(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def _views(x: object, name: str, V: int, T: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 5 or a.shape[-1] != 3 or a.shape[:2] != (V, T):
        raise ValueError(f"{name} must have shape (V, T, H, W, 3) with V={V}, T={T}, got {a.shape}")
    return a


def _mask(x: object, name: str, V: int, T: int) -> np.ndarray:
    m = np.asarray(x)
    if m.dtype != np.bool_ or m.shape != (V, T):
        raise ValueError(f"{name} must be a bool (V, T) = ({V}, {T}) mask, got {m.dtype} {m.shape}")
    return m


@dataclass(frozen=True)
class TemporalLayout:
    """Segments along time, view by view: ``[obs v1 | action v1 | obs v2 | action v2 ...]``.

    Attributes:
        n_views: ``V``.
        n_frames: ``T``, frames of each action segment (and observation segment unless
            ``observation_frames`` says otherwise).
        observation_frames: frames of each observation segment: ``T`` (published
            default) or 1 (one observation frame per view, ``image_to_action``).
        actions: whether action segments are present (False: ``video_only``).

    ``TemporalLayout(2, 41)`` has ``164`` frames; its latent sequence for Wan is ``4 x 11 = 44``
    latent frames.
    """

    n_views: int
    n_frames: int
    observation_frames: int | None = None
    actions: bool = True

    def __post_init__(self) -> None:
        V = _pos(self.n_views, "n_views")
        T = _pos(self.n_frames, "n_frames")
        To = T if self.observation_frames is None else _pos(self.observation_frames, "observation_frames")
        if To not in (1, T):
            raise ValueError(f"observation_frames must be 1 or n_frames={T}, got {To}")
        if To == 1 and T > 1 and not self.actions:
            raise ValueError("a layout without action segments keeps whole observation segments "
                             "(observation_frames=1 needs actions=True)")
        object.__setattr__(self, "n_views", V)
        object.__setattr__(self, "n_frames", T)
        object.__setattr__(self, "observation_frames", To)
        object.__setattr__(self, "actions", bool(self.actions))

    @classmethod
    def for_task(cls, task: Task) -> "TemporalLayout":
        """The published layout of ``task``'s mode (one observation frame per view in
        ``image_to_action``, no action segments in ``video_only``)."""
        return cls(task.n_views, task.n_frames, task.observation_frames, task.has_action_segments)

    @property
    def segments(self) -> list[Segment]:
        """The segments in order, each ``Segment(kind, view, frames)`` with ``kind``
        ``"video"`` (observation) or ``"action"``."""
        out, start = [], 0
        for v in range(self.n_views):
            out.append(Segment("video", v, slice(start, start + self.observation_frames)))
            start += self.observation_frames
            if self.actions:
                out.append(Segment("action", v, slice(start, start + self.n_frames)))
                start += self.n_frames
        return out

    @property
    def total_frames(self) -> int:
        """Frames of the whole layout: ``V (T_obs + T)`` (``V T`` without actions)."""
        return self.n_views * (self.observation_frames + (self.n_frames if self.actions else 0))

    def latent_segments(self, temporal_compression: int = 4) -> list[Segment]:
        """The segments on the latent axis (each segment encoded on its own:
        ``(T - 1) // c + 1`` latent frames each, concatenated in order)."""
        out, start = [], 0
        for s in self.segments:
            n = latent_frame_count(s.frames.stop - s.frames.start, temporal_compression)
            out.append(Segment(s.kind, s.view, slice(start, start + n)))
            start += n
        return out

    def total_latent_frames(self, temporal_compression: int = 4) -> int:
        """Latent frames of the whole layout (44 for ``TemporalLayout(2, 41)`` and ``c = 4``)."""
        return self.latent_segments(temporal_compression)[-1].frames.stop

    def build(self, observations: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
        """Concatenate the segments.

        Args:
            observations: ``(V, T_obs, H, W, 3)`` (any dtype).
            actions: ``(V, T, H, W, 3)``, same dtype; ``None`` when the layout has none.

        Returns:
            ``(total_frames, H, W, 3)``.
        """
        V, T, To = self.n_views, self.n_frames, self.observation_frames
        obs = _views(observations, "observations", V, To)
        if not self.actions:
            if actions is not None:
                raise ValueError("this layout has no action segments; pass actions=None")
            return np.ascontiguousarray(obs.reshape((V * To,) + obs.shape[2:]))
        if actions is None:
            raise ValueError("this layout has action segments; pass actions (V, T, H, W, 3)")
        act = _views(actions, "actions", V, T)
        if obs.shape[2:] != act.shape[2:]:
            raise ValueError(f"observations {obs.shape} and actions {act.shape} must share H, W")
        if obs.dtype != act.dtype:
            raise TypeError(f"observations ({obs.dtype}) and actions ({act.dtype}) must have the same dtype")
        if To == T:
            return concat_time(obs, act)
        return np.ascontiguousarray(np.concatenate([obs, act], axis=1).reshape((V * (To + T),) + obs.shape[2:]))

    def split(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Inverse of :meth:`build`: ``(total_frames, H, W, 3)`` -> ``(observations, actions)``."""
        x = np.asarray(frames)
        if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] != self.total_frames:
            raise ValueError(f"frames must have shape ({self.total_frames}, H, W, 3) for {self}, got {x.shape}")
        V, T, To = self.n_views, self.n_frames, self.observation_frames
        if not self.actions:
            return np.ascontiguousarray(x.reshape((V, To) + x.shape[1:])), None
        if To == T:
            return split_time(x, V)
        y = x.reshape((V, To + T) + x.shape[1:])
        return np.ascontiguousarray(y[:, :To]), np.ascontiguousarray(y[:, To:])

    def frame_mask(self, observation_given: np.ndarray, action_given: np.ndarray | None = None) -> np.ndarray:
        """``(total_frames,)`` bool, True where a frame is given: the masks laid out as
        the frames are (``(V, T_obs)`` and ``(V, T)`` in)."""
        V, T, To = self.n_views, self.n_frames, self.observation_frames
        og = _mask(observation_given, "observation_given", V, To)
        if not self.actions:
            return og.reshape(-1).copy()
        ag = _mask(action_given, "action_given", V, T)
        return np.concatenate([og, ag], axis=1).reshape(-1)

    def latent_mask(self, observation_given: np.ndarray, action_given: np.ndarray | None = None,
                    temporal_compression: int = 4, strict: bool = True) -> np.ndarray:
        """``(total_latent_frames,)`` bool: each segment's mask at latent resolution
        (see :func:`actimg.models.task.latent_mask`), concatenated in segment order."""
        V, T, To = self.n_views, self.n_frames, self.observation_frames
        og = latent_mask(_mask(observation_given, "observation_given", V, To), temporal_compression, strict)
        if not self.actions:
            return og.reshape(-1)
        ag = latent_mask(_mask(action_given, "action_given", V, T), temporal_compression, strict)
        return np.concatenate([og, ag], axis=1).reshape(-1)

    def pack(self, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """``task``'s given frames in this layout and their mask: ``((N, H, W, 3) uint8,
        (N,) bool)``; frames to generate are zeros."""
        self._check_task(task)
        To = self.observation_frames
        fm = task.frame_masks()
        return (self.build(task.observations[:, :To], task.actions),
                self.frame_mask(fm.observations, fm.actions))

    def task_latent_mask(self, task: Task, temporal_compression: int = 4) -> np.ndarray:
        """:meth:`latent_mask` of ``task``'s masks (equal to ``task.latent_masks`` laid out)."""
        self._check_task(task)
        fm = task.frame_masks()
        return self.latent_mask(fm.observations, fm.actions, temporal_compression)

    def _check_task(self, task: Task) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must be an actimg.models.Task, got {type(task).__name__}")
        if (task.n_views, task.n_frames, task.has_action_segments) != (self.n_views, self.n_frames, self.actions):
            raise ValueError(f"{task!r} does not fit {self}")
        if task.observation_frames < self.observation_frames:
            raise ValueError(f"{task!r} has {task.observation_frames} observation frame(s) per view; "
                             f"{self} needs {self.observation_frames}")


@dataclass(frozen=True)
class SpatialLayout:
    """Views side by side along the width, for models that take one stream.

    Attributes:
        n_views: ``V``.
        n_frames: ``T``.
        actions: whether action frames are present (False: observations only).
        stack: where the action row goes: ``"height"`` (observations on top, actions
            below: a ``T``-frame video of ``(2 H, V W)`` frames) or ``"time"`` (two
            segments ``[obs tiles | action tiles]`` of ``T`` frames, ``(H, V W)`` each).

    Masks are per tile: ``(N, rows, V)`` bool (``rows`` = 2 with actions stacked along
    the height, else 1).
    """

    n_views: int
    n_frames: int
    actions: bool = True
    stack: str = "height"

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_views", _pos(self.n_views, "n_views"))
        object.__setattr__(self, "n_frames", _pos(self.n_frames, "n_frames"))
        if self.stack not in ("height", "time"):
            raise ValueError(f"stack must be 'height' or 'time', got {self.stack!r}")
        object.__setattr__(self, "actions", bool(self.actions))

    @classmethod
    def for_task(cls, task: Task, stack: str = "height") -> "SpatialLayout":
        """The tiling of ``task`` (observation tiles of ``image_to_action`` hold frame 0,
        the rest are neither given nor needed)."""
        return cls(task.n_views, task.n_frames, task.has_action_segments, stack)

    @property
    def rows(self) -> int:
        """Tile rows per frame: 2 with actions stacked along the height, else 1."""
        return 2 if self.actions and self.stack == "height" else 1

    @property
    def total_frames(self) -> int:
        """Frames of the stream: ``2 T`` with actions stacked along time, else ``T``."""
        return 2 * self.n_frames if self.actions and self.stack == "time" else self.n_frames

    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        """``(rows H, V W)``: the size of one frame of the stream."""
        return self.rows * int(height), self.n_views * int(width)

    def build(self, observations: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
        """``(V, T, H, W, 3)`` observations (and actions, same dtype) -> the stream
        ``(total_frames, rows H, V W, 3)``."""
        V, T = self.n_views, self.n_frames
        o5 = _views(observations, "observations", V, T)
        obs = side_by_side(o5)
        if not self.actions:
            if actions is not None:
                raise ValueError("this layout has no action tiles; pass actions=None")
            return obs
        if actions is None:
            raise ValueError("this layout has action tiles; pass actions (V, T, H, W, 3)")
        a = _views(actions, "actions", V, T)
        if a.dtype != o5.dtype or a.shape[2:] != o5.shape[2:]:
            raise ValueError(f"observations and actions must share H, W and dtype, got {o5.shape} "
                             f"{o5.dtype} and {a.shape} {a.dtype}")
        act = side_by_side(a)
        axis = 1 if self.stack == "height" else 0
        return np.ascontiguousarray(np.concatenate([obs, act], axis=axis))

    def split(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Inverse of :meth:`build`: the stream -> ``(observations, actions)`` ``(V, T, H, W, 3)``."""
        x = np.asarray(frames)
        V, T, R = self.n_views, self.n_frames, self.rows
        if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] != self.total_frames or x.shape[1] % R or x.shape[2] % V:
            raise ValueError(f"frames must have shape ({self.total_frames}, {R} H, {V} W, 3) for {self}, "
                             f"got {x.shape}")
        if not self.actions:
            return split_side_by_side(x, V), None
        if self.stack == "height":
            H = x.shape[1] // 2
            o, a = x[:, :H], x[:, H:]
        else:
            o, a = x[:T], x[T:]
        return split_side_by_side(o, V), split_side_by_side(a, V)

    def tile_mask(self, observation_given: np.ndarray, action_given: np.ndarray | None = None) -> np.ndarray:
        """``(total_frames, rows, V)`` bool: which tiles of each stream frame are given."""
        V, T = self.n_views, self.n_frames
        og = _mask(observation_given, "observation_given", V, T).T[:, None, :]  # (T, 1, V)
        if not self.actions:
            return og.copy()
        ag = _mask(action_given, "action_given", V, T).T[:, None, :]
        axis = 1 if self.stack == "height" else 0
        return np.concatenate([og, ag], axis=axis)

    def pixel_mask(self, observation_given: np.ndarray, action_given: np.ndarray | None, height: int,
                   width: int) -> np.ndarray:
        """``(total_frames, rows H, V W)`` bool: :meth:`tile_mask` at pixel resolution
        (divide ``H, W`` by the VAE's spatial factor for a latent-pixel mask)."""
        m = self.tile_mask(observation_given, action_given)
        return np.repeat(np.repeat(m, int(height), axis=1), int(width), axis=2)

    def latent_tile_mask(self, observation_given: np.ndarray, action_given: np.ndarray | None = None,
                         temporal_compression: int = 4, strict: bool = True) -> np.ndarray:
        """``(latent frames, rows, V)`` bool: :meth:`tile_mask` at latent-frame resolution
        (stacked along time, each of the two segments is encoded on its own)."""
        V, T = self.n_views, self.n_frames
        og = latent_mask(_mask(observation_given, "observation_given", V, T), temporal_compression, strict)
        if not self.actions:
            return og.T[:, None, :].copy()
        ag = latent_mask(_mask(action_given, "action_given", V, T), temporal_compression, strict)
        if self.stack == "height":
            # one video: a latent frame is given for a tile when that tile's frames are
            return np.stack([og.T, ag.T], axis=1)
        return np.concatenate([og.T[:, None, :], ag.T[:, None, :]], axis=0)

    def pack(self, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """``task``'s frames in this tiling and the tile mask ``(N, rows, V)``."""
        if not isinstance(task, Task):
            raise TypeError(f"task must be an actimg.models.Task, got {type(task).__name__}")
        if (task.n_views, task.n_frames, task.has_action_segments) != (self.n_views, self.n_frames, self.actions):
            raise ValueError(f"{task!r} does not fit {self}")
        return (self.build(task.observations, task.actions),
                self.tile_mask(task.observation_given, task.action_given))
