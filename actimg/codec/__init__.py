"""The action-image codec: the format (spec), actions <-> poses, the encoder, the decoder.

Builds on :mod:`actimg.geometry`; the tools above (cameras, robust, media) build on it.
"""
from .actions import action_points, actions_from_poses, poses_from_actions, rotation_from_axes
from .decoder import METHODS, DecodeResult, decode
from .encoder import encode, project_actions
from .spec import PAPER, ActionImageSpec

__all__ = ["action_points", "actions_from_poses", "poses_from_actions", "rotation_from_axes", "METHODS",
           "DecodeResult", "decode", "encode", "project_actions", "PAPER", "ActionImageSpec"]
