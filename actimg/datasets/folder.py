"""The plain-folder layout, the fallback every user can produce.

Exactly::

    SRC/<episode>/actions.npy        (T, 7) [x, y, z, rx, ry, rz, openness]
    SRC/<episode>/rig.json           an actimg.save_rig file (static or per frame)
    SRC/<episode>/instruction.txt    optional
    SRC/<episode>/video_<v>.mp4      optional, one per view v = 0 .. V-1 (or .mkv / .avi / .mov)

An episode is a sub-folder of ``SRC`` (names starting with ``.`` are skipped); the
converter's own output is this layout too, so its output can be converted again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..cameras.sources import load_rig
from .episode import Episode, safe_name
from .readers import Reader

__all__ = ["FolderReader", "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov")


class FolderReader(Reader):
    """Episodes of a plain folder (see the module docstring).

    Args:
        root: ``SRC``.
        fps: frames per second of the episodes (the layout stores none; default 10).
    """

    def __init__(self, root: str | os.PathLike[str], fps: float = 10.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"source folder {str(self.root)!r} does not exist")
        self.fps = float(fps)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and safe_name(p.name) == p.name)

    def load(self, name: str) -> Episode:
        d = self.root / name
        if not (d / "actions.npy").is_file():
            raise FileNotFoundError(f"{name}/actions.npy is missing")
        if not (d / "rig.json").is_file():
            raise FileNotFoundError(f"{name}/rig.json is missing")
        actions = np.load(d / "actions.npy", allow_pickle=False)
        rig = load_rig(d / "rig.json")
        videos: dict[str, str] = {}
        found = {}
        for p in d.iterdir():
            stem, ext = p.stem, p.suffix.lower()
            if stem.startswith("video_") and ext in VIDEO_EXTENSIONS and stem[6:].isdigit():
                v = int(stem[6:])
                if v in found:
                    raise ValueError(f"{name}: two videos for view {v}: {found[v].name}, {p.name}")
                found[v] = p
        if found:
            missing = [v for v in range(rig.n_views) if v not in found]
            extra = [v for v in found if v >= rig.n_views]
            if missing or extra:
                raise ValueError(f"{name}: the rig has {rig.n_views} views but the videos are for views "
                                 f"{sorted(found)} (missing {missing}, extra {extra}): partial episode")
            videos = {str(v): str(found[v]) for v in range(rig.n_views)}
        instruction = None
        if (d / "instruction.txt").is_file():
            instruction = (d / "instruction.txt").read_text(encoding="utf-8").strip()
        return Episode(name, actions, rig, videos, instruction, {"fps": self.fps, "source": str(d)})
