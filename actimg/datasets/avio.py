"""Video files through PyAV (FFmpeg): H.264 and FFV1 writing, whole-file and time-range reading.

Writers put the file in place only when it is complete (temporary name, then rename).
Containers are written with ``fflags=+bitexact`` (no random Matroska segment id, no
version strings), so FFV1 files of the same frames have the same bytes in any process
(same FFmpeg build). libx264 output was seen to differ in a few bytes now and then under
heavy CPU contention on the test machine (decoded frames agree within ~1 grey level), so
H.264 files are compared by their frames, not their bytes. Encoders run single-threaded:
the converter runs one episode per process, so the processes are the parallelism (within an
episode the converter overlaps decoding and encoding in two threads, one encoder at a time).
Decoders run single-threaded too (the frames are the same with any thread count).

:func:`iter_frames` and :func:`write_frame_iter` are the streaming forms of
:func:`read_frames` and :func:`write_frames` (same frames, same bytes: ``write_frames`` is
``write_frame_iter`` over the array's frames).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._deps import require

__all__ = ["ACTION_CODECS", "OBS_CRF", "iter_frames", "read_frames", "read_frames_at", "video_size", "write_frame_iter",
           "write_frames"]

# one thread, no sliced threads, one lookahead thread: the bytes must not depend on the load
_X264_SERIAL = "threads=1:sliced-threads=0:lookahead-threads=1"
#: action-video codecs: name -> (file extension, PyAV encoder, pixel format, options)
ACTION_CODECS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "ffv1": (".mkv", "ffv1", "bgr0", {"threads": "1"}),                # lossless
    "h264": (".mp4", "libx264", "yuv444p",
             {"crf": "12", "preset": "medium", "threads": "1", "x264-params": _X264_SERIAL}),
}
#: constant-rate factor of observation videos (H.264, yuv420p)
OBS_CRF = 20
_OBS = ("libx264", "yuv420p", {"crf": str(OBS_CRF), "preset": "medium", "threads": "1", "x264-params": _X264_SERIAL})


def temp_path(path: Path) -> Path:
    """The temporary name of ``path`` while it is written (same folder and extension)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _codec_settings(codec: str) -> tuple[str, str, dict[str, str]]:
    if codec == "h264-obs":
        return _OBS
    if codec in ACTION_CODECS:
        _, enc, pix, opts = ACTION_CODECS[codec]
        return enc, pix, opts
    raise ValueError(f"codec must be one of {sorted(ACTION_CODECS) + ['h264-obs']}, got {codec!r}")


def write_frames(path: str | os.PathLike[str], frames: np.ndarray, fps: float, codec: str = "h264-obs") -> None:
    """Write ``(T, H, W, 3)`` uint8 RGB frames.

    ``codec``: ``"ffv1"`` (lossless, BGR0 planes), ``"h264"`` (libx264 4:4:4, CRF 12: the
    action-video setting) or ``"h264-obs"`` (libx264 4:2:0, CRF 20: observation videos).
    Even sizes are required for the 4:2:0 setting. The container follows the extension.
    """
    _codec_settings(codec)
    a = np.ascontiguousarray(frames)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3 or a.shape[0] < 1:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 with T >= 1, got {a.shape} {a.dtype}")
    write_frame_iter(path, iter(a), fps, codec)


def write_frame_iter(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float,
                     codec: str = "h264-obs") -> int:
    """Write ``(H, W, 3)`` uint8 RGB frames as they come (a generator, a queue): returns ``T``.

    Same codecs, settings and bytes as :func:`write_frames`. The size is the first frame's;
    every frame must have it. An exception raised by ``frames`` propagates, and nothing is
    left behind (the file is written under a temporary name and renamed when complete).
    """
    av = require("av")
    from fractions import Fraction

    path = Path(path)
    enc, pix, opts = _codec_settings(codec)
    fmt = _container(path)
    tmp = temp_path(path)
    it = iter(frames)
    T = 0
    try:
        first = next(it, None)
        if first is None:
            raise ValueError("frames must hold at least one frame, got none")
        shape = _frame_shape(first)
        H, W, _ = shape
        if pix == "yuv420p" and (H % 2 or W % 2):
            raise ValueError(f"H.264 4:2:0 needs an even width and height, got {H}x{W}")
        rate = Fraction(fps).limit_denominator(1001)
        # bitexact: no random Matroska segment id, no muxer version strings: same frames, same bytes
        with av.open(str(tmp), "w", format=fmt, options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream(enc, rate=rate, options=dict(opts))
            stream.width, stream.height, stream.pix_fmt = W, H, pix
            stream.thread_count = 1
            f = first
            while f is not None:
                if _frame_shape(f) != shape:
                    raise ValueError(f"frame {T} is {np.shape(f)} but the first frame is {shape}")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
                frame.pts = T
                T += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
                f = next(it, None)
            for packet in stream.encode():
                out.mux(packet)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return T


def _frame_shape(f: np.ndarray) -> tuple[int, int, int]:
    if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[-1] != 3:
        raise ValueError(f"frames must be (H, W, 3) uint8, got {getattr(f, 'shape', type(f).__name__)} "
                         f"{getattr(f, 'dtype', '')}")
    return f.shape  # type: ignore[return-value]


def _container(path: Path) -> str:
    ext = path.suffix.lower()
    return {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}.get(ext) or _bad_ext(path)


def _bad_ext(path: Path) -> str:
    raise ValueError(f"video files must be .mp4, .mkv or .mov, got {path.name!r}")


def _rgb(frame: Any) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def read_frames(path: str | os.PathLike[str]) -> np.ndarray:
    """Every frame of a video file as ``(T, H, W, 3)`` uint8 RGB.

    Raises:
        FileNotFoundError: no such file. ValueError: unreadable, or no frames.
    """
    return np.stack(list(iter_frames(path)))


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """The frames of a video file one by one, ``(H, W, 3)`` uint8 RGB (as :func:`read_frames`).

    Raises (when iterated):
        FileNotFoundError: no such file. ValueError: unreadable, or no frames.
    """
    av = require("av")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such video file: {str(p)!r}")
    n = 0
    try:
        with av.open(str(p)) as src:
            stream = src.streams.video[0]
            # one decoding thread, like the encoders (the processes are the parallelism): FFmpeg's
            # default slice threads wait on each other, which costs wall time on a busy machine
            stream.codec_context.thread_count = 1
            for f in src.decode(stream):
                n += 1
                yield _rgb(f)
    except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
        raise ValueError(f"{str(p)!r} is not a readable video: {exc}") from None
    if not n:
        raise ValueError(f"{str(p)!r} has no video frames")


def read_frames_at(path: str | os.PathLike[str], timestamps: Sequence[float], tolerance: float) -> np.ndarray:
    """The frames shown at ``timestamps`` (seconds, increasing) of a video file: ``(T, H, W, 3)``.

    Seeks to the first timestamp and decodes forward; each timestamp takes the frame whose
    presentation time is within ``tolerance`` seconds of it (LeRobot's rule).

    Raises:
        ValueError: a timestamp has no frame within ``tolerance`` (a partial or shifted video).
    """
    av = require("av")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such video file: {str(p)!r}")
    ts = np.asarray(timestamps, dtype=np.float64)
    out: list[np.ndarray | None] = [None] * len(ts)
    try:
        with av.open(str(p)) as src:
            stream = src.streams.video[0]
            stream.codec_context.thread_count = 1  # as iter_frames
            tb = float(stream.time_base)
            if len(ts) and ts[0] > 0:
                src.seek(max(0, int((ts[0] - 1.0) / tb)), stream=stream, backward=True, any_frame=False)
            i = 0
            for frame in src.decode(stream):
                if frame.pts is None:
                    continue
                t = frame.pts * tb
                while i < len(ts) and ts[i] < t - tolerance:
                    i += 1  # this timestamp was skipped: no frame matches it
                if i >= len(ts):
                    break
                if abs(t - ts[i]) <= tolerance:
                    out[i] = _rgb(frame)
                    i += 1
                    if i >= len(ts):
                        break
    except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
        raise ValueError(f"{str(p)!r} is not a readable video: {exc}") from None
    missing = [k for k, f in enumerate(out) if f is None]
    if missing:
        raise ValueError(f"{str(p)!r} has no frame within {tolerance:.4g} s of {len(missing)} of {len(ts)} "
                         f"timestamps (first: {ts[missing[0]]:.4f} s): partial or misaligned video")
    return np.stack(out)  # type: ignore[arg-type]


def video_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(H, W)`` of the first video stream."""
    av = require("av")
    with av.open(str(path)) as src:
        s = src.streams.video[0]
        return int(s.codec_context.height), int(s.codec_context.width)
