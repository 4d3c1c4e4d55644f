"""Confident-wrong frames under faults outside ``actimg.corrupt``'s sweep.

``benchmarks/trust.py`` counts confident-wrong frames over the corruptions of the fidelity
benchmark. This script tries faults that are none of them, on the same scenes (2-4 views,
256/512 px, smooth and random motion, a view blank for a third of the clip or not):

* ``ramp drift``: one view drifting linearly over the clip, from 0 to 1 or 3 px (not a
  constant offset: the drift stage cannot remove it);
* ``jitter``: one view shifted by a random offset per frame (0.3 or 1 px standard
  deviation per axis);
* ``camera rotation``: one camera's orientation off by 0.2 or 0.5 degrees;
* ``focal length``: one camera's focal length off by 1% or 3%;
* ``two drifted views``: two views of a 3-4 view rig each shifted by 1.5 px.

A frame is *confident* when valid with confidence >= 0.5, *wrong* when off by > 2 mm or
> 2 deg (as in ``trust.py``).

    python benchmarks/trust_faults.py [--seeds 2] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's actimg

import actimg  # noqa: E402
from actimg import corrupt  # noqa: E402
from _results import output_dir, write_results  # noqa: E402
from trust import CONF, POS_MM, ROT_DEG, _rotvec_matrix, cases, frame_table  # noqa: E402


def _per_frame_shift(images: np.ndarray, view: int, shifts: np.ndarray) -> np.ndarray:
    """``view`` shifted by ``shifts[f] (dx, dy)`` pixels in frame ``f``."""
    out = images.copy()
    for f, (dx, dy) in enumerate(shifts):
        out[:, f:f + 1] = corrupt.shift_view(images[:, f:f + 1], view, float(dx), float(dy))
    return out


def _rotated(rig: actimg.CameraRig, view: int, deg: float, rng: np.random.Generator) -> actimg.CameraRig:
    """``rig`` with camera ``view`` turned by ``deg`` about a random axis through its centre."""
    axis = rng.normal(size=3)
    Rd = _rotvec_matrix(np.radians(deg) * axis / np.linalg.norm(axis))
    c2w = rig.extrinsics.copy()  # cam2world: rotate the camera's axes, keep its centre
    c2w[view, :3, :3] = Rd @ c2w[view, :3, :3]
    return actimg.CameraRig(rig.intrinsics, c2w, rig.height, rig.width)


def _zoomed(rig: actimg.CameraRig, view: int, rel: float) -> actimg.CameraRig:
    K = rig.intrinsics.copy()
    K[view, 0, 0] *= 1.0 + rel
    K[view, 1, 1] *= 1.0 + rel
    return actimg.CameraRig(K, rig.extrinsics, rig.height, rig.width)


def faults(images: np.ndarray, rig: actimg.CameraRig, rng: np.random.Generator) -> list[tuple[str, np.ndarray,
                                                                                             actimg.CameraRig]]:
    """``(name, images, rig)`` per fault: images as decoded, the rig the decoder is given."""
    V, T = images.shape[:2]
    out = []
    for px in (1.0, 3.0):
        a = rng.uniform(0, 2 * np.pi)
        ramp = np.linspace(0.0, px, T)[:, None] * [np.cos(a), np.sin(a)]
        out.append((f"ramp drift {px:g} px", _per_frame_shift(images, int(rng.integers(V)), ramp), rig))
    for px in (0.3, 1.0):
        out.append((f"jitter {px:g} px", _per_frame_shift(images, int(rng.integers(V)), rng.normal(0, px, (T, 2))),
                    rig))
    for deg in (0.2, 0.5):
        out.append((f"camera rotation {deg:g} deg", images, _rotated(rig, int(rng.integers(V)), deg, rng)))
    for rel in (0.01, 0.03):
        out.append((f"focal length {100 * rel:g}%", images, _zoomed(rig, int(rng.integers(V)), rel)))
    if V >= 3:
        im = images
        for v in rng.choice(V, 2, replace=False):
            a = rng.uniform(0, 2 * np.pi)
            im = corrupt.shift_view(im, int(v), 1.5 * np.cos(a), 1.5 * np.sin(a))
        out.append(("two drifted views 1.5 px", im, rig))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--out", default=None, help="output folder (default: benchmarks/results)")
    args = p.parse_args(argv)
    out = output_dir(args.out, False)
    t0 = time.perf_counter()
    actimg.warmup()
    rows: dict[tuple[str, int], list[int | float]] = {}
    all_cases = cases(list(range(100, 100 + args.seeds)), [256, 512], [2, 3, 4], args.frames)
    for i, cs in enumerate(all_cases):
        rng = np.random.default_rng([i, cs.seed])
        for name, images, rig in faults(cs.images, cs.rig, rng):
            fr = frame_table(actimg.decode(images, rig), cs.actions)
            confident = fr["valid"] & (fr["conf"] >= CONF)
            wrong = (fr["pos"] > POS_MM) | (fr["rot"] > ROT_DEG)
            r = rows.setdefault((name, cs.views), [0, 0, 0, 0.0])
            r[0] += confident.size
            r[1] += int((confident & wrong).sum())
            r[2] += int(confident.sum())
            r[3] = max(float(r[3]), float(np.max(np.where(confident, fr["pos"], 0.0))))
        print(f"  {i + 1}/{len(all_cases)}", file=sys.stderr)
    md = [f"# Trust under faults outside the corruption sweep\n\n`python benchmarks/trust_faults.py --seeds "
          f"{args.seeds}` ({time.perf_counter() - t0:.0f} s). Scenes of `trust.py` (2-4 views, 256/512 px, smooth "
          "and random motion, with and without a blank view), "
          f"{args.frames} frames each. *confident wrong*: valid, confidence >= {CONF}, off by > {POS_MM} mm or "
          f"> {ROT_DEG} deg; *kept*: fraction confident.\n\n"
          "| fault | views | frames | confident wrong | kept | worst confident (mm) |\n|---|---|---|---|---|---|\n"]
    for (name, views), (n, cw, kept, worst) in rows.items():
        md.append(f"| {name} | {views} | {n} | **{cw}** | {kept / n:.3f} | {worst:.2f} |\n")
    text = "".join(md)
    print(text)
    if out is not None:
        write_results(out, "trust_faults", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
