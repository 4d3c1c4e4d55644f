"""Small datasets generated in code, in every layout the readers take (tests, examples, benchmarks).

Each episode is :func:`actimg.default_scene`'s trajectory, shifted and turned a little per
episode (seeded), seen by :func:`actimg.scenes.default_rig` cameras; its "observation"
videos show the action images over a grey gradient, so that they have content and a
known geometry. No download, no robot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..cameras.sources import save_rig, to_droid
from ..geometry.camera import CameraRig
from ..scenes import default_rig, default_trajectory
from .avio import write_frames

__all__ = ["episode_data", "make_droid_dataset", "make_folder_dataset", "make_lerobot_dataset", "observation_frames"]


def episode_data(index: int, n_frames: int = 10, n_views: int = 2, height: int = 96, width: int = 128,
                 seed: int = 0) -> tuple[CameraRig, np.ndarray]:
    """``(rig, actions (T, 7))`` of synthetic episode ``index`` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    a = default_trajectory(n_frames)
    a[:, :3] += rng.uniform(-0.03, 0.03, 3)
    a[:, 5] += rng.uniform(-0.3, 0.3)
    return default_rig(n_views, height, width, fov_deg=float(rng.uniform(60.0, 70.0))), a


def observation_frames(actions: np.ndarray, rig: CameraRig) -> np.ndarray:
    """``(V, T, H, W, 3)`` uint8: the action images over a grey gradient."""
    from ..codec.encoder import encode

    img = encode(actions, rig).astype(np.uint16)
    H, W = rig.height, rig.width
    bg = (40 + 60 * np.linspace(0, 1, W)[None, :] + 40 * np.linspace(0, 1, H)[:, None]).astype(np.uint16)
    return np.minimum(img + bg[None, None, :, :, None], 255).astype(np.uint8)


def make_folder_dataset(root: str | os.PathLike[str], n_episodes: int = 3, n_frames: int = 10, n_views: int = 2,
                        height: int = 96, width: int = 128, videos: bool = True, seed: int = 0) -> list[str]:
    """Write ``root/episode_XXX/{actions.npy, rig.json, instruction.txt, video_<v>.mp4}``; the names."""
    root = Path(root)
    names = []
    for i in range(n_episodes):
        rig, a = episode_data(i, n_frames, n_views, height, width, seed)
        d = root / f"episode_{i:03d}"
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "actions.npy", a)
        save_rig(rig, d / "rig.json")
        (d / "instruction.txt").write_text(f"pick up block {i}\n", encoding="utf-8")
        if videos:
            for v, frames in enumerate(observation_frames(a, rig)):
                write_frames(d / f"video_{v}.mp4", frames, 10.0, "h264-obs")
        names.append(d.name)
    return names


def make_lerobot_dataset(root: str | os.PathLike[str], version: str = "v3.0", n_episodes: int = 3,
                         n_frames: int = 10, n_views: int = 2, height: int = 96, width: int = 128, fps: float = 10.0,
                         episodes_per_file: int = 2, seed: int = 0) -> CameraRig:
    """Write a LeRobot dataset (``"v3.0"``: ``episodes_per_file`` episodes per data and video
    file; ``"v2.1"``: one file each) with cameras ``observation.images.cam<v>`` and
    ``observation.state = [x, y, z, rx, ry, rz (extrinsic xyz), closedness]``
    (the gripper stored as closedness, 1 = closed, as many datasets do).

    All episodes share one rig (the one of episode 0, returned: LeRobot stores none).
    Episode ``i``'s lengths vary: ``n_frames + i % 3``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if version not in ("v3.0", "v2.1"):
        raise ValueError(f"version must be 'v3.0' or 'v2.1', got {version!r}")
    root = Path(root)
    rig, _ = episode_data(0, n_frames, n_views, height, width, seed)
    keys = [f"observation.images.cam{v}" for v in range(n_views)]
    eps = []
    for i in range(n_episodes):
        _, a = episode_data(i, n_frames + i % 3, n_views, height, width, seed)
        state = a.copy()
        state[:, 6] = 1.0 - a[:, 6]
        eps.append((a, state, observation_frames(a, rig), f"task {i % 2}"))
    tasks = {t: k for k, t in enumerate(dict.fromkeys(e[3] for e in eps))}
    features = {"observation.state": {"dtype": "float32", "shape": [7], "names": None},
                "action": {"dtype": "float32", "shape": [7], "names": None},
                **{k: {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"]}
                   for k in keys}}

    def table(rows: list[tuple[int, np.ndarray, np.ndarray, str]], start: int) -> pa.Table:
        cols: dict[str, list] = {k: [] for k in ("observation.state", "action", "timestamp", "frame_index",
                                                 "episode_index", "index", "task_index")}
        g = start
        for i, a, state, task in rows:
            for t in range(len(a)):
                cols["observation.state"].append(state[t].tolist())
                cols["action"].append(state[t].tolist())
                cols["timestamp"].append(t / fps)
                cols["frame_index"].append(t)
                cols["episode_index"].append(i)
                cols["index"].append(g)
                cols["task_index"].append(tasks[task])
                g += 1
        return pa.table({"observation.state": pa.array(cols["observation.state"], pa.list_(pa.float64(), 7)),
                         "action": pa.array(cols["action"], pa.list_(pa.float64(), 7)),
                         "timestamp": pa.array(cols["timestamp"], pa.float32()),
                         "frame_index": pa.array(cols["frame_index"], pa.int64()),
                         "episode_index": pa.array(cols["episode_index"], pa.int64()),
                         "index": pa.array(cols["index"], pa.int64()),
                         "task_index": pa.array(cols["task_index"], pa.int64())})

    (root / "meta").mkdir(parents=True, exist_ok=True)
    total = sum(len(e[0]) for e in eps)
    info = {"codebase_version": version, "robot_type": "synthetic", "fps": fps, "total_episodes": n_episodes,
            "total_frames": total, "total_tasks": len(tasks), "chunks_size": 1000, "features": features}
    if version == "v2.1":
        info["data_path"] = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        info["video_path"] = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        g = 0
        with open(root / "meta" / "episodes.jsonl", "w") as fe:
            for i, (a, state, obs, task) in enumerate(eps):
                p = root / info["data_path"].format(episode_chunk=0, episode_index=i)
                p.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table([(i, a, state, task)], g), p)
                g += len(a)
                for v, k in enumerate(keys):
                    vp = root / info["video_path"].format(episode_chunk=0, video_key=k, episode_index=i)
                    vp.parent.mkdir(parents=True, exist_ok=True)
                    write_frames(vp, obs[v], fps, "h264-obs")
                fe.write(json.dumps({"episode_index": i, "tasks": [task], "length": len(a)}) + "\n")
        with open(root / "meta" / "tasks.jsonl", "w") as ft:
            for t, k in tasks.items():
                ft.write(json.dumps({"task_index": k, "task": t}) + "\n")
    else:
        info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
        info["video_path"] = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
        ep_rows = []
        g = 0
        for f0 in range(0, n_episodes, episodes_per_file):
            fi = f0 // episodes_per_file
            group = list(range(f0, min(n_episodes, f0 + episodes_per_file)))
            p = root / info["data_path"].format(chunk_index=0, file_index=fi)
            p.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table([(i, eps[i][0], eps[i][1], eps[i][3]) for i in group], g), p)
            t0 = 0.0
            for v, k in enumerate(keys):
                vp = root / info["video_path"].format(video_key=k, chunk_index=0, file_index=fi)
                vp.parent.mkdir(parents=True, exist_ok=True)
                write_frames(vp, np.concatenate([eps[i][2][v] for i in group]), fps, "h264-obs")
            for i in group:
                T = len(eps[i][0])
                row = {"episode_index": i, "tasks": [eps[i][3]], "length": T, "data/chunk_index": 0,
                       "data/file_index": fi, "dataset_from_index": g, "dataset_to_index": g + T}
                for k in keys:
                    row.update({f"videos/{k}/chunk_index": 0, f"videos/{k}/file_index": fi,
                                f"videos/{k}/from_timestamp": t0, f"videos/{k}/to_timestamp": t0 + T / fps})
                ep_rows.append(row)
                g += T
                t0 += T / fps
        (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(ep_rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
        pq.write_table(pa.table({"task_index": list(tasks.values()), "task": list(tasks)}),
                       root / "meta" / "tasks.parquet")
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return rig


def make_droid_dataset(root: str | os.PathLike[str], n_episodes: int = 2, n_frames: int = 10, height: int = 96,
                       width: int = 128, videos: bool = True, seed: int = 0) -> list[str]:
    """Write raw-DROID-style episodes ``root/<date>/<time>/`` with ``trajectory.h5``,
    ``metadata_<id>.json`` and ``recordings/MP4/<serial>.mp4`` (2 external cameras, a
    wrist serial without video); the episode folders (relative to ``root``)."""
    import h5py

    root = Path(root)
    out = []
    for i in range(n_episodes):
        rig, a = episode_data(i, n_frames, 2, height, width, seed)
        d = root / "2026-01-01" / f"episode_{i:02d}"
        (d / "recordings" / "MP4").mkdir(parents=True, exist_ok=True)
        serials = [f"{2000 + 10 * i + v}" for v in range(2)]
        meta = {"ext1_cam_serial": serials[0], "ext2_cam_serial": serials[1], "wrist_cam_serial": "999",
                "current_task": f"put the cup {i} in the sink"}
        (d / f"metadata_{i}.json").write_text(json.dumps(meta), encoding="utf-8")
        ext = to_droid(rig)  # (V, 6)
        with h5py.File(d / "trajectory.h5", "w") as f:
            f["observation/robot_state/cartesian_position"] = a[:, :6]
            f["observation/robot_state/gripper_position"] = 1.0 - a[:, 6]
            f["action/cartesian_position"] = a[:, :6]
            f["action/gripper_position"] = 1.0 - a[:, 6]
            for v, s in enumerate(serials):
                f[f"observation/camera_extrinsics/{s}_left"] = np.repeat(ext[v][None], n_frames, axis=0)
                f[f"observation/camera_intrinsics/{s}_left"] = np.repeat(rig.intrinsics[v][None], n_frames, axis=0)
        if videos:
            for v, frames in enumerate(observation_frames(a, rig)):
                write_frames(d / "recordings" / "MP4" / f"{serials[v]}.mp4", frames, 15.0, "h264-obs")
        out.append(str(d.relative_to(root)))
    return out
