"""Lazy imports of the optional dependencies of :mod:`actimg.datasets`.

Nothing heavy is imported when ``actimg.datasets`` is: each reader, writer and engine asks
for its library here, on first use, and gets an ImportError naming the pip extra.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["require"]

_EXTRAS = {  # module -> (what it is for, pip extra)
    "pyarrow": ("LeRobot datasets and the manifest (parquet)", "datasets"),
    "av": ("reading and writing videos (PyAV)", "datasets"),
    "h5py": ("DROID trajectory.h5 files", "datasets"),
    "ray": ("the Ray engine", "ray"),
}


def require(module: str) -> Any:
    """Import ``module`` (``"pyarrow"``, ``"pyarrow.parquet"``, ``"av"``, ``"h5py"``, ``"ray"``).

    Raises:
        ImportError: naming the pip extra that installs it, e.g.
            ``pip install "actimg[datasets]"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        what, extra = _EXTRAS.get(top, ("this feature", "datasets"))
        raise ImportError(f"actimg.datasets needs {top} for {what}: pip install \"actimg[{extra}]\" "
                          f"({exc})") from exc
