"""LeRobot datasets (layouts v3.0 and v2.1), read with pyarrow and PyAV; no lerobot install.

v3.0::

    meta/info.json                                   codebase_version "v3.0", fps, features, paths
    meta/tasks.parquet                               task (index) -> task_index
    meta/episodes/chunk-XXX/file-XXX.parquet         one row per episode: length, tasks,
        data/chunk_index, data/file_index, videos/<key>/chunk_index, videos/<key>/file_index,
        videos/<key>/from_timestamp, videos/<key>/to_timestamp
    data/chunk-XXX/file-XXX.parquet                  many episodes per file
    videos/<camera key>/chunk-XXX/file-XXX.mp4       many episodes per file, one after another

v2.1::

    meta/info.json, meta/episodes.jsonl, meta/tasks.jsonl
    data/chunk-000/episode_000000.parquet
    videos/chunk-000/<camera key>/episode_000000.mp4

Columns ``observation.state``, ``action``, ``timestamp``, ``frame_index``,
``episode_index``, ``task_index``; camera keys ``observation.images.<camera>``. LeRobot
stores no calibration: the cameras come from a rig file (shared by every episode), a
per-episode callable, or the ``actimg.rig`` column of the episode metadata (written by
``convert(..., format="lerobot")``); the pose from named columns (:class:`PoseColumns`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..cameras.sources import _decode as _decode_rig
from ..cameras.sources import load_rig
from ..geometry.camera import CameraRig
from ._deps import require
from .avio import read_frames_at
from .episode import Episode
from .readers import PoseColumns, Reader

__all__ = ["LeRobotReader", "RIG_COLUMN", "RigSource", "episode_name", "rig_from_json"]

#: the episode-metadata column holding a rig file's JSON text (v3.0 output of the converter)
RIG_COLUMN = "actimg.rig"
#: where the cameras come from: a rig file, a rig, a callable ``(episode_index, metadata) -> rig``,
#: or None (the ``actimg.rig`` metadata column)
RigSource = Union[str, "os.PathLike[str]", CameraRig, Callable[[int, dict], CameraRig], None]


def episode_name(index: int) -> str:
    """``episode_000012``: the name of LeRobot episode 12."""
    return f"episode_{int(index):06d}"


def rig_from_json(text: str) -> CameraRig:
    """A rig from the JSON text of a rig file (see :func:`actimg.save_rig`)."""
    return _decode_rig(json.loads(text, parse_float=Decimal))


def _vectors(table: Any, key: str) -> np.ndarray:
    if key not in table.column_names:
        raise KeyError(f"column {key!r} not found (columns: {table.column_names})")
    col = table.column(key).combine_chunks()
    if hasattr(col, "flatten") and hasattr(col.type, "value_type"):
        flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
        n = len(col)
        if n == 0 or flat.size % n:
            raise ValueError(f"column {key!r} holds vectors of different lengths")
        return flat.reshape(n, -1)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(len(col), -1)


class LeRobotReader(Reader):
    """Episodes of a LeRobot dataset (v3.0 or v2.1, detected from ``meta/info.json``).

    Args:
        root: the dataset folder (holding ``meta/``, ``data/``, ``videos/``).
        rig: see :data:`RigSource`. The rig is for the stored video resolution and lists
            the views in ``cameras`` order. With ``workers > 1`` or Ray the reader is
            pickled to the workers: a callable must then be a module-level function.
        cameras: camera keys (``"observation.images.front"`` or just ``"front"``) in rig
            view order; default: every ``observation.images.*`` video feature in
            ``info.json`` order, except ``*_action`` keys (action images).
        pose: where the end-effector pose is (default: ``observation.state`` =
            ``[x, y, z, rx, ry, rz (extrinsic xyz), openness]``).
        tolerance_s: a video frame matches a timestamp within this many seconds
            (default ``0.4 / fps``).
    """

    def __init__(self, root: str | os.PathLike[str], rig: RigSource = None, cameras: Sequence[str] | None = None,
                 pose: PoseColumns | None = None, tolerance_s: float | None = None) -> None:
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{str(info_path)!r} not found: not a LeRobot dataset")
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        version = str(self.info.get("codebase_version", ""))
        if version.startswith("v3"):
            self.version = "v3.0"
        elif version.startswith("v2"):
            self.version = "v2.1"
        else:
            raise ValueError(f"unsupported LeRobot codebase_version {version!r} (v3.0 and v2.1 are read)")
        self.fps = float(self.info["fps"])
        features = self.info.get("features", {})
        video_keys = [k for k, f in features.items() if isinstance(f, dict) and f.get("dtype") == "video"]
        if cameras is None:
            cams = [k for k in video_keys if k.startswith("observation.images.") and not k.endswith("_action")]
        else:
            cams = [c if c.startswith("observation.") else f"observation.images.{c}" for c in cameras]
            unknown = [c for c in cams if c not in video_keys]
            if unknown:
                raise ValueError(f"camera keys {unknown} are not video features of {str(self.root)!r} "
                                 f"(it has {video_keys})")
        self.cameras = cams
        if isinstance(rig, (str, os.PathLike)):
            rig = load_rig(rig)
        self.rig = rig
        self.pose = pose or PoseColumns()
        self.tolerance_s = float(tolerance_s) if tolerance_s is not None else 0.4 / self.fps

    # ---------------------------------------------------------------- metadata
    def _episodes(self) -> dict[int, dict[str, Any]]:
        cache = self.__dict__.get("_cache_episodes")
        if cache is not None:
            return cache
        rows: dict[int, dict[str, Any]] = {}
        if self.version == "v3.0":
            pq = require("pyarrow.parquet")
            files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
            if not files:
                raise FileNotFoundError(f"no meta/episodes/chunk-*/file-*.parquet in {str(self.root)!r}")
            for f in files:
                for r in pq.read_table(f).to_pylist():
                    rows[int(r["episode_index"])] = r
        else:
            path = self.root / "meta" / "episodes.jsonl"
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    r = json.loads(line)
                    rows[int(r["episode_index"])] = r
        self.__dict__["_cache_episodes"] = rows
        return rows

    def _tasks(self) -> dict[int, str]:
        cache = self.__dict__.get("_cache_tasks")
        if cache is not None:
            return cache
        tasks: dict[int, str] = {}
        if self.version == "v3.0":
            p = self.root / "meta" / "tasks.parquet"
            if p.is_file():
                t = require("pyarrow.parquet").read_table(p).to_pydict()
                names = t.get("task") or t.get("__index_level_0__") or []
                for name, idx in zip(names, t.get("task_index", [])):
                    tasks[int(idx)] = str(name)
        else:
            p = self.root / "meta" / "tasks.jsonl"
            if p.is_file():
                for line in p.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        r = json.loads(line)
                        tasks[int(r["task_index"])] = str(r["task"])
        self.__dict__["_cache_tasks"] = tasks
        return tasks

    def names(self) -> list[str]:
        return [episode_name(i) for i in sorted(self._episodes())]

    # ---------------------------------------------------------------- one episode
    def load(self, name: str) -> Episode:
        if not name.startswith("episode_") or not name[8:].isdigit():
            raise ValueError(f"LeRobot episode names are episode_<index>, got {name!r}")
        idx = int(name[8:])
        meta = self._episodes().get(idx)
        if meta is None:
            raise KeyError(f"episode {idx} is not in the episode metadata")
        pq = require("pyarrow.parquet")
        if self.version == "v3.0":
            data = self.root / self.info["data_path"].format(chunk_index=int(meta["data/chunk_index"]),
                                                            file_index=int(meta["data/file_index"]))
            table = pq.read_table(data, filters=[("episode_index", "=", idx)])
        else:
            chunk = idx // int(self.info.get("chunks_size", 1000))
            data = self.root / self.info["data_path"].format(episode_chunk=chunk, episode_index=idx)
            table = pq.read_table(data)
        if table.num_rows == 0:
            raise ValueError(f"episode {idx}: no rows in {str(data)!r}")
        order = np.argsort(np.asarray(table.column("frame_index").to_numpy()), kind="stable")
        table = table.take(order)
        frame_index = np.asarray(table.column("frame_index").to_numpy())
        T = table.num_rows
        length = int(meta.get("length", T))
        if not np.array_equal(frame_index, np.arange(T)) or T != length:
            raise ValueError(f"episode {idx}: {T} rows with frame_index {frame_index[:3].tolist()}... but the "
                             f"metadata says length {length}: partial episode")
        timestamps = np.asarray(table.column("timestamp").to_numpy(), dtype=np.float64)
        actions = self.pose.actions(_vectors(table, self.pose.key))
        videos: dict[str, np.ndarray] = {}
        for key in self.cameras:
            if self.version == "v3.0":
                path = self.root / self.info["video_path"].format(
                    video_key=key, chunk_index=int(meta[f"videos/{key}/chunk_index"]),
                    file_index=int(meta[f"videos/{key}/file_index"]))
                offset = float(meta[f"videos/{key}/from_timestamp"])
            else:
                chunk = idx // int(self.info.get("chunks_size", 1000))
                path = self.root / self.info["video_path"].format(episode_chunk=chunk, video_key=key,
                                                                  episode_index=idx)
                offset = 0.0
            videos[key.removeprefix("observation.images.")] = read_frames_at(path, offset + timestamps,
                                                                           self.tolerance_s)
        rig = self._rig(idx, meta)
        if rig.n_views != len(self.cameras):
            raise ValueError(f"episode {idx}: the rig has {rig.n_views} views but {len(self.cameras)} cameras "
                             f"are read ({self.cameras})")
        instruction = None
        tasks = meta.get("tasks")
        if tasks:
            instruction = str(tasks[0])
        elif "task_index" in table.column_names:
            instruction = self._tasks().get(int(table.column("task_index")[0].as_py()))
        info = {"fps": self.fps, "episode_index": idx, "source": str(self.root)}
        return Episode(name, actions, rig, videos, instruction, info)

    def _rig(self, idx: int, meta: dict[str, Any]) -> CameraRig:
        if isinstance(self.rig, CameraRig):
            return self.rig
        if callable(self.rig):
            rig = self.rig(idx, dict(meta))
            if not isinstance(rig, CameraRig):
                raise TypeError(f"the rig callable returned {type(rig).__name__} for episode {idx}, not a CameraRig")
            return rig
        text = meta.get(RIG_COLUMN)
        if not text:
            raise ValueError(f"episode {idx}: no cameras: LeRobot stores no calibration; pass rig= (a rig file, "
                             f"a CameraRig or a callable) or write the {RIG_COLUMN!r} episode metadata column")
        return rig_from_json(text)
