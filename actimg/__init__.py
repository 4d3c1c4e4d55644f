"""actimg: robot actions as multi-view RGB action images, and back.

Layout (each layer imports only the ones above it in this list):

- :mod:`actimg.geometry`: the camera rig, rotations, triangulation;
- :mod:`actimg.codec`: the format (spec), actions <-> poses, encoder and decoder;
- :mod:`actimg.cameras`: camera sources (MuJoCo, robosuite, RLBench, DROID, ...) and rig files;
- :mod:`actimg.robust`: corruptions, calibration noise and refinement, smoothing;
- :mod:`actimg.media`: videos, sequence layouts, figures (imported on first use).

The public names are re-exported here; ``actimg.corrupt``, ``actimg.calibration``,
``actimg.video``, ``actimg.layout`` and ``actimg.viz`` name the modules inside those rooms.
"""
from .codec._buffers import set_buffer_cache
from .geometry.camera import CameraRig, look_at
from .codec.encoder import encode, project_actions
from .geometry.rotations import (closest_rotation, euler_to_matrix, matrix_to_euler, matrix_to_quat, quat_to_matrix,
                                 rotation_angle_deg)
from .codec.actions import action_points, actions_from_poses, poses_from_actions, rotation_from_axes
from .codec.spec import ActionImageSpec

__version__ = "0.1.0"

__all__ = [
    "ActionImageSpec", "CameraRig", "DecodeResult", "METHODS", "action_points", "actions_from_poses",
    "closest_rotation", "decode", "default_scene", "encode", "euler_to_matrix", "look_at", "matrix_to_euler",
    "matrix_to_quat", "poses_from_actions", "project_actions", "quat_to_matrix", "rotation_angle_deg",
    "rotation_from_axes", "set_buffer_cache", "smooth", "SmoothResult", "triangulate", "warmup", "calibration", "cameras",
    "corrupt", "video", "layout", "viz", "RigRefinement", "perturb_rig", "refine_rig", "load_rig", "save_rig", "plucker_rays",
]
from .codec.decoder import METHODS, DecodeResult, decode
from .geometry.triangulation import triangulate
from ._warmup import warmup
from .scenes import default_scene
from .robust.smoothing import SmoothResult, smooth
from . import cameras
from .robust import calibration, corrupt
from .robust.calibration import RigRefinement, perturb_rig, refine_rig
from .cameras import load_rig, plucker_rays, save_rig


_LAZY = {"video", "layout", "viz"}  # media modules that pull in video codecs or matplotlib

#: module paths from before the package was grouped into rooms -> where they live now, so
#: ``import actimg.viz`` and ``from actimg.spec import ...`` keep working
_MOVED = {
    "actimg.video": "actimg.media.video", "actimg.layout": "actimg.media.layout", "actimg.viz": "actimg.media.viz",
    "actimg.corrupt": "actimg.robust.corrupt", "actimg.calibration": "actimg.robust.calibration",
    "actimg.smoothing": "actimg.robust.smoothing", "actimg.spec": "actimg.codec.spec",
    "actimg.encoder": "actimg.codec.encoder", "actimg.decoder": "actimg.codec.decoder",
    "actimg.published": "actimg.codec.published", "actimg.rotations": "actimg.geometry.rotations",
    "actimg.camera": "actimg.geometry.camera", "actimg.triangulation": "actimg.geometry.triangulation",
}


class _MovedModules:
    """A meta-path finder that answers an old module path with the module it moved to."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None):  # noqa: ANN205
        if name not in _MOVED:
            return None
        import importlib
        import importlib.util

        module = importlib.import_module(_MOVED[name])
        return importlib.util.spec_from_loader(name, _AliasLoader(module))


class _AliasLoader:
    """Hands the import system the module that already exists; the import system then
    renames it after the alias, so its own name, package, spec and loader are put back
    (its relative imports must keep resolving inside its room)."""

    _KEEP = ("__name__", "__package__", "__spec__", "__loader__")

    def __init__(self, module: object) -> None:
        self.module = module
        self.saved = {k: getattr(module, k) for k in self._KEEP}

    def create_module(self, spec: object) -> object:
        return self.module

    def exec_module(self, module: object) -> None:
        for k, v in self.saved.items():
            setattr(module, k, v)


import sys as _sys  # noqa: E402

if not any(isinstance(f, _MovedModules) for f in _sys.meta_path):
    _sys.meta_path.append(_MovedModules())


def __getattr__(name: str):  # PEP 562: ``actimg.viz`` etc. import on first use
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".media.{name}", __name__)
    raise AttributeError(f"module 'actimg' has no attribute {name!r}")
