"""DROID raw episodes: ``trajectory.h5``, ``metadata_*.json`` and ``recordings/MP4/<serial>.mp4``.

Per episode folder (found anywhere below ``SRC`` by its ``trajectory.h5``)::

    trajectory.h5
        observation/robot_state/cartesian_position   (T, 6) [x, y, z, rx, ry, rz]: metres,
                                                     extrinsic "xyz" Euler radians (base frame)
        observation/robot_state/gripper_position     (T,) 0 = open .. 1 = closed
        observation/camera_extrinsics/<serial>_left  (T, 6) cam2base, same convention
                                                     (:func:`actimg.cameras.from_droid`)
        observation/camera_intrinsics/<serial>_left  (T, 3, 3) K (optional: else ``intrinsics=``)
        action/cartesian_position, action/gripper_position   the commanded pose (``use="action"``)
    metadata_<...>.json      ext1_cam_serial, ext2_cam_serial, wrist_cam_serial, current_task
    recordings/MP4/<serial>.mp4                      left-camera video per serial (optional)

The external cameras (``ext1``, ``ext2``) are the default views; their extrinsics are
stored per step and become a static rig when constant, a per-frame rig otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cameras.sources import from_droid
from ._deps import require
from .avio import video_size
from .episode import Episode, safe_name
from .readers import Reader

__all__ = ["DroidReader"]


class DroidReader(Reader):
    """Episodes of raw DROID data (see the module docstring).

    Args:
        root: folder holding episode folders (searched recursively for ``trajectory.h5``).
        cameras: which metadata cameras, in view order: ``"ext1"``, ``"ext2"``, ``"wrist"``.
        use: ``"observation"`` (the measured pose, what the cameras saw; default) or
            ``"action"`` (the commanded pose).
        intrinsics: used when the h5 has no ``camera_intrinsics``: ``{serial: K (3, 3)}``
            or a callable ``(serial) -> K``, for the recorded resolution.
        image_size: ``(H, W)`` of the recordings when an episode has no video (else read
            from the video; DROID's ZED recordings are 720 x 1280).
        fps: 15 (DROID's control rate).
        videos: read the recordings (True) or convert actions and cameras only (False).
            The episode's ``videos`` are the recordings' paths (the image size is read from
            their headers); the converter decodes them frame by frame and fails an episode
            whose recording does not have one frame per step.
    """

    def __init__(self, root: str | os.PathLike[str], cameras: Sequence[str] = ("ext1", "ext2"),
                 use: str = "observation", intrinsics: Mapping[str, Any] | Callable[[str], Any] | None = None,
                 image_size: tuple[int, int] = (720, 1280), fps: float = 15.0, videos: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"source folder {str(self.root)!r} does not exist")
        bad = [c for c in cameras if c not in ("ext1", "ext2", "wrist")]
        if bad or not cameras:
            raise ValueError(f"cameras must name 'ext1', 'ext2', 'wrist', got {list(cameras)}")
        if use not in ("observation", "action"):
            raise ValueError(f"use must be 'observation' or 'action', got {use!r}")
        self.cameras = tuple(cameras)
        self.use = use
        self.intrinsics = intrinsics
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.fps = float(fps)
        self.videos = bool(videos)

    def _folders(self) -> dict[str, Path]:
        cache = self.__dict__.get("_cache_folders")
        if cache is None:
            cache = {}
            for h5 in sorted(self.root.rglob("trajectory.h5")):
                rel = h5.parent.relative_to(self.root)
                name = safe_name("_".join(rel.parts) or h5.parent.name)
                if name in cache:
                    raise ValueError(f"two DROID episodes map to the name {name!r}: {cache[name]}, {h5.parent}")
                cache[name] = h5.parent
            self.__dict__["_cache_folders"] = cache
        return cache

    def names(self) -> list[str]:
        return list(self._folders())

    def load(self, name: str) -> Episode:
        h5py = require("h5py")
        folder = self._folders().get(name)
        if folder is None:
            raise KeyError(f"no DROID episode {name!r} under {str(self.root)!r}")
        metas = sorted(folder.glob("metadata*.json"))
        if not metas:
            raise FileNotFoundError(f"{name}: no metadata*.json (camera serials)")
        meta = json.loads(metas[0].read_text(encoding="utf-8"))
        serials = []
        for cam in self.cameras:
            s = meta.get(f"{cam}_cam_serial")
            if not s:
                raise KeyError(f"{name}: metadata has no {cam}_cam_serial")
            serials.append(str(s))
        with h5py.File(folder / "trajectory.h5", "r") as f:
            group = "observation/robot_state" if self.use == "observation" else "action"
            cart = np.asarray(f[f"{group}/cartesian_position"], dtype=np.float64)
            grip = np.asarray(f[f"{group}/gripper_position"], dtype=np.float64).reshape(-1)
            T = len(cart)
            if cart.shape != (T, 6) or grip.shape != (T,) or T == 0:
                raise ValueError(f"{name}: cartesian_position {cart.shape} and gripper_position {grip.shape} "
                                 "must be (T, 6) and (T,)")
            ext, K = [], []
            for s in serials:
                key = f"observation/camera_extrinsics/{s}_left"
                if key not in f:
                    raise KeyError(f"{name}: {key} missing")
                e = np.asarray(f[key], dtype=np.float64)
                if e.shape != (T, 6):
                    raise ValueError(f"{name}: {key} has shape {e.shape}, expected ({T}, 6)")
                ext.append(e)
                ikey = f"observation/camera_intrinsics/{s}_left"
                if ikey in f:
                    k = np.asarray(f[ikey], dtype=np.float64)
                    K.append(k[0] if k.ndim == 3 and np.allclose(k, k[:1]) else k)
                else:
                    K.append(self._intrinsics(s, name))
        if (grip < -1e-6).any() or (grip > 1 + 1e-6).any():
            raise ValueError(f"{name}: gripper_position outside [0, 1]")
        actions = np.concatenate([cart, 1.0 - np.clip(grip, 0.0, 1.0)[:, None]], axis=1)
        videos: dict[str, str] = {}
        size = self.image_size
        if self.videos:
            # paths: the converter decodes them frame by frame while it writes (never the whole
            # 720x1280 recording in memory); frame counts are checked there
            sizes = {}
            for cam, s in zip(self.cameras, serials):
                p = folder / "recordings" / "MP4" / f"{s}.mp4"
                if not p.is_file():
                    raise FileNotFoundError(f"{name}: recording {p.relative_to(folder)} missing")
                try:
                    sizes[cam] = video_size(p)
                except Exception as exc:  # noqa: BLE001 - FFmpeg's own error types
                    raise ValueError(f"{name}: recording {p.relative_to(folder)} is not a readable video: "
                                     f"{exc}") from None
                videos[cam] = str(p)
            if len(set(sizes.values())) > 1:
                raise ValueError(f"{name}: the recordings differ in size: "
                                 + ", ".join(f"{c} {h}x{w}" for c, (h, w) in sizes.items()))
            size = next(iter(sizes.values()))
        elif (folder / "recordings" / "MP4" / f"{serials[0]}.mp4").is_file():
            size = video_size(folder / "recordings" / "MP4" / f"{serials[0]}.mp4")
        E = np.stack(ext)  # (V, T, 6)
        if np.array_equal(E, np.broadcast_to(E[:, :1], E.shape)):
            E = E[:, 0]
        if any(k.ndim == 3 for k in K):  # per-frame intrinsics somewhere: every view per frame
            Kall = np.stack([np.broadcast_to(k, (T, 3, 3)) if k.ndim == 2 else k for k in K])
        else:
            Kall = np.stack(K)
        rig = from_droid(E, Kall, int(size[0]), int(size[1]))
        instruction = meta.get("current_task") or None
        return Episode(name, actions, rig, videos, instruction,
                       {"fps": self.fps, "source": str(folder), "serials": serials})

    def _intrinsics(self, serial: str, name: str) -> np.ndarray:
        if self.intrinsics is None:
            raise KeyError(f"{name}: trajectory.h5 has no camera_intrinsics for {serial} and no intrinsics= given")
        K = self.intrinsics(serial) if callable(self.intrinsics) else self.intrinsics.get(serial)
        if K is None:
            raise KeyError(f"{name}: no intrinsics for camera {serial}")
        return np.asarray(K, dtype=np.float64)
