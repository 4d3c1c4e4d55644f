"""A small MuJoCo world for closing the loop: gripper, cube, cameras, scripted expert, oracle.

Needs ``pip install "actimg[sim]"`` (MuJoCo; offscreen rendering with ``MUJOCO_GL=egl``,
which is set here, if unset, before MuJoCo is first imported). MuJoCo is imported when an
environment is built, never on ``import actimg.policy.sim``.

The world (metres, z up, the table top at z = 0):

- a two-finger gripper on a **mocap body** driven by absolute end-effector targets, in
  actimg's action convention ``[x, y, z, rx, ry, rz, openness]``: the mocap body frame is
  the tool frame (origin at the tool-centre point between the fingertips, tool +z = the
  approach direction, pointing down for a top-down grasp, so the format's "up" point U =
  P + 0.1 R [0, 0, -1] is above the gripper). The fingers are visual (no contacts) and
  follow ``openness`` (1 open, 0 closed). Grasping is kinematic: closing the gripper with
  the tool point within 1.5 cm of the cube centre attaches the cube rigidly to the tool;
  opening releases it, and it falls under MuJoCo's physics;
- a 4 cm cube (free joint) and a green target ball (mocap, no contacts);
- fixed cameras (default three) looking at the workspace; :attr:`SimEnv.rig` is
  :func:`actimg.cameras.from_mujoco` of them.

Tasks: ``"reach"`` (tool point within 1.5 cm and 0.1 rad of yaw of the target ball) and
``"pick"`` (lift the cube 8 cm). :meth:`SimEnv.expert_plan` is a scripted expert that
plans the next poses from the current state (a kinematic roll-out of the same rules the
environment applies). :class:`ExpertOracle` is a stand-in "video model" behind the adapter
protocol: it draws the expert's future as action images with :func:`actimg.encode` and
optionally degrades them with :mod:`actimg.corrupt`. :func:`run_episode` runs one closed-loop
episode of an :class:`~actimg.policy.ActionImagePolicy`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..codec.encoder import encode
from ..geometry.camera import look_at

__all__ = ["CAMERAS", "INSTRUCTIONS", "TASKS", "EpisodeResult", "ExpertOracle", "KinState", "SimEnv", "degrade",
           "scene_xml", "run_episode", "export_episode"]

TASKS = ("reach", "pick")
INSTRUCTIONS = {"reach": "move the gripper to the green ball", "pick": "pick up the red cube"}
#: camera name -> eye position (metres); every camera looks at LOOK_AT
CAMERAS: dict[str, tuple[float, float, float]] = {
    "front": (0.80, 0.05, 0.55),
    "left": (0.05, 0.80, 0.55),
    "back_right": (-0.55, -0.55, 0.60),
}
LOOK_AT = (0.0, 0.0, 0.12)
FOVY_DEG = 45.0
CUBE_HALF = 0.02  # m
STEP_M = 0.02  # expert's largest move per control step, m
YAW_STEP = 0.15  # rad per control step
GRASP_RADIUS = 0.015  # m
LIFT_SUCCESS = 0.08  # m above the table rest height
REACH_TOL = 0.015  # m
REACH_YAW_TOL = 0.1  # rad
WORKSPACE = np.array([[-0.30, -0.30, 0.0], [0.30, 0.30, 0.40]])
FINGER_OPEN, FINGER_CLOSED = 0.035, CUBE_HALF


def _mujoco() -> Any:
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco
    except ModuleNotFoundError as exc:
        raise ImportError('actimg.policy.sim needs MuJoCo: pip install "actimg[sim]"') from exc
    return mujoco


def _rz(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


#: tool frame of a top-down gripper with yaw 0: tool x = world x, tool z = world -z
_DOWN = np.diag([1.0, -1.0, -1.0])


def topdown(yaw: float) -> np.ndarray:
    """Tool-to-world rotation of a gripper pointing down, rotated by ``yaw`` about world z."""
    return _rz(yaw) @ _DOWN


def _euler_xyz(R: np.ndarray) -> np.ndarray:
    """Extrinsic xyz Euler angles of ``R`` (R = Rz(c) Ry(b) Rx(a)), radians."""
    b = math.asin(max(-1.0, min(1.0, -R[2, 0])))
    a = math.atan2(R[2, 1], R[2, 2])
    c = math.atan2(R[1, 0], R[0, 0])
    return np.array([a, b, c])


def _from_euler_xyz(e: np.ndarray) -> np.ndarray:
    a, b, c = (float(x) for x in e)
    ca, sa, cb, sb = math.cos(a), math.sin(a), math.cos(b), math.sin(b)
    Rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    Ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    return _rz(c) @ Ry @ Rx


def yaw_of(R: np.ndarray) -> float:
    """Yaw of the tool x axis about world z, radians."""
    return math.atan2(R[1, 0], R[0, 0])


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def make_action(pos: np.ndarray, R: np.ndarray, openness: float) -> np.ndarray:
    """``(7,)`` action from a position, a tool-to-world rotation and an openness."""
    return np.concatenate([np.asarray(pos, float), _euler_xyz(R), [float(openness)]])


def _mat2quat_wxyz(R: np.ndarray) -> np.ndarray:
    w = math.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2.0
    x = math.copysign(math.sqrt(max(0.0, 1.0 + R[0, 0] - R[1, 1] - R[2, 2])) / 2.0, R[2, 1] - R[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1.0 - R[0, 0] + R[1, 1] - R[2, 2])) / 2.0, R[0, 2] - R[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1.0 - R[0, 0] - R[1, 1] + R[2, 2])) / 2.0, R[1, 0] - R[0, 1])
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


def _quat2mat_wxyz(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (float(v) for v in np.asarray(q) / np.linalg.norm(q))
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def scene_xml(cameras: dict[str, tuple[float, float, float]] | None = None, fovy_deg: float = FOVY_DEG) -> str:
    """MJCF of the world: floor, gripper (mocap), cube, target ball, fixed cameras."""
    cams = CAMERAS if cameras is None else cameras
    cam_xml = []
    for name, eye in cams.items():
        E = look_at(np.asarray(eye, float), np.asarray(LOOK_AT, float))  # OpenCV cam2world
        right, up = E[:3, 0], -E[:3, 1]
        xy = " ".join(f"{v:.9g}" for v in np.concatenate([right, up]))
        cam_xml.append(f'<camera name="{name}" pos="{eye[0]:.9g} {eye[1]:.9g} {eye[2]:.9g}" xyaxes="{xy}" '
                       f'fovy="{fovy_deg:.9g}"/>')
    return f"""<mujoco model="actimg_pick_reach">
  <option timestep="0.004" gravity="0 0 -9.81"/>
  <visual><global offwidth="640" offheight="640"/><quality shadowsize="0"/></visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1=".82 .80 .76" rgb2=".70 .68 .64" width="64" height="64"/>
    <material name="grid" texture="grid" texrepeat="8 8"/>
  </asset>
  <worldbody>
    <light pos="0.3 0.2 1.5" dir="-0.2 -0.1 -1" diffuse=".8 .8 .8"/>
    <light pos="-0.5 0.5 1.2" dir="0.4 -0.4 -1" diffuse=".3 .3 .3"/>
    <geom name="floor" type="plane" size="0.6 0.6 0.02" material="grid"/>
    <body name="gripper" mocap="true" pos="0 0 0.25">
      <geom name="palm" type="box" pos="0 0 -0.045" size="0.012 0.05 0.01" rgba=".25 .25 .3 1"
            contype="0" conaffinity="0"/>
      <geom name="wrist" type="cylinder" pos="0 0 -0.085" size="0.012 0.03" rgba=".45 .45 .5 1"
            contype="0" conaffinity="0"/>
      <body name="finger_l" pos="0 0 0">
        <joint name="finger_l" type="slide" axis="0 1 0" range="0 0.05"/>
        <geom type="box" pos="0 0 -0.012" size="0.008 0.004 0.03" rgba=".9 .9 .9 1" contype="0" conaffinity="0"/>
      </body>
      <body name="finger_r" pos="0 0 0">
        <joint name="finger_r" type="slide" axis="0 -1 0" range="0 0.05"/>
        <geom type="box" pos="0 0 -0.012" size="0.008 0.004 0.03" rgba=".9 .9 .9 1" contype="0" conaffinity="0"/>
      </body>
    </body>
    <body name="target" mocap="true" pos="0.1 0.1 0.1">
      <geom name="target" type="sphere" size="0.018" rgba=".1 .85 .2 .8" contype="0" conaffinity="0"/>
    </body>
    <body name="cube" pos="0 0 {CUBE_HALF}">
      <freejoint name="cube"/>
      <geom name="cube" type="box" size="{CUBE_HALF} {CUBE_HALF} {CUBE_HALF}" rgba=".85 .15 .1 1" mass="0.05"/>
    </body>
    {chr(10).join('    ' + c for c in cam_xml)}
  </worldbody>
</mujoco>
"""


@dataclass(frozen=True)
class KinState:
    """The state the expert plans from (metres, radians).

    ``pos``/``R``: tool-centre point and tool-to-world rotation; ``openness``; ``cube_pos``/
    ``cube_R``: cube centre and rotation; ``attached``: the cube moves with the tool;
    ``rel_pos``/``rel_R``: cube pose in the tool frame while attached.
    """

    pos: np.ndarray
    R: np.ndarray
    openness: float
    cube_pos: np.ndarray
    cube_R: np.ndarray
    attached: bool
    rel_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rel_R: np.ndarray = field(default_factory=lambda: np.eye(3))


def apply_action(s: KinState, action: np.ndarray) -> KinState:
    """Kinematic transition: the tool goes to ``action``; grasp and release rules applied.

    The same rules the environment applies (the cube's fall after a release is left to
    MuJoCo's physics there; here it stays put).
    """
    pos = np.clip(np.asarray(action[:3], float), WORKSPACE[0], WORKSPACE[1])
    R = _from_euler_xyz(action[3:6])
    op = float(action[6])
    attached = s.attached
    rel_pos, rel_R = s.rel_pos, s.rel_R
    cube_pos, cube_R = s.cube_pos, s.cube_R
    if attached and op > 0.5:
        attached = False
    elif not attached and op <= 0.5 and float(np.linalg.norm(pos - s.cube_pos)) <= GRASP_RADIUS:
        attached = True
        rel_R = R.T @ s.cube_R
        rel_pos = R.T @ (s.cube_pos - pos)
    if attached:
        cube_pos = pos + R @ rel_pos
        cube_R = R @ rel_R
    return KinState(pos, R, op, cube_pos, cube_R, attached, rel_pos, rel_R)


def _toward(cur: np.ndarray, goal: np.ndarray, step: float) -> np.ndarray:
    d = goal - cur
    n = float(np.linalg.norm(d))
    return goal.copy() if n <= step else cur + d * (step / n)


def _turn(cur: float, goal: float, step: float) -> float:
    d = _wrap(goal - cur)
    return goal if abs(d) <= step else cur + math.copysign(step, d)


def expert_action(s: KinState, task: str, target_pos: np.ndarray, target_yaw: float) -> np.ndarray:
    """The scripted expert's next action from state ``s`` (see :class:`SimEnv`)."""
    yaw = yaw_of(s.R)
    if task == "reach":
        return make_action(_toward(s.pos, target_pos, STEP_M), topdown(_turn(yaw, target_yaw, YAW_STEP)), 1.0)
    cube_yaw = yaw_of(s.cube_R)
    grasp_yaw = cube_yaw + round(_wrap(yaw - cube_yaw) / (math.pi / 2)) * (math.pi / 2)  # cube is 4-fold symmetric
    if s.attached:  # lift
        goal = s.pos + np.array([0.0, 0.0, CUBE_HALF + LIFT_SUCCESS + 0.03 - s.cube_pos[2]])
        return make_action(_toward(s.pos, goal, STEP_M), topdown(yaw), 0.0)
    if s.openness <= 0.5:  # closed but holding nothing: open in place
        return make_action(s.pos, topdown(yaw), 1.0)
    xy_err = float(np.linalg.norm(s.pos[:2] - s.cube_pos[:2]))
    if xy_err > 0.004 or abs(_wrap(yaw - grasp_yaw)) > 0.03:  # align above the cube (or level, when close)
        goal = s.cube_pos + np.array([0.0, 0.0, 0.08]) if xy_err > 0.02 else np.array([*s.cube_pos[:2], s.pos[2]])
        return make_action(_toward(s.pos, goal, STEP_M), topdown(_turn(yaw, grasp_yaw, YAW_STEP)), 1.0)
    if float(np.linalg.norm(s.pos - s.cube_pos)) > 0.004:
        return make_action(_toward(s.pos, s.cube_pos.copy(), STEP_M), topdown(grasp_yaw), 1.0)
    return make_action(s.pos, topdown(grasp_yaw), 0.0)


def expert_plan(s: KinState, task: str, target_pos: np.ndarray, target_yaw: float, horizon: int) -> np.ndarray:
    """``(horizon, 7)``: the expert's next ``horizon`` actions, rolled out kinematically."""
    out = np.empty((horizon, 7))
    for i in range(horizon):
        a = expert_action(s, task, target_pos, target_yaw)
        out[i] = a
        s = apply_action(s, a)
    return out


class SimEnv:
    """Gripper + cube + cameras in MuJoCo (see the module docstring).

    Args:
        task: ``"reach"`` or ``"pick"``.
        height, width: camera image size in pixels.
        cameras: camera names (from :data:`CAMERAS`), in rig order.
        max_steps: control steps per episode (default 30 for reach, 45 for pick).
        yaw_range: start and target/cube yaw drawn from ``[-yaw_range, yaw_range]`` rad.
        substeps: physics steps (4 ms) per control step.
        fovy_deg: vertical field of view of every camera, degrees.
    """

    def __init__(self, task: str = "reach", height: int = 160, width: int = 160,
                 cameras: Sequence[str] = ("front", "left", "back_right"), max_steps: int | None = None,
                 yaw_range: float = 0.6, substeps: int = 10, fovy_deg: float = FOVY_DEG) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; available: {sorted(CAMERAS)}")
        mujoco = _mujoco()
        from ..cameras import from_mujoco

        self.mujoco = mujoco
        self.task = task
        self.camera_names = list(cameras)
        self.instruction = INSTRUCTIONS[task]
        self.max_steps = int(max_steps if max_steps is not None else (30 if task == "reach" else 45))
        self.yaw_range = float(yaw_range)
        self.substeps = int(substeps)
        self.model = mujoco.MjModel.from_xml_string(scene_xml({c: CAMERAS[c] for c in self.camera_names}, fovy_deg))
        self.data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, self.data)
        self.height, self.width = int(height), int(width)
        self.rig = from_mujoco(self.model, self.data, self.camera_names, self.height, self.width)
        self._renderer: Any = None
        self._jl = self.model.joint("finger_l").qposadr[0]
        self._jr = self.model.joint("finger_r").qposadr[0]
        self._cube = self.model.joint("cube").qposadr[0]
        self._cube_v = self.model.joint("cube").dofadr[0]
        self._grip_mocap = self.model.body("gripper").mocapid[0]
        self._target_mocap = self.model.body("target").mocapid[0]
        self.reset(0)

    # ------------------------------------------------------------------ state
    def reset(self, seed: int | np.random.Generator | None = None) -> dict[str, Any]:
        """New episode (random start, cube and target); returns the observation."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        m, d = self.model, self.data
        self.mujoco.mj_resetData(m, d)
        yr = self.yaw_range
        start = np.array([rng.uniform(-0.10, 0.10), rng.uniform(-0.10, 0.10), rng.uniform(0.18, 0.26)])
        start_yaw = rng.uniform(-yr, yr)
        self.target_pos = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15), rng.uniform(0.05, 0.20)])
        self.target_yaw = float(rng.uniform(-yr, yr))
        cube_pos = np.array([rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12), CUBE_HALF])
        cube_yaw = float(rng.uniform(-yr, yr))
        d.qpos[self._cube:self._cube + 3] = cube_pos
        d.qpos[self._cube + 3:self._cube + 7] = _mat2quat_wxyz(_rz(cube_yaw))
        if self.task == "reach":
            d.qpos[self._cube:self._cube + 3] = [0.0, 0.0, -1.0]  # out of the way, under the floor
            d.mocap_pos[self._target_mocap] = self.target_pos
        else:
            d.mocap_pos[self._target_mocap] = [0.0, 0.0, -1.0]
        self._attached = False
        self._rel_pos, self._rel_R = np.zeros(3), np.eye(3)
        self.steps = 0
        self._set_gripper(make_action(start, topdown(start_yaw), 1.0))
        self.mujoco.mj_forward(m, d)
        return self.observation()

    def _set_gripper(self, action: np.ndarray) -> None:
        d = self.data
        pos = np.clip(np.asarray(action[:3], float), WORKSPACE[0], WORKSPACE[1])
        R = _from_euler_xyz(action[3:6])
        d.mocap_pos[self._grip_mocap] = pos
        d.mocap_quat[self._grip_mocap] = _mat2quat_wxyz(R)
        self._openness = 1.0 if float(action[6]) > 0.5 else 0.0
        gap = FINGER_OPEN if self._openness > 0.5 else FINGER_CLOSED
        d.qpos[self._jl] = d.qpos[self._jr] = gap

    def state(self) -> KinState:
        """The current :class:`KinState` (read from MuJoCo)."""
        d = self.data
        pos = d.mocap_pos[self._grip_mocap].copy()
        R = _quat2mat_wxyz(d.mocap_quat[self._grip_mocap])
        cube_pos = d.qpos[self._cube:self._cube + 3].copy()
        cube_R = _quat2mat_wxyz(d.qpos[self._cube + 3:self._cube + 7])
        return KinState(pos, R, self._openness, cube_pos, cube_R, self._attached, self._rel_pos, self._rel_R)

    def pose(self) -> np.ndarray:
        """``(7,)`` current end-effector action ``[x, y, z, rx, ry, rz, openness]``."""
        s = self.state()
        return make_action(s.pos, s.R, s.openness)

    def render(self) -> np.ndarray:
        """``(V, H, W, 3)`` uint8 camera images, in rig order."""
        if self._renderer is None:
            self._renderer = self.mujoco.Renderer(self.model, self.height, self.width)
        out = np.empty((len(self.camera_names), self.height, self.width, 3), np.uint8)
        for i, name in enumerate(self.camera_names):
            self._renderer.update_scene(self.data, name)
            out[i] = self._renderer.render()
        return out

    def observation(self, render: bool = True) -> dict[str, Any]:
        """``{"images": (V, H, W, 3) uint8, "pose": (7,), "instruction": str}`` (images
        omitted when ``render`` is False)."""
        obs: dict[str, Any] = {"pose": self.pose(), "instruction": self.instruction}
        if render:
            obs["images"] = self.render()
        return obs

    def step(self, action: np.ndarray) -> bool:
        """Execute one absolute action; returns :meth:`success` afterwards."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (7,) or not np.isfinite(a).all():
            raise ValueError(f"action must be a finite (7,) vector, got {a}")
        m, d = self.model, self.data
        before = self.state()
        self._set_gripper(a)
        after = apply_action(before, a)
        if after.attached and not before.attached:
            self._rel_pos, self._rel_R = after.rel_pos, after.rel_R
        self._attached = after.attached
        for _ in range(self.substeps):
            if self._attached:
                self._hold_cube()
            self.mujoco.mj_step(m, d)
        if self._attached:
            self._hold_cube()
        self.mujoco.mj_forward(m, d)
        self.steps += 1
        return self.success()

    def _hold_cube(self) -> None:
        d = self.data
        pos = d.mocap_pos[self._grip_mocap]
        R = _quat2mat_wxyz(d.mocap_quat[self._grip_mocap])
        d.qpos[self._cube:self._cube + 3] = pos + R @ self._rel_pos
        d.qpos[self._cube + 3:self._cube + 7] = _mat2quat_wxyz(R @ self._rel_R)
        d.qvel[self._cube_v:self._cube_v + 6] = 0.0

    def success(self) -> bool:
        """Task solved in the current state."""
        s = self.state()
        if self.task == "reach":
            return (float(np.linalg.norm(s.pos - self.target_pos)) <= REACH_TOL
                    and abs(_wrap(yaw_of(s.R) - self.target_yaw)) <= REACH_YAW_TOL)
        return bool(s.attached and s.cube_pos[2] >= CUBE_HALF + LIFT_SUCCESS)

    def expert_plan(self, horizon: int) -> np.ndarray:
        """``(horizon, 7)``: the scripted expert's next absolute actions from now."""
        return expert_plan(self.state(), self.task, self.target_pos, self.target_yaw, horizon)

    def close(self) -> None:
        """Free the renderer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


# ---------------------------------------------------------------------- oracle
def degrade(images: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """What a video model might do to action images, at :mod:`actimg.corrupt`'s middle strengths.

    ``(V, T, H, W, 3)`` uint8 in and out. At ``strength=1``: blur of a quarter blob sigma
    (``0.0125 * min(H, W)`` px), Gaussian noise sigma 0.08, JPEG quality 40, and in a random
    half of the frames a ghost blob as bright as the true one in one channel of one view.
    ``strength`` scales the blur, the noise and the JPEG loss (``quality = 100 - 60 * strength``).
    """
    from ..robust import corrupt

    if strength <= 0:
        return images.copy()
    seed = int(rng.integers(2**31))
    H, W = images.shape[2:4]
    x = corrupt.blur(images, sigma_px=0.0125 * min(H, W) * strength)
    x = corrupt.gaussian_noise(x, sigma=0.08 * strength, seed=seed)
    x = corrupt.jpeg(x, quality=int(round(100 - 60 * min(strength, 1.5))))
    frames = np.flatnonzero(rng.random(images.shape[1]) < 0.5)
    if frames.size:
        x = corrupt.ghost_blob(x, channel=int(rng.integers(3)), relative_brightness=1.0, frames=frames, seed=seed + 1)
    return x


class ExpertOracle:
    """A stand-in "video model" with perfect foresight, behind the adapter protocol.

    Called as ``oracle(task)`` with a ``"joint"`` task of ``T`` frames, it returns
    ``(V, T, H, W, 3)`` uint8 action images: frame 0 as given in the task (the current
    pose), frames ``1..T-1`` the scripted expert's plan from the environment's current
    state, drawn by :func:`actimg.encode` on the task's rig and, with ``degraded``, passed
    through :func:`degrade` (a new random draw at every call). ``last_plan`` holds the
    ``(T, 7)`` poses it drew (clean).
    """

    temporal_compression = None

    def __init__(self, env: SimEnv, degraded: bool = False, seed: int = 0,
                 corruption: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None) -> None:
        self.env = env
        self.degraded = bool(degraded)
        self.corruption = corruption or degrade
        self.rng = np.random.default_rng(seed)
        self.last_plan: np.ndarray | None = None
        self.calls = 0

    def __call__(self, task: Any) -> np.ndarray:
        T = int(task.n_frames)
        plan = np.concatenate([self.env.pose()[None], self.env.expert_plan(T - 1)])
        images = encode(plan, task.rig, task.spec)
        if self.degraded:
            images = self.corruption(images, self.rng)
        if task.actions is not None:
            images[:, 0] = task.actions[:, 0]
        self.last_plan = plan
        self.calls += 1
        return images


# ---------------------------------------------------------------------- closed loop
@dataclass
class EpisodeResult:
    """One closed-loop episode.

    ``success``; ``steps`` taken; ``holds`` (steps where the policy held its last safe
    action); ``model_calls``; ``position_error_mm`` / ``rotation_error_deg``: per executed
    (not held) action, its distance from the plan the oracle drew for that step (empty when
    the model is not an :class:`ExpertOracle`); ``confidence`` per step; ``poses``
    ``(T + 1, 7)`` the end-effector pose before each step and at the end; ``images``
    ``(V, T + 1, H, W, 3)`` camera frames and ``drawn`` ``(V, T, H, W, 3)`` the action
    image the executed frame came from (only with ``record=True``).
    """

    success: bool
    steps: int
    holds: int
    model_calls: int
    position_error_mm: list[float] = field(default_factory=list)
    rotation_error_deg: list[float] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    poses: np.ndarray | None = None
    images: np.ndarray | None = None
    drawn: np.ndarray | None = None
    error: str | None = None


def run_episode(env: SimEnv, policy: Any, seed: int, record: bool = False,
                render_every_step: bool = True) -> EpisodeResult:
    """Run ``policy`` in ``env`` for one episode (until success or ``env.max_steps``).

    ``render_every_step=False`` renders camera images only when the policy will ask its
    model (an empty queue: the images are not used otherwise), which is what an oracle
    needs; a learned model always gets the current frames at its calls either way.
    An :class:`~actimg.policy.UnsafeActionError` ends the episode as a failure.
    """
    from .policy import UnsafeActionError

    obs = env.reset(seed)
    policy.reset()
    oracle = policy.model if isinstance(policy.model, ExpertOracle) else None
    res = EpisodeResult(success=False, steps=0, holds=0, model_calls=0)
    poses, frames, drawn = [env.pose()], [obs["images"]], []
    last_images = obs["images"]
    calls0 = getattr(policy, "_n_chunks", 0)
    for _ in range(env.max_steps):
        if not render_every_step and policy.n_queued:
            obs = {**env.observation(render=False), "images": last_images}
        try:
            action = policy.select_action(obs)
        except UnsafeActionError as exc:
            res.error = str(exc)
            break
        info = policy.last_info
        res.confidence.append(float(info["confidence"]))
        if info["held"]:
            res.holds += 1
        elif oracle is not None and oracle.last_plan is not None:
            ref = oracle.last_plan[info["frame"]]
            res.position_error_mm.append(1000.0 * float(np.linalg.norm(action[:3] - ref[:3])))
            Ra, Rr = _from_euler_xyz(action[3:6]), _from_euler_xyz(ref[3:6])
            c = (np.trace(Ra.T @ Rr) - 1.0) / 2.0
            res.rotation_error_deg.append(math.degrees(math.acos(max(-1.0, min(1.0, c)))))
        if record and policy.last_chunk is not None:
            ch = policy.last_chunk
            k = info["frame"]
            drawn.append(ch.images[:, k] if k > 0 else np.zeros_like(ch.images[:, 0]))
        ok = env.step(action)
        res.steps += 1
        poses.append(env.pose())
        if record or render_every_step or not policy.n_queued or ok:
            obs = env.observation(render=True)
            last_images = obs["images"]
        else:
            obs = {**env.observation(render=False), "images": last_images}
        if record:
            frames.append(obs["images"])
        if ok:
            res.success = True
            break
    res.model_calls = getattr(policy, "_n_chunks", 0) - calls0
    res.poses = np.asarray(poses)
    if record:
        res.images = np.stack(frames, axis=1)
        res.drawn = np.stack(drawn, axis=1) if drawn else None
    return res


def export_episode(directory: str | os.PathLike[str], env: SimEnv, episode: EpisodeResult,
                   instruction: str | None = None) -> None:
    """Write one recorded episode as a training sample in the published layout.

    Files: ``observation_view{v}.mkv`` and ``action_view{v}.mkv`` (``T + 1`` frames each,
    lossless FFV1; the action video is :func:`actimg.encode` of the pose at each frame),
    ``rig.json`` (:func:`actimg.save_rig`), ``instruction.txt``, ``actions.npy`` ``(T + 1, 7)``
    (absolute pose at each frame, actimg's action convention).
    """
    from pathlib import Path

    from ..cameras import save_rig
    from ..media.video import write_video

    if episode.images is None or episode.poses is None:
        raise ValueError("the episode was not recorded: run_episode(..., record=True)")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    actions = np.asarray(episode.poses, dtype=np.float64)
    action_images = encode(actions, env.rig)
    for v in range(env.rig.n_views):
        write_video(out / f"observation_view{v}.mkv", episode.images[v])
        write_video(out / f"action_view{v}.mkv", action_images[v])
    save_rig(env.rig, out / "rig.json")
    (out / "instruction.txt").write_text((instruction or env.instruction) + "\n")
    np.save(out / "actions.npy", actions)
