"""``convert``: a robot dataset in, action-image training data out.

Restartable and idempotent: every file is written under a temporary name and renamed,
and an episode is done only when its completion marker (``DST/.actimg/done/<episode>.json``,
its manifest row) exists, written after all its files. A rerun skips finished episodes
(rewriting none of their files), converts the rest, and rebuilds ``DST/manifest.parquet``
from the markers (left untouched when nothing changed).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ._deps import require
from .droid import DroidReader
from .engines import ENGINES, Job, run_local, run_ray
from .episode_io import ConvertOptions, done_path, staging_path, video_file
from .files import write_if_changed, write_json
from .folder import FolderReader
from .lerobot import RIG_COLUMN, LeRobotReader
from .progress import Progress, summary_table
from .quality import Thresholds
from .readers import Reader

__all__ = ["MANIFEST_COLUMNS", "ConvertResult", "READERS", "convert", "make_reader", "read_manifest"]

_log = logging.getLogger("actimg.datasets")
READERS = {"folder": FolderReader, "lerobot": LeRobotReader, "droid": DroidReader}
#: the manifest's columns: the issue's seven first, then the quality checks and the time split
MANIFEST_COLUMNS = ("episode", "status", "frames", "views", "quality", "error", "path", "flags", "outside",
                    "jump_m", "jump_deg", "triangulation_deg", "decode_mm", "read_s", "render_s", "encode_s",
                    "quality_s", "instruction")


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` did.

    Attributes:
        rows: the manifest rows (every source episode finished so far, source order).
        converted: episodes converted by this call; skipped: finished by an earlier call.
        wall_s: seconds this call took. manifest: ``DST/manifest.parquet``.
        summary: the summary table (markdown) printed at the end.
    """

    rows: list[dict[str, Any]]
    converted: int
    skipped: int
    wall_s: float
    manifest: str
    summary: str

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)


def make_reader(src: str | os.PathLike[str], reader: str | Reader = "folder", **kwargs: Any) -> Reader:
    """A reader for ``src``: ``reader`` is a :class:`Reader` or a name in :data:`READERS`."""
    if isinstance(reader, Reader):
        if kwargs:
            raise TypeError(f"reader options {sorted(kwargs)} given with a reader object")
        return reader
    if reader not in READERS:
        raise ValueError(f"reader must be one of {sorted(READERS)} or a Reader, got {reader!r}")
    return READERS[reader](src, **kwargs)


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], reader: str | Reader = "folder", *,
            size: tuple[int, int] | None = (256, 256), engine: str = "local", workers: int = 1,
            action_codec: str = "ffv1", format: str = "folder", thresholds: Thresholds | None = None,
            on_quality: str = "flag", scaling: str = "center", observation_videos: bool = True,
            episodes: Sequence[str] | None = None, retry_failed: bool = False, ray_address: str | None = None,
            ray_resources: dict[str, Any] | None = None, ray_runtime_env: dict[str, Any] | None = None,
            progress: TextIO | None | bool = True, reader_options: dict[str, Any] | None = None,
            on_row: Callable[[dict[str, Any]], None] | None = None, mp_context: str | None = None) -> ConvertResult:
    """Convert a robot dataset into action-image training data.

    Output (``format="folder"``), per source episode ``DST/<episode>/``: ``actions.npy``
    ``(T, 7)``, ``rig.json`` (the rig after the crop/resize), ``instruction.txt``,
    ``video_<v>.mp4`` (observations, H.264) when the source has videos, ``action_<v>.mkv``
    (FFV1, lossless) or ``.mp4`` (``action_codec="h264"``). ``format="lerobot"`` writes a
    LeRobot v3.0 dataset instead: action images as video keys
    ``observation.images.<camera>_action``, the rig per episode in the episode metadata
    column ``actimg.rig``. Either way ``DST/manifest.parquet`` has one row per source
    episode (:data:`MANIFEST_COLUMNS`; ``status`` is ``ok``, ``failed`` or ``filtered``).

    Args:
        src: the source dataset. reader: ``"folder"``, ``"lerobot"``, ``"droid"`` or a
            :class:`Reader` (``reader_options`` go to the named reader's constructor, e.g.
            ``{"rig": "rig.json", "pose": PoseColumns(...)}`` for LeRobot).
        size: ``(H, W)`` of the output (even numbers), or None to keep the source size.
            Frames are centre-cropped to the aspect, then resized; the rig likewise
            (:func:`actimg.datasets.frames.crop_resize_rig`, ``scaling`` its rule).
        engine: ``"local"`` (process pool) or ``"ray"``. workers: processes (local) or
            CPUs of a local Ray instance. ray_address / ray_resources / ray_runtime_env:
            see :func:`actimg.datasets.engines.run_ray`.
        action_codec: ``"ffv1"`` (lossless .mkv) or ``"h264"`` (.mp4, 4:4:4, CRF 12).
        thresholds: quality limits (:class:`Thresholds`); on_quality: ``"flag"`` (write the
            episode, status ``filtered``) or ``"drop"`` (write nothing, status ``filtered``).
        episodes: convert only these source episodes (names), e.g. a shard.
        retry_failed: convert again episodes that failed in an earlier run.
        progress: True (stderr), a stream, or False/None (silent).
        on_row: called in this process with each episode's manifest row as it finishes.
        mp_context: start method of the local pool (default ``"fork"`` on Linux, see
            :func:`actimg.datasets.engines.run_local`).

    Returns:
        :class:`ConvertResult`.
    """
    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    options = ConvertOptions(size=tuple(size) if size is not None else None, action_codec=action_codec,
                             format=format, scaling=scaling, thresholds=thresholds or Thresholds(),
                             on_quality=on_quality, observation_videos=observation_videos)
    require("av")
    if format == "lerobot":
        require("pyarrow")
    rd = make_reader(src, reader, **(reader_options or {}))
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    settings = _settings_doc(options, rd)
    _check_settings(dst, settings)
    names = rd.names()
    if len(set(names)) != len(names):
        raise ValueError("the reader lists an episode name twice")
    positions = {n: i for i, n in enumerate(names)}
    if episodes is not None:
        unknown = [e for e in episodes if e not in positions]
        if unknown:
            raise ValueError(f"episodes not in the source: {unknown[:5]}")
        names = [n for n in names if n in set(episodes)]
    todo, skipped = [], 0
    for n in names:
        marker = done_path(dst, n)
        if marker.exists():
            if retry_failed and json.loads(marker.read_text())["status"] == "failed":
                marker.unlink()
            else:
                skipped += 1
                continue
        todo.append((n, positions[n]))
    stream = sys.stderr if progress is True else (progress or None)
    bar = Progress(len(todo), skipped, stream)
    job = Job(rd, str(dst), options)
    if engine == "local":
        results = run_local(job, todo, workers, mp_context)
    else:
        results = run_ray(job, todo, workers, address=ray_address, resources=ray_resources,
                          runtime_env=ray_runtime_env)
    last_manifest = time.perf_counter()
    finished = {r["episode"]: r for r in _rows(dst, names)}  # rows of earlier runs
    for row in results:
        finished[row["episode"]] = row
        if row["status"] == "failed":
            _log.warning("episode %s failed: %s", row["episode"], row["error"])
        elif row["status"] == "filtered":
            _log.info("episode %s filtered: %s", row["episode"], row["flags"])
        bar.update(row)
        if on_row is not None:
            on_row(row)
        if time.perf_counter() - last_manifest > 30.0:  # the manifest follows a long run
            _write_manifest(dst, [finished[n] for n in names if n in finished])
            last_manifest = time.perf_counter()
    rows = [finished[n] for n in names if n in finished]
    if format == "lerobot":
        rows = _assemble_lerobot(dst, rows, positions)
    manifest = _write_manifest(dst, rows)
    wall = time.perf_counter() - t0
    this_run = [r for r in rows if r["episode"] in {n for n, _ in todo}]
    summary = summary_table(this_run, wall, skipped)
    if stream is not None:
        stream.write(summary + "\n")
        stream.flush()
    return ConvertResult(rows, len(todo), skipped, wall, str(manifest), summary)


def _settings_doc(options: ConvertOptions, reader: Reader) -> dict[str, Any]:
    return {"size": list(options.size) if options.size else None, "action_codec": options.action_codec,
            "format": options.format, "scaling": options.scaling, "on_quality": options.on_quality,
            "observation_videos": options.observation_videos,
            "thresholds": {k: getattr(options.thresholds, k) for k in options.thresholds.__dataclass_fields__}}


def _check_settings(dst: Path, settings: dict[str, Any]) -> None:
    """A rerun must use the settings of the run it continues (else finished episodes would differ)."""
    path = dst / ".actimg" / "settings.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(settings)):
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != json.loads(json.dumps(settings)).get(k))
            raise ValueError(f"{str(dst)!r} holds a conversion with other settings ({', '.join(diff)}): "
                             "use a new destination, or the same settings to continue it")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, settings)


def _rows(dst: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for n in names:
        p = done_path(dst, n)
        if p.exists():
            rows.append(json.loads(p.read_text()))
    return rows


def _manifest_bytes(rows: list[dict[str, Any]]) -> bytes:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    import io

    types = {"episode": pa.string(), "status": pa.string(), "frames": pa.int64(), "views": pa.int64(),
             "error": pa.string(), "path": pa.string(), "flags": pa.string(), "instruction": pa.string()}
    cols = {c: pa.array([r.get(c) for r in rows], type=types.get(c, pa.float64())) for c in MANIFEST_COLUMNS}
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


def _write_manifest(dst: Path, rows: list[dict[str, Any]]) -> Path:
    path = dst / "manifest.parquet"
    write_if_changed(path, _manifest_bytes(rows))
    return path


def read_manifest(dst: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of ``DST/manifest.parquet``."""
    return require("pyarrow.parquet").read_table(Path(dst) / "manifest.parquet").to_pylist()


# ------------------------------------------------------------------ LeRobot v3.0 output
def _assemble_lerobot(dst: Path, rows: list[dict[str, Any]], positions: dict[str, int]) -> list[dict[str, Any]]:
    """Write the parquet tables and metadata of the LeRobot output from the finished episodes.

    Episodes get contiguous indices in source order; each episode's data and videos are
    one file (``file_index`` = its source position). Files whose bytes would not change
    are left untouched.
    """
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    import io

    kept = [r for r in rows if r["status"] != "failed" and r["path"]]
    staged = {r["episode"]: np.load(staging_path(dst, r["episode"])) for r in kept}
    cameras: list[str] | None = None
    has_obs = False
    fps = 10.0
    out_rows = list(rows)
    for r in kept:
        st = staged[r["episode"]]
        cams = [str(c) for c in st["cameras"]]
        if cameras is None:
            cameras, has_obs, fps = cams, bool(st["observations"]), float(st["fps"])
        elif cams != cameras or bool(st["observations"]) != has_obs or float(st["fps"]) != fps:
            i = out_rows.index(r)
            out_rows[i] = dict(r, status="failed", path="", error=f"cameras {cams} / fps {float(st['fps'])} differ "
                               f"from the dataset's {cameras} / {fps}: one LeRobot dataset needs the same keys")
    kept = [r for r in out_rows if r["status"] != "failed" and r["path"]]
    tasks: dict[str, int] = {}
    ep_rows: list[dict[str, Any]] = []
    total = 0
    keys = ([f"observation.images.{c}" for c in cameras] if has_obs else []) + \
        [f"observation.images.{c}_action" for c in cameras or []]
    H = W = None
    for k, r in enumerate(kept):
        st = staged[r["episode"]]
        pos = positions[r["episode"]]
        actions = st["actions"]
        T = len(actions)
        instr = str(st["instruction"]) if bool(st["has_instruction"]) else ""
        ti = tasks.setdefault(instr, len(tasks))
        from .lerobot import rig_from_json

        rig = rig_from_json(str(st["rig"]))
        H, W = rig.height, rig.width
        vec = pa.FixedSizeListArray.from_arrays(pa.array(actions.reshape(-1), pa.float64()), 7)
        table = pa.table({
            "observation.state": vec, "action": vec,
            "timestamp": pa.array(np.arange(T, dtype=np.float64) / fps, pa.float32()),
            "frame_index": pa.array(np.arange(T), pa.int64()),
            "episode_index": pa.array(np.full(T, k), pa.int64()),
            "index": pa.array(total + np.arange(T), pa.int64()),
            "task_index": pa.array(np.full(T, ti), pa.int64())})
        data_path = dst / f"data/chunk-{pos // 1000:03d}/file-{pos % 1000:03d}.parquet"
        data_path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        write_if_changed(data_path, buf.getvalue())
        er: dict[str, Any] = {"episode_index": k, "tasks": [instr], "length": T, "data/chunk_index": pos // 1000,
                              "data/file_index": pos % 1000, "dataset_from_index": total,
                              "dataset_to_index": total + T}
        for key in keys:
            er[f"videos/{key}/chunk_index"] = pos // 1000
            er[f"videos/{key}/file_index"] = pos % 1000
            er[f"videos/{key}/from_timestamp"] = 0.0
            er[f"videos/{key}/to_timestamp"] = T / fps
        er[RIG_COLUMN] = str(st["rig"])
        er["actimg.episode"] = r["episode"]
        er["actimg.quality"] = float(r["quality"])
        ep_rows.append(er)
        total += T
    meta = dst / "meta"
    (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ep_rows) if ep_rows else pa.table({"episode_index": pa.array([], pa.int64())}),
                   buf)
    write_if_changed(meta / "episodes" / "chunk-000" / "file-000.parquet", buf.getvalue())
    buf = io.BytesIO()
    pq.write_table(pa.table({"task_index": pa.array(list(tasks.values()), pa.int64()),
                             "task": pa.array(list(tasks), pa.string())}), buf)
    write_if_changed(meta / "tasks.parquet", buf.getvalue())
    video_feature = {"dtype": "video", "shape": [H, W, 3], "names": ["height", "width", "channels"]}
    features: dict[str, Any] = {
        "observation.state": {"dtype": "float64", "shape": [7],
                              "names": ["x", "y", "z", "rx", "ry", "rz", "openness"]},
        "action": {"dtype": "float64", "shape": [7], "names": ["x", "y", "z", "rx", "ry", "rz", "openness"]},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None}}
    for key in keys:
        features[key] = dict(video_feature, info={"video.fps": fps, "actimg.action_images": key.endswith("_action")})
    info = {"codebase_version": "v3.0", "robot_type": None, "total_episodes": len(ep_rows), "total_frames": total,
            "total_tasks": len(tasks), "chunks_size": 1000, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 500, "fps": fps, "splits": {"train": f"0:{len(ep_rows)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": features,
            "actimg": {"pose": "observation.state = action = [x, y, z, rx, ry, rz (extrinsic xyz, rad), openness]",
                       "rig_column": RIG_COLUMN}}
    write_if_changed(meta / "info.json", (json.dumps(info, indent=2) + "\n").encode())
    assert video_file(0, "k")  # the path rule the workers used
    return out_rows
