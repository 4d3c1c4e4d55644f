"""actimg: robot actions as multi-view RGB action images, and back."""
from .camera import CameraRig, look_at
from .encode import encode, project_actions
from .rotations import (action_points, actions_from_poses, closest_rotation, euler_to_matrix,
                        matrix_to_euler, matrix_to_quat, poses_from_actions, quat_to_matrix,
                        rotation_angle_deg, rotation_from_axes)
from .spec import ActionImageSpec

__version__ = "0.1.0"
from .decode import METHODS, DecodeResult, decode
from .triangulate import triangulate
