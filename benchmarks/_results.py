"""Where a benchmark writes its results.

The committed tables under ``benchmarks/results/`` come from full runs only: a quick
(smoke) run never overwrites them. A full run without ``--out`` writes there (so the
README's numbers are reproduced by the command alone); a quick run writes only where
``--out`` says, and prints its tables otherwise.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

COMMITTED = Path(__file__).resolve().parent / "results"


def output_dir(out: str | os.PathLike[str] | None, quick: bool, sub: str = "") -> Path | None:
    """The folder to write to, or None for "print only" (a quick run without ``--out``).

    Raises SystemExit (an argparse-style error) when a quick run names the committed
    results folder.
    """
    committed = COMMITTED / sub if sub else COMMITTED
    if out is None:
        return None if quick else committed
    path = Path(out)
    if quick:
        p, c = path.resolve(), COMMITTED.resolve()
        if p == c or c in p.parents:
            raise SystemExit(f"error: a --quick run does not write into the committed results ({COMMITTED}); "
                             "pass --out with another folder")
    return path


def write_results(out: str | os.PathLike[str], name: str, md: str, data: Any = None,
                  default: Any = None) -> list[Path]:
    """Write ``name.md`` (the text ``md``) and, when ``data`` is given, ``name.json``
    (``json.dumps(data, indent=1, default=default)``) into ``out``, creating it; returns
    the paths written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.md"]
    paths[0].write_text(md)
    if data is not None:
        paths.append(folder / f"{name}.json")
        paths[1].write_text(json.dumps(data, indent=1, default=default))
    return paths
