"""Converting one episode: read, crop/resize, render action images, score, write, mark done.

:func:`convert_episode` is what every engine runs per episode; it never raises (a failure
becomes a ``failed`` row) and it writes the episode's completion marker last, so an
episode counts as done only when all its files are in place. Within an episode, the
observation videos are decoded and resized in a second thread (:class:`.feed.ObservationFeed`)
while this one renders the action images, scores them and encodes the videos one after
another; the time split in the row (``read_s``, ``render_s``, ``encode_s``, ``quality_s``)
counts each part's own work, so the parts overlap and may add up to more than the wall time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cameras.sources import _encode as _encode_rig
from ..cameras.sources import _json_value
from ..codec.spec import ActionImageSpec
from ..geometry.camera import CameraRig
from .avio import ACTION_CODECS, read_frames, write_frame_iter, write_frames
from .episode import Episode
from .feed import ObservationFeed
from .files import npy_bytes, write_bytes, write_json, write_text
from .frames import crop_resize_rig
from .quality import Thresholds, score_episode
from .readers import Reader, error_line

__all__ = ["ConvertOptions", "STATE_DIR", "convert_episode", "done_path", "rig_json", "staging_path",
           "video_file"]

STATE_DIR = ".actimg"  # DST/.actimg/done/<episode>.json (markers), DST/.actimg/staging/ (lerobot)
FORMATS = ("folder", "lerobot")
ON_QUALITY = ("flag", "drop")


@dataclass(frozen=True)
class ConvertOptions:
    """How episodes are converted (see :func:`actimg.datasets.convert`)."""

    size: tuple[int, int] | None = (256, 256)
    action_codec: str = "ffv1"
    format: str = "folder"
    scaling: str = "center"
    thresholds: Thresholds = field(default_factory=Thresholds)
    on_quality: str = "flag"
    observation_videos: bool = True
    spec: ActionImageSpec | None = None

    def __post_init__(self) -> None:
        if self.size is not None:
            if (not isinstance(self.size, tuple) or len(self.size) != 2
                    or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x > 0
                               for x in self.size)):
                raise ValueError(f"size must be (height, width) in pixels, got {self.size!r}")
            if self.size[0] % 2 or self.size[1] % 2:
                raise ValueError(f"size must be even in both directions (H.264 4:2:0 observation videos), "
                                 f"got {self.size[0]}x{self.size[1]}")
        if self.action_codec not in ACTION_CODECS:
            raise ValueError(f"action_codec must be one of {sorted(ACTION_CODECS)}, got {self.action_codec!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.on_quality not in ON_QUALITY:
            raise ValueError(f"on_quality must be one of {ON_QUALITY}, got {self.on_quality!r}")
        if not isinstance(self.thresholds, Thresholds):
            raise TypeError("thresholds must be an actimg.datasets.Thresholds")


def done_path(dst: Path, name: str) -> Path:
    """The completion marker of episode ``name`` (its manifest row, JSON)."""
    return dst / STATE_DIR / "done" / f"{name}.json"


def staging_path(dst: Path, name: str) -> Path:
    """Per-episode tables of the LeRobot output, assembled into parquet at the end."""
    return dst / STATE_DIR / "staging" / f"{name}.npz"


def video_file(position: int, key: str) -> str:
    """LeRobot v3.0 video path of the episode at source ``position`` (one episode per file)."""
    return f"videos/{key}/chunk-{position // 1000:03d}/file-{position % 1000:03d}.mp4"


def rig_json(rig: CameraRig) -> str:
    """The text of the rig file :func:`actimg.save_rig` writes for ``rig`` (tested equal)."""
    return _json_value(_encode_rig(rig, "opencv", "cam2world", "integer"), 0) + "\n"


def _row(name: str, status: str, **kw: Any) -> dict[str, Any]:
    row = {"episode": name, "status": status, "frames": 0, "views": 0, "quality": float("nan"), "error": "",
           "path": "", "flags": "", "outside": float("nan"), "jump_m": float("nan"), "jump_deg": float("nan"),
           "triangulation_deg": float("nan"), "decode_mm": float("nan"), "read_s": 0.0, "render_s": 0.0,
           "encode_s": 0.0, "quality_s": 0.0, "instruction": ""}
    row.update(kw)
    return row


def _clean_partials(folder: Path) -> None:
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".") and ".partial" in p.name:
                p.unlink()


def convert_episode(reader: Reader, name: str, position: int, dst: str | os.PathLike[str],
                    options: ConvertOptions) -> dict[str, Any]:
    """Convert source episode ``name`` (at ``position`` in the source order) into ``dst``.

    Returns the manifest row (also written as the episode's completion marker). Never
    raises for a bad episode: the row has ``status="failed"`` and the error.
    """
    from ..codec.encoder import encode

    dst = Path(dst)
    t0 = time.perf_counter()
    times = {"read_s": 0.0, "render_s": 0.0, "encode_s": 0.0, "quality_s": 0.0}
    feed = None
    try:
        ep = reader.load(name)
        t1 = time.perf_counter()
        times["read_s"] = t1 - t0
        # the observation videos are decoded and resized in a thread while this one renders,
        # scores and writes (see feed.py); the files are the same as written from arrays
        if options.observation_videos and ep.videos:
            feed = ObservationFeed(ep, options.size)
        rig = crop_resize_rig(ep.rig, *options.size, scaling=options.scaling) if options.size else ep.rig
        images = encode(ep.actions, rig, spec=options.spec) if options.spec else encode(ep.actions, rig)
        times["render_s"] = time.perf_counter() - t1
        row = _write(ep, rig, feed, images, position, dst, options, times)
    except Exception as exc:  # noqa: BLE001 - a bad episode is reported, never raised
        row = _row(name, "failed", error=error_line(exc), **times)
        if options.format == "folder" and (dst / name).is_dir():  # no half-written episode stays behind
            import shutil

            shutil.rmtree(dst / name, ignore_errors=True)
    finally:
        if feed is not None:
            feed.close()
    if feed is not None:
        row["read_s"] += feed.busy_s  # the feed thread's decoding and resizing
    marker = done_path(dst, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_json(marker, row)
    return row


def _write(ep: Episode, rig: CameraRig, feed: ObservationFeed | None, images: np.ndarray, position: int, dst: Path,
           options: ConvertOptions, times: dict[str, float]) -> dict[str, Any]:
    ext = ACTION_CODECS[options.action_codec][0]
    views = ep.view_names
    lossless = options.action_codec == "ffv1"
    fps = ep.fps
    # exact images: with on_quality="drop" score first (a dropped episode writes nothing);
    # with "flag" the writes do not depend on the score, so it is computed while they run
    score = None
    scoring = None
    if lossless:
        scoring = _Background(lambda: score_episode(ep.actions, rig, images, options.thresholds))
        if options.on_quality == "drop":
            score = scoring.result(times)
    drop = score is not None and bool(score.flags) and options.on_quality == "drop"
    if options.format == "folder":
        folder = dst / ep.name
        rel = ep.name
        action_paths = [folder / f"action_{v}{ext}" for v in range(len(views))]
    else:
        folder = dst
        rel = f"data/chunk-{position // 1000:03d}/file-{position % 1000:03d}.parquet"
        action_paths = [dst / video_file(position, f"observation.images.{c}_action") for c in views]
    n_obs = len(views) if feed is not None else 0
    obs_paths: list[Path] = []
    if drop and feed is not None:
        for view in views:  # written or not, a partial or unreadable video fails the episode
            feed.check(view)
    if not drop:
        t = time.perf_counter()
        wait0 = feed.wait_s if feed is not None else 0.0
        score_wait0 = scoring.waited_s if scoring is not None else 0.0
        if options.format == "folder":
            folder.mkdir(parents=True, exist_ok=True)
            _clean_partials(folder)
            write_bytes(folder / "actions.npy", npy_bytes(ep.actions))
            rt = rig_json(rig)
            write_text(folder / "rig.json", rt)
            if ep.instruction is not None:
                write_text(folder / "instruction.txt", ep.instruction + "\n")
            obs_paths = [folder / f"video_{v}.mp4" for v in range(n_obs)]
        else:
            obs_paths = [dst / video_file(position, f"observation.images.{c}") for c in views[:n_obs]]
        try:
            # action videos first: meanwhile the feed decodes the observation videos ahead
            for v, p in enumerate(action_paths):
                p.parent.mkdir(parents=True, exist_ok=True)
                write_frames(p, images[v], fps, options.action_codec)
            for p, view in zip(obs_paths, views):
                p.parent.mkdir(parents=True, exist_ok=True)
                write_frame_iter(p, feed.frames(view), fps, "h264-obs")  # type: ignore[union-attr]
            if score is None and scoring is not None:
                score = scoring.result(times)
        except BaseException:
            if scoring is not None:
                scoring.join()
            if options.format == "lerobot":  # no file of a failed episode stays behind
                for p in obs_paths + action_paths:
                    p.unlink(missing_ok=True)
            raise
        if options.format == "lerobot":
            st = staging_path(dst, ep.name)
            st.parent.mkdir(parents=True, exist_ok=True)
            import io

            buf = io.BytesIO()
            np.savez(buf, actions=ep.actions, rig=np.array(rig_json(rig)), position=np.array(position),
                     instruction=np.array(ep.instruction if ep.instruction is not None else ""),
                     has_instruction=np.array(ep.instruction is not None), fps=np.array(fps),
                     cameras=np.array(list(views)), observations=np.array(n_obs > 0))
            write_bytes(st, buf.getvalue())
        # writing, less the time spent waiting for observation frames (counted in read_s) and for
        # the quality check (counted in quality_s)
        times["encode_s"] += (time.perf_counter() - t - ((feed.wait_s - wait0) if feed is not None else 0.0)
                              - ((scoring.waited_s - score_wait0) if scoring is not None else 0.0))
    if score is None:  # lossy action codec: score what a reader of the files gets
        t = time.perf_counter()
        stored = np.stack([read_frames(p) for p in action_paths])
        score = score_episode(ep.actions, rig, stored, options.thresholds)
        times["quality_s"] += time.perf_counter() - t
        if score.flags and options.on_quality == "drop":
            drop = True  # written only to be scored: remove again
            if options.format == "folder":
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
            else:
                for p in action_paths + obs_paths + [staging_path(dst, ep.name)]:
                    p.unlink(missing_ok=True)
    status = "filtered" if score.flags else "ok"
    return _row(ep.name, status, frames=ep.n_frames, views=len(views), quality=score.quality,
                path="" if drop else rel, instruction=ep.instruction or "",
                **{k: v for k, v in score.as_dict().items() if k != "quality"}, **times)


class _Background:
    """``fn()`` in a thread (numba kernels and FFmpeg release the GIL): :meth:`result` joins it,
    adds its own run time to ``times["quality_s"]`` and returns its value or raises its error."""

    def __init__(self, fn: Any) -> None:
        import threading

        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self.run_s = 0.0
        self.waited_s = 0.0
        self._thread = threading.Thread(target=self._run, name="actimg-quality", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t = time.perf_counter()
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - raised by result()
            self._error = exc
        self.run_s = time.perf_counter() - t

    def join(self) -> None:
        self._thread.join()

    def result(self, times: dict[str, float]) -> Any:
        t = time.perf_counter()
        self._thread.join()
        self.waited_s += time.perf_counter() - t
        times["quality_s"] += self.run_s
        if self._error is not None:
            raise self._error
        return self._value
