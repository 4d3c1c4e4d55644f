"""Atomic file writes: temporary name in the same folder, then ``os.replace``.

A reader of the destination sees either no file or the complete file, never a part.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_bytes", "write_json", "write_npy", "write_text", "write_if_changed"]


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial.{os.getpid()}")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a killed process leaves the old file or none, never
    a part (not fsync'd: a power cut may still lose recent files, as for the videos)."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Like :func:`write_bytes`, but leaves an identical existing file untouched; True if written."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    write_bytes(path, data)
    return True


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, allow_nan=True) + "\n")


def npy_bytes(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def write_npy(path: str | os.PathLike[str], a: np.ndarray) -> None:
    write_bytes(path, npy_bytes(a))
