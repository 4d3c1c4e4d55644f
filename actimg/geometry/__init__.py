"""Geometry: the camera rig, rotations and multi-view triangulation (no format knowledge).

The lowest layer of actimg: it imports nothing from the codec or the tools above it.
"""
from .camera import SCALINGS, CameraRig, look_at
from .rotations import (check_rotations, closest_rotation, euler_to_matrix, matrix_to_euler, matrix_to_quat,
                        quat_to_matrix, rotation_angle_deg)
from .triangulation import triangulate

__all__ = ["SCALINGS", "CameraRig", "look_at", "check_rotations", "closest_rotation", "euler_to_matrix",
           "matrix_to_euler", "matrix_to_quat", "quat_to_matrix", "rotation_angle_deg", "triangulate"]
