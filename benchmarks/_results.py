"""Where a benchmark writes its results.

The committed tables under ``benchmarks/results/`` come from full runs only: a quick
(smoke) run never overwrites them. A full run without ``--out`` writes there (so the
README's numbers are reproduced by the command alone); a quick run writes only where
``--out`` says, and prints its tables otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

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
