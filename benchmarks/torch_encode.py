"""Time ``actimg.torch.encode`` against numpy ``actimg.encode(dtype=np.float32)``, same data.

Run from the repository root::

    python benchmarks/torch_encode.py                      # 8 x 2 x 41 x 512 x 512 on CPU
    python benchmarks/torch_encode.py --device cuda        # on a GPU
    python benchmarks/torch_encode.py --batch 2 --size 256 --reps 3

The batch is ``B`` seeded scenes (``benchmarks/_scenes.make_scene``: ``V`` static
cameras, ``T`` frames, the gripper switching half-way) rendered as float32 images in
[0, 1]: by numpy, one ``actimg.encode`` per sample into a preallocated
``(B, V, T, H, W, 3)`` array, and by ``actimg.torch.encode`` in one batched call
(``validate=True``, the default, and ``validate=False``). Each is called once untimed,
then timed ``--reps`` times, interleaved; medians are printed with the largest absolute
difference between the two results. Nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import actimg  # noqa: E402
from benchmarks._scenes import make_scene  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--frames", type=int, default=41)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    import torch

    import actimg.torch as at

    B, V, T, S = args.batch, args.views, args.frames, args.size
    scenes = [make_scene(V, T, S, S, seed=b) for b in range(B)]
    actions = np.stack([sc.actions for sc in scenes])
    rig = scenes[0].rig
    rigs = [sc.rig for sc in scenes]
    dev = torch.device(args.device)
    a_t = torch.as_tensor(actions, device=dev)
    K_t = torch.as_tensor(np.stack([np.array(r.intrinsics) for r in rigs]), device=dev)
    E_t = torch.as_tensor(np.stack([np.array(r.extrinsics) for r in rigs]), device=dev)
    ref = np.empty((B, V, T, S, S, 3), np.float32)

    def run_numpy() -> None:
        for b in range(B):
            actimg.encode(actions[b], rigs[b], dtype=np.float32, out=ref[b])

    holder: dict[str, torch.Tensor] = {}

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def run_torch(validate: bool) -> None:
        holder.pop("out", None)  # drop the previous result before making the next
        holder["out"] = at.encode(a_t, K_t, E_t, S, S, validate=validate)
        sync()

    cands = {"numpy actimg.encode (per sample, out=)": run_numpy,
             "torch encode": lambda: run_torch(True),
             "torch encode, validate=False": lambda: run_torch(False)}
    times: dict[str, list[float]] = {k: [] for k in cands}
    for fn in cands.values():
        fn()  # compile / first touch
    for _ in range(args.reps):
        for name, fn in cands.items():
            gc.disable()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            gc.enable()
    err = float((holder["out"].cpu() - torch.from_numpy(ref)).abs().max())
    gb = B * V * T * S * S * 3 * 4 / 1e9
    print(f"batch {B} x {V} views x {T} frames x {S}x{S} -> {gb:.2f} GB float32; device {dev}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; numba threads "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}; {os.cpu_count()} CPUs; "
          f"{platform.processor() or platform.machine()}")
    for name, ts in times.items():
        print(f"  {name:40s} median {statistics.median(ts):8.3f} s   (min {min(ts):.3f}, reps {len(ts)})")
    print(f"  max |torch - numpy| = {err:.3g}")


if __name__ == "__main__":
    main()
