"""What a video model is asked to do: the :class:`Task` and its five modes.

A task holds, for ``V`` views and ``T`` frames per segment, the observation frames and
the action images that are *given* and a mask saying which frames the model must
*generate*. The five modes are those of the published system (Action Images, arXiv
2604.06168; its names in brackets), each a fixed pattern of given frames:

================  ===========  =====================================  ==========================
mode              published    given                                   generated
================  ===========  =====================================  ==========================
joint             ``i2va``     observation frame 0 and action frame    observation and action
                               0 (the current pose) of every view      frames 1..T-1
action_to_video   ``a2v``      observation frame 0; all action frames  observation frames 1..T-1
video_to_action   ``v2a``      all observation frames (and action      action frames (1..)T-1
                               frame 0 when the pose is known)
video_only        ``i2v``      observation frame 0 (no action          observation frames 1..T-1
                               segments at all)
image_to_action   ``i2a``      observation frame 0 (the layout keeps   action frames 1..T-1
                               one observation frame per view) and
                               action frame 0 (the current pose)
================  ===========  =====================================  ==========================

Action frame 0 of each view is the current gripper pose drawn with :func:`actimg.encode`
(the published joint mode gives the first latent frame of every segment, so it must be
supplied). Frame masks are per frame; :meth:`Task.latent_masks` gives them at the
resolution of a video VAE with temporal compression ``c`` (Wan: ``c = 4``; a segment of
``T = c k + 1`` frames has ``k + 1`` latent frames: latent 0 encodes frame 0, latent
``j >= 1`` frames ``c (j - 1) + 1 .. c j``). Given latent frames stay clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..codec.encoder import encode
from ..codec.spec import PAPER, ActionImageSpec
from ..geometry.camera import CameraRig
from .._validate import as_float_array

__all__ = ["MODES", "PUBLISHED_NAMES", "SegmentMasks", "Task", "latent_frame_count", "latent_mask"]

#: The task modes, in the order of the published system's ``i2va, a2v, v2a, i2v, i2a``.
MODES = ("joint", "action_to_video", "video_to_action", "video_only", "image_to_action")

#: The published code's name (``task_type``) of each mode.
PUBLISHED_NAMES = {"joint": "i2va", "action_to_video": "a2v", "video_to_action": "v2a",
                   "video_only": "i2v", "image_to_action": "i2a"}


def _positive_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def latent_frame_count(n_frames: int, temporal_compression: int = 4) -> int:
    """Latent frames of a segment of ``n_frames`` frames: ``(n_frames - 1) // c + 1``.

    Raises:
        ValueError: ``n_frames`` is not ``c k + 1`` (the causal video VAE rule: Wan
            needs 4k+1 frames, e.g. 41 -> 11 latent frames).
    """
    T = _positive_int(n_frames, "n_frames")
    c = _positive_int(temporal_compression, "temporal_compression")
    if (T - 1) % c:
        raise ValueError(f"a segment of {T} frames breaks the {c}k+1 frame rule of a video VAE with temporal "
                         f"compression {c} (use {(T - 1) // c * c + 1} or {((T - 1) // c + 1) * c + 1} frames)")
    return (T - 1) // c + 1


def latent_mask(frame_mask: np.ndarray, temporal_compression: int = 4, strict: bool = False) -> np.ndarray:
    """A per-frame mask ``(..., T)`` at latent-frame resolution ``(..., (T - 1) // c + 1)``.

    Latent frame 0 covers frame 0; latent ``j >= 1`` covers frames ``c (j - 1) + 1 .. c j``.
    A latent frame is True (given) when every frame it covers is.

    Args:
        frame_mask: bool ``(..., T)`` with ``T = c k + 1``.
        temporal_compression: ``c`` (Wan: 4; 1 returns the mask unchanged).
        strict: raise when a latent frame covers given *and* generated frames (the given
            ones would otherwise be silently generated).

    Raises:
        ValueError: ``T`` is not ``c k + 1``; with ``strict``, a partly given latent frame.
    """
    m = np.asarray(frame_mask)
    if m.dtype != np.bool_:
        raise TypeError(f"frame_mask must be bool, got dtype {m.dtype}")
    if m.ndim < 1:
        raise ValueError("frame_mask must have a frame axis (..., T)")
    c = _positive_int(temporal_compression, "temporal_compression")
    L = latent_frame_count(m.shape[-1], c)
    first = m[..., :1]
    if L == 1:
        return first.copy()
    rest = m[..., 1:].reshape(m.shape[:-1] + (L - 1, c))
    if strict:
        mixed = rest.any(axis=-1) & ~rest.all(axis=-1)
        if mixed.any():
            idx = tuple(int(i) for i in np.argwhere(mixed)[0])
            j = idx[-1] + 1
            raise ValueError(f"latent frame {j} (at index {idx[:-1]}) covers frames {c * (j - 1) + 1}..{c * j}, "
                             "of which some are given and some generated; give whole groups of "
                             f"{c} frames (after frame 0)")
    return np.concatenate([first, rest.all(axis=-1)], axis=-1)


class SegmentMasks(NamedTuple):
    """Given (True) vs generated (False), per view: ``observations (V, T_obs)`` and
    ``actions (V, T)`` (``None`` where the task has no action segments)."""

    observations: np.ndarray
    actions: np.ndarray | None


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def _frozen_given(frames: np.ndarray, given: np.ndarray) -> np.ndarray:
    """A read-only copy of ``(V, T, ...)`` frames with the frames not given zeroed."""
    out = np.array(frames, copy=True)
    out[~given] = 0
    out.flags.writeable = False
    return out


def _check_uint8_views(x: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0..255), got dtype {a.dtype}; convert float frames in [0, 1] "
                        "with np.rint(255 * x).astype(np.uint8)")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape (V, T, H, W, 3) = {shape}, got {a.shape}")
    return a


def _check_mask(x: object, name: str, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.bool_:
        raise TypeError(f"{name} must be a bool array, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape (V, T) = {shape}, got {a.shape}")
    return a


def _canonical_masks(mode: str, V: int, T: int, pose_given: bool) -> tuple[np.ndarray, np.ndarray | None]:
    obs = np.zeros((V, T), bool)
    act = np.zeros((V, T), bool)
    obs[:, 0] = True
    if mode == "joint" or mode == "image_to_action":
        act[:, 0] = True
    elif mode == "action_to_video":
        act[:] = True
    elif mode == "video_to_action":
        obs[:] = True
        act[:, 0] = pose_given
    elif mode == "video_only":
        return obs, None
    return obs, act


@dataclass(frozen=True, eq=False)
class Task:
    """One request to a video model, in one of the five :data:`MODES`.

    Build it with a mode constructor (:meth:`joint`, :meth:`action_to_video`,
    :meth:`video_to_action`, :meth:`video_only`, :meth:`image_to_action`); the plain
    constructor validates everything and checks that the masks are the mode's.

    Attributes:
        mode: one of :data:`MODES`.
        rig: ``V`` cameras, static or per frame with ``T == n_frames``; ``rig.height``
            and ``rig.width`` are the frame size.
        n_frames: ``T``, frames per segment (observation and action segments alike).
        height, width: ``H, W`` pixels (equal to the rig's).
        observations: ``(V, T, H, W, 3)`` uint8; zeros where not given (read-only).
        observation_given: ``(V, T)`` bool.
        actions: ``(V, T, H, W, 3)`` uint8 action images; zeros where not given;
            ``None`` in ``video_only`` (no action segments).
        action_given: ``(V, T)`` bool; ``None`` in ``video_only``.
        instruction: the language instruction, or ``None``.
        spec: the action-image format the action frames use.
        pose: ``(7,)`` current end-effector action ``[x, y, z, rx, ry, rz, openness]``
            drawn as action frame 0, when known (else ``None``).
        trajectory: ``(T, 7)`` actions the given action frames were drawn from
            (``action_to_video`` built from actions), else ``None``: for models that
            take action vectors rather than action images.

    Raises:
        ValueError / TypeError: naming the rule broken (shapes, dtypes, mode, masks that
            are not the mode's, a rig whose size or frame count differs).
    """

    mode: str
    rig: CameraRig
    n_frames: int
    height: int
    width: int
    observations: np.ndarray
    observation_given: np.ndarray
    actions: np.ndarray | None
    action_given: np.ndarray | None
    instruction: str | None = None
    spec: ActionImageSpec = PAPER
    pose: np.ndarray | None = None
    trajectory: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not isinstance(self.rig, CameraRig):
            raise TypeError(f"rig must be an actimg.CameraRig, got {type(self.rig).__name__}")
        T = _positive_int(self.n_frames, "n_frames")
        H = _positive_int(self.height, "height")
        W = _positive_int(self.width, "width")
        if (H, W) != (self.rig.height, self.rig.width):
            raise ValueError(f"height x width = {H}x{W} differs from the rig's {self.rig.height}x{self.rig.width}")
        if self.rig.n_frames is not None and self.rig.n_frames != T:
            raise ValueError(f"the per-frame rig has T={self.rig.n_frames} frames but the task has n_frames={T}")
        if not isinstance(self.spec, ActionImageSpec):
            raise TypeError(f"spec must be an actimg.ActionImageSpec, got {type(self.spec).__name__}")
        if self.instruction is not None and not isinstance(self.instruction, str):
            raise TypeError(f"instruction must be a str or None, got {type(self.instruction).__name__}")
        V = self.rig.n_views
        shape = (V, T, H, W, 3)
        obs = _check_uint8_views(self.observations, "observations", shape)
        og = _check_mask(self.observation_given, "observation_given", (V, T))
        if self.mode == "video_only":
            if self.actions is not None or self.action_given is not None:
                raise ValueError("a video_only task has no action segments: actions and action_given must be None")
            act = ag = None
        else:
            if self.actions is None or self.action_given is None:
                raise ValueError(f"a {self.mode} task has action segments: actions and action_given are required")
            act = _check_uint8_views(self.actions, "actions", shape)
            ag = _check_mask(self.action_given, "action_given", (V, T))
        pose = None
        if self.pose is not None:
            pose = as_float_array(self.pose, "pose", last=(7,), ndim=(1,))
        traj = None
        if self.trajectory is not None:
            traj = as_float_array(self.trajectory, "trajectory", last=(7,), ndim=(2,))
            if traj.shape[0] != T:
                raise ValueError(f"trajectory must have shape (T={T}, 7), got {traj.shape}")
        want_o, want_a = _canonical_masks(self.mode, V, T, pose_given=bool(ag is not None and ag[:, 0].any()))
        if not np.array_equal(og, want_o):
            raise ValueError(f"observation_given is not the {self.mode} mode's mask (given frames per view: "
                             f"{_frames(want_o)}, got {_frames(og)})")
        if ag is not None and not np.array_equal(ag, want_a):
            raise ValueError(f"action_given is not the {self.mode} mode's mask (given frames per view: "
                             f"{_frames(want_a)}, got {_frames(ag)})")
        # zeros where not given (a copy: the caller's arrays are never touched)
        object.__setattr__(self, "observations", _frozen_given(obs, og))
        object.__setattr__(self, "observation_given", _frozen(og))
        if act is not None:
            object.__setattr__(self, "actions", _frozen_given(act, ag))
            object.__setattr__(self, "action_given", _frozen(ag))
        object.__setattr__(self, "pose", None if pose is None else _frozen(pose))
        object.__setattr__(self, "trajectory", None if traj is None else _frozen(traj))
        object.__setattr__(self, "n_frames", T)
        object.__setattr__(self, "height", H)
        object.__setattr__(self, "width", W)

    # ------------------------------------------------------------- properties
    @property
    def n_views(self) -> int:
        """``V``."""
        return self.rig.n_views

    @property
    def published_name(self) -> str:
        """The published code's ``task_type`` (``i2va``, ``a2v``, ``v2a``, ``i2v``, ``i2a``)."""
        return PUBLISHED_NAMES[self.mode]

    @property
    def has_action_segments(self) -> bool:
        """False only in ``video_only``."""
        return self.actions is not None

    @property
    def observation_frames(self) -> int:
        """Frames of each observation segment in the task's layout: 1 in
        ``image_to_action`` (one observation frame per view), else ``T``."""
        return 1 if self.mode == "image_to_action" else self.n_frames

    @property
    def generates_actions(self) -> bool:
        """The model must return action frames (joint, video_to_action, image_to_action)."""
        return self.mode in ("joint", "video_to_action", "image_to_action")

    @property
    def generates_observations(self) -> bool:
        """The model draws observation frames (joint, action_to_video, video_only)."""
        return self.mode in ("joint", "action_to_video", "video_only")

    @property
    def requires_observations(self) -> bool:
        """Observation frames are the point of the mode (action_to_video, video_only):
        a model must return them. In ``joint`` they are optional (a policy only needs
        the actions)."""
        return self.mode in ("action_to_video", "video_only")

    def frame_masks(self) -> SegmentMasks:
        """Given frames per view at frame resolution, observation masks cut to
        :attr:`observation_frames` (``(V, 1)`` in ``image_to_action``)."""
        return SegmentMasks(self.observation_given[:, : self.observation_frames].copy(),
                            None if self.action_given is None else self.action_given.copy())

    def latent_masks(self, temporal_compression: int = 4, strict: bool = True) -> SegmentMasks:
        """Given latent frames per view and segment (``(V, L_obs)``, ``(V, L)``).

        Each segment is encoded on its own, so the masks are per segment:
        ``L = (T - 1) // c + 1`` (41 frames -> 11 latent frames for Wan's ``c = 4``), and
        ``L_obs = 1`` for the one-frame observation segments of ``image_to_action``.

        Raises:
            ValueError: ``T`` is not ``c k + 1``.
        """
        fm = self.frame_masks()
        return SegmentMasks(latent_mask(fm.observations, temporal_compression, strict),
                            None if fm.actions is None else latent_mask(fm.actions, temporal_compression, strict))

    latent_mask = latent_masks  # the name TASK_API.md used

    def __repr__(self) -> str:
        return (f"Task({self.mode!r} [{self.published_name}], V={self.n_views}, T={self.n_frames}, "
                f"{self.height}x{self.width}, instruction={self.instruction!r})")

    # ------------------------------------------------------------ constructors
    @classmethod
    def joint(cls, rig: CameraRig, observation: np.ndarray, pose: np.ndarray, n_frames: int,
              instruction: str | None = None, spec: ActionImageSpec | None = None) -> "Task":
        """Generate future observation and action frames from the current views and pose.

        Args:
            rig: ``V`` cameras (static, or per frame with ``T == n_frames``).
            observation: ``(V, H, W, 3)`` (or ``(V, 1, H, W, 3)``) uint8 current frames.
            pose: ``(7,)`` current action ``[x, y, z, rx, ry, rz, openness]``; drawn as
                action frame 0 of every view (given).
            n_frames: ``T`` frames per segment (the published model: 41).
        """
        return _first_frame_task("joint", rig, observation, pose, n_frames, instruction, spec)

    @classmethod
    def action_to_video(cls, rig: CameraRig, observation: np.ndarray, actions: np.ndarray,
                        instruction: str | None = None, spec: ActionImageSpec | None = None) -> "Task":
        """Generate the observation frames that follow a given action sequence.

        Args:
            observation: ``(V, H, W, 3)`` (or ``(V, 1, H, W, 3)``) uint8 current frames.
            actions: ``(T, 7)`` actions (drawn with :func:`actimg.encode`), or
                ``(V, T, H, W, 3)`` uint8 action images; all given.
        """
        spec = spec or PAPER
        obs1 = _first_frames(observation, rig)
        a = np.asarray(actions)
        pose = traj = None
        if a.ndim == 2:
            traj = as_float_array(a, "actions", last=(7,), ndim=(2,))
            imgs = encode(traj, rig, spec)
            pose = traj[0]
        elif a.ndim == 5:
            imgs = a
        else:
            raise ValueError(f"actions must be (T, 7) actions or (V, T, H, W, 3) action images, got shape {a.shape}")
        T = imgs.shape[1]
        obs, og = _observation_segment(obs1, T)
        og_, ag = _canonical_masks("action_to_video", rig.n_views, T, True)
        return cls("action_to_video", rig, T, rig.height, rig.width, obs, og, imgs, ag, instruction, spec, pose,
                   traj)

    @classmethod
    def video_to_action(cls, rig: CameraRig, videos: np.ndarray, instruction: str | None = None,
                        pose: np.ndarray | None = None, spec: ActionImageSpec | None = None) -> "Task":
        """Label a video with actions (all observation frames given).

        Args:
            videos: ``(V, T, H, W, 3)`` uint8 frames, all given.
            pose: optional ``(7,)`` action of frame 0: drawn as action frame 0 and given
                (the published mask); without it action frame 0 is generated too.
        """
        spec = spec or PAPER
        v = np.asarray(videos)
        if v.ndim != 5:
            raise ValueError(f"videos must have shape (V, T, H, W, 3), got {v.shape}")
        T = v.shape[1]
        og, ag = _canonical_masks("video_to_action", rig.n_views, T, pose is not None)
        acts = np.zeros(v.shape, np.uint8)
        p = None
        if pose is not None:
            p = as_float_array(pose, "pose", last=(7,), ndim=(1,))
            acts[:, 0] = _draw_pose(p, rig, spec)
        return cls("video_to_action", rig, T, rig.height, rig.width, v, og, acts, ag, instruction, spec, p)

    @classmethod
    def video_only(cls, rig: CameraRig, observation: np.ndarray, n_frames: int, instruction: str | None = None,
                   spec: ActionImageSpec | None = None) -> "Task":
        """Generate future observation frames only (no action segments)."""
        spec = spec or PAPER
        obs, og = _observation_segment(_first_frames(observation, rig), _positive_int(n_frames, "n_frames"))
        return cls("video_only", rig, int(n_frames), rig.height, rig.width, obs, og, None, None, instruction, spec)

    @classmethod
    def image_to_action(cls, rig: CameraRig, observation: np.ndarray, pose: np.ndarray, n_frames: int,
                        instruction: str | None = None, spec: ActionImageSpec | None = None) -> "Task":
        """Generate action frames from one observation frame per view (no future video).

        The layout keeps one observation frame per view (``[obs v1 frame 0 | action v1 |
        obs v2 frame 0 | action v2]``, the published variant used for part of the
        simulated data); action frame 0 is the current pose (given).
        """
        return _first_frame_task("image_to_action", rig, observation, pose, n_frames, instruction, spec)


def _frames(mask: np.ndarray) -> str:
    """Compact description of a (V, T) mask: the given frame indices of each view."""
    out = []
    for row in np.asarray(mask):
        idx = np.flatnonzero(row)
        if idx.size == row.size:
            out.append("all")
        elif idx.size and np.array_equal(idx, np.arange(idx[0], idx[-1] + 1)):
            out.append(f"{idx[0]}..{idx[-1]}" if idx.size > 1 else f"{idx[0]}")
        else:
            out.append(str(idx.tolist()))
    return "[" + ", ".join(out) + "]"


def _first_frames(observation: object, rig: CameraRig) -> np.ndarray:
    x = np.asarray(observation)
    if x.ndim == 5 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"observation must have shape (V, H, W, 3) or (V, 1, H, W, 3), got {np.shape(observation)}")
    want = (rig.n_views, rig.height, rig.width, 3)
    if x.shape != want:
        raise ValueError(f"observation must have shape (V, H, W, 3) = {want} for this rig, got {x.shape}")
    if x.dtype != np.uint8:
        raise TypeError(f"observation must be uint8 (0..255), got dtype {x.dtype}")
    return x


def _observation_segment(first: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    V = first.shape[0]
    obs = np.zeros((V, T) + first.shape[1:], np.uint8)
    obs[:, 0] = first
    og = np.zeros((V, T), bool)
    og[:, 0] = True
    return obs, og


def _draw_pose(pose: np.ndarray, rig: CameraRig, spec: ActionImageSpec) -> np.ndarray:
    """``(V, H, W, 3)`` uint8: the pose drawn with the rig's frame-0 cameras."""
    return encode(pose[None], rig.with_frames([0]), spec)[:, 0]


def _first_frame_task(mode: str, rig: CameraRig, observation: object, pose: object, n_frames: int,
                      instruction: str | None, spec: ActionImageSpec | None) -> Task:
    spec = spec or PAPER
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be an actimg.CameraRig, got {type(rig).__name__}")
    T = _positive_int(n_frames, "n_frames")
    obs, og = _observation_segment(_first_frames(observation, rig), T)
    p = as_float_array(pose, "pose", last=(7,), ndim=(1,))
    acts = np.zeros_like(obs)
    acts[:, 0] = _draw_pose(p, rig, spec)
    og, ag = _canonical_masks(mode, rig.n_views, T, True)
    return Task(mode, rig, T, rig.height, rig.width, obs, og, acts, ag, instruction, spec, p)
