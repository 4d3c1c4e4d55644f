"""Close the loop in MuJoCo: an oracle "video model" draws action images, a policy executes them.

The world (``actimg.policy.sim``): a two-finger gripper on a mocap body driven by absolute
end-effector targets, a cube, a target ball, three fixed cameras (``actimg.cameras.from_mujoco``).
Tasks: ``reach`` (tool point to the ball, matching its yaw) and ``pick`` (lift the cube 8 cm).

The model is an oracle behind the adapter protocol: from the simulator's current state it
draws the scripted expert's next ``horizon`` poses as action images (``actimg.encode``),
clean or degraded (blur, Gaussian noise, JPEG and a ghost blob, from ``actimg.corrupt``).
``actimg.policy.ActionImagePolicy`` decodes them and executes frame by frame, holding its
last safe action when a frame is invalid, single-view or below ``--min-confidence``.

    MUJOCO_GL=egl python examples/closed_loop_mujoco.py --episodes 10
    python examples/closed_loop_mujoco.py --episodes 3 --export dataset/   # also write a training set

Prints a table (success rate, steps, holds, model calls, tracking error = distance between
each executed action and the pose the oracle drew for it) and, as its last line,
``success_rate clean=<x> degraded=<y>`` (fractions over all tasks and episodes). Writes a
video of one degraded pick episode, camera frames with the drawn action images overlaid.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

import actimg  # noqa: E402
from actimg.policy import ActionImagePolicy  # noqa: E402
from actimg.policy.sim import ExpertOracle, SimEnv, export_episode, run_episode  # noqa: E402


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(x, q)) if x else float("nan")


def evaluate(task: str, degraded: bool, episodes: int, seed: int, size: int, horizon: int, min_confidence: float,
             record_first: bool = False, export_dir: Path | None = None) -> tuple[dict, object]:
    """Run ``episodes`` closed-loop episodes; returns a table row and the first recorded episode."""
    env = SimEnv(task, size, size)
    oracle = ExpertOracle(env, degraded=degraded, seed=seed + (1000 if degraded else 0))
    policy = ActionImagePolicy(oracle, env.rig, horizon=horizon, min_confidence=min_confidence)
    t0 = time.perf_counter()
    results, first = [], None
    for i in range(episodes):
        record = (record_first and i == 0) or export_dir is not None
        r = run_episode(env, policy, seed=seed + i, record=record, render_every_step=False)
        if record_first and i == 0:
            first = (env.rig, r)
        if export_dir is not None:
            export_episode(export_dir / f"{task}_{i:03d}", env, r)
        results.append(r)
    env.close()
    pos = sum((r.position_error_mm for r in results), [])
    rot = sum((r.rotation_error_deg for r in results), [])
    row = {
        "oracle": "degraded" if degraded else "clean", "task": task, "episodes": episodes,
        "successes": sum(r.success for r in results),
        "steps": float(np.mean([r.steps for r in results])),
        "holds": sum(r.holds for r in results),
        "calls": sum(r.model_calls for r in results),
        "pos_med": _pct(pos, 50), "pos_p90": _pct(pos, 90), "rot_med": _pct(rot, 50), "rot_p90": _pct(rot, 90),
        "conf_min": float(min(min(r.confidence) for r in results if r.confidence)),
        "errors": sum(r.error is not None for r in results),
        "seconds": time.perf_counter() - t0,
    }
    return row, first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=10, help="episodes per task and oracle (default 10)")
    ap.add_argument("--tasks", default="reach,pick", help="comma-separated: reach, pick")
    ap.add_argument("--size", type=int, default=384, help="camera image size in pixels (square; the degraded oracle's frames reach confidence 0.5 from about 320 px)")
    ap.add_argument("--horizon", type=int, default=8, help="future action frames per model call")
    ap.add_argument("--min-confidence", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--video", default="closed_loop_mujoco.mp4",
                    help="video of the first degraded episode of the last task ('' to skip)")
    ap.add_argument("--export", default=None, metavar="DIR",
                    help="write the clean-oracle episodes as a training set (published layout) under DIR")
    args = ap.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.episodes < 1:
        ap.error("--episodes must be >= 1")
    t0 = time.perf_counter()
    rows, recorded = [], None
    for degraded in (False, True):
        for task in tasks:
            export = Path(args.export) if args.export and not degraded else None
            row, first = evaluate(task, degraded, args.episodes, args.seed, args.size, args.horizon,
                                  args.min_confidence, record_first=bool(args.video) and degraded and task == tasks[-1],
                                  export_dir=export)
            rows.append(row)
            recorded = first or recorded
            print(f"  {row['oracle']:8s} {task:5s}: {row['successes']}/{row['episodes']} in {row['seconds']:.1f} s",
                  file=sys.stderr, flush=True)
    print(f"\n{args.episodes} episodes per task, {args.size}x{args.size} px, 3 views, horizon {args.horizon}, "
          f"min_confidence {args.min_confidence}, seed {args.seed}\n")
    print("| oracle | task | success | mean steps | holds | model calls | pos err median (mm) | pos err p90 (mm) "
          "| rot err median (deg) | rot err p90 (deg) | min confidence | raised | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = f"{r['successes'] / r['episodes']:.2f} ({r['successes']}/{r['episodes']})"
        print(f"| {r['oracle']} | {r['task']} | {rate} "
              f"| {r['steps']:.1f} | {r['holds']} | {r['calls']} | {r['pos_med']:.3f} | {r['pos_p90']:.3f} "
              f"| {r['rot_med']:.3f} | {r['rot_p90']:.3f} | {r['conf_min']:.2f} | {r['errors']} | {r['seconds']:.1f} |")
    if recorded is not None and args.video:
        rig, ep = recorded
        T = ep.drawn.shape[1]
        path = actimg.viz.overlay_video(args.video, ep.drawn, ep.images[:, :T], fps=5.0)
        print(f"\nvideo: {path} ({T} steps, views side by side, drawn action images over the camera frames)")
    if args.export:
        print(f"training set: {args.export} ({len(tasks) * args.episodes} clean episodes)")
    print(f"total time {time.perf_counter() - t0:.1f} s")
    rate = {c: sum(r["successes"] for r in rows if r["oracle"] == c) / sum(r["episodes"] for r in rows
                                                                            if r["oracle"] == c)
            for c in ("clean", "degraded")}
    print(f"success_rate clean={rate['clean']:.2f} degraded={rate['degraded']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
