"""Camera sources and rig files: other tools' cameras in (MuJoCo, robosuite, RLBench, DROID,
OpenGL, world2cam), rig files (JSON/YAML) in and out, and Plücker rays.

Every loader returns an :class:`actimg.CameraRig` (OpenCV axes, ``cam2world``).
"""
from .sources import *  # noqa: F403
from .sources import __all__  # noqa: F401
