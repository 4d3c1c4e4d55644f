"""What every reader shares: the :class:`Reader` protocol and the pose-column conversion.

A reader is a small picklable object: :meth:`Reader.names` lists the source episodes
(cheap: metadata only), :meth:`Reader.load` reads one (raising on a bad or partial
episode), and iterating yields :class:`Episode` or :class:`EpisodeError` per episode, in
order, never stopping at a bad one. Engines ship the reader to the workers and call
``load`` there, so frames are decoded where they are converted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..geometry.rotations import euler_to_matrix, matrix_to_euler, quat_to_matrix
from .episode import Episode, EpisodeError

__all__ = ["PoseColumns", "Reader", "ROTATIONS"]

#: rotation encodings :class:`PoseColumns` understands (Euler sequences are scipy's: lower case
#: extrinsic, upper case intrinsic; quaternion orders are always named)
ROTATIONS = ("euler:<seq>", "quat:xyzw", "quat:wxyz", "rotvec")


class Reader:
    """Base class of the readers (see the module docstring)."""

    def names(self) -> list[str]:  # pragma: no cover - abstract
        """The source episodes' names, in source order."""
        raise NotImplementedError

    def load(self, name: str) -> Episode:  # pragma: no cover - abstract
        """Read one episode; raises (ValueError, OSError, KeyError, ...) when it is bad or partial."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Episode | EpisodeError]:
        for name in self.names():
            try:
                yield self.load(name)
            except Exception as exc:  # noqa: BLE001 - every per-episode failure is reported, never raised
                yield EpisodeError(name, error_line(exc))

    def __getstate__(self) -> dict[str, Any]:  # caches stay behind when a reader is shipped to workers
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache")}


def error_line(exc: BaseException) -> str:
    """``"<Type>: <message>"`` on one line."""
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


@dataclass(frozen=True)
class PoseColumns:
    """Where the end-effector pose sits in a vector column, and how it is written.

    Attributes:
        key: the column (LeRobot: ``"observation.state"`` or ``"action"``).
        position: index of ``x`` (``x, y, z`` follow), metres.
        rotation: ``"euler:<seq>"`` (scipy sequence, radians: ``"euler:xyz"`` extrinsic is
            actimg's own, ``"euler:XYZ"`` intrinsic), ``"quat:xyzw"``, ``"quat:wxyz"`` or
            ``"rotvec"`` (axis-angle, radians).
        rotation_index: index of the first rotation component (default: right after the
            position).
        gripper: index of the gripper value.
        gripper_meaning: ``"openness"`` (1 = open, actimg's) or ``"closedness"`` (1 =
            closed: DROID, many LeRobot datasets).
        gripper_range: ``(closed-or-open low, high)`` raw values mapped to ``[0, 1]``; values
            outside it (by more than 1e-6 of the range) are an error, never clipped.
        position_scale: metres per stored unit (1 for metres, 0.001 for millimetres).
    """

    key: str = "observation.state"
    position: int = 0
    rotation: str = "euler:xyz"
    rotation_index: int | None = None
    gripper: int = 6
    gripper_meaning: str = "openness"
    gripper_range: tuple[float, float] = (0.0, 1.0)
    position_scale: float = 1.0

    def __post_init__(self) -> None:
        kind, _, arg = self.rotation.partition(":")
        ok = (kind == "euler" and len(arg) == 3 and (set(arg) <= set("xyz") or set(arg) <= set("XYZ"))
              and arg[0] != arg[1] and arg[1] != arg[2]) or \
            self.rotation in ("quat:xyzw", "quat:wxyz", "rotvec")
        if not ok:
            raise ValueError(f"rotation must be one of {ROTATIONS} (e.g. 'euler:xyz', 'euler:XYZ'), "
                             f"got {self.rotation!r}")
        if self.gripper_meaning not in ("openness", "closedness"):
            raise ValueError(f"gripper_meaning must be 'openness' or 'closedness', got {self.gripper_meaning!r}")
        lo, hi = (float(x) for x in self.gripper_range)
        if not hi > lo:
            raise ValueError(f"gripper_range must be (low, high) with high > low, got {self.gripper_range!r}")
        if not (np.isfinite(self.position_scale) and self.position_scale > 0):
            raise ValueError(f"position_scale must be a positive number, got {self.position_scale!r}")

    @property
    def rotation_size(self) -> int:
        """3 (Euler, rotvec) or 4 (quaternion)."""
        return 4 if self.rotation.startswith("quat") else 3

    def actions(self, vectors: np.ndarray) -> np.ndarray:
        """``(T, D)`` stored vectors -> ``(T, 7)`` actimg actions.

        Raises:
            ValueError: vectors too short for the named indices, non-finite values, a
                gripper value outside ``gripper_range``, a zero quaternion.
        """
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"column {self.key!r} must hold one vector per frame, got shape {v.shape}")
        ri = self.position + 3 if self.rotation_index is None else self.rotation_index
        need = max(self.position + 3, ri + self.rotation_size, self.gripper + 1)
        if v.shape[1] < need:
            raise ValueError(f"column {self.key!r} has {v.shape[1]} values per frame but the pose needs {need} "
                             f"(position at {self.position}, {self.rotation} at {ri}, gripper at {self.gripper})")
        if not np.isfinite(v[:, :need]).all():
            t = int(np.argmax(~np.isfinite(v[:, :need]).all(axis=1)))
            raise ValueError(f"column {self.key!r} has a non-finite value at frame {t}")
        pos = v[:, self.position:self.position + 3] * self.position_scale
        rot = v[:, ri:ri + self.rotation_size]
        if self.rotation == "euler:xyz":
            euler = rot.copy()
        else:
            if self.rotation.startswith("euler:"):
                R = euler_to_matrix(rot, self.rotation[6:])
            elif self.rotation.startswith("quat:"):
                if (np.linalg.norm(rot, axis=1) < 1e-9).any():
                    raise ValueError(f"column {self.key!r} holds a zero quaternion")
                R = quat_to_matrix(rot, self.rotation[5:])
            else:
                from scipy.spatial.transform import Rotation

                R = Rotation.from_rotvec(rot).as_matrix()
            euler = matrix_to_euler(R, "xyz")
        lo, hi = (float(x) for x in self.gripper_range)
        g = (v[:, self.gripper] - lo) / (hi - lo)
        eps = 1e-6
        if (g < -eps).any() or (g > 1 + eps).any():
            t = int(np.argmax((g < -eps) | (g > 1 + eps)))
            raise ValueError(f"gripper value {v[t, self.gripper]} at frame {t} is outside gripper_range "
                             f"{self.gripper_range}")
        g = np.clip(g, 0.0, 1.0)  # only rounding-level excursions reach here
        opn = g if self.gripper_meaning == "openness" else 1.0 - g
        return np.concatenate([pos, euler, opn[:, None]], axis=1)
