"""What the released model's bfloat16 rendering costs a decoder.

The released training and inference code renders its action images in bfloat16
(``ActionImageSpec(precision="bfloat16")``, bit-exact emulation in ``actimg.codec.bf16``).
Scenes as in ``benchmarks/accuracy.py`` (random rigs 0.6-1.4 m from the workspace, random
reachable poses, blobs cut by the border included). Per cell:

* how far the bfloat16 blobs are from the float ones (projections of P, N, U inside the
  image, in pixels) and the largest pixel difference (8-bit levels);
* the decode error on bfloat16 renderings (uint8, rounded) with the float decoder
  (``actimg.decode(images, rig)``) and with the decoder that knows the bfloat16 pipeline
  (``actimg.decode(images, rig, ActionImageSpec.paper(precision="bfloat16"))``: resampled
  from the bfloat16 pixel grid, decoded through the bfloat16-rounded cameras), against the
  true action and against the action rounded to bfloat16 (what the renderer was given);
* the same with truncated 8-bit frames (``quantize="truncate"``, the released output
  path), and float renderings for reference.

Invalid frames count as failures (infinite error).

    python benchmarks/bf16.py [--frames 40] [--seed 0] [--sizes 256 512] [--views 2 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import actimg  # noqa: E402
from actimg import ActionImageSpec  # noqa: E402
from actimg.codec.bf16 import project_bf16, to_bf16  # noqa: E402
from actimg.geometry.camera import _frame_cameras  # noqa: E402
from accuracy import random_actions, random_rig  # noqa: E402
from _results import write_results  # noqa: E402

FLOAT = ActionImageSpec.paper()
BF16 = ActionImageSpec.paper(precision="bfloat16")
BF16_TRUNC = ActionImageSpec.paper(precision="bfloat16", quantize="truncate")

#: (row label, rendering spec, decoding spec)
CASES = [
    ("float render, float decoder", FLOAT, FLOAT),
    ("bfloat16 render, float decoder", BF16, FLOAT),
    ("bfloat16 render, bfloat16-aware decoder", BF16, BF16),
    ("bfloat16 render truncated to 8 bits, float decoder", BF16_TRUNC, FLOAT),
    ("bfloat16 render truncated to 8 bits, bfloat16-aware decoder", BF16_TRUNC, BF16),
]


def _errors(res: actimg.DecodeResult, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.linalg.norm(res.positions - ref[:, :3], axis=1) * 1e3
    rot = actimg.rotation_angle_deg(res.rotations, actimg.euler_to_matrix(ref[:, 3:6]))
    ok = res.valid
    return (np.where(ok & np.isfinite(pos), pos, np.inf), np.where(ok & np.isfinite(rot), rot, np.inf))


def _stats(x: np.ndarray) -> dict[str, float]:
    return {"med": float(np.median(x)), "p90": float(np.percentile(x, 90))}


def run(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    rows, offsets = [], []
    for size in args.sizes:
        for nv in args.views:
            rng = np.random.default_rng([args.seed, size, nv])
            errs: dict[str, dict[str, list]] = {c[0]: {"pos": [], "rot": [], "pos_b": [], "rot_b": []} for c in CASES}
            off, level = [], 0
            n = 0
            while n < args.frames:
                rig = random_rig(rng, nv, size)
                a = random_actions(rng, rig, min(10, args.frames - n))
                a_b = to_bf16(a).astype(np.float64)  # the action the bfloat16 renderer was given
                Ks, _, C2W = _frame_cameras(rig, a.shape[0])
                uv_b, z_b = project_bf16(a, Ks, C2W, BF16)
                uv, depth = actimg.project_actions(a, rig)
                inside = (depth > 0) & (uv >= 0).all(-1) & (uv[..., 0] <= size - 1) & (uv[..., 1] <= size - 1)
                off.append(np.linalg.norm(uv_b - uv, axis=-1)[inside])
                images = {}
                for label, render, decode_spec in CASES:
                    if render not in images:
                        images[render] = actimg.encode(a, rig, render)
                    res = actimg.decode(images[render], rig, decode_spec)
                    for key, ref in (("", a), ("_b", a_b)):
                        p, r = _errors(res, ref)
                        errs[label]["pos" + key].append(p)
                        errs[label]["rot" + key].append(r)
                level = max(level, int(np.abs(images[FLOAT].astype(int) - images[BF16]).max()))
                n += a.shape[0]
            o = np.concatenate(off)
            offsets.append(dict(size=size, views=nv, points=int(o.size), med_px=float(np.median(o)),
                                p90_px=float(np.percentile(o, 90)), max_px=float(o.max()), max_levels=level))
            for label, e in errs.items():
                cat = {k: np.concatenate(v) for k, v in e.items()}
                rows.append(dict(size=size, views=nv, case=label, frames=int(cat["pos"].size),
                                 pos=_stats(cat["pos"]), rot=_stats(cat["rot"]),
                                 pos_vs_bf16_action=_stats(cat["pos_b"]), rot_vs_bf16_action=_stats(cat["rot_b"]),
                                 valid=float(np.isfinite(cat["pos"]).mean())))
            print(f"  {size} px, {nv} views done", file=sys.stderr)
    return rows, offsets


def markdown(rows: list[dict], offsets: list[dict], args: argparse.Namespace, seconds: float) -> str:
    out = [
        "# bfloat16 rendering: what it costs a decoder\n\n"
        f"`python benchmarks/bf16.py` (--frames {args.frames} --seed {args.seed}; {seconds:.0f} s). Scenes as in "
        "`benchmarks/accuracy.py`. `bfloat16 render` = `ActionImageSpec.paper(precision=\"bfloat16\")`, the "
        "released model's own targets (bit-exact emulation of its bfloat16 renderer); `bfloat16-aware decoder` = "
        "`actimg.decode(images, rig, ActionImageSpec.paper(precision=\"bfloat16\"))` (resampled from the bfloat16 "
        "pixel grid, decoded through the bfloat16-rounded cameras); `truncated` = `quantize=\"truncate\"`, the "
        "released output path `uint8((y + 1) * 127.5)`. Errors against the true action, and against the action "
        "rounded to bfloat16 (what the renderer was given). Position in mm, rotation in degrees; invalid frames "
        "count as failures.\n\n",
        "## Blob centres: bfloat16 vs float projections\n\n"
        "| size | views | points | median (px) | p90 (px) | max (px) | largest pixel difference (levels) |\n"
        "|---|---|---|---|---|---|---|\n",
    ]
    for o in offsets:
        out.append(f"| {o['size']} | {o['views']} | {o['points']} | {o['med_px']:.3f} | {o['p90_px']:.3f} | "
                   f"{o['max_px']:.3f} | {o['max_levels']} |\n")
    out.append("\n## Decode error\n\n| size | views | case | frames | pos median | pos p90 | rot median | rot p90 | "
               "pos median vs bf16 action | pos p90 vs bf16 action | rot median vs bf16 action | valid |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        out.append(f"| {r['size']} | {r['views']} | {r['case']} | {r['frames']} | {r['pos']['med']:.3f} | "
                   f"{r['pos']['p90']:.3f} | {r['rot']['med']:.3f} | {r['rot']['p90']:.3f} | "
                   f"{r['pos_vs_bf16_action']['med']:.3f} | {r['pos_vs_bf16_action']['p90']:.3f} | "
                   f"{r['rot_vs_bf16_action']['med']:.3f} | {r['valid']:.3f} |\n")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=40, help="frames per (size, views) cell")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--views", type=int, nargs="+", default=[2, 3])
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    actimg.warmup()
    rows, offsets = run(args)
    md = markdown(rows, offsets, args, time.perf_counter() - t0)
    print(md)
    write_results(args.out, "bf16", md, {"offsets": offsets, "decode": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
