"""Action (and observation) videos on disk: write, read, PNG sequences.

Frames are always RGB ``(T, H, W, 3)`` uint8 in memory; the BGR order of OpenCV is
handled here. Three quality levels, each with one codec (chosen because it works with
the FFmpeg that ``opencv-python-headless`` bundles; measured on 256x256 action images of
the default scene, 3 views x 41 frames, decoded with :func:`actimg.decode`):

============  ====================================  =================  ==========================
quality       codec / container                     pixel error        decode error (median)
============  ====================================  =================  ==========================
``lossless``  FFV1 (BGR0, bit exact) in .mkv / .avi  0                  same as the array
``high``      Motion-JPEG, 4:4:4 chroma, JPEG        max 4 / 255,       ~0.02 mm, ~0.01 deg
              quality 100, in .avi (written here,    mean 0.05
              not by OpenCV's 4:2:0 writer)
``standard``  MPEG-4 Part 2 (``mp4v``), 4:2:0        max ~80 / 255      ~0.4 mm, ~0.4 deg
              chroma, in .mp4 / .mov / .avi / .mkv   at the closed-
                                                     gripper step,
                                                     mean 0.6
============  ====================================  =================  ==========================

``quality=None`` picks by extension: ``.mkv``/``.avi`` lossless, ``.mp4``/``.mov``
standard. H.264 (``avc1``) is *not* used: the wheels of ``opencv-python-headless`` ship
without an H.264 encoder. OpenCV's writers silently crop odd widths and heights to even
ones, so ``lossless`` and ``standard`` refuse odd sizes (``high`` and PNG sequences take
any size). Action images are smooth: FFV1 is also the smallest of the three for them;
``high`` pays off for camera footage.

Every writer returns a :class:`VideoInfo` naming the codec used.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

__all__ = ["QUALITIES", "VideoInfo", "read_png_sequence", "read_video", "write_png_sequence", "write_video"]

PathLike = Union[str, "os.PathLike[str]"]

#: quality levels of :func:`write_video`, best first
QUALITIES = ("lossless", "high", "standard")

# extension -> quality when ``quality`` is None
_DEFAULT_QUALITY = {".mkv": "lossless", ".avi": "lossless", ".mp4": "standard", ".mov": "standard"}
# quality -> (codec name, fourcc, containers)
_CODECS = {
    "lossless": ("FFV1", "FFV1", (".mkv", ".avi")),
    "high": ("MJPEG 4:4:4 q100", "MJPG", (".avi",)),
    "standard": ("MPEG-4 Part 2 (mp4v)", "mp4v", (".mp4", ".mov", ".avi", ".mkv")),
}
_AVI_LIMIT = 1 << 30  # RIFF AVI 1.0 without OpenDML extensions: stay well below 2 GiB
_PNG_NAME = "frame_{:05d}.png"


@dataclass(frozen=True)
class VideoInfo:
    """What a writer produced.

    Attributes:
        path: the file (or, for a PNG sequence, the folder) written.
        codec: human-readable codec name (``"FFV1"``, ``"MJPEG 4:4:4 q100"``,
            ``"MPEG-4 Part 2 (mp4v)"``, ``"PNG"``).
        fourcc: the FourCC stored in the container (``"png "`` for PNG sequences).
        quality: ``"lossless"``, ``"high"`` or ``"standard"``.
        lossless: True when reading the file back gives the frames bit for bit.
        n_frames, height, width: ``T``, ``H``, ``W`` in frames and pixels.
        fps: frames per second stored in the container (``nan`` for PNG sequences).
    """

    path: str
    codec: str
    fourcc: str
    quality: str
    lossless: bool
    n_frames: int
    height: int
    width: int
    fps: float


def _check_frames(frames: object, name: str = "frames") -> np.ndarray:
    """``(T, H, W, 3)`` uint8 (float in [0, 1] is mapped with ``round(255 x)``)."""
    a = np.asarray(frames)
    if a.ndim == 5:
        raise ValueError(f"{name} must have shape (T, H, W, 3): one video per view; got {a.shape} "
                         "(write one file per view, or use actimg.layout.side_by_side / concat_time first)")
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (T, H, W, 3) (RGB), got {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype in (np.float32, np.float64):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contain NaN or inf")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float {name} must be in [0, 1] (got min {lo:g}, max {hi:g}); map a model's "
                             "[-1, 1] output with (x + 1) / 2 first")
        return np.rint(a * 255.0).astype(np.uint8)
    raise TypeError(f"{name} must be uint8 (0..255) or float (0..1), got dtype {a.dtype}")


def _check_fps(fps: float) -> float:
    try:
        f = float(fps)
    except (TypeError, ValueError):
        raise TypeError(f"fps must be a number, got {fps!r}") from None
    if not (np.isfinite(f) and f > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
    return f


def _partial(path: Path) -> Path:
    """A temporary name beside ``path`` with the same extension (FFmpeg picks the muxer by it)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_video(path: PathLike, frames: np.ndarray, fps: float = 10.0, quality: str | None = None) -> VideoInfo:
    """Write RGB frames to a video file.

    Args:
        path: output file; its extension picks the container (see the module table).
        frames: ``(T, H, W, 3)`` RGB uint8 (or float in [0, 1], stored as
            ``round(255 x)``, the format's 8-bit mapping).
        fps: frames per second stored in the container (> 0).
        quality: ``"lossless"`` (FFV1, .mkv/.avi), ``"high"`` (Motion-JPEG 4:4:4 at JPEG
            quality 100, .avi), ``"standard"`` (``mp4v``, .mp4/.mov/.avi/.mkv), or None
            to pick by extension (.mkv/.avi lossless, .mp4/.mov standard).

    Returns:
        :class:`VideoInfo` with the codec used. The file appears only when complete
        (written under a temporary name, then renamed).

    Raises:
        ValueError: bad frames, fps, quality, a container that cannot hold the codec,
            odd sizes for the OpenCV-written codecs, a ``high`` file over 1 GiB.
        RuntimeError: OpenCV could not open a writer for the codec (a build without it).
    """
    path = Path(path)
    a = _check_frames(frames)
    f = _check_fps(fps)
    ext = path.suffix.lower()
    if quality is None:
        if ext not in _DEFAULT_QUALITY:
            raise ValueError(f"cannot pick a codec for extension {path.suffix!r} of {path}: use one of "
                             f"{sorted(_DEFAULT_QUALITY)} or pass quality=")
        quality = _DEFAULT_QUALITY[ext]
    if quality not in _CODECS:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    codec, fourcc, containers = _CODECS[quality]
    if ext not in containers:
        hint = " (or write_png_sequence for a folder of PNGs)" if quality == "lossless" else ""
        raise ValueError(f"quality={quality!r} ({codec}) needs a {' / '.join(containers)} file{hint}, "
                         f"got {path.name!r}")
    T, H, W, _ = a.shape
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} of {str(path)!r} does not exist")
    tmp = _partial(path)
    try:
        if quality == "high":
            _write_mjpeg444_avi(tmp, a, f)
        else:
            if H % 2 or W % 2:
                raise ValueError(f"quality={quality!r} ({codec}) needs an even width and height (OpenCV's FFmpeg "
                                 f"writer would silently crop {H}x{W}); use quality='high' (.avi) or "
                                 "write_png_sequence for odd sizes")
            _write_opencv(tmp, a, f, fourcc, codec)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return VideoInfo(str(path), codec, fourcc, quality, quality == "lossless", T, H, W, f)


def _write_opencv(path: Path, a: np.ndarray, fps: float, fourcc: str, codec: str) -> None:
    import cv2

    T, H, W, _ = a.shape
    w = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*fourcc), fps, (W, H))
    try:
        if not w.isOpened():
            raise RuntimeError(f"OpenCV {cv2.__version__} could not open a {codec} writer for {str(path)!r} "
                               "(this build's FFmpeg lacks the encoder?)")
        for t in range(T):
            w.write(cv2.cvtColor(a[t], cv2.COLOR_RGB2BGR))
    finally:
        w.release()
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"OpenCV wrote no data to {str(path)!r} with {codec}")


def _write_mjpeg444_avi(path: Path, a: np.ndarray, fps: float, jpeg_quality: int = 100) -> None:
    """Motion-JPEG in a RIFF AVI 1.0 file (``idx1`` index, every frame a key frame).

    Each frame is a baseline JPEG with 4:4:4 chroma (no subsampling) from ``cv2.imencode``;
    OpenCV's own MJPEG writers use 4:2:0, which smears the closed-gripper step of the B
    channel by up to ~60/255.
    """
    import cv2

    T, H, W, _ = a.shape
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    jpgs = []
    total = 0
    for t in range(T):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(a[t], cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise RuntimeError(f"JPEG encoding of frame {t} failed")
        jpgs.append(buf.tobytes())
        total += len(jpgs[-1]) + 24
        if total > _AVI_LIMIT:
            raise ValueError(f"quality='high' is limited to 1 GiB per .avi file (frame {t} of {T} passes it); "
                             "use quality='lossless' (.mkv) or split the video")

    def chunk(fcc: bytes, data: bytes) -> bytes:
        return fcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def riff_list(fcc: bytes, data: bytes) -> bytes:
        return chunk(b"LIST", fcc + data)

    biggest = max(len(j) for j in jpgs)
    rate, scale = round(fps * 1000), 1000
    avih = struct.pack("<14I", round(1e6 / fps), int(min(biggest * fps, 2**32 - 1)), 0,
                       0x10,  # AVIF_HASINDEX
                       T, 0, 1, biggest, W, H, 0, 0, 0, 0)
    strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", b"MJPG", 0, 0, 0, 0, scale, rate, 0, T, biggest,
                       0xFFFFFFFF, 0, 0, 0, min(W, 32767), min(H, 32767))
    strf = struct.pack("<IiiHH4sIiiII", 40, W, H, 1, 24, b"MJPG", W * H * 3, 0, 0, 0, 0)
    hdrl = riff_list(b"hdrl", chunk(b"avih", avih) + riff_list(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    movi = bytearray()
    idx = bytearray()
    for j in jpgs:
        idx += struct.pack("<4sIII", b"00dc", 0x10, 4 + len(movi), len(j))  # AVIIF_KEYFRAME, offset from 'movi'
        movi += chunk(b"00dc", j)
    body = b"AVI " + hdrl + riff_list(b"movi", bytes(movi)) + chunk(b"idx1", bytes(idx))
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def _check_expected(frames: np.ndarray, source: str, expected_frames: int | None,
                    expected_size: Sequence[int] | None) -> np.ndarray:
    T, H, W = frames.shape[:3]
    if expected_size is not None:
        eh, ew = (int(x) for x in expected_size)
        if (H, W) != (eh, ew):
            raise ValueError(f"{source} is {H}x{W} (height x width) but {eh}x{ew} was expected")
    if expected_frames is not None and T != int(expected_frames):
        raise ValueError(f"{source} has {T} frames but {int(expected_frames)} were expected")
    return frames


def read_video(path: PathLike, expected_frames: int | None = None,
               expected_size: Sequence[int] | None = None) -> np.ndarray:
    """Read every frame of a video (any codec FFmpeg reads) or of a PNG-sequence folder.

    Works for action videos and for observation (camera) videos alike.

    Args:
        path: a video file, or a folder of PNG frames (see :func:`read_png_sequence`).
        expected_frames: if given, the number of frames ``T`` the video must have.
        expected_size: if given, ``(H, W)`` in pixels the frames must have.

    Returns:
        ``(T, H, W, 3)`` RGB uint8 (grey or RGBA sources are converted to RGB).

    Raises:
        FileNotFoundError: no such file or folder.
        ValueError: not readable as a video, no frames, frames of different sizes, or a
            frame count / size other than expected (the message says which).
    """
    import cv2

    p = Path(path)
    if p.is_dir():
        return read_png_sequence(p, expected_frames, expected_size)
    if not p.exists():
        raise FileNotFoundError(f"no such video file: {str(p)!r}")
    cap = cv2.VideoCapture(str(p))
    frames: list[np.ndarray] = []
    try:
        if not cap.isOpened():
            raise ValueError(f"{str(p)!r} could not be opened as a video (OpenCV {cv2.__version__}, FFmpeg backend)")
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if bgr.ndim == 2:
                bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
            if bgr.dtype != np.uint8:
                raise ValueError(f"{str(p)!r} frame {len(frames)} has dtype {bgr.dtype}, expected 8 bit")
            if frames and bgr.shape != frames[0].shape:
                raise ValueError(f"{str(p)!r}: frame {len(frames)} is {bgr.shape[0]}x{bgr.shape[1]} but frame 0 is "
                                 f"{frames[0].shape[0]}x{frames[0].shape[1]}")
            frames.append(cv2.cvtColor(bgr[..., :3], cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{str(p)!r} has no readable video frames")
    return _check_expected(np.stack(frames), repr(str(p)), expected_frames, expected_size)


def write_png_sequence(directory: PathLike, frames: np.ndarray, overwrite: bool = False) -> VideoInfo:
    """Write frames as ``frame_00000.png``, ``frame_00001.png``, ... (lossless, any size).

    Args:
        directory: folder to write into (created if missing).
        frames: ``(T, H, W, 3)`` RGB uint8 (or float in [0, 1]).
        overwrite: the folder may already hold PNG files only if True; then the old
            ``frame_*.png`` files are deleted first (other PNGs make it an error, since
            :func:`read_png_sequence` would read them as frames).

    Returns:
        :class:`VideoInfo` (``codec="PNG"``, ``fps=nan``, ``path`` = the folder).
    """
    import cv2

    a = _check_frames(frames)
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ValueError(f"{str(d)!r} exists and is not a folder")
    d.mkdir(parents=True, exist_ok=True)
    old = sorted(q for q in d.iterdir() if q.suffix.lower() == ".png")
    if old:
        if not overwrite:
            raise ValueError(f"folder {str(d)!r} already holds {len(old)} PNG files; pass overwrite=True "
                             "(or --overwrite) or choose an empty folder")
        ours = [q for q in old if re.fullmatch(r"frame_\d+\.png", q.name)]
        others = [q.name for q in old if q not in ours]
        if others:
            raise ValueError(f"folder {str(d)!r} holds PNG files that are not frames written here "
                             f"({others[:3]}...); choose another folder")
        for q in ours:
            q.unlink()
    T, H, W, _ = a.shape
    for t in range(T):
        out = d / _PNG_NAME.format(t)
        if not cv2.imwrite(str(out), cv2.cvtColor(a[t], cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {str(out)!r}")
    return VideoInfo(str(d), "PNG", "png ", "lossless", True, T, H, W, float("nan"))


def _natural_key(name: str) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", name)]


def read_png_sequence(directory: PathLike, expected_frames: int | None = None,
                      expected_size: Sequence[int] | None = None) -> np.ndarray:
    """Read every ``*.png`` of a folder as frames, in natural order (``2`` before ``10``).

    Returns:
        ``(T, H, W, 3)`` RGB uint8 (grey, RGBA and 16-bit PNGs are converted).

    Raises:
        FileNotFoundError: no such folder. ValueError: no PNG files, frames of different
        sizes, a frame that cannot be read, or a count / size other than expected.
    """
    import cv2

    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"no such folder: {str(d)!r}")
    files = sorted((q for q in d.iterdir() if q.suffix.lower() == ".png" and q.is_file()),
                   key=lambda q: _natural_key(q.name))
    if not files:
        raise ValueError(f"folder {str(d)!r} holds no .png frames")
    frames: list[np.ndarray] = []
    for q in files:
        bgr = cv2.imread(str(q), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{str(q)!r} could not be read as an image")
        if frames and bgr.shape != frames[0].shape:
            raise ValueError(f"{str(q)!r} is {bgr.shape[0]}x{bgr.shape[1]} but {files[0].name} is "
                             f"{frames[0].shape[0]}x{frames[0].shape[1]}")
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return _check_expected(np.stack(frames), f"PNG sequence {str(d)!r}", expected_frames, expected_size)
