"""Conversion speed of ``actimg.datasets.convert``: engines, time split, DROID-scale projection,
and actimg's overhead over writing the same videos alone.

Run from the repository root::

    python benchmarks/convert.py            # ~2 minutes: 6 episodes x 40 frames, 360x640 -> 256x256
    python benchmarks/convert.py --quick    # ~20 s: 4 episodes x 20 frames, 180x320 -> 128x128
    python benchmarks/convert.py --out /tmp/r   # also writes /tmp/r/convert.md and convert.json

The source is a generated plain-folder dataset (:mod:`actimg.datasets.synthetic`, 2 views,
H.264 observation videos). Measured, on this machine:

* each engine: ``local`` with 1 process (in this process), ``local`` with ``--workers``
  processes, ``ray`` on a local instance with ``--workers`` CPUs (instance start timed
  apart): wall time, episodes/s, frames/s (frames = time steps, each with 2 views), the
  start-up (time to the first finished episode: worker processes start, import actimg
  and load the kernels) and the steady rate after it (episodes ``W+1 .. N`` of ``N`` with
  ``W`` workers), which is what a long run sees;
* where the workers' time goes (the manifest's ``read_s`` = decode + crop/resize the
  source videos, ``render_s`` = action images, ``encode_s`` = write every file,
  ``quality_s`` = the quality check including a decode of the action images);
* the overhead target, side by side in one run (interleaved repetitions, same codecs:
  H.264 observations, FFV1 actions): ``write`` = writing the same output videos alone
  from frames in memory, ``read + write`` = decoding and resizing the source videos, then
  writing, ``convert`` = the full conversion with 1 process. Target: convert <= 1.25x write.
  ``write`` and ``read + write`` are plain sequential loops in one thread (the encoders
  single-threaded, as in the converter). The converter overlaps, within its one process,
  decoding and resizing the source videos (a feed thread) with rendering, the quality check
  and encoding (one encoder at a time); so each candidate's CPU seconds (all threads of
  this process, ``time.process_time``) are reported next to its wall time: the wall ratio is
  what one worker with a spare core sees, the CPU ratio what a machine whose every core is
  busy sees (throughput per core).
  The same without observation videos (``observation_videos=False``: no source video is
  decoded), against writing the same action videos alone: actimg's own costs (reading
  actions and rig, rendering, the quality check with its decode, rig file, manifest)
  over the video writing they feed.
* the projected wall time of a DROID-sized input (80k episodes, 2 views, 250 frames) on N
  cores, every core busy: 80k x 250 frames x the CPU seconds per frame measured with one
  worker (all its threads) / N. Resolution matters: DROID's raw recordings are 720x1280,
  so its decode costs more than this source's.

Nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import actimg  # noqa: E402
from actimg.datasets import convert  # noqa: E402
from actimg.datasets.avio import read_frames, write_frames  # noqa: E402
from actimg.datasets.frames import crop_resize_frames, crop_resize_rig  # noqa: E402
from actimg.datasets.synthetic import make_folder_dataset  # noqa: E402
from benchmarks._results import write_results  # noqa: E402

DROID = {"episodes": 80_000, "views": 2, "frames": 250}


def _write_only(src: Path, names: list[str], size: tuple[int, int], frames_cache: dict, out: Path) -> float:
    """Write the output videos of every episode from frames already in memory."""
    t = time.perf_counter()
    for n in names:
        obs, act = frames_cache[n]
        for v in range(len(obs)):
            write_frames(out / f"{n}_video_{v}.mp4", obs[v], 10.0, "h264-obs")
            write_frames(out / f"{n}_action_{v}.mkv", act[v], 10.0, "ffv1")
    return time.perf_counter() - t


def _write_actions_only(src: Path, names: list[str], size: tuple[int, int], frames_cache: dict, out: Path) -> float:
    """Write the action videos of every episode from frames already in memory."""
    t = time.perf_counter()
    for n in names:
        _, act = frames_cache[n]
        for v in range(len(act)):
            write_frames(out / f"{n}_action_{v}.mkv", act[v], 10.0, "ffv1")
    return time.perf_counter() - t


def _read_write(src: Path, names: list[str], size: tuple[int, int], frames_cache: dict, out: Path) -> float:
    """Decode and resize the source videos, then write the same output videos."""
    t = time.perf_counter()
    for n in names:
        _, act = frames_cache[n]
        for v in range(len(act)):
            obs = crop_resize_frames(read_frames(src / n / f"video_{v}.mp4"), *size)
            write_frames(out / f"{n}_video_{v}.mp4", obs, 10.0, "h264-obs")
            write_frames(out / f"{n}_action_{v}.mkv", act[v], 10.0, "ffv1")
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run (~20 s)")
    ap.add_argument("--workers", type=int, default=2, help="processes / Ray CPUs for the parallel runs (2)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of the overhead comparison")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    ap.add_argument("--out", default=None, help="folder for convert.md / convert.json")
    args = ap.parse_args(argv)
    if args.quick:
        n_eps, T, src_hw, size, reps = 4, 20, (180, 320), (128, 128), args.reps or 3
    else:
        n_eps, T, src_hw, size, reps = 6, 40, (360, 640), (256, 256), args.reps or 3
    work = Path(tempfile.mkdtemp(prefix="actimg_bench_convert_"))
    lines: list[str] = []
    res: dict = {"config": {"episodes": n_eps, "frames": T, "views": 2, "source": list(src_hw), "size": list(size),
                            "workers": args.workers, "reps": reps}}

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    try:
        src = work / "src"
        t = time.perf_counter()
        names = make_folder_dataset(src, n_episodes=n_eps, n_frames=T, n_views=2, height=src_hw[0], width=src_hw[1])
        gen_s = time.perf_counter() - t
        actimg.warmup()
        load = os.getloadavg()
        say("# Conversion benchmark (`python benchmarks/convert.py" + (" --quick" if args.quick else "") + "`)")
        say()
        say(f"- date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; machine: {platform.machine()}, "
            f"{os.cpu_count()} CPUs; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        say(f"- input: {n_eps} generated episodes x {T} frames x 2 views, H.264 {src_hw[0]}x{src_hw[1]} source "
            f"videos (generated in {gen_s:.1f} s); output {size[0]}x{size[1]}, H.264 observations, FFV1 actions")
        say()
        # ------------------------------------------------ overhead, side by side
        cache = {}
        for n in names:
            rig = actimg.load_rig(src / n / "rig.json")
            small = crop_resize_rig(rig, *size)
            obs = [crop_resize_frames(read_frames(src / n / f"video_{v}.mp4"), *size) for v in range(2)]
            cache[n] = (obs, actimg.encode(np.load(src / n / "actions.npy"), small))
        times: dict[str, list[float]] = {"write": [], "read + write": [], "convert": [], "write actions": [],
                                         "convert actions": []}
        cpu: dict[str, list[float]] = {k: [] for k in times}
        for r in range(reps):
            for label in times:
                out = work / f"o_{label.replace(' ', '')}_{r}"
                out.mkdir()
                c0 = time.process_time()
                if label == "write":
                    times[label].append(_write_only(src, names, size, cache, out))
                elif label == "read + write":
                    times[label].append(_read_write(src, names, size, cache, out))
                elif label == "write actions":
                    times[label].append(_write_actions_only(src, names, size, cache, out))
                elif label == "convert actions":
                    t = time.perf_counter()
                    convert(src, out, size=size, progress=False, observation_videos=False)
                    times[label].append(time.perf_counter() - t)
                else:
                    t = time.perf_counter()
                    convert(src, out, size=size, progress=False)
                    times[label].append(time.perf_counter() - t)
                cpu[label].append(time.process_time() - c0)
                shutil.rmtree(out)
        med = {k: statistics.median(v) for k, v in times.items()}
        mcpu = {k: statistics.median(v) for k, v in cpu.items()}
        say(f"## actimg's overhead (1 process, medians of {reps} interleaved repetitions)")
        say()
        say("| candidate | median wall s | wall ratio | target | met? | median CPU s | CPU ratio |")
        say("|---|---:|---|---|---|---:|---|")

        def cpu_cols(k: str, base: str) -> str:
            return f"{mcpu[k]:.2f} | {mcpu[k] / mcpu[base]:.2f}x"

        say(f"| write the same videos alone | {med['write']:.2f} | baseline | | | {mcpu['write']:.2f} | baseline |")
        say(f"| read + resize source, write videos | {med['read + write']:.2f} | "
            f"{med['read + write'] / med['write']:.2f}x write | | | {cpu_cols('read + write', 'write')} |")
        ratio = med["convert"] / med["write"]
        say(f"| convert | {med['convert']:.2f} | {ratio:.2f}x write | <= 1.25x | {'yes' if ratio <= 1.25 else 'no'} | "
            f"{cpu_cols('convert', 'write')} |")
        say(f"| convert | {med['convert']:.2f} | {med['convert'] / med['read + write']:.2f}x read + write | (info) | | "
            f"{cpu_cols('convert', 'read + write')} |")
        say(f"| write the same action videos alone | {med['write actions']:.2f} | baseline (actions only) | | | "
            f"{mcpu['write actions']:.2f} | baseline |")
        ra = med["convert actions"] / med["write actions"]
        say(f"| convert without observation videos | {med['convert actions']:.2f} | {ra:.2f}x write actions | "
            f"<= 1.25x | {'yes' if ra <= 1.25 else 'no'} | {cpu_cols('convert actions', 'write actions')} |")
        say()
        say("each repetition's wall s: "
            + "; ".join(f"{k} " + ", ".join(f"{x:.2f}" for x in v) for k, v in times.items()))
        res["overhead"] = {"median_s": med, "all_s": times, "median_cpu_s": mcpu, "all_cpu_s": cpu,
                           "cpu_convert_over_write": mcpu["convert"] / mcpu["write"], "convert_over_write": ratio,
                           "convert_over_read_write": med["convert"] / med["read + write"],
                           "convert_actions_over_write_actions": ra}
        say()
        # ------------------------------------------------ engines
        say("## Engines")
        say()
        say("| engine | workers | wall s | episodes/s | frames/s | start-up s | steady episodes/s | steady frames/s "
            "| read | render | write files | quality |")
        say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        engines = [("local", 1), ("local", args.workers)] + ([] if args.no_ray else [("ray", args.workers)])
        res["engines"] = []
        steady_fps_per_worker = None
        fps_per_cpu_s = float("nan")
        for engine, workers in engines:
            out = work / f"e_{engine}_{workers}"
            extra = ""
            if engine == "ray":
                import ray

                t = time.perf_counter()
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
                extra = f" (+ {time.perf_counter() - t:.1f} s ray.init)"
            arrivals: list[tuple[float, int]] = []
            c0 = time.process_time()
            t = time.perf_counter()
            r = convert(src, out, size=size, engine=engine, workers=workers, progress=False,
                        on_row=lambda row: arrivals.append((time.perf_counter(), int(row["frames"]))))
            wall = time.perf_counter() - t
            cpu_s = time.process_time() - c0  # this process's threads: all the work for local x 1
            if engine == "ray":
                ray.shutdown()
            parts = {k: sum(row[k] for row in r.rows) for k in ("read_s", "render_s", "encode_s", "quality_s")}
            busy = sum(parts.values())
            frames = sum(row["frames"] for row in r.rows)
            startup = arrivals[0][0] - t
            W = min(workers, len(arrivals) - 1)
            dt = arrivals[-1][0] - arrivals[W - 1][0] if W >= 1 else float("nan")
            steady_eps = (len(arrivals) - W) / dt if dt > 0 else float("nan")
            steady_fps = sum(f for _, f in arrivals[W:]) / dt if dt > 0 else float("nan")
            if engine == "local" and workers == 1:
                steady_fps_per_worker = steady_fps
                fps_per_cpu_s = frames / cpu_s
            say(f"| {engine}{extra} | {workers} | {wall:.2f} | {n_eps / wall:.2f} | {frames / wall:.1f} | "
                f"{startup:.2f} | {steady_eps:.2f} | {steady_fps:.1f} | "
                + " | ".join(f"{100 * parts[k] / busy:.0f}%" for k in ("read_s", "render_s", "encode_s", "quality_s"))
                + " |")
            res["engines"].append({"engine": engine, "workers": workers, "wall_s": wall, "episodes_per_s": n_eps / wall,
                                   "frames_per_s": frames / wall, "startup_s": startup,
                                   "steady_episodes_per_s": steady_eps, "steady_frames_per_s": steady_fps,
                                   "split_s": parts})
            shutil.rmtree(out)
        say()
        total_frames = DROID["episodes"] * DROID["frames"]
        say(f"## DROID-sized input ({DROID['episodes']:,} episodes x {DROID['views']} views x {DROID['frames']} "
            f"frames), projected")
        say()
        say(f"one worker here: {fps_per_cpu_s:.1f} frames per CPU second (all its threads; the steady wall rate "
            f"was {steady_fps_per_worker:.1f} frames/s, its feed thread using a second core part of the time) "
            f"(2 views, {src_hw[0]}x{src_hw[1]} -> {size[0]}x{size[1]}); projected = 80k x 250 frames / "
            "(N cores x frames per CPU second), every core busy with one worker, assuming linear scaling "
            "over independent episodes (the shared 2-core machine here cannot measure scaling)")
        say()
        say("| cores N | projected wall time |")
        say("|---:|---:|")
        proj = {}
        for n in (1, 16, 64, 256, 1024):
            sec = total_frames / (n * fps_per_cpu_s)
            proj[n] = sec
            say(f"| {n} | {sec / 3600:.1f} h ({sec / 86400:.2f} days) |")
        res["droid_projection_s"] = proj
        res["steady_frames_per_s_per_worker"] = steady_fps_per_worker
        res["frames_per_cpu_s_per_worker"] = fps_per_cpu_s
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        write_results(args.out, "convert", "\n".join(lines) + "\n", res, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
