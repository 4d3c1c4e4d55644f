"""The unit every reader yields: :class:`Episode`, or :class:`EpisodeError` for a bad one."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Union

import numpy as np

from ..geometry.camera import CameraRig

__all__ = ["Episode", "EpisodeError", "VideoSource", "safe_name"]

#: a view's observation video: a file path, or frames ``(T, H, W, 3)`` uint8 RGB
VideoSource = Union[str, "os.PathLike[str]", np.ndarray]


@dataclass(frozen=True, eq=False)
class Episode:
    """One robot episode, in actimg's conventions.

    Attributes:
        name: unique, file-system safe name (``[A-Za-z0-9._-]``, no leading dot); the
            output folder ``DST/<name>/``.
        actions: ``(T, 7)`` float64 ``[x, y, z, rx, ry, rz, openness]``: metres, extrinsic
            ``"xyz"`` Euler radians (tool2world), openness in ``[0, 1]`` (1 = open).
        rig: the cameras at the source resolution, static or per frame with ``T`` frames.
        videos: ``{view name: path or (T, H, W, 3) uint8 frames}`` in rig view order
            (empty when the source has no observation videos; otherwise one entry per
            rig view). Paths are decoded by the converter; frames must be ``rig.height x
            rig.width``.
        instruction: the language instruction, or None.
        meta: free-form metadata (``fps`` is used for the output videos; default 10).

    Raises:
        ValueError / TypeError: naming the rule broken (shapes, non-finite actions,
            openness outside ``[0, 1]``, view or frame counts that disagree with the rig).
    """

    name: str
    actions: np.ndarray
    rig: CameraRig
    videos: Mapping[str, VideoSource] = field(default_factory=dict)
    instruction: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or safe_name(self.name) != self.name:
            raise ValueError(f"episode name must be a non-empty file-system safe string ([A-Za-z0-9._-], no "
                             f"leading dot), got {self.name!r}")
        a = np.asarray(self.actions)
        if a.ndim != 2 or a.shape[1] != 7 or a.shape[0] < 1:
            raise ValueError(f"episode {self.name!r}: actions must have shape (T, 7) with T >= 1, got {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise TypeError(f"episode {self.name!r}: actions must be real numbers, got dtype {a.dtype}")
        a = np.array(a, dtype=np.float64)
        bad = ~np.isfinite(a).all(axis=1)
        if bad.any():
            raise ValueError(f"episode {self.name!r}: actions of frame {int(np.argmax(bad))} are not finite "
                             f"({int(bad.sum())} of {len(a)} frames)")
        opn = a[:, 6]
        if (opn < 0).any() or (opn > 1).any():
            t = int(np.argmax((opn < 0) | (opn > 1)))
            raise ValueError(f"episode {self.name!r}: openness must be in [0, 1] (1 = open), frame {t} has {opn[t]}")
        a.setflags(write=False)
        object.__setattr__(self, "actions", a)
        if not isinstance(self.rig, CameraRig):
            raise TypeError(f"episode {self.name!r}: rig must be an actimg.CameraRig, got {type(self.rig).__name__}")
        T = len(a)
        if self.rig.n_frames is not None and self.rig.n_frames != T:
            raise ValueError(f"episode {self.name!r}: the per-frame rig has {self.rig.n_frames} frames but the "
                             f"actions have T={T}")
        if not isinstance(self.videos, Mapping):
            raise TypeError(f"episode {self.name!r}: videos must be a mapping view name -> path or frames")
        videos = dict(self.videos)
        if videos and len(videos) != self.rig.n_views:
            raise ValueError(f"episode {self.name!r}: {len(videos)} videos {list(videos)} but the rig has "
                             f"{self.rig.n_views} views (give one per view, in rig order, or none)")
        for key, src in videos.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"episode {self.name!r}: view names must be non-empty strings, got {key!r}")
            if isinstance(src, np.ndarray):
                if src.dtype != np.uint8 or src.ndim != 4 or src.shape[-1] != 3:
                    raise ValueError(f"episode {self.name!r}: frames of view {key!r} must be (T, H, W, 3) uint8, "
                                     f"got {src.shape} {src.dtype}")
                if src.shape[0] != T:
                    raise ValueError(f"episode {self.name!r}: view {key!r} has {src.shape[0]} frames but the "
                                     f"actions have T={T} (partial episode)")
                if src.shape[1:3] != (self.rig.height, self.rig.width):
                    raise ValueError(f"episode {self.name!r}: view {key!r} is {src.shape[1]}x{src.shape[2]} but "
                                     f"the rig is {self.rig.height}x{self.rig.width}")
            elif not isinstance(src, (str, os.PathLike)):
                raise TypeError(f"episode {self.name!r}: video of view {key!r} must be a path or frames, "
                                f"got {type(src).__name__}")
        object.__setattr__(self, "videos", MappingProxyType(videos))
        if self.instruction is not None and not isinstance(self.instruction, str):
            raise TypeError(f"episode {self.name!r}: instruction must be a string or None")
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @property
    def n_frames(self) -> int:
        """``T``."""
        return int(self.actions.shape[0])

    @property
    def view_names(self) -> tuple[str, ...]:
        """The view names: the video keys, or ``"0" .. "V-1"`` without videos."""
        return tuple(self.videos) if self.videos else tuple(str(v) for v in range(self.rig.n_views))

    @property
    def fps(self) -> float:
        """Frames per second (``meta["fps"]``, default 10)."""
        return float(self.meta.get("fps", 10.0))


@dataclass(frozen=True)
class EpisodeError:
    """A source episode that could not be read: its name and why (one line)."""

    name: str
    error: str


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-system safe episode name: runs of other characters become ``_``; no leading dot."""
    s = _UNSAFE.sub("_", str(text)).lstrip(".")
    return s or "_"
