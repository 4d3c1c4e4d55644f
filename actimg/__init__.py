"""actimg: robot actions as multi-view RGB action images, and back."""
from ._buffers import set_buffer_cache
from .camera import CameraRig, look_at
from .encoder import encode, project_actions
from .rotations import (action_points, actions_from_poses, closest_rotation, euler_to_matrix,
                        matrix_to_euler, matrix_to_quat, poses_from_actions, quat_to_matrix,
                        rotation_angle_deg, rotation_from_axes)
from .spec import ActionImageSpec

__version__ = "0.1.0"

__all__ = [
    "ActionImageSpec", "CameraRig", "DecodeResult", "METHODS", "action_points", "actions_from_poses",
    "closest_rotation", "decode", "default_scene", "encode", "euler_to_matrix", "look_at", "matrix_to_euler",
    "matrix_to_quat", "poses_from_actions", "project_actions", "quat_to_matrix", "rotation_angle_deg",
    "rotation_from_axes", "set_buffer_cache", "smooth", "SmoothResult", "triangulate", "warmup", "calibration", "cameras",
    "corrupt", "video", "layout", "viz", "RigRefinement", "perturb_rig", "refine_rig", "load_rig", "save_rig", "plucker_rays",
]
from .decoder import METHODS, DecodeResult, decode
from .triangulation import triangulate
from ._warmup import warmup
from .scenes import default_scene
from .smoothing import SmoothResult, smooth
from . import calibration, cameras, corrupt
from .calibration import RigRefinement, perturb_rig, refine_rig
from .cameras import load_rig, plucker_rays, save_rig


_LAZY = {"video", "layout", "viz"}  # submodules that pull in video codecs or matplotlib


def __getattr__(name: str):  # PEP 562: ``actimg.viz`` etc. import on first use
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'actimg' has no attribute {name!r}")
