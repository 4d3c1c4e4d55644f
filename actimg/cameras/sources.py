"""Camera rigs from other tools' conventions, rig files, and Plücker ray maps.

Every builder returns a :class:`~actimg.CameraRig` in ``actimg``'s convention:

- camera axes are OpenCV's: x right, y down, z forward (out of the lens);
- extrinsics are ``cam2world`` 4x4 matrices (translation column = camera centre, metres);
- ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` with positive focal lengths, in pixels of
  an image stored top row first; pixel ``(u, v) = (column, row)`` with pixel centres at
  integer coordinates, so a centred principal point is ``((W - 1) / 2, (H - 1) / 2)``.

Other conventions handled here, each named where it is used:

- ``"opengl"`` camera axes (x right, y up, z backward: MuJoCo, Blender, Isaac, NeRF
  ``transforms.json``): ``cam2world_cv = cam2world_gl @ OPENGL_TO_OPENCV`` with
  ``OPENGL_TO_OPENCV = diag(1, -1, -1, 1)`` (flip the camera y and z axes);
- ``world2cam`` extrinsics (VGGT, COLMAP, OpenCV's ``solvePnP``): the inverse;
- negated focal lengths (PyRep / RLBench): ``K`` with ``fx, fy < 0`` together with
  camera x and y axes that point left and up; the two flips cancel in projection, and
  ``K @ F``, ``cam2world @ F`` with ``F = diag(-1, -1, 1)`` is the OpenCV equivalent;
- ``"half"`` pixel centres: the centre of the top-left pixel is ``(0.5, 0.5)``, so a
  principal point written in that convention is 0.5 px larger than ``actimg``'s.

Sources (what each one stores, and where that was verified) are documented on each
builder. Nothing here imports ``mujoco``, RLBench, robosuite or DROID: the MuJoCo
builders only read attributes of the ``model``/``data`` objects they are given.
"""

from __future__ import annotations

import json
import math
import os
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Mapping, Sequence

import numpy as np

from .._validate import as_float_array
from ..geometry.camera import CameraRig, _invert_rigid
from ..geometry.rotations import check_rotations, closest_rotation, euler_to_matrix, matrix_to_euler

__all__ = [
    "AXES", "EXTRINSICS", "PIXEL_CENTERS", "UNITS", "OPENGL_TO_OPENCV", "intrinsics_from_fovy",
    "from_opengl", "to_opengl", "from_world2cam", "from_negated_focal", "to_negated_focal",
    "from_mujoco", "from_mujoco_trajectory", "from_rlbench", "from_droid", "to_droid", "from_robosuite",
    "save_rig", "load_rig", "plucker_rays",
]

#: Camera-axis conventions of extrinsics, by name: ``"opencv"`` (x right, y down, z
#: forward; actimg's) and ``"opengl"`` (x right, y up, z backward).
AXES = ("opencv", "opengl")
#: Extrinsics conventions, by name: ``"cam2world"`` (actimg's) and ``"world2cam"``.
EXTRINSICS = ("cam2world", "world2cam")
#: Where the centre of the top-left pixel is: ``"integer"`` ``(0, 0)`` (actimg's, OpenCV's)
#: or ``"half"`` ``(0.5, 0.5)`` (OpenGL window coordinates; the published Plücker rays).
PIXEL_CENTERS = ("integer", "half")
#: Length units a rig file may use, with their size in metres (files are written in "m").
UNITS = {"m": Fraction(1), "cm": Fraction(1, 100), "mm": Fraction(1, 1000)}

#: ``cam2world_cv = cam2world_gl @ OPENGL_TO_OPENCV`` (and back: it is its own inverse).
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
_NEGATE_XY = np.diag([-1.0, -1.0, 1.0])

_FORMAT = "actimg.camera_rig"
_VERSION = 1


# ---------------------------------------------------------------------- helpers
def _check_choice(value: object, name: str, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def _check_size(height: object, width: object) -> tuple[int, int]:
    for name, val in (("height", height), ("width", width)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
            raise ValueError(f"{name} must be a positive integer number of pixels, got {val!r}")
    return int(height), int(width)  # type: ignore[arg-type]


def _where(idx: Sequence[int]) -> str:
    return f"view {idx[0]}" if len(idx) < 2 else f"view {idx[0]}, frame {idx[1]}"


def _poses(x: object, name: str, convention: str) -> np.ndarray:
    """``(V, 4, 4)`` / ``(V, T, 4, 4)`` float64 rigid transforms (``(.., 3, 4)`` padded).

    ``convention`` names what the matrices are (for messages), e.g. ``"cam2world, OpenGL
    axes"``. The rotation block must be proper (orthonormal, det +1, tolerance 1e-6) and
    the last row ``[0, 0, 0, 1]``.
    """
    a = as_float_array(x, name, ndim=(3, 4))
    if a.shape[-2:] == (3, 4):
        a = np.concatenate([a, np.broadcast_to([0.0, 0.0, 0.0, 1.0], a.shape[:-2] + (1, 4))], axis=-2)
    if a.shape[-2:] != (4, 4):
        raise ValueError(f"{name} ({convention}) must have shape (V, 4, 4) or (V, T, 4, 4) "
                         f"(or (.., 3, 4)), got {a.shape}")
    _check_rigid(a, name, convention)
    return a


def _check_rigid(a: np.ndarray, name: str, convention: str, tol: float = 1e-6) -> None:
    bad = np.abs(a[..., 3, :] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=-1) > 0
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} ({convention}) of {_where(idx)} must have last row [0, 0, 0, 1], "
                         f"got {a[idx][3].tolist()}")
    try:
        check_rotations(a[..., :3, :3], "rotation", tol=tol)
    except ValueError as exc:
        head, _, rest = str(exc).partition("]")
        idx = tuple(int(s) for s in head.split("[", 1)[1].split(",") if s.strip())
        raise ValueError(f"{name} ({convention}) of {_where(idx)} has a rotation block that{rest}") from None


def _intrinsics(x: object, name: str = "intrinsics") -> np.ndarray:
    a = as_float_array(x, name, last=(3, 3), ndim=(3, 4))
    return a


def _same_views(K: np.ndarray, E: np.ndarray, kname: str, ename: str) -> None:
    if K.shape[0] != E.shape[0]:
        raise ValueError(f"{kname} has V={K.shape[0]} views but {ename} has V={E.shape[0]}")
    if K.ndim == 4 and E.ndim == 4 and K.shape[1] != E.shape[1]:
        raise ValueError(f"{kname} has T={K.shape[1]} frames but {ename} has T={E.shape[1]}")


def _shift_principal(K: np.ndarray, pixel_center: str) -> np.ndarray:
    """``K`` written with ``pixel_center`` pixel centres -> actimg's integer centres."""
    _check_choice(pixel_center, "pixel_center", PIXEL_CENTERS)
    if pixel_center == "integer":
        return K
    K = np.array(K, copy=True)
    K[..., 0, 2] -= 0.5
    K[..., 1, 2] -= 0.5
    return K


# ------------------------------------------------------------------ intrinsics
def intrinsics_from_fovy(fovy_deg: float | np.ndarray, height: int, width: int) -> np.ndarray:
    """Pinhole ``K`` of a renderer camera with a vertical field of view.

    This is what OpenGL renderers (MuJoCo, ``gluPerspective``) draw: square pixels,
    ``fy = fx = (H / 2) / tan(fovy / 2)``, and the principal point at the image centre,
    which with pixel centres at integer coordinates is ``((W - 1) / 2, (H - 1) / 2)``.

    Args:
        fovy_deg: vertical field of view in degrees, ``0 < fovy < 180``; a scalar or an
            array of any shape ``(...)``.
        height, width: image size in pixels.

    Returns:
        ``(..., 3, 3)`` float64 intrinsics (``(3, 3)`` for a scalar).
    """
    H, W = _check_size(height, width)
    fov = as_float_array(fovy_deg, "fovy_deg")
    if ((fov <= 0.0) | (fov >= 180.0)).any():
        bad = fov[(fov <= 0.0) | (fov >= 180.0)].ravel()[0]
        raise ValueError(f"fovy_deg must be in (0, 180) degrees, got {bad}")
    f = (H / 2.0) / np.tan(np.radians(fov) / 2.0)
    K = np.zeros(fov.shape + (3, 3))
    K[..., 0, 0] = f
    K[..., 1, 1] = f
    K[..., 0, 2] = (W - 1) / 2.0
    K[..., 1, 2] = (H - 1) / 2.0
    K[..., 2, 2] = 1.0
    return K


# ---------------------------------------------------------------------- OpenGL
def from_opengl(cam2world_gl: np.ndarray, height: int, width: int, *, intrinsics: np.ndarray | None = None,
                fovy_deg: float | np.ndarray | None = None) -> CameraRig:
    """A rig from OpenGL-style camera poses (MuJoCo, Blender, Isaac, NeRF).

    OpenGL cameras look down their -z axis with y up and x right; actimg's (OpenCV)
    cameras look down +z with y down. The conversion flips the camera y and z axes:
    ``cam2world_cv = cam2world_gl @ OPENGL_TO_OPENCV`` (the camera centre is unchanged).

    Args:
        cam2world_gl: ``(V, 4, 4)`` or per frame ``(V, T, 4, 4)`` (or ``(.., 3, 4)``)
            camera-to-world poses with OpenGL camera axes, metres.
        height, width: image size in pixels.
        intrinsics: ``(V, 3, 3)`` or ``(V, T, 3, 3)`` ``K`` of the image stored top row
            first, positive focal lengths, pixel centres at integer coordinates. Give
            either this or ``fovy_deg``.
        fovy_deg: vertical field of view in degrees, a scalar, ``(V,)`` or ``(V, T)``;
            ``K`` is then :func:`intrinsics_from_fovy` (principal point at the image
            centre, square pixels), which is what MuJoCo renders.

    Note:
        Images read straight from an OpenGL framebuffer (``glReadPixels``) are stored
        bottom row first; flip them (``img[::-1]``) first. ``mujoco.Renderer`` already
        returns top-row-first images.
    """
    H, W = _check_size(height, width)
    E = _poses(cam2world_gl, "cam2world_gl", "cam2world, OpenGL axes")
    K = _fovy_or_intrinsics(intrinsics, fovy_deg, E, H, W)
    _same_views(K, E, "intrinsics", "cam2world_gl")
    return CameraRig(K, E @ OPENGL_TO_OPENCV, H, W)


def _fovy_or_intrinsics(intrinsics: object, fovy_deg: object, E: np.ndarray, H: int, W: int) -> np.ndarray:
    if (intrinsics is None) == (fovy_deg is None):
        raise ValueError("give exactly one of intrinsics (K) and fovy_deg")
    if intrinsics is not None:
        return _intrinsics(intrinsics)
    fov = as_float_array(fovy_deg, "fovy_deg")
    V = E.shape[0]
    if fov.ndim == 0:
        fov = np.full((V,), float(fov))
    if fov.ndim not in (1, 2) or fov.shape[0] != V:
        raise ValueError(f"fovy_deg must be a scalar, (V={V},) or (V={V}, T), got shape {fov.shape}")
    return intrinsics_from_fovy(fov, H, W)


def to_opengl(rig: CameraRig) -> np.ndarray:
    """``cam2world_gl`` poses (OpenGL camera axes) of a rig, same shape as ``rig.extrinsics``.

    The inverse of :func:`from_opengl`: ``cam2world_gl = cam2world_cv @ OPENGL_TO_OPENCV``.
    """
    _check_rig(rig)
    return rig.extrinsics @ OPENGL_TO_OPENCV


def _check_rig(rig: object) -> CameraRig:
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be an actimg.CameraRig, got {type(rig).__name__}")
    return rig


# ------------------------------------------------------------------- world2cam
def from_world2cam(intrinsics: np.ndarray, world2cam: np.ndarray, height: int, width: int) -> CameraRig:
    """A rig from ``world2cam`` extrinsics (VGGT, COLMAP, OpenCV ``solvePnP``).

    Args:
        intrinsics: ``(V, 3, 3)`` or ``(V, T, 3, 3)`` ``K`` (OpenCV, integer pixel centres).
        world2cam: ``(V, 4, 4)``/``(V, T, 4, 4)`` or ``(V, 3, 4)``/``(V, T, 3, 4)``
            ``[R | t]`` with ``x_cam = R x_world + t`` (OpenCV camera axes, metres).
        height, width: image size in pixels.

    The stored ``cam2world`` is the rigid inverse ``[R^T | -R^T t]``; the camera centre is
    ``-R^T t``. ``rig.world2cam`` gives the matrices back (up to rounding in ``t``).
    """
    H, W = _check_size(height, width)
    Wm = _poses(world2cam, "world2cam", "world2cam, OpenCV axes")
    K = _intrinsics(intrinsics)
    _same_views(K, Wm, "intrinsics", "world2cam")
    return CameraRig(K, _invert_rigid(Wm), H, W)


# -------------------------------------------------------------- negated focal
def from_negated_focal(intrinsics: np.ndarray, cam2world: np.ndarray, height: int, width: int) -> CameraRig:
    """A rig from negated-focal-length cameras (PyRep / CoppeliaSim, hence RLBench).

    Such a source stores ``K`` with ``fx < 0`` and ``fy < 0`` together with a camera frame
    whose x axis points left and y axis points up in the image (z forward). Both flips
    cancel: ``u = fx * x / z + cx`` is the same pixel as OpenCV's with ``-fx`` and ``-x``.
    The OpenCV equivalent is ``K @ F`` and ``cam2world @ F``, ``F = diag(-1, -1, 1)``
    (a rotation by 180 degrees about the optical axis; skew changes sign too). Every
    projection is unchanged exactly (the conversion only negates numbers).

    Args:
        intrinsics: ``(V, 3, 3)`` or ``(V, T, 3, 3)`` ``K`` with negative ``fx`` and ``fy``.
        cam2world: ``(V, 4, 4)``/``(V, T, 4, 4)`` (or ``(.., 3, 4)``) camera-to-world
            poses of the negated-axes camera frame, metres.
        height, width: image size in pixels.

    Raises:
        ValueError: if any ``fx`` or ``fy`` is not negative (a camera with only one
            negated focal length is a mirror image, which no rig can represent).
    """
    H, W = _check_size(height, width)
    K = _intrinsics(intrinsics)
    E = _poses(cam2world, "cam2world", "cam2world, negated x/y camera axes")
    _same_views(K, E, "intrinsics", "cam2world")
    for j, name in ((0, "fx"), (1, "fy")):
        bad = K[..., j, j] >= 0
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"intrinsics of {_where(idx)} has {name} = {K[idx][j, j]} >= 0; the negated-focal "
                             "convention needs fx < 0 and fy < 0 (use CameraRig for positive focal lengths)")
    return CameraRig(K @ _NEGATE_XY, _flip_xy(E), H, W)


def _flip_xy(E: np.ndarray) -> np.ndarray:
    out = np.array(E, copy=True)
    out[..., :3, :2] *= -1.0
    return out


def to_negated_focal(rig: CameraRig) -> tuple[np.ndarray, np.ndarray]:
    """``(K, cam2world)`` of a rig in the negated-focal convention (inverse of :func:`from_negated_focal`).

    Returns ``K @ F`` (``fx, fy < 0``) and ``cam2world @ F`` (camera x left, y up),
    ``F = diag(-1, -1, 1)``; shapes as ``rig.intrinsics`` and ``rig.extrinsics``.
    """
    _check_rig(rig)
    return rig.intrinsics @ _NEGATE_XY, _flip_xy(rig.extrinsics)


# ---------------------------------------------------------------------- MuJoCo
def _mujoco_ids(model: Any, camera_names: str | int | Sequence[str | int] | None) -> list[int]:
    ncam = int(getattr(model, "ncam", 0))
    if ncam == 0:
        raise ValueError("model has no cameras (model.ncam == 0)")
    if camera_names is None:
        return list(range(ncam))
    names = [camera_names] if isinstance(camera_names, (str, int, np.integer)) else list(camera_names)
    if not names:
        raise ValueError("camera_names is empty")
    ids = []
    available = [model.camera(i).name for i in range(ncam)]
    for n in names:
        if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
            if not 0 <= int(n) < ncam:
                raise ValueError(f"camera id {n} is out of range: the model has {ncam} cameras")
            ids.append(int(n))
        elif isinstance(n, str):
            if n not in available:
                raise ValueError(f"camera_names: no camera named {n!r} in the model; cameras: {available}")
            ids.append(available.index(n))
        else:
            raise TypeError(f"camera_names must hold camera names (str) or ids (int), got {n!r}")
    return ids


def _mujoco_intrinsics(model: Any, ids: list[int], H: int, W: int) -> np.ndarray:
    """``(V, 3, 3)`` ``K`` that MuJoCo renders for the cameras ``ids`` at ``H x W``."""
    K = np.zeros((len(ids), 3, 3))
    proj = getattr(model, "cam_projection", None)
    ortho = getattr(model, "cam_orthographic", None)
    sensorsize = getattr(model, "cam_sensorsize", None)
    intrinsic = getattr(model, "cam_intrinsic", None)
    for v, i in enumerate(ids):
        name = model.camera(i).name or f"#{i}"
        if (proj is not None and int(np.asarray(proj)[i]) != 0) or (ortho is not None and int(np.asarray(ortho)[i])):
            raise ValueError(f"camera {name!r} is orthographic; only perspective cameras make a pinhole rig")
        ss = None if sensorsize is None else np.asarray(sensorsize, dtype=np.float64)[i]
        if ss is not None and (ss > 0).any():
            if not (ss > 0).all():
                raise ValueError(f"camera {name!r} has cam_sensorsize {ss.tolist()}: both entries must be positive")
            f_x, f_y, p_x, p_y = np.asarray(intrinsic, dtype=np.float64)[i]
            # MuJoCo >= 3 cameras given by focal length and sensor size: fx, fy follow
            # the sensor (pixels may be non-square), and a principal offset p (length
            # units, cam_intrinsic[2:]) moves the image of the optical axis by
            # -p * size / sensorsize pixels in both u and v (measured by rendering, see
            # tests/test_mujoco_render.py)
            K[v] = [[f_x / ss[0] * W, 0.0, (W - 1) / 2.0 - p_x / ss[0] * W],
                    [0.0, f_y / ss[1] * H, (H - 1) / 2.0 - p_y / ss[1] * H],
                    [0.0, 0.0, 1.0]]
        else:
            K[v] = intrinsics_from_fovy(float(np.asarray(model.cam_fovy)[i]), H, W)
    return K


def _mujoco_poses(xpos: np.ndarray, xmat: np.ndarray) -> np.ndarray:
    """OpenCV ``cam2world`` from MuJoCo ``cam_xpos (..., 3)`` and ``cam_xmat (..., 9)``."""
    E = np.zeros(xpos.shape[:-1] + (4, 4))
    E[..., :3, :3] = xmat.reshape(xpos.shape[:-1] + (3, 3))
    E[..., :3, 3] = xpos
    E[..., 3, 3] = 1.0
    return E


def from_mujoco(model: Any, data: Any, camera_names: str | int | Sequence[str | int] | None,
                height: int, width: int) -> CameraRig:
    """A static rig of MuJoCo model cameras, at their current pose in ``data``.

    Reads ``data.cam_xpos (ncam, 3)`` (camera centres, world frame, model units: metres
    by convention) and ``data.cam_xmat (ncam, 9)`` (row-major ``cam2world`` rotations;
    MuJoCo cameras look along their -z axis with y up, i.e. OpenGL axes, converted with
    :data:`OPENGL_TO_OPENCV`). Call ``mujoco.mj_forward`` (or step) before, so that these
    are current. Intrinsics are what ``mujoco.Renderer(model, height, width)`` draws:

    - ``fovy`` cameras (``model.cam_fovy``, vertical, degrees):
      :func:`intrinsics_from_fovy`, principal point ``((W - 1) / 2, (H - 1) / 2)``;
    - cameras given by ``sensorsize`` + ``focal``/``focalpixel`` (+ ``principal``):
      ``fx = focal_x / sensor_x * W``, ``fy = focal_y / sensor_y * H`` and the principal
      point moved by ``-principal * size / sensorsize`` pixels (from ``model.cam_intrinsic``
      and ``model.cam_sensorsize``; this is how MuJoCo renders them, measured).

    Orthographic cameras are refused. ``mujoco`` itself is not imported here.

    Args:
        model: ``mujoco.MjModel``.
        data: ``mujoco.MjData`` of that model.
        camera_names: camera names or ids (a single one, a sequence, or ``None`` for all
            cameras in model order); the rig's views follow this order.
        height, width: rendered image size in pixels.
    """
    H, W = _check_size(height, width)
    ids = _mujoco_ids(model, camera_names)
    xpos = np.asarray(data.cam_xpos, dtype=np.float64)[ids]
    xmat = np.asarray(data.cam_xmat, dtype=np.float64)[ids]
    E = _mujoco_poses(xpos, xmat)
    _check_rigid(E, "data.cam_xmat/cam_xpos", "cam2world, OpenGL axes")
    return CameraRig(_mujoco_intrinsics(model, ids, H, W), E @ OPENGL_TO_OPENCV, H, W)


def from_mujoco_trajectory(model: Any, cam_xpos: np.ndarray, cam_xmat: np.ndarray,
                           camera_names: str | int | Sequence[str | int] | None,
                           height: int, width: int) -> CameraRig:
    """A per-frame rig of MuJoCo cameras that move (wrist cameras, tracking cameras).

    Record one snapshot per video frame while simulating, then build the rig once::

        xpos, xmat = [], []
        for t in range(T):
            mujoco.mj_step(model, data)          # or mj_forward after setting qpos
            xpos.append(data.cam_xpos.copy())    # (ncam, 3)
            xmat.append(data.cam_xmat.copy())    # (ncam, 9)
        rig = from_mujoco_trajectory(model, xpos, xmat, ["wrist", "front"], 480, 640)

    Args:
        model: ``mujoco.MjModel`` (gives the intrinsics, as in :func:`from_mujoco`).
        cam_xpos: ``(T, ncam, 3)`` stacked ``data.cam_xpos`` snapshots (metres).
        cam_xmat: ``(T, ncam, 9)`` or ``(T, ncam, 3, 3)`` stacked ``data.cam_xmat``
            (row-major ``cam2world`` rotations, OpenGL camera axes).
        camera_names: as in :func:`from_mujoco`.
        height, width: rendered image size in pixels.

    Returns:
        A rig with ``(V, T, 4, 4)`` extrinsics and static ``(V, 3, 3)`` intrinsics.
    """
    H, W = _check_size(height, width)
    ids = _mujoco_ids(model, camera_names)
    ncam = int(model.ncam)
    xpos = as_float_array(cam_xpos, "cam_xpos", ndim=(3,))
    xmat = as_float_array(cam_xmat, "cam_xmat", ndim=(3, 4))
    if xpos.shape[1:] != (ncam, 3):
        raise ValueError(f"cam_xpos must have shape (T, ncam={ncam}, 3), got {xpos.shape}")
    if xmat.shape[1:] not in ((ncam, 9), (ncam, 3, 3)):
        raise ValueError(f"cam_xmat must have shape (T, ncam={ncam}, 9) or (T, ncam, 3, 3), got {xmat.shape}")
    if xmat.shape[0] != xpos.shape[0]:
        raise ValueError(f"cam_xpos has T={xpos.shape[0]} snapshots but cam_xmat has T={xmat.shape[0]}")
    E = _mujoco_poses(np.swapaxes(xpos[:, ids], 0, 1), np.swapaxes(xmat[:, ids].reshape(-1, len(ids), 9), 0, 1))
    _check_rigid(E, "cam_xmat/cam_xpos", "cam2world, OpenGL axes")
    return CameraRig(_mujoco_intrinsics(model, ids, H, W), E @ OPENGL_TO_OPENCV, H, W)


# ---------------------------------------------------------------------- RLBench
def _misc(obs: object, t: int) -> Mapping[str, Any]:
    m = getattr(obs, "misc", obs)
    if not isinstance(m, Mapping):
        raise TypeError(f"observations[{t}] must be a misc dict (or have a .misc dict), got {type(obs).__name__}")
    return m


def from_rlbench(observations: Sequence[Mapping[str, Any] | Any], camera_names: Sequence[str], *,
                 height: int | None = None, width: int | None = None, pixel_center: str = "integer",
                 rotation_tol: float = 1e-4) -> CameraRig:
    """A per-frame rig from RLBench observations' ``misc`` dicts (no RLBench import).

    RLBench (``rlbench/backend/scene.py``, ``Scene._get_misc``) stores per camera and
    observation ``misc['<name>_camera_extrinsics'] = VisionSensor.get_matrix()``, the 4x4
    pose of the CoppeliaSim vision sensor in the world (``cam2world``), and
    ``misc['<name>_camera_intrinsics'] = VisionSensor.get_intrinsic_matrix()``, which PyRep
    (``pyrep/objects/vision_sensor.py``) builds with **negated** focal lengths
    ``-res / (2 tan(angle / 2))`` and principal point ``res / 2``. The sensor frame has
    x left and y up in the image, so the pair is converted as in
    :func:`from_negated_focal`. (RLBench-based code projects with exactly these matrices
    to index the stored images, e.g. ARM's ``_point_to_pixel_index``.)

    Args:
        observations: ``T`` observations: ``misc`` dicts, or objects with a ``.misc`` dict
            (``rlbench.backend.observation.Observation``).
        camera_names: RLBench camera names, e.g. ``["front", "left_shoulder", "wrist"]``
            (keys ``'<name>_camera_extrinsics'``); the rig's views follow this order.
        height, width: image size in pixels; by default read from the principal point
            (``2 cy``, ``2 cx``); when given they must match it.
        pixel_center: convention of the stored principal point ``res / 2``.
            ``"integer"`` (default): keep it as stored, which is what RLBench's own
            ``pointcloud_from_depth_and_camera_params`` and the published action-image
            pipeline assume (pixel ``(col, row)`` at integer indices): images encoded
            this way match the published training data. ``"half"``: it is the image
            centre of an OpenGL render with pixel centres at ``+0.5``, so 0.5 px is
            subtracted (actimg's centre ``(W - 1) / 2``): exact for the rendered
            geometry, half a pixel away from the published images.
        rotation_tol: CoppeliaSim poses are single precision; rotation blocks within this
            tolerance of a rotation are re-orthonormalised (SVD), worse ones are refused.

    Returns:
        A rig with ``(V, T, 4, 4)`` extrinsics, and ``(V, 3, 3)`` intrinsics when they do
        not change over the observations (``(V, T, 3, 3)`` otherwise).
    """
    names = [camera_names] if isinstance(camera_names, str) else list(camera_names)
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"camera_names must be a non-empty sequence of RLBench camera names, got {camera_names!r}")
    obs = list(observations)
    if not obs:
        raise ValueError("observations is empty")
    T, V = len(obs), len(names)
    K = np.zeros((V, T, 3, 3))
    E = np.zeros((V, T, 4, 4))
    for t, o in enumerate(obs):
        m = _misc(o, t)
        for v, n in enumerate(names):
            for key, out, shape in ((f"{n}_camera_extrinsics", E, (4, 4)), (f"{n}_camera_intrinsics", K, (3, 3))):
                if key not in m:
                    have = sorted(k for k in m if k.endswith("_camera_extrinsics"))
                    raise ValueError(f"observations[{t}] has no misc[{key!r}]; camera extrinsics present: {have}")
                a = as_float_array(m[key], f"misc[{key!r}] of observations[{t}]")
                if a.shape == (3, 4) and shape == (4, 4):
                    a = np.vstack([a, [0.0, 0.0, 0.0, 1.0]])
                if a.shape != shape:
                    raise ValueError(f"misc[{key!r}] of observations[{t}] must have shape {shape}, got {a.shape}")
                out[v, t] = a
    _check_rigid(E, "extrinsics", "RLBench cam2world", tol=rotation_tol)
    E[..., :3, :3] = closest_rotation(E[..., :3, :3])
    cx, cy = K[..., 0, 2], K[..., 1, 2]
    for name, given, centre in (("width", width, cx), ("height", height, cy)):
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, (int, np.integer)) or given <= 0:
                raise ValueError(f"{name} must be a positive integer number of pixels, got {given!r}")
            bad = np.abs(2.0 * centre - given) > 1e-6 * given
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"{name}={given} does not match the RLBench principal point (res / 2 = "
                                 f"{centre[idx]}) of camera {names[idx[0]]!r} in observations[{idx[1]}]; "
                                 "resize the rig after building it (CameraRig.resized)")
    if height is None or width is None:
        H2, W2 = np.unique(2.0 * cy), np.unique(2.0 * cx)
        if H2.size != 1 or W2.size != 1 or H2[0] != round(H2[0]) or W2[0] != round(W2[0]):
            raise ValueError("cannot read the image size from the RLBench intrinsics (principal points differ "
                             "or are not res / 2); pass height and width")
        height = int(H2[0]) if height is None else height
        width = int(W2[0]) if width is None else width
    if (K == K[:, :1]).all():
        K = K[:, 0]
    rig = from_negated_focal(K, E, height, width)  # type: ignore[arg-type]
    return CameraRig(_shift_principal(rig.intrinsics, pixel_center), rig.extrinsics, rig.height, rig.width)


# ------------------------------------------------------------------------ DROID
def from_droid(extrinsics: np.ndarray, intrinsics: np.ndarray, height: int, width: int) -> CameraRig:
    """A rig from DROID camera extrinsics ``[x, y, z, rx, ry, rz]``.

    DROID (``droid/calibration/calibration_utils.py``: ``cv2.calibrateHandEye`` solved for
    ``cam2base``, then ``pose = [pos, R.from_matrix(rmat).as_euler("xyz")]``;
    ``droid/misc/transformations.py``: ``euler_to_rmat = R.from_euler("xyz", ...)``) stores
    each camera's pose as the camera-to-robot-base translation (metres) followed by
    **extrinsic** x-y-z Euler angles (scipy lower-case ``"xyz"``, radians):
    ``R = Rz(rz) @ Ry(ry) @ Rx(rx)``. The camera frame is OpenCV's (the calibration
    comes from OpenCV ChArUco poses). This is the format of ``calibration_info.json``
    (``"<serial>_left": {"pose": [...]}``), of the per-step
    ``observation["camera_extrinsics"]`` (the wrist camera's entry moves with the
    gripper) and of the post-hoc ``cam2base_extrinsics.json`` files. The robot base is
    the world frame.

    Args:
        extrinsics: ``(V, 6)`` (static) or ``(V, T, 6)`` (per frame) ``cam2base`` poses.
        intrinsics: ``(V, 3, 3)`` or ``(V, T, 3, 3)`` ``K`` (ZED ``fx, fy, cx, cy`` as an
            OpenCV matrix, integer pixel centres).
        height, width: image size in pixels (DROID's ZED images: 720 x 1280, or the
            resized 180 x 320 of the RLDS release, with ``K`` scaled to match).
    """
    H, W = _check_size(height, width)
    e = as_float_array(extrinsics, "extrinsics", last=(6,), ndim=(2, 3))
    K = _intrinsics(intrinsics)
    E = np.zeros(e.shape[:-1] + (4, 4))
    E[..., :3, :3] = euler_to_matrix(e[..., 3:], "xyz")
    E[..., :3, 3] = e[..., :3]
    E[..., 3, 3] = 1.0
    _same_views(K, E, "intrinsics", "extrinsics")
    return CameraRig(K, E, H, W)


def to_droid(rig: CameraRig) -> np.ndarray:
    """DROID extrinsics ``(V, 6)`` / ``(V, T, 6)`` ``[x, y, z, rx, ry, rz]`` of a rig.

    Camera centre and extrinsic ``"xyz"`` Euler angles (scipy's ranges) of ``cam2world``:
    the inverse of :func:`from_droid`.
    """
    _check_rig(rig)
    E = rig.extrinsics
    return np.concatenate([E[..., :3, 3], matrix_to_euler(E[..., :3, :3], "xyz")], axis=-1)


# -------------------------------------------------------------------- robosuite
def from_robosuite(intrinsics: np.ndarray, extrinsics: np.ndarray, height: int, width: int, *,
                   pixel_center: str = "half", axes: str = "opencv") -> CameraRig:
    """A rig from robosuite's camera matrices (no robosuite import).

    ``robosuite.utils.camera_utils.get_camera_intrinsic_matrix(sim, name, H, W)`` returns
    ``[[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]]`` with ``f = 0.5 H / tan(fovy / 2)``, and
    ``get_camera_extrinsic_matrix(sim, name)`` returns the camera pose in the world
    ``[cam_xmat | cam_xpos]`` already multiplied by its ``camera_axis_correction =
    diag(1, -1, -1, 1)``, i.e. ``cam2world`` with OpenCV axes.

    Args:
        intrinsics: ``(V, 3, 3)`` (or ``(V, T, 3, 3)``) ``get_camera_intrinsic_matrix``.
        extrinsics: ``(V, 4, 4)`` or ``(V, T, 4, 4)`` ``get_camera_extrinsic_matrix``
            (stack one per frame for moving cameras such as ``robot0_eye_in_hand``).
        height, width: image size in pixels (the one passed to the intrinsics call).
        pixel_center: convention of robosuite's principal point ``(W / 2, H / 2)``.
            ``"half"`` (default): that is the centre of the MuJoCo render with pixel
            centres at ``+0.5``, so 0.5 px is subtracted (the rig then equals
            :func:`from_mujoco`'s; checked against MuJoCo renders in
            ``tests/test_mujoco_render.py``). ``"integer"`` keeps it as stored.
        axes: ``"opencv"`` for ``get_camera_extrinsic_matrix`` (axis-corrected);
            ``"opengl"`` for raw MuJoCo poses (``axis_correction=False`` variants).

    Note:
        robosuite renders with ``macros.IMAGE_CONVENTION = "opengl"`` by default, which
        stores observation images **bottom row first**. A rig describes top-row-first
        images: flip them (``img[::-1]``, as robosuite's own ``get_camera_segmentation``
        does) or set ``IMAGE_CONVENTION = "opencv"``. (A vertically mirrored image is not
        a pinhole image, so no rig can describe it unflipped.)
    """
    H, W = _check_size(height, width)
    _check_choice(axes, "axes", AXES)
    K = _shift_principal(_intrinsics(intrinsics), pixel_center)
    E = _poses(extrinsics, "extrinsics", f"robosuite cam2world, {axes} axes")
    _same_views(K, E, "intrinsics", "extrinsics")
    if axes == "opengl":
        E = E @ OPENGL_TO_OPENCV
    return CameraRig(K, E, H, W)


# ---------------------------------------------------------------- Plücker rays
def plucker_rays(rig: CameraRig, pixel_center: str = "half", dtype: Any = np.float32) -> np.ndarray:
    """Per-pixel Plücker rays ``(d, o x d)`` in the world frame.

    For pixel ``(row, col)`` with ``(u, v) = (col + h, row + h)`` (``h = 0.5`` for
    ``pixel_center="half"``, the published camera conditioning; ``h = 0`` for
    ``"integer"``, the ray through the centre of the pixel in actimg's convention):
    ``y = (v - cy) / fy``, ``x = (u - cx - s y) / fx``, ``d = normalize(R @ [x, y, 1])``
    with ``R`` the ``cam2world`` rotation, and the moment ``o x d`` with ``o`` the camera
    centre (metres). ``h`` is applied to ``rig``'s own ``K``: with ``"half"`` the ray of
    pixel ``(row, col)`` passes through ``rig.unproject`` of ``(col + 0.5, row + 0.5)``.

    Args:
        rig: the cameras.
        pixel_center: ``"half"`` (default, published) or ``"integer"``.
        dtype: output float dtype (computed in float64).

    Returns:
        ``(V, H, W, 6)`` for a static rig or ``(V, T, H, W, 6)`` per frame; channels
        ``[d_x, d_y, d_z, m_x, m_y, m_z]``. (A per-frame rig of 2 views x 41 frames at
        512 x 512 makes 516 MB of float32.)
    """
    _check_rig(rig)
    _check_choice(pixel_center, "pixel_center", PIXEL_CENTERS)
    h = 0.5 if pixel_center == "half" else 0.0
    K, E = rig.broadcast(rig.n_frames)
    V, T = K.shape[:2]
    H, W = rig.height, rig.width
    out = np.empty((V, T, H, W, 6), dtype=dtype)
    u = np.arange(W, dtype=np.float64) + h
    v = np.arange(H, dtype=np.float64) + h
    for i in range(V):
        for t in range(T):
            k = K[i, t]
            y = (v - k[1, 2]) / k[1, 1]  # (H,)
            x = (u[None, :] - k[0, 2] - k[0, 1] * y[:, None]) / k[0, 0]  # (H, W)
            dcam = np.stack([x, np.broadcast_to(y[:, None], x.shape), np.ones_like(x)], axis=-1)
            d = dcam @ E[i, t, :3, :3].T
            d /= np.linalg.norm(d, axis=-1, keepdims=True)
            out[i, t, ..., :3] = d
            out[i, t, ..., 3:] = np.cross(E[i, t, :3, 3], d)
    return out if rig.n_frames is not None else out[:, 0]


# -------------------------------------------------------------------- rig files
class _Num(str):
    """A number already formatted for a rig file (written without quotes)."""


def _fmt_float(x: float) -> str:
    s = repr(float(x))  # shortest repr that reads back bit-exactly
    if "e" in s:
        mant, exp = s.split("e")
        s = (mant if "." in mant else mant + ".0") + "e" + exp  # YAML 1.1 needs the dot
    return s


def _fmt_exact(fr: Fraction) -> str:
    """Exact decimal of a dyadic rational (the float's repr when it is one)."""
    f = float(fr)
    if math.isfinite(f) and Fraction(f) == fr:
        return _fmt_float(f)
    n, d = fr.numerator, fr.denominator
    k = d.bit_length() - 1
    if d != 1 << k:  # pragma: no cover - only dyadic values are written
        raise AssertionError("non-dyadic value")
    s = str(abs(n) * 5**k).rjust(k + 1, "0")
    frac = s[-k:].rstrip("0") if k else ""
    return ("-" if n < 0 else "") + (s[:-k] if k else s) + "." + (frac or "0")


def _fmt_digits(fr: Fraction, digits: int) -> str:
    """``fr`` rounded to ``digits`` significant decimal digits (JSON and YAML 1.1 syntax)."""
    with localcontext() as ctx:
        ctx.prec = digits
        s = str(Decimal(fr.numerator) / Decimal(fr.denominator))
    if "E" in s:
        mant, exp = s.split("E")
        s = (mant if "." in mant else mant + ".0") + "e" + (exp if exp[0] in "+-" else "+" + exp)
    elif "." not in s:
        s += ".0"
    return s


def _fmt_reading_back(values: Sequence[Fraction], reads_back: Any) -> list[str]:
    """The shortest decimals (17, 20, 25, ... significant digits, at worst exact) for
    ``values`` such that ``reads_back([Fraction(text), ...])`` is true: what load_rig
    computes from them gives the original floats bit for bit."""
    attempts = [[_fmt_float(float(v)) for v in values]]  # floats' shortest reprs first
    attempts += [[_fmt_digits(v, digits) for v in values] for digits in (17, 20, 25, 30, 40, 60)]
    for texts in attempts:
        if reads_back([Fraction(Decimal(t)) for t in texts]):
            return texts
    return [_fmt_exact(v) for v in values]


def _nums(a: np.ndarray) -> Any:
    return [_nums(x) for x in a] if a.ndim else _Num(_fmt_float(float(a)))


def _encode(rig: CameraRig, axes: str, extrinsics: str, pixel_center: str) -> dict[str, Any]:
    K = rig.intrinsics
    E = rig.extrinsics @ OPENGL_TO_OPENCV if axes == "opengl" else rig.extrinsics  # exact: negations
    k_out = _nums(K)
    if pixel_center == "half":  # cx + 0.5, cy + 0.5, written exactly
        flatK = K.reshape(-1, 3, 3)
        flat_out = [m for m in _iter_matrices(k_out, K.ndim - 2)]
        for m, src in zip(flat_out, flatK):
            for j in (0, 1):
                c = float(src[j, 2])
                text, = _fmt_reading_back([Fraction(c) + Fraction(1, 2)],
                                          lambda x, c=c: float(x[0] - Fraction(1, 2)) == c)
                m[j][2] = _Num(text)
    if extrinsics == "cam2world":
        e_out = _nums(E)
    else:  # world2cam [R^T | -R^T c], translation written exactly
        Rt = np.swapaxes(E[..., :3, :3], -1, -2)
        M = np.zeros(E.shape)
        M[..., :3, :3] = Rt
        M[..., 3, 3] = 1.0
        e_out = _nums(M)
        for m, src in zip(_iter_matrices(e_out, E.ndim - 2), E.reshape(-1, 4, 4)):
            R = [[Fraction(float(src[i, j])) for j in range(3)] for i in range(3)]
            c = [Fraction(float(src[i, 3])) for i in range(3)]
            t = [-sum(R[i][j] * c[i] for i in range(3)) for j in range(3)]  # exact -R^T c
            Rt = [[R[j][i] for j in range(3)] for i in range(3)]
            want = [float(x) for x in c]
            texts = _fmt_reading_back(t, lambda x: [float(-y) for y in _solve3(Rt, x)] == want)
            for j in range(3):
                m[j][3] = _Num(texts[j])
    T = rig.n_frames
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "conventions": {"axes": axes, "extrinsics": extrinsics, "pixel_center": pixel_center, "units": "m"},
        "height": rig.height,
        "width": rig.width,
        "n_views": rig.n_views,
        "n_frames": T,
        "static": T is None,
        "intrinsics": k_out,
        "extrinsics": e_out,
    }


def _iter_matrices(nested: Any, depth: int) -> Any:
    if depth == 0:
        yield nested
        return
    for x in nested:
        yield from _iter_matrices(x, depth - 1)


def _json_value(x: Any, indent: int) -> str:
    pad = " " * indent
    if isinstance(x, _Num):
        return str(x)
    if isinstance(x, dict):
        if not any(isinstance(v, (dict, list)) for v in x.values()):
            return "{" + ", ".join(f"{json.dumps(k)}: {_json_value(v, 0)}" for k, v in x.items()) + "}"
        items = [f"{pad}  {json.dumps(k)}: {_json_value(v, indent + 2)}" for k, v in x.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(x, list):
        if all(isinstance(v, _Num) for v in x):
            return "[" + ", ".join(x) + "]"
        return "[\n" + ",\n".join(pad + "  " + _json_value(v, indent + 2) for v in x) + "\n" + pad + "]"
    return json.dumps(x)


def _file_format(path: str | os.PathLike[str]) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".json":
        return "json"
    if ext in (".yaml", ".yml"):
        return "yaml"
    raise ValueError(f"path must end in .json, .yaml or .yml (the file format), got {os.fspath(path)!r}")


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ImportError("YAML rig files need PyYAML (pip install pyyaml); .json needs nothing") from exc
    return yaml


def save_rig(rig: CameraRig, path: str | os.PathLike[str], *, axes: str = "opencv", extrinsics: str = "cam2world",
             pixel_center: str = "integer") -> None:
    """Write a rig to a JSON (``.json``) or YAML (``.yaml``/``.yml``, needs PyYAML) file.

    The file names its conventions explicitly, so that other tools can read it::

        {"format": "actimg.camera_rig", "version": 1,
         "conventions": {"axes": "opencv", "extrinsics": "cam2world",
                         "pixel_center": "integer", "units": "m"},
         "height": 480, "width": 640, "n_views": 2, "n_frames": null, "static": true,
         "intrinsics": [...(V, 3, 3) or (V, T, 3, 3)...],
         "extrinsics": [...(V, 4, 4) or (V, T, 4, 4)...]}

    Args:
        rig: the rig (actimg conventions).
        path: output file; the extension picks JSON or YAML.
        axes: camera axes to write the extrinsics in, ``"opencv"`` or ``"opengl"``
            (``cam2world_gl = cam2world @ OPENGL_TO_OPENCV``).
        extrinsics: ``"cam2world"`` or ``"world2cam"`` (the inverse).
        pixel_center: ``"integer"`` (top-left pixel centre at ``(0, 0)``) or ``"half"``
            (at ``(0.5, 0.5)``: ``cx``, ``cy`` are written 0.5 larger).

    Numbers are written so that :func:`load_rig` restores the rig exactly, whatever the
    conventions: floats as their shortest round-trip repr, and the values that a
    conversion makes (``cx + 0.5``, the world2cam translation ``-R^T c``) as exact
    decimals (which other readers round to the nearest float).
    """
    _check_rig(rig)
    _check_choice(axes, "axes", AXES)
    _check_choice(extrinsics, "extrinsics", EXTRINSICS)
    _check_choice(pixel_center, "pixel_center", PIXEL_CENTERS)
    fmt = _file_format(path)
    doc = _encode(rig, axes, extrinsics, pixel_center)
    if fmt == "json":
        text = _json_value(doc, 0) + "\n"
    else:
        yaml = _yaml()

        class _Dumper(yaml.SafeDumper):
            pass

        _Dumper.add_representer(_Num, lambda d, x: d.represent_scalar("tag:yaml.org,2002:float", str(x)))
        text = yaml.dump(doc, Dumper=_Dumper, default_flow_style=None, sort_keys=False, width=200)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"rig files must hold finite numbers, found {name}")


def _yaml_load(text: str) -> Any:
    yaml = _yaml()

    class _Loader(yaml.SafeLoader):
        pass

    def _float(loader: Any, node: Any) -> Decimal:
        s = str(loader.construct_scalar(node)).replace("_", "")
        if s.lower().lstrip("+-") in (".inf", ".nan"):
            raise ValueError(f"rig files must hold finite numbers, found {s}")
        return Decimal(s)

    _Loader.add_constructor("tag:yaml.org,2002:float", _float)
    # YAML 1.1 reads "1e-05" (no dot) as a string; read it as a number
    import re
    _Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                  re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                                  list("-+0123456789."))
    return yaml.load(text, Loader=_Loader)


def _nested(obj: Any, name: str) -> tuple[tuple[int, ...], list[Any]]:
    """Shape and flat entries of a nested list of numbers (exact: int or Decimal)."""
    if isinstance(obj, list):
        if not obj:
            raise ValueError(f"{name} has an empty list")
        parts = [_nested(o, name) for o in obj]
        if len({p[0] for p in parts}) != 1:
            raise ValueError(f"{name} is ragged (nested lists of different lengths)")
        return (len(obj),) + parts[0][0], [x for p in parts for x in p[1]]
    if isinstance(obj, bool) or not isinstance(obj, (int, float, Decimal)):
        raise TypeError(f"{name} must hold only numbers, found {obj!r}")
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{name} must hold finite numbers, found {obj}")
        obj = Decimal(repr(obj))
    return (), [obj]


def _require(doc: Mapping[str, Any], key: str, where: str = "") -> Any:
    if key not in doc:
        raise ValueError(f"rig file lacks the field {where}{key!r}")
    return doc[key]


def load_rig(path: str | os.PathLike[str]) -> CameraRig:
    """Read a rig file written by :func:`save_rig` or by another tool.

    Any combination of conventions is accepted and converted to actimg's (OpenCV axes,
    ``cam2world``, integer pixel centres, metres): see :func:`save_rig` for the format.
    Required fields: ``conventions`` (with ``axes``, ``extrinsics``, ``pixel_center``,
    ``units`` in ``"m"``, ``"cm"``, ``"mm"``), ``height``, ``width``, ``n_views``,
    ``n_frames`` (``null`` for a static rig), ``static``, ``intrinsics``, ``extrinsics``
    (``(.., 3, 4)`` extrinsics are accepted too). ``format`` and ``version``, when
    present, must be ``"actimg.camera_rig"`` and ``1``. Conversions are done in exact
    arithmetic and rounded once, so a file written by :func:`save_rig` reads back to an
    identical rig.

    Raises:
        ValueError / TypeError: naming the field, for a missing field, an unknown
            convention value, shapes that do not match ``n_views``/``n_frames``/``static``,
            non-numbers, non-finite numbers, extrinsics that are not rigid transforms, or
            intrinsics that are not a pinhole ``K`` with positive focal lengths.
    """
    fmt = _file_format(path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if fmt == "json":
        try:
            doc = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise ValueError(f"rig file {os.fspath(path)!r} is not valid JSON: {exc}") from None
    else:
        doc = _yaml_load(text)
    try:
        return _decode(doc)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"rig file {os.fspath(path)!r}: {exc}") from None


def _decode(doc: Any) -> CameraRig:
    if not isinstance(doc, Mapping):
        raise TypeError(f"a rig file holds a mapping (JSON object), got {type(doc).__name__}")
    if "format" in doc and doc["format"] != _FORMAT:
        raise ValueError(f"field 'format' must be {_FORMAT!r}, got {doc['format']!r}")
    if "version" in doc and doc["version"] != _VERSION:
        raise ValueError(f"field 'version' must be {_VERSION}, got {doc['version']!r}")
    conv = _require(doc, "conventions")
    if not isinstance(conv, Mapping):
        raise TypeError(f"field 'conventions' must be a mapping, got {conv!r}")
    axes = _check_choice(_require(conv, "axes", "conventions."), "conventions.axes", AXES)
    ext = _check_choice(_require(conv, "extrinsics", "conventions."), "conventions.extrinsics", EXTRINSICS)
    pc = _check_choice(_require(conv, "pixel_center", "conventions."), "conventions.pixel_center", PIXEL_CENTERS)
    units = _check_choice(_require(conv, "units", "conventions."), "conventions.units", tuple(UNITS))
    height, width = _require(doc, "height"), _require(doc, "width")
    _check_size(height, width)
    V, T, static = _require(doc, "n_views"), _require(doc, "n_frames"), _require(doc, "static")
    if isinstance(V, bool) or not isinstance(V, int) or V <= 0:
        raise ValueError(f"field 'n_views' must be a positive integer, got {V!r}")
    if T is not None and (isinstance(T, bool) or not isinstance(T, int) or T <= 0):
        raise ValueError(f"field 'n_frames' must be a positive integer or null, got {T!r}")
    if not isinstance(static, bool):
        raise TypeError(f"field 'static' must be true or false, got {static!r}")
    if static != (T is None):
        raise ValueError(f"field 'static' is {static} but 'n_frames' is {T!r} (a static rig has n_frames null)")

    kshape, kflat = _nested(_require(doc, "intrinsics"), "field 'intrinsics'")
    eshape, eflat = _nested(_require(doc, "extrinsics"), "field 'extrinsics'")
    lead = [(V,)] if static else [(V,), (V, T)]
    if kshape[-2:] != (3, 3) or kshape[:-2] not in lead:
        want = " or ".join(str(s + (3, 3)) for s in lead)
        raise ValueError(f"field 'intrinsics' must have shape {want} (n_views={V}, n_frames={T}), got {kshape}")
    if eshape[-2:] not in ((4, 4), (3, 4)) or eshape[:-2] not in lead:
        want = " or ".join(str(s + (4, 4)) for s in lead)
        raise ValueError(f"field 'extrinsics' must have shape {want} (n_views={V}, n_frames={T}), got {eshape}")
    if not static and len(kshape) == 3 and len(eshape) == 3:
        raise ValueError(f"field 'static' is false (n_frames={T}) but neither 'intrinsics' nor 'extrinsics' "
                         "has a frame axis")

    K = np.array([float(x) for x in kflat]).reshape(kshape)
    if pc == "half":  # exact: (cx - 0.5) rounded once
        idx = np.arange(len(kflat)).reshape(kshape)
        for j in (0, 1):
            for i in idx[..., j, 2].ravel():
                K.reshape(-1)[i] = float(Fraction(kflat[i]) - Fraction(1, 2))

    rows = eshape[-2]
    E = np.array([float(x) for x in eflat]).reshape(eshape)
    if rows == 3:
        E = np.concatenate([E, np.broadcast_to([0.0, 0.0, 0.0, 1.0], E.shape[:-2] + (1, 4))], axis=-2)
    _check_rigid(E, "field 'extrinsics'", f"{ext}, {axes} axes, as written")
    scale = UNITS[units]
    flatE = E.reshape(-1, 4, 4)
    if ext == "world2cam" or scale != 1:
        trans = np.arange(len(eflat)).reshape(eshape)[..., :3, 3].reshape(-1, 3)
        for m, ids in zip(flatE, trans):
            t = [Fraction(eflat[i]) for i in ids]
            if ext == "world2cam":  # c = -R^-1 t, exactly, for R the rotation block as written
                R = [[Fraction(float(m[i, j])) for j in range(3)] for i in range(3)]
                t = [-x for x in _solve3(R, t)]
            m[:3, 3] = [float(x * scale) for x in t]
    if ext == "world2cam":
        flatE[:, :3, :3] = np.swapaxes(flatE[:, :3, :3], -1, -2).copy()
    if axes == "opengl":
        E = E @ OPENGL_TO_OPENCV
    return CameraRig(K, E, int(height), int(width))


def _solve3(A: list[list[Fraction]], b: list[Fraction]) -> list[Fraction]:
    """Exact solution of ``A x = b`` for a 3x3 rational ``A`` (Cramer's rule)."""
    def det(M: list[list[Fraction]]) -> Fraction:
        return (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1])
                - M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0])
                + M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]))

    d = det(A)
    out = []
    for k in range(3):
        Mk = [[b[i] if j == k else A[i][j] for j in range(3)] for i in range(3)]
        out.append(det(Mk) / d)
    return out
