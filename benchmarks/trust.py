"""Can a confident frame be trusted? Confident-wrong frames, rank correlation, frames kept.

The promise of :func:`actimg.decode`: a frame reported ``valid`` with ``confidence >= 0.5``
is within 2 mm and 2 degrees of the truth. This script counts the frames that break it
over many seeded scenes:

* rigs: random static rigs (``accuracy.random_rig``) with 1 (a one-camera rig), 2, 3 and 4
  views, 256 and 512 px;
* motion: ``trajectory`` (a smooth trajectory, 16 frames, a few mm and degrees per frame:
  what a video of a moving robot shows) and ``random`` (an independent random pose per
  frame: nothing links neighbouring frames);
* single-view frames: one-view rigs, and ``blank`` (multi-view rigs where one view goes
  blank, all three blobs gone, for a third of the frames in the middle of the clip);
* images: clean, and every corruption of the fidelity benchmark (``fidelity.corruptions``)
  at its middle and strong strengths, plus a strength beyond them (``BEYOND``).

Per frame: position error (mm), rotation error (deg, full rotation), ``valid``,
``confidence``, ``ambiguous``. Reported per cell and pooled:

* ``confident wrong``: valid, confidence >= 0.5 and error > 2 mm or > 2 deg (must be 0);
* ``spearman``: rank correlation of confidence with the error (invalid frames count as
  infinitely wrong; error = max(position mm, rotation deg)), pooled over all frames
  (must be <= -0.5);
* ``kept``: fraction of frames valid with confidence >= 0.5 (what is left to use), and
  ``kept right``: fraction valid, confident and right. Clean frames of 2+ views must all
  be kept.

    python benchmarks/trust.py [--quick] [--seeds 2] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's actimg

import actimg  # noqa: E402
from actimg import corrupt  # noqa: E402
from accuracy import CENTER, random_rig  # noqa: E402
from _results import output_dir, write_results  # noqa: E402
from fidelity import corruptions  # noqa: E402

POS_MM, ROT_DEG, CONF = 2.0, 2.0, 0.5
#: a strength beyond the fidelity benchmark's strong one, per corruption (same order)
BEYOND = {"gaussian noise": 0.24, "blur": 18.0, "down/up-sampling": 12, "JPEG": 8, "video codec": 45,
          "ghost blob": 1.5, "blob missing in a view": 0.9, "channel cross-talk": 0.3,
          "brightness/contrast": 3.0, "noisy floor": 0.15, "colour mixing 3x3": 0.3, "motion blur": 30.0,
          "view drift": 4.0}


# -------------------------------------------------------------------------- scenes
def _smooth(rng: np.random.Generator, T: int, dims: int) -> np.ndarray:
    """``(T, dims)`` smooth signals in about [-1, 1] over the clip (low-frequency sinusoids)."""
    t = np.linspace(0.0, 1.0, T)
    out = np.zeros((T, dims))
    for _ in range(3):
        out += rng.uniform(0.5, 1.0, dims) * np.sin(2 * np.pi * rng.uniform(0.2, 0.8, dims) * t[:, None]
                                                    + rng.uniform(0, 2 * np.pi, dims))
    return out / 3.0


def _rotvec_matrix(w: np.ndarray) -> np.ndarray:
    th = np.linalg.norm(w, axis=-1, keepdims=True)[..., None]
    k = np.zeros(w.shape[:-1] + (3, 3))
    n = w / np.maximum(th[..., 0], 1e-12)
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -n[..., 2], n[..., 1], -n[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    return np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * (k @ k)


def _seen(a: np.ndarray, rig: actimg.CameraRig, need: int) -> np.ndarray:
    """``(T,)`` every point in front of every camera and inside ``need`` images, 3 px in."""
    pix, depth = actimg.project_actions(a, rig)
    m = 3.0
    inside = ((pix[..., 0] >= m) & (pix[..., 0] <= rig.width - 1 - m) & (pix[..., 1] >= m)
              & (pix[..., 1] <= rig.height - 1 - m))
    return (depth > 0.05).all(axis=(0, 2)) & (inside.sum(axis=0) >= need).all(axis=1)


def trajectory(rng: np.random.Generator, rig: actimg.CameraRig, T: int) -> np.ndarray:
    """A smooth ``(T, 7)`` trajectory around a random orientation, seen by every view."""
    need = min(2, rig.n_views)
    amp = 0.08
    for attempt in range(400):
        pos = CENTER + rng.normal(0, 0.03, 3) + amp * _smooth(rng, T, 3)
        q = rng.normal(size=4)
        R = _rotvec_matrix(0.6 * _smooth(rng, T, 3)) @ actimg.quat_to_matrix(q / np.linalg.norm(q), "xyzw")
        a = np.empty((T, 7))
        a[:, :3] = pos
        a[:, 3:6] = actimg.matrix_to_euler(R)
        a[:, 6] = (np.arange(T) < T // 2 + rng.integers(-3, 4)).astype(float)
        if _seen(a, rig, need if rig.n_views > 1 else 1).all():
            return a
        if attempt % 50 == 49:
            amp *= 0.8
    raise RuntimeError("no trajectory in view")


def random_poses(rng: np.random.Generator, rig: actimg.CameraRig, T: int) -> np.ndarray:
    """``(T, 7)`` independent random poses (nothing links neighbouring frames)."""
    need = min(2, rig.n_views)
    out: list[np.ndarray] = []
    while len(out) < T:
        a = np.empty((64, 7))
        a[:, :3] = CENTER + rng.uniform(-0.12, 0.12, (64, 3))
        a[:, 3:6] = actimg.matrix_to_euler(actimg.quat_to_matrix(rng.normal(size=(64, 4)), "xyzw"))
        a[:, 6] = rng.integers(0, 2, 64)
        out.extend(a[_seen(a, rig, need)])
    return np.array(out[:T])


def blank_view(images: np.ndarray, view: int, frames: np.ndarray) -> np.ndarray:
    """All three blobs of ``view`` gone in ``frames`` (the view went blank / turned away)."""
    out = images
    for ch in range(3):
        out = corrupt.drop_blob(out, channel=ch, views=[view], frames=[int(f) for f in frames])
    return out


@dataclass(frozen=True)
class Case:
    size: int
    views: int
    motion: str       # "trajectory" | "random"
    blank: bool       # one view blank for the middle third
    seed: int
    rig: actimg.CameraRig
    actions: np.ndarray
    images: np.ndarray


def cases(seeds: list[int], sizes: list[int], views: list[int], T: int) -> list[Case]:
    out = []
    for size in sizes:
        for nv in views:
            for seed in seeds:
                for motion in ("trajectory", "random"):
                    rng = np.random.default_rng([seed, nv, size, motion == "random"])
                    rig = random_rig(rng, nv, size)
                    a = trajectory(rng, rig, T) if motion == "trajectory" else random_poses(rng, rig, T)
                    img = actimg.encode(a, rig)
                    out.append(Case(size, nv, motion, False, seed, rig, a, img))
                    if nv >= 2:
                        mid = np.arange(T // 3, T - T // 3)
                        out.append(Case(size, nv, motion, True, seed, rig, a,
                                        blank_view(img, int(rng.integers(nv)), mid)))
    return out


# ------------------------------------------------------------------------- metrics
def frame_table(res: actimg.DecodeResult, a: np.ndarray) -> dict[str, np.ndarray]:
    pos = np.linalg.norm(res.positions - a[:, :3], axis=1) * 1e3
    rot = actimg.rotation_angle_deg(res.rotations, actimg.euler_to_matrix(a[:, 3:6]))
    ok = res.valid & np.isfinite(pos) & np.isfinite(rot)
    amb = getattr(res, "ambiguous", None)
    return {"pos": np.where(ok, pos, np.inf), "rot": np.where(ok, rot, np.inf), "valid": ok,
            "conf": np.where(ok, res.confidence, 0.0),
            "single": np.asarray(res.single_view, bool) & ok,
            "ambiguous": np.zeros(len(a), bool) if amb is None else np.asarray(amb, bool)}


def summary(fr: list[dict[str, np.ndarray]]) -> dict[str, float]:
    c = {k: np.concatenate([f[k] for f in fr]) for k in fr[0]}
    confident = c["valid"] & (c["conf"] >= CONF)
    wrong = (c["pos"] > POS_MM) | (c["rot"] > ROT_DEG)
    err = np.maximum(c["pos"], c["rot"])
    err = np.where(np.isfinite(err), err, 1e9)
    rho = float(spearmanr(c["conf"], err).statistic) if np.ptp(c["conf"]) > 0 and np.ptp(err) > 0 else float("nan")
    return {"frames": int(err.size), "confident_wrong": int((confident & wrong).sum()),
            "worst_confident_mm": float(np.max(np.where(confident, c["pos"], 0.0), initial=0.0)),
            "worst_confident_deg": float(np.max(np.where(confident, c["rot"], 0.0), initial=0.0)),
            "spearman": rho, "valid": float(c["valid"].mean()), "kept": float(confident.mean()),
            "kept_right": float((confident & ~wrong).mean()), "right": float((~wrong).mean()),
            "single_view": float(c["single"].mean()), "ambiguous": float(c["ambiguous"].mean())}


def levels() -> list[tuple[str, int]]:
    return [("weak", 0), ("middle", 1), ("strong", 2), ("beyond", 3)]


def run(args: argparse.Namespace) -> tuple[list[dict], dict[str, list]]:
    rows: list[dict] = []
    pooled: dict[str, list] = {"all": [], "clean": [], "clean 2+ views, no blank": []}
    all_cases = cases(args.seeds, args.sizes, args.views, args.frames)
    print(f"{len(all_cases)} scenes", file=sys.stderr)

    def add(key: dict, fr: dict[str, np.ndarray]) -> None:
        rows.append({**key, "_fr": fr})
        pooled["all"].append(fr)

    for i, cs in enumerate(all_cases):
        base = dict(size=cs.size, views=cs.views, motion=cs.motion, blank=cs.blank, seed=cs.seed)
        fr = frame_table(actimg.decode(cs.images, cs.rig), cs.actions)
        add({**base, "corruption": "clean", "level": "-", "strength": 0.0}, fr)
        pooled["clean"].append(fr)
        if cs.views >= 2 and not cs.blank:
            pooled["clean 2+ views, no blank"].append(fr)
        for c in corruptions(cs.size):
            scaled = c.name in ("blur", "motion blur")  # pixel lengths that scale with the image
            strengths = list(c.strengths) + [BEYOND[c.name] * (cs.size / 512.0 if scaled else 1.0)]
            for lvl, j in levels():
                if lvl not in args.levels:
                    continue
                bad = c.apply(cs.images, strengths[j], 1000 * cs.seed + 7 * i + j)
                fr = frame_table(actimg.decode(bad, cs.rig), cs.actions)
                add({**base, "corruption": c.name, "level": lvl, "strength": float(strengths[j])}, fr)
        print(f"  {i + 1}/{len(all_cases)} {cs.size} px {cs.views} views {cs.motion}{' blank' if cs.blank else ''}",
              file=sys.stderr)
    return rows, pooled


def group(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    out: dict[tuple, list] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r["_fr"])
    return [{**dict(zip(keys, k)), **summary(v)} for k, v in out.items()]


def _f(x: float, d: int = 3) -> str:
    return "inf" if not np.isfinite(x) else f"{x:.{d}f}"


def markdown(res: dict, args: argparse.Namespace, seconds: float) -> str:
    cmd = "python benchmarks/trust.py" + (" --quick" if args.quick else "") + f" --seeds {len(args.seeds)}"
    o = [f"# Trust: confident-wrong frames\n\n`{cmd}` ({seconds:.0f} s). {res['pooled']['all']['frames']} frames: "
         f"{len(args.seeds)} seed(s) x sizes {args.sizes} x views {args.views} x {{smooth trajectory, independent "
         f"random poses}} x {{all views, one view blank for the middle third}} x {{clean, "
         f"{len(BEYOND)} corruptions x {len(args.levels)} strengths ({', '.join(args.levels)})}}, "
         f"{args.frames} frames each. "
         f"A frame is *confident* when valid with confidence >= {CONF}, *wrong* when off by > {POS_MM} mm or "
         f"> {ROT_DEG} deg. *kept*: fraction confident; *kept right*: confident and right; *right*: right "
         "whatever its confidence; *spearman*: confidence vs max(mm, deg) error (invalid = infinitely wrong).\n"]
    head = ("| {} | frames | confident wrong | worst confident (mm / deg) | spearman | valid | kept | kept right "
            "| right | single-view | ambiguous |\n|" + "---|" * 11 + "\n")
    def line(name: str, s: dict) -> str:
        return (f"| {name} | {s['frames']} | **{s['confident_wrong']}** | {_f(s['worst_confident_mm'], 2)} / "
                f"{_f(s['worst_confident_deg'], 2)} | {_f(s['spearman'])} | {_f(s['valid'])} | {_f(s['kept'])} | "
                f"{_f(s['kept_right'])} | {_f(s['right'])} | {_f(s['single_view'])} | {_f(s['ambiguous'])} |\n")
    o.append("\n## Pooled\n\n" + head.format("pool"))
    for k, s in res["pooled"].items():
        o.append(line(k, s))
    o.append("\n## By scene (all images)\n\n" + head.format("views / motion / blank"))
    for s in res["by_scene"]:
        o.append(line(f"{s['views']} / {s['motion']} / {'blank' if s['blank'] else '-'}", s))
    o.append("\n## By size and views\n\n" + head.format("size / views"))
    for s in res["by_size"]:
        o.append(line(f"{s['size']} / {s['views']}", s))
    o.append("\n## By corruption and strength\n\n" + head.format("corruption / level (strength)"))
    for s in res["by_corruption"]:
        o.append(line(f"{s['corruption']} / {s['level']} ({', '.join(f'{x:g}' for x in s['strengths'])})", s))
    return "".join(o)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="256 px, one seed, middle and beyond strengths only")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--out", default=None, help="output folder (default: benchmarks/results for a full run; a --quick "
                   "run only prints unless --out is given, and never writes there)")
    args = p.parse_args(argv)
    out = output_dir(args.out, args.quick)
    args.seeds = list(range(1 if args.quick else args.seeds))
    args.sizes = [256] if args.quick else [256, 512]
    args.views = [1, 2, 3] if args.quick else [1, 2, 3, 4]
    args.levels = ("middle", "beyond") if args.quick else ("middle", "strong", "beyond")
    t0 = time.perf_counter()
    actimg.warmup()
    rows, pooled = run(args)
    res = {"pooled": {k: summary(v) for k, v in pooled.items() if v},
           "by_scene": group(rows, ("views", "motion", "blank")),
           "by_size": group(rows, ("size", "views")),
           "by_corruption": group(rows, ("corruption", "level"))}
    for s in res["by_corruption"]:
        s["strengths"] = sorted({r["strength"] for r in rows
                                 if r["corruption"] == s["corruption"] and r["level"] == s["level"]})
    md = markdown(res, args, time.perf_counter() - t0)
    if out is None:
        print(md)
        print("quick run: nothing written (pass --out DIR to keep the tables)", file=sys.stderr)
        return 0
    args.out = str(out)
    write_results(args.out, "trust_quick" if args.quick else "trust", md,
                  {"args": {k: v for k, v in vars(args).items()}, **res})
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
