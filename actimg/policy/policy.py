"""A robot policy out of any action-image model: LeRobot's ``select_action`` interface."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..codec.decoder import DecodeResult, decode
from ..codec.spec import PAPER, ActionImageSpec
from ..geometry.camera import CameraRig
from ._models import BACKBONES, BackboneRules, Task, run_model
from .observations import ParsedObservation, parse_observation

__all__ = ["ActionImagePolicy", "ChunkInfo", "UnsafeActionError", "frame_problems"]


class UnsafeActionError(RuntimeError):
    """Raised by :meth:`ActionImagePolicy.select_action` when the model keeps drawing action
    images that cannot be executed safely (``max_retries`` re-asks in a row all failed)."""


@dataclass(frozen=True)
class ChunkInfo:
    """What one model call produced, frame by frame (``horizon`` future frames, 1..horizon).

    Attributes:
        actions: ``(horizon, 7)`` decoded future actions, NaN rows where not decodable.
        confidence: ``(horizon,)`` decoder confidence in [0, 1].
        safe: ``(horizon,)`` True where the frame may be executed as decoded.
        reasons: per frame, ``None`` (safe) or why it is not: ``"invalid"``,
            ``"ambiguous"``, ``"single_view"``, ``"low_confidence"``, ``"jump"``.
        result: the full :class:`~actimg.DecodeResult` over the ``horizon + 1`` frames
            (frame 0 is the given current pose).
        index: how many chunks the policy had asked for before this one (since ``reset``).
        images: ``(V, horizon + 1, H, W, 3)`` uint8, the action images the model drew.
    """

    actions: np.ndarray
    confidence: np.ndarray
    safe: np.ndarray
    reasons: tuple[str | None, ...]
    result: DecodeResult
    index: int
    images: np.ndarray


def frame_problems(result: DecodeResult, min_confidence: float) -> list[str | None]:
    """Per decoded frame, why it must not be executed as decoded (``None`` if it may).

    A frame is unsafe when the decoder marks it invalid (NaN actions), ambiguous
    (``result.ambiguous``, where the decoder provides it), decoded from a single view
    (``result.single_view``: depth from one view is unreliable), or when its confidence is
    below ``min_confidence``. Checked in that order; the first reason is reported.
    """
    T = result.actions.shape[0]
    amb = getattr(result, "ambiguous", None)
    single = getattr(result, "single_view", None)
    out: list[str | None] = []
    for t in range(T):
        if not bool(result.valid[t]) or not np.isfinite(result.actions[t]).all():
            out.append("invalid")
        elif amb is not None and bool(np.asarray(amb)[t]):
            out.append("ambiguous")
        elif single is not None and bool(np.asarray(single)[t]):
            out.append("single_view")
        elif not float(result.confidence[t]) >= min_confidence:
            out.append("low_confidence")
        else:
            out.append(None)
    return out


def _check_frame_rule(model: Any, horizon: int) -> None:
    """``horizon + 1`` must fit the backbone the model names (``model.backbone``: a name in
    :data:`actimg.models.BACKBONES` or a :class:`~actimg.models.BackboneRules`; or
    ``model.temporal_compression = c``): ``c k + 1`` frames."""
    rules = getattr(model, "backbone", None)
    name = None
    if isinstance(rules, str) and rules in BACKBONES:
        rules = BACKBONES[rules]
    if isinstance(rules, BackboneRules):
        c, name = rules.temporal_compression, rules.name
    else:
        c = getattr(model, "temporal_compression", None)
    if c is None or isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c <= 1:
        return
    c = int(c)
    if horizon % c:
        lo = max(c, horizon // c * c)
        raise ValueError(f"{name or 'the model'} needs {c}k+1 frames per segment (temporal_compression={c}); "
                         f"horizon + 1 = {horizon + 1} does not fit: use horizon = {lo} or {(horizon // c + 1) * c}")


class ActionImagePolicy:
    """A closed-loop robot policy from a video model that draws action images.

    Interface as LeRobot's policies: :meth:`reset` at the start of an episode,
    :meth:`select_action` once per control step, :meth:`predict_action_chunk` for a whole
    chunk. The model is any callable behind actimg's adapter protocol: ``model(task)``
    with a :class:`actimg.models.Task` in ``"joint"`` mode, returning action images
    (see :func:`actimg.models.run_model`).

    **Frame convention.** At each replan the model is asked for ``horizon + 1`` action
    frames per view (``Task.joint(..., n_frames=horizon + 1)``). Frame 0 is the current
    end-effector pose, read from the observation and given to the model drawn as an action
    image (as in the published layout); frames ``1..horizon`` are the future **absolute**
    poses, one per control step. The first :meth:`select_action` after a replan returns
    frame 1, the next one frame 2, and so on. ``horizon + 1`` must fit the backbone's frame
    rule when the model names one (attribute ``backbone``, a name in
    :data:`actimg.models.BACKBONES` or :class:`~actimg.models.BackboneRules`, or
    ``temporal_compression = c``): ``horizon`` a multiple of ``c``, e.g. ``8 -> 9 = 4k + 1``
    frames for Wan).

    **Replanning.** ``replan_every=None`` asks the model again when the queue is empty
    (every ``horizon`` steps; LeRobot's ``n_action_steps = chunk_size``);
    ``replan_every=n`` (``1 <= n <= horizon``) executes frames ``1..n`` of each chunk.

    **Safety rule.** A frame that the decoder marks invalid, ambiguous or single-view, or
    whose confidence is below ``min_confidence`` (or, with ``max_position_step``, that is
    farther than that from the previous action), is never executed as decoded: the policy
    returns the last safe action instead (the pose from the observation if none was
    returned since :meth:`reset`), drops the rest of that chunk and asks the model again at
    the next step. It never returns NaN. The bad-chunk count resets whenever a frame is
    executed; when ``max_retries`` re-asks in a row have all failed too (``max_retries + 1``
    bad chunks in a row), :meth:`select_action` raises :class:`UnsafeActionError` instead
    of returning an action.

    ``policy.last_info`` describes the last returned action: ``confidence`` (of the action
    returned: the decoded frame's, or for a held action the confidence it was decoded
    with, 1.0 for the observed pose), ``held`` (bool), ``reason`` (None, or why the
    decoded frame was rejected), ``frame`` (1..horizon; 0 for a held action), ``chunk``
    (index of the chunk it came from), ``bad_chunks`` (bad chunks in a row so far).

    Args:
        model: callable ``model(task)`` (see :func:`actimg.models.run_model`).
        rig: the cameras, in the order of the observation's views: static, or per-frame
            with ``n_frames == horizon + 1``.
        horizon: future frames per chunk (>= 1).
        replan_every: control steps executed per chunk, or None (= ``horizon``).
        min_confidence: frames below this decoder confidence are not executed ([0, 1]).
        cameras: LeRobot camera names, one per rig view (see
            :func:`actimg.policy.observations.parse_observation`).
        max_retries: re-asks in a row allowed before raising (>= 0).
        max_position_step: optional largest allowed move (metres) between consecutive
            actions; a frame farther than that is unsafe (``"jump"``).
        spec: the action-image format (default: the published one).
        instruction: default instruction when the observation carries none.
    """

    def __init__(self, model: Any, rig: CameraRig, horizon: int = 8, replan_every: int | None = None,
                 min_confidence: float = 0.5, cameras: Sequence[str] | None = None, max_retries: int = 3, *,
                 max_position_step: float | None = None, spec: ActionImageSpec | None = None,
                 instruction: str | None = None) -> None:
        if not callable(model):
            raise TypeError(f"model must be callable as model(task), got {type(model).__name__}")
        if not isinstance(rig, CameraRig):
            raise TypeError(f"rig must be an actimg.CameraRig, got {type(rig).__name__}")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        horizon = int(horizon)
        if replan_every is not None:
            if (isinstance(replan_every, bool) or not isinstance(replan_every, (int, np.integer))
                    or not 1 <= replan_every <= horizon):
                raise ValueError(f"replan_every must be None or an integer in [1, horizon={horizon}], "
                                 f"got {replan_every!r}")
            replan_every = int(replan_every)
        mc = float(min_confidence)
        if not 0.0 <= mc <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, (int, np.integer)) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if max_position_step is not None and not (math.isfinite(max_position_step) and max_position_step > 0):
            raise ValueError(f"max_position_step must be None or > 0 metres, got {max_position_step!r}")
        if rig.n_frames is not None and rig.n_frames != horizon + 1:
            raise ValueError(f"a per-frame rig must have n_frames = horizon + 1 = {horizon + 1} "
                             f"(frame 0 is the current pose), got {rig.n_frames}")
        _check_frame_rule(model, horizon)
        if cameras is not None:
            cameras = [str(c) for c in cameras]
            if len(cameras) != rig.n_views:
                raise ValueError(f"cameras names {len(cameras)} cameras but the rig has {rig.n_views} views")
        if spec is not None and not isinstance(spec, ActionImageSpec):
            raise TypeError(f"spec must be an ActionImageSpec, got {type(spec).__name__}")
        self.model = model
        self.rig = rig
        self.horizon = horizon
        self.replan_every = replan_every
        self.n_action_steps = replan_every if replan_every is not None else horizon
        self.min_confidence = mc
        self.cameras = cameras
        self.max_retries = int(max_retries)
        self.max_position_step = None if max_position_step is None else float(max_position_step)
        self.spec = spec or PAPER
        self.instruction = instruction
        self.reset()

    # ------------------------------------------------------------------ LeRobot API
    def reset(self) -> None:
        """Forget the queued actions, the held action and the failure count (new episode)."""
        self._queue: deque[tuple[np.ndarray, float, str | None, int, int]] = deque()
        self._last_safe: np.ndarray | None = None
        self._last_safe_confidence = 1.0
        self._bad_chunks = 0
        self._n_chunks = 0
        self.last_info: dict[str, Any] = {}
        self.last_chunk: ChunkInfo | None = None

    @property
    def n_queued(self) -> int:
        """Decoded actions waiting in the queue (0: the next :meth:`select_action` asks the model)."""
        return len(self._queue)

    def parse(self, observation: Mapping[str, Any]) -> ParsedObservation:
        """The observation read as images, pose and instruction (see :mod:`.observations`)."""
        return parse_observation(observation, self.rig.n_views, self.rig.height, self.rig.width, self.cameras)

    def predict_action_chunk(self, observation: Mapping[str, Any]) -> np.ndarray:
        """Ask the model once and decode: ``(horizon, 7)`` future absolute actions.

        Row ``i`` is action frame ``i + 1`` (frame 0, the current pose, is left out).
        Rows the decoder could not read are NaN: this method reports what the model drew;
        :meth:`select_action` applies the safety rule. Per-frame confidence, safety and
        reasons are in ``policy.last_chunk`` (:class:`ChunkInfo`).
        """
        obs = self.parse(observation)
        return self._predict(obs).actions

    def select_action(self, observation: Mapping[str, Any]) -> np.ndarray:
        """The next action ``(7,)`` to execute: ``[x, y, z, rx, ry, rz, openness]``, absolute.

        Pops the queue of decoded frames; refills it from the model when it is empty. Never
        NaN; see the class docstring for the frame convention and the safety rule.

        Raises:
            UnsafeActionError: ``max_retries + 1`` chunks in a row were unsafe.
        """
        obs = self.parse(observation)
        if not self._queue:
            chunk = self._predict(obs)
            for i in range(self.n_action_steps):
                self._queue.append((chunk.actions[i], float(chunk.confidence[i]), chunk.reasons[i], i + 1,
                                    chunk.index))
        action, conf, reason, frame, index = self._queue.popleft()
        if reason is None and self.max_position_step is not None:
            ref = self._last_safe if self._last_safe is not None else obs.pose
            if float(np.linalg.norm(action[:3] - ref[:3])) > self.max_position_step:
                reason = "jump"
        if reason is None:
            self._bad_chunks = 0
            self._last_safe = np.array(action, dtype=np.float64)
            self._last_safe_confidence = conf
            self.last_info = {"confidence": conf, "held": False, "reason": None, "frame": frame, "chunk": index,
                              "bad_chunks": 0}
            return self._last_safe.copy()
        # unsafe frame: drop the rest of the chunk, hold, ask again next step
        self._queue.clear()
        self._bad_chunks += 1
        if self._bad_chunks > self.max_retries:
            raise UnsafeActionError(
                f"the model drew {self._bad_chunks} unsafe action chunks in a row (last: frame {frame} of chunk "
                f"{index} is {reason}, confidence {conf:.3f}, min_confidence {self.min_confidence}); "
                f"max_retries={self.max_retries} re-asks exhausted, not moving. Call reset() to start over.")
        if self._last_safe is None:
            held, held_conf = obs.pose.copy(), 1.0
        else:
            held, held_conf = self._last_safe.copy(), self._last_safe_confidence
        self.last_info = {"confidence": held_conf, "held": True, "reason": reason, "frame": 0, "chunk": index,
                          "bad_chunks": self._bad_chunks, "rejected_confidence": conf}
        return held

    # ------------------------------------------------------------------ internals
    def _predict(self, obs: ParsedObservation) -> ChunkInfo:
        instruction = obs.instruction if obs.instruction is not None else self.instruction
        task = Task.joint(self.rig, obs.images, obs.pose, self.horizon + 1, instruction=instruction, spec=self.spec)
        generated = run_model(self.model, task)
        if generated.actions is None:
            raise ValueError("the model returned no action images (joint mode must generate actions)")
        result = decode(generated.actions, self.rig, self.spec)
        reasons = frame_problems(result, self.min_confidence)[1:]
        conf = np.nan_to_num(np.asarray(result.confidence, dtype=np.float64)[1:], nan=0.0)
        chunk = ChunkInfo(actions=np.asarray(result.actions[1:], dtype=np.float64), confidence=conf,
                          safe=np.array([r is None for r in reasons]), reasons=tuple(reasons), result=result,
                          index=self._n_chunks, images=generated.actions)
        self._n_chunks += 1
        self.last_chunk = chunk
        return chunk

    def __repr__(self) -> str:
        return (f"ActionImagePolicy(views={self.rig.n_views}, {self.rig.height}x{self.rig.width}, "
                f"horizon={self.horizon}, n_action_steps={self.n_action_steps}, "
                f"min_confidence={self.min_confidence}, max_retries={self.max_retries})")
