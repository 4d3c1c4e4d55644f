"""MuJoCo renders vs actimg.cameras: does ``rig.project`` land where MuJoCo draws?

An MJCF scene built here holds small spheres at known world points and cameras with
different fields of view, positions, resolutions (square and not) and intrinsics models
(``fovy``; ``sensorsize`` + ``focal`` + ``principal``), plus a camera on a moving mocap
body. Each sphere is rendered offscreen with segmentation (exact per-geom masks), and the
mask centroid is compared with the rig's prediction. The image of a sphere of radius r
whose centre is at camera depth z is an ellipse whose centre is the projection of the
sphere centre pushed away from the principal point by ``1 / (1 - (r / z)^2)`` (exact for
a pinhole camera); that is what the centroid is compared with.

This is the test of the half-pixel convention: with pixel centres at integer
coordinates, MuJoCo puts the image centre at ((W - 1) / 2, (H - 1) / 2). Predictions
must land within 0.5 px of every centroid, with a mean offset under 0.15 px per axis;
robosuite's K taken literally (principal point (W / 2, H / 2), integer centres) is
shown to be 0.5 px off.

Needs ``mujoco`` (pip) and an OpenGL context: ``MUJOCO_GL=egl`` is set here before
``mujoco`` is imported unless MUJOCO_GL is already set. Skipped, with the reason, when
``mujoco`` is missing or the renderer cannot be created.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # must be set before mujoco is imported
try:
    import mujoco
except ModuleNotFoundError:
    pytest.skip("mujoco is not installed (pip install mujoco)", allow_module_level=True)
except Exception as exc:  # e.g. MUJOCO_GL names a GL backend whose library is missing
    pytest.skip(f"mujoco cannot be imported with MUJOCO_GL={os.environ['MUJOCO_GL']}: {type(exc).__name__}: {exc}",
                allow_module_level=True)

from actimg import CameraRig, look_at  # noqa: E402
from actimg.cameras import from_mujoco, from_mujoco_trajectory, from_robosuite  # noqa: E402

RADIUS = 0.01  # sphere radius, metres
MAX_BIAS = 0.15  # px: mean centroid offset allowed per camera and axis (rasterisation noise is ~0.05)
POINTS = np.array([
    [0.0, 0.0, 0.0], [0.15, 0.05, 0.02], [-0.12, 0.10, -0.03], [0.05, -0.14, 0.08], [-0.10, -0.10, 0.10],
    [0.18, -0.16, -0.05], [-0.20, 0.20, 0.06], [0.08, 0.18, -0.08], [-0.16, -0.02, -0.10], [0.12, -0.04, 0.15],
])
# fixed cameras: (name, eye, fovy in degrees or None, extra MJCF attributes)
CAMERAS = [
    ("wide", (0.75, 0.30, 0.50), 60.0, ""),
    ("narrow", (-0.65, 0.80, 0.55), 32.0, ""),
    ("low", (0.10, -0.90, 0.20), 45.0, ""),
    ("overhead", (0.02, 0.05, 1.10), 50.0, ""),
    # focal length + sensor size + principal offset (MuJoCo >= 3): non-square pixels
    ("sensor", (0.70, -0.45, 0.55), None,
     'sensorsize="0.006 0.0045" focal="0.005 0.0052" principal="0.0003 -0.0002"'),
]
SIZES = [(240, 320), (480, 640), (300, 300), (257, 381)]
MOCAP_EYES = [(0.60, 0.60, 0.40), (0.55, 0.45, 0.55), (0.40, 0.70, 0.45), (0.65, 0.35, 0.35)]


def _xyaxes(eye, target=(0.0, 0.0, 0.0)):
    """MJCF ``xyaxes`` of a camera at ``eye`` looking at ``target`` (MuJoCo cameras look
    along -z with y up: x = OpenCV x, y = -OpenCV y)."""
    E = look_at(np.asarray(eye, float), np.asarray(target, float))
    x, y = E[:3, 0], -E[:3, 1]
    return " ".join(f"{a:.12g}" for a in (*x, *y))


def _scene_xml():
    geoms = "\n".join(f'<geom name="p{i}" type="sphere" size="{RADIUS}" pos="{p[0]} {p[1]} {p[2]}" '
                      f'rgba="0.9 0.2 0.2 1" contype="0" conaffinity="0"/>' for i, p in enumerate(POINTS))
    cams = "\n".join(f'<camera name="{n}" pos="{e[0]} {e[1]} {e[2]}" xyaxes="{_xyaxes(e)}" '
                     + (f'fovy="{f}"' if f is not None else extra) + "/>" for n, e, f, extra in CAMERAS)
    return f"""
<mujoco model="actimg-projection">
  <visual>
    <global offwidth="1024" offheight="1024"/>
    <quality offsamples="0" numslices="64" numstacks="64"/>
  </visual>
  <worldbody>
    {geoms}
    {cams}
    <body name="carrier" mocap="true" pos="0.6 0.6 0.4">
      <camera name="moving" pos="0 0 0" fovy="55"/>
    </body>
  </worldbody>
</mujoco>"""


@pytest.fixture(scope="module")
def scene():
    model = mujoco.MjModel.from_xml_string(_scene_xml())
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    try:
        r = mujoco.Renderer(model, 64, 64)
        r.close()
    except Exception as exc:  # no EGL/OSMesa/GLFW context here
        pytest.skip(f"MuJoCo offscreen rendering unavailable (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): "
                    f"{type(exc).__name__}: {exc}")
    return model, data


def _centroids(model, data, camera, height, width):
    """``(N, 2)`` mask centroids ``(u, v)`` (integer pixel centres) of the spheres, NaN
    where a mask is empty or touches the image border."""
    renderer = mujoco.Renderer(model, height, width)
    try:
        renderer.enable_segmentation_rendering()
        renderer.update_scene(data, camera=camera)
        seg = renderer.render()
    finally:
        renderer.close()
    ids, types = seg[..., 0], seg[..., 1]
    out = np.full((len(POINTS), 2), np.nan)
    for i in range(len(POINTS)):
        g = model.geom(f"p{i}").id
        rows, cols = np.nonzero((ids == g) & (types == int(mujoco.mjtObj.mjOBJ_GEOM)))
        if rows.size and rows.min() > 0 and cols.min() > 0 and rows.max() < height - 1 and cols.max() < width - 1:
            out[i] = cols.mean(), rows.mean()
    return out


def _isolated(center, points, margin=1.5):
    """``(N,)`` True for spheres whose image does not touch another sphere's, seen from a
    camera centre (angular radii ``asin(r / distance)``, with a safety ``margin``)."""
    d = points - center
    dist = np.linalg.norm(d, axis=-1)
    u = d / dist[:, None]
    ang = np.arccos(np.clip(u @ u.T, -1.0, 1.0))
    rad = np.arcsin(RADIUS / dist)
    touch = ang < margin * (rad[:, None] + rad[None, :])
    np.fill_diagonal(touch, False)
    return ~touch.any(axis=1)


def _expected(rig, view, points):
    """Centres ``(N, 2)`` of the spheres' image ellipses predicted by a static rig's view
    (NaN for spheres that overlap another one in that view)."""
    pix, depth = rig.project(points)
    K = rig.intrinsics[view]
    gamma = 1.0 / (1.0 - (RADIUS / depth[view]) ** 2)
    out = K[:2, 2] + gamma[:, None] * (pix[view] - K[:2, 2])
    out[~_isolated(rig.centers[view], points)] = np.nan  # partly hidden behind another sphere
    return out


def measure(model, data, height, width):
    """``{camera: (N, 2) centroid - prediction}`` for the fixed cameras at one size."""
    names = [c[0] for c in CAMERAS]
    rig = from_mujoco(model, data, names, height, width)
    return {n: _centroids(model, data, n, height, width) - _expected(rig, v, POINTS) for v, n in enumerate(names)}


def _summary(err):
    ok = ~np.isnan(err).any(axis=1)
    e = err[ok]
    return ok.sum(), e.mean(axis=0), np.abs(e).max()


@pytest.mark.parametrize("height,width", SIZES)
def test_fixed_cameras_project_onto_mujoco_renders(scene, height, width):
    model, data = scene
    for name, err in measure(model, data, height, width).items():
        n, mean, worst = _summary(err)
        assert n >= 5, f"{name} {height}x{width}: only {n} spheres fully in view"
        assert worst < 0.5, f"{name} {height}x{width}: worst |centroid - projection| = {worst:.3f} px"
        assert (np.abs(mean) < MAX_BIAS).all(), f"{name} {height}x{width}: mean offset {mean} px (half-pixel?)"


def test_moving_camera_trajectory_projects_onto_mujoco_renders(scene):
    model, data = scene
    height, width = 240, 320
    xpos, xmat, centroids = [], [], []
    for eye in MOCAP_EYES:
        E = look_at(np.asarray(eye, float), np.zeros(3))
        R_gl = E[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # body frame = MuJoCo camera frame
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, R_gl.reshape(-1))
        data.mocap_pos[0], data.mocap_quat[0] = eye, quat
        mujoco.mj_forward(model, data)
        xpos.append(data.cam_xpos.copy())
        xmat.append(data.cam_xmat.copy())
        centroids.append(_centroids(model, data, "moving", height, width))
    rig = from_mujoco_trajectory(model, xpos, xmat, ["moving"], height, width)
    assert rig.extrinsics.shape == (1, len(MOCAP_EYES), 4, 4)
    for t in range(len(MOCAP_EYES)):
        frame_t = CameraRig(rig.intrinsics, rig.extrinsics[:, t], height, width)  # static rig of frame t
        err = centroids[t] - _expected(frame_t, 0, POINTS)
        n, mean, worst = _summary(err)
        assert n >= 5 and worst < 0.5 and (np.abs(mean) < MAX_BIAS).all(), (t, n, mean, worst)


def test_robosuite_intrinsics_are_half_pixel_centred(scene):
    """robosuite's K has principal point (W / 2, H / 2): right for MuJoCo renders only
    with pixel centres at +0.5 (from_robosuite's default), 0.5 px off taken literally."""
    model, data = scene
    height, width = 240, 320
    ids = [model.camera(n).id for n, *_ in CAMERAS[:4]]
    K, E = [], []
    for i in ids:  # robosuite.utils.camera_utils, re-typed
        f = 0.5 * height / np.tan(model.cam_fovy[i] * np.pi / 360)
        K.append([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = data.cam_xmat[i].reshape(3, 3), data.cam_xpos[i]
        E.append(pose @ np.diag([1.0, -1.0, -1.0, 1.0]))
    for pixel_center, bias in (("half", 0.0), ("integer", -0.5)):
        rig = from_robosuite(np.array(K), np.array(E), height, width, pixel_center=pixel_center)
        for v, i in enumerate(ids):
            err = _centroids(model, data, i, height, width) - _expected(rig, v, POINTS)
            n, mean, worst = _summary(err)
            assert n >= 5 and (np.abs(mean - bias) < MAX_BIAS).all(), (pixel_center, model.camera(i).name, mean)
