"""Accuracy of the differentiable ``actimg.torch.decode`` beside the exact ``actimg.decode``.

Run from the repository root::

    python benchmarks/torch_decode.py               # 256 and 512 px, 2 and 3 views
    python benchmarks/torch_decode.py --quick       # fewer scenes and frames

For each image size and view count, ``--scenes`` seeded scenes
(``benchmarks/_scenes.make_scene``: static cameras about 1 m away, a smooth trajectory of
``--frames`` actions, the gripper closing half-way) are rendered with ``actimg.encode``
and decoded by both decoders from the same images:

* ``clean f32``: float32 images in [0, 1] (``encode(dtype=np.float32)``);
* ``clean u8``: 8-bit images (``encode()``), given to the torch decoder as ``u8 / 255``;
* ``noisy u8``: those with Gaussian noise of sigma 0.08 (``_scenes.add_noise``).

Printed per case: position error (median / p90 / max, millimetres), rotation error
(degrees, roll included), the share of frames whose openness is read right (> 0.5 vs
the action's > 0.5) and the wall time of each decoder. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import actimg  # noqa: E402
from actimg.geometry.rotations import euler_to_matrix, rotation_angle_deg  # noqa: E402
from benchmarks._scenes import add_noise, make_scene  # noqa: E402


def _stats(x: np.ndarray) -> str:
    x = x[np.isfinite(x)]
    if not x.size:
        return "     n/a"
    return f"{np.median(x):9.2e} {np.percentile(x, 90):9.2e} {x.max():9.2e}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--views", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.scenes, args.frames = 2, 9

    import torch

    import actimg.torch as at

    print(f"torch {torch.__version__}; {args.scenes} scenes x {args.frames} frames per case; errors: median p90 max")
    print(f"{'case':34s} {'decoder':8s} {'position mm (med p90 max)':>29s} {'rotation deg (med p90 max)':>29s} "
          f"{'open ok':>7s} {'time s':>7s}")
    for S in args.sizes:
        for V in args.views:
            scenes = [make_scene(V, args.frames, S, S, seed=100 + i) for i in range(args.scenes)]
            truth = np.stack([sc.actions for sc in scenes])  # (B, T, 7)
            R_true = euler_to_matrix(truth[..., 3:6])
            K = torch.as_tensor(np.stack([np.array(sc.rig.intrinsics) for sc in scenes]))
            E = torch.as_tensor(np.stack([np.array(sc.rig.extrinsics) for sc in scenes]))
            f32 = [actimg.encode(sc.actions, sc.rig, dtype=np.float32) for sc in scenes]
            u8 = [actimg.encode(sc.actions, sc.rig) for sc in scenes]
            noisy = [add_noise(img, 0.08, seed=i) for i, img in enumerate(u8)]
            for label, imgs in (("clean f32", f32), ("clean u8", u8), ("noisy u8 (sigma 0.08)", noisy)):
                name = f"{S}px {V} views {label}"
                # exact decoder, one scene at a time
                t0 = time.perf_counter()
                res = [actimg.decode(img, sc.rig) for img, sc in zip(imgs, scenes)]
                t_np = time.perf_counter() - t0
                pos = np.stack([r.positions for r in res])
                rot = np.stack([r.rotations for r in res])
                opn = np.stack([r.openness for r in res])
                # torch decoder, one batch
                x = torch.as_tensor(np.stack(imgs))
                x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x
                t0 = time.perf_counter()
                tr = at.decode(x, K, E)
                t_t = time.perf_counter() - t0
                for dec, p, R, o, t in (("exact", pos, rot, opn, t_np),
                                        ("torch", tr.positions.double().numpy(), tr.rotations.double().numpy(),
                                         tr.openness.double().numpy(), t_t)):
                    pe = np.linalg.norm(p - truth[..., :3], axis=-1) * 1000.0
                    with np.errstate(invalid="ignore"):
                        re = rotation_angle_deg(R_true, R)
                    ok = np.mean((o > 0.5) == (truth[..., 6] > 0.5))
                    print(f"{name:34s} {dec:8s} {_stats(pe)}   {_stats(np.asarray(re))}   {ok:7.3f} {t:7.2f}")


if __name__ == "__main__":
    main()
