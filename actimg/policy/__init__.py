"""Policies out of action-image models: a LeRobot-style closed-loop policy and action labelling.

Optional subpackage: ``import actimg`` never imports it. It needs nothing beyond the core;
:mod:`actimg.policy.sim` (a MuJoCo scene, a scripted expert and an oracle "video model" for
closed-loop tests) needs ``pip install "actimg[sim]"`` and imports MuJoCo on first use.

- :class:`ActionImagePolicy`: ``reset()``, ``select_action(observation) -> (7,)``,
  ``predict_action_chunk(observation) -> (horizon, 7)``; frame convention and safety rule
  in its docstring;
- :func:`label_actions`: multi-view video -> actions (video-to-action mode, decoded).
"""
from .labeling import label_actions
from .observations import ParsedObservation, parse_observation
from .policy import ActionImagePolicy, ChunkInfo, UnsafeActionError, frame_problems

__all__ = ["ActionImagePolicy", "ChunkInfo", "ParsedObservation", "UnsafeActionError", "frame_problems",
           "label_actions", "parse_observation"]
