"""Observation frames of one episode, decoded and crop-resized in a background thread.

The converter writes an episode's videos one after another in its own thread while an
:class:`ObservationFeed` decodes the source videos (a path; PyAV releases the GIL while it
decodes) or takes the reader's frames (an array), checks them, crops and resizes them (cv2
releases the GIL) and hands them over through a bounded queue, one view after another. So
decoding, resizing, rendering the action images and the quality check overlap the
encoding, and at most ``max_bytes`` of output frames wait in memory. The frames are exactly those
of ``crop_resize_frames(read_frames(path), H, W)``; the videos are written by the same
encoder with the same settings, so the files are the same as written from an array.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from .avio import iter_frames
from .episode import Episode
from .frames import crop_resize_frame

__all__ = ["ObservationFeed"]

_FRAME, _END, _ERROR = 0, 1, 2


class ObservationFeed:
    """The observation frames of ``episode``, view by view, from a background thread.

    Args:
        episode: its ``videos`` (paths or ``(T, H, W, 3)`` frames, in view order) are read.
        size: ``(H, W)`` of the output frames (centre crop, then area resize), or None to
            keep the source size.
        max_bytes: output frames decoded ahead of the consumer at most, in bytes (at least
            2 frames; 32 MiB: 170 frames of 256x256).

    Use :meth:`frames` for each view in order (each yields ``(H, W, 3)`` uint8 frames and
    raises the reader's error, e.g. a partial video, when it reaches it), and :meth:`close`
    in every case (it stops the thread). ``busy_s`` is the thread's time spent decoding and
    resizing; ``wait_s`` the consumer's time spent waiting for frames.
    """

    def __init__(self, episode: Episode, size: tuple[int, int] | None, max_bytes: int = 32 << 20) -> None:
        self._ep = episode
        self._size = size
        H, W = size if size is not None else (episode.rig.height, episode.rig.width)
        self.maxsize = max(2, int(max_bytes) // (H * W * 3))
        self._q: queue.Queue[tuple[int, str, Any]] = queue.Queue(maxsize=self.maxsize)
        self._stop = threading.Event()
        self.busy_s = 0.0
        self.wait_s = 0.0
        self._thread = threading.Thread(target=self._run, name=f"actimg-feed-{episode.name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer
    def _put(self, item: tuple[int, str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _source(self, src: Any) -> Iterator[np.ndarray]:
        if isinstance(src, np.ndarray):
            return iter(src)
        return iter_frames(src)

    def _run(self) -> None:
        ep, T = self._ep, self._ep.n_frames
        view = ""
        try:
            for view, src in ep.videos.items():
                it = self._source(src)
                n = 0
                t = time.perf_counter()
                try:
                    for frame in it:
                        if self._stop.is_set():
                            return
                        n += 1
                        if n > T:
                            continue  # count the rest for the error below
                        if frame.shape[:2] != (ep.rig.height, ep.rig.width):
                            raise ValueError(f"video of view {view!r} is {frame.shape[0]}x{frame.shape[1]} but the "
                                             f"rig is {ep.rig.height}x{ep.rig.width}")
                        out = (crop_resize_frame(frame, *self._size) if self._size is not None
                               else np.ascontiguousarray(frame))
                        self.busy_s += time.perf_counter() - t
                        if not self._put((_FRAME, view, out)):
                            return
                        t = time.perf_counter()
                finally:
                    close = getattr(it, "close", None)
                    if close is not None:
                        close()  # a file's decoder and container
                self.busy_s += time.perf_counter() - t
                if n != T:
                    raise ValueError(f"video of view {view!r} has {n} frames but the episode has T={T} actions: "
                                     "partial episode")
                if not self._put((_END, view, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((_ERROR, view, exc))

    # ------------------------------------------------------------------ consumer
    def frames(self, view: str) -> Iterator[np.ndarray]:
        """The frames of ``view`` (the next view in order), ``(H, W, 3)`` uint8 each."""
        while True:
            t = time.perf_counter()
            kind, v, x = self._q.get()
            self.wait_s += time.perf_counter() - t
            if kind == _ERROR:
                raise x
            if v != view:
                raise RuntimeError(f"observation feed: expected view {view!r}, got {v!r} (views read out of order)")
            if kind == _END:
                return
            yield x

    def check(self, view: str) -> None:
        """Read ``view`` to its end without keeping the frames (raises as :meth:`frames`)."""
        for _ in self.frames(view):
            pass

    def close(self) -> None:
        """Stop the thread and drop what it still holds."""
        self._stop.set()
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def __enter__(self) -> ObservationFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
