"""Command line: ``actimg demo`` (more subcommands come with the adapters)."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

__all__ = ["main", "image_grid"]


def image_grid(images: np.ndarray, n_cols: int = 6, tile: int = 192) -> np.ndarray:
    """Tile ``(V, T, H, W, 3)`` uint8 images: one row per view, ``n_cols`` frames evenly spaced.

    Returns an ``(V * tile', n_cols * tile'', 3)`` uint8 RGB image (tiles keep the aspect
    ratio, height ``tile`` px, 2 px white gutters).
    """
    import cv2

    V, T, H, W, _ = images.shape
    cols = np.unique(np.linspace(0, T - 1, min(n_cols, T)).round().astype(int))
    th, tw = tile, max(1, round(tile * W / H))
    g = 2
    out = np.full((V * (th + g) - g, len(cols) * (tw + g) - g, 3), 255, np.uint8)
    for v in range(V):
        for j, t in enumerate(cols):
            out[v * (th + g):v * (th + g) + th, j * (tw + g):j * (tw + g) + tw] = cv2.resize(
                images[v, t], (tw, th), interpolation=cv2.INTER_AREA)
    return out


def _demo(args: argparse.Namespace) -> int:
    import cv2

    from . import decode, encode, rotation_angle_deg, euler_to_matrix
    from .scenes import default_scene

    rig, actions = default_scene(args.views, args.frames, args.size, args.size)
    t0 = time.perf_counter()
    images = encode(actions, rig)
    t1 = time.perf_counter()
    result = decode(images, rig)
    t2 = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "action_images.png")
    cv2.imwrite(path, cv2.cvtColor(image_grid(images), cv2.COLOR_RGB2BGR))
    pos_mm = np.linalg.norm(result.positions - actions[:, :3], axis=1) * 1e3
    rot_deg = rotation_angle_deg(result.rotations, euler_to_matrix(actions[:, 3:6]))
    grip_ok = result.openness == (actions[:, 6] > 0.5)
    V, T = images.shape[:2]
    print(f"actimg demo: {V} views x {T} frames x {args.size}x{args.size} (embedded default scene)")
    print(f"  encode (first call, includes compile or cache load): {1e3 * (t1 - t0):8.1f} ms")
    print(f"  decode (first call, includes compile or cache load): {1e3 * (t2 - t1):8.1f} ms")
    print(f"  action images written to {path}")
    print(f"  frames valid:          {int(result.valid.sum())}/{T}")
    print(f"  position error (mm):   median {np.nanmedian(pos_mm):.4f}   max {np.nanmax(pos_mm):.4f}")
    print(f"  rotation error (deg):  median {np.nanmedian(rot_deg):.4f}   max {np.nanmax(rot_deg):.4f}")
    print(f"  gripper correct:       {int(grip_ok.sum())}/{T}")
    print(f"  confidence:            min {result.confidence.min():.3f}")
    ok = result.valid.all() and np.nanmax(pos_mm) < 1.0 and np.nanmax(rot_deg) < 1.0 and grip_ok.all()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``actimg`` console script."""
    parser = argparse.ArgumentParser(prog="actimg", description="Robot actions as multi-view action images.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="encode the embedded default scene, write a PNG grid, decode, print errors")
    d.add_argument("--views", type=int, default=3, help="number of cameras (default 3)")
    d.add_argument("--frames", type=int, default=41, help="number of frames (default 41)")
    d.add_argument("--size", type=int, default=512, help="image height and width in px (default 512)")
    d.add_argument("--out", default="actimg_demo", help="output folder (default ./actimg_demo)")
    d.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError) as exc:
        print(f"actimg: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
