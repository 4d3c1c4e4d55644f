"""``actimg convert SRC DST ...``: the command-line face of :func:`actimg.datasets.convert`.

Registered by ``actimg/cli.py`` through :func:`add_convert_parser`; importing this module
imports nothing heavy.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_convert_parser", "run_convert"]


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must be HxW in pixels, e.g. 256x256, got {text!r}") from None
    return h, w


def add_convert_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``convert`` sub-command to an ``argparse`` sub-parser set."""
    p = subparsers.add_parser(
        "convert", help="robot dataset (folder, LeRobot, DROID) -> action-image training data",
        description="Convert a robot dataset into action-image training data: per episode actions.npy, rig.json "
                    "(after the crop/resize), instruction.txt, observation videos video_<v>.mp4 and action videos "
                    "action_<v>.mkv|.mp4, plus DST/manifest.parquet. Restartable: rerun the same command after an "
                    "interruption. Needs pip install \"actimg[datasets]\" (Ray engine: \"actimg[ray]\").")
    p.add_argument("src", metavar="SRC", help="source dataset folder")
    p.add_argument("dst", metavar="DST", help="output folder")
    p.add_argument("--reader", choices=("folder", "lerobot", "droid"), default="folder", help="source layout")
    p.add_argument("--size", type=_size, default=(256, 256), help="output HxW in px (default 256x256)")
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="process pool or Ray")
    p.add_argument("--workers", type=int, default=1, help="processes (local) or CPUs of a local Ray instance")
    p.add_argument("--ray-address", default=None, help="an existing Ray cluster (e.g. auto, ray://head:10001)")
    p.add_argument("--action-codec", choices=("ffv1", "h264"), default="ffv1",
                   help="action videos: ffv1 (lossless .mkv, default) or h264 (.mp4)")
    p.add_argument("--format", choices=("folder", "lerobot"), default="folder", help="output layout")
    p.add_argument("--on-quality", choices=("flag", "drop"), default="flag",
                   help="episodes past a quality threshold: flag (write, status filtered) or drop (write nothing)")
    p.add_argument("--max-outside", type=float, default=0.2, help="max fraction of frames with the end effector "
                   "outside every view (default 0.2)")
    p.add_argument("--max-jump-m", type=float, default=0.1, help="max position step between frames, m (0.1)")
    p.add_argument("--max-jump-deg", type=float, default=45.0, help="max rotation step between frames, deg (45)")
    p.add_argument("--min-triangulation-deg", type=float, default=5.0,
                   help="min angle between two views' rays to the end effector, deg (5)")
    p.add_argument("--max-decode-mm", type=float, default=5.0,
                   help="max median position error decoding the episode's own action images, mm (5)")
    p.add_argument("--retry-failed", action="store_true", help="convert again episodes that failed before")
    p.add_argument("--no-videos", action="store_true", help="do not read or write observation videos")
    g = p.add_argument_group("LeRobot reader (LeRobot stores no calibration)")
    g.add_argument("--rig", default=None, help="rig file (actimg.save_rig) for every episode; default: the "
                   "actimg.rig episode-metadata column")
    g.add_argument("--cameras", default=None, help="comma-separated camera keys in rig view order")
    g.add_argument("--pose-key", default="observation.state", help="column holding the pose (observation.state)")
    g.add_argument("--rotation", default="euler:xyz", help="euler:<scipy seq> (xyz extrinsic, XYZ intrinsic), "
                   "quat:xyzw, quat:wxyz or rotvec (default euler:xyz)")
    g.add_argument("--position-index", type=int, default=0, help="index of x in the pose vector (0)")
    g.add_argument("--gripper-index", type=int, default=6, help="index of the gripper value (6)")
    g.add_argument("--gripper", choices=("openness", "closedness"), default="openness",
                   help="what the gripper value means (1 = open, or 1 = closed)")
    g.add_argument("--fps", type=float, default=None, help="frames per second (folder: default 10; droid: 15)")
    p.set_defaults(func=run_convert)
    return p


def run_convert(args: argparse.Namespace) -> int:
    """Run ``actimg convert``; 0 when every episode converted, 1 when some failed or were filtered."""
    from . import PoseColumns, Thresholds, convert

    opts: dict[str, Any] = {}
    if args.reader == "lerobot":
        opts["rig"] = args.rig
        if args.cameras:
            opts["cameras"] = [c.strip() for c in args.cameras.split(",") if c.strip()]
        opts["pose"] = PoseColumns(key=args.pose_key, position=args.position_index, rotation=args.rotation,
                                   gripper=args.gripper_index, gripper_meaning=args.gripper)
    elif args.rig or args.cameras:
        raise ValueError("--rig and --cameras are options of --reader lerobot")
    if args.fps is not None and args.reader in ("folder", "droid"):
        opts["fps"] = args.fps
    if args.no_videos and args.reader == "droid":
        opts["videos"] = False
    th = Thresholds(args.max_outside, args.max_jump_m, args.max_jump_deg, args.min_triangulation_deg,
                    args.max_decode_mm)
    res = convert(args.src, args.dst, args.reader, size=args.size, engine=args.engine, workers=args.workers,
                  action_codec=args.action_codec, format=args.format, thresholds=th, on_quality=args.on_quality,
                  observation_videos=not args.no_videos, retry_failed=args.retry_failed,
                  ray_address=args.ray_address, reader_options=opts)
    return 0 if res.count("ok") == len(res.rows) else 1
