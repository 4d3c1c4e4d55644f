"""Command line: ``actimg demo | encode | decode | bench | viz``.

Every command prints ``actimg: error: <one line>`` on stderr and exits with status 2 on
bad input (missing file, wrong shapes, view or frame counts that do not match the rig);
``actimg demo`` exits 1 when the decoded errors are off. Rig files are JSON (or YAML),
read and written by ``actimg.cameras`` (``load_rig`` / ``save_rig``).

Image inputs (``VIDEO_OR_DIR``), one per view in view order, may be a video file (any
codec FFmpeg reads), a folder of PNG frames, or a ``.npy`` array ``(T, H, W, 3)`` (uint8, or
float in [0, 1]); a single ``.npy`` of shape ``(V, T, H, W, 3)`` holds every view.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["CliError", "image_grid", "main"]

BENCHMARKS = ("speed", "fidelity", "accuracy")
_FORMATS = {  # --format -> (extension, write_video quality or None, description)
    "mkv": (".mkv", "lossless", "FFV1 in .mkv, lossless (default)"),
    "avi": (".avi", "high", "Motion-JPEG 4:4:4 q100 in .avi, near-lossless"),
    "mp4": (".mp4", "standard", "mp4v (MPEG-4 Part 2) in .mp4, lossy"),
    "png": ("", None, "one folder of PNG frames per view, lossless"),
    "npy": (".npy", None, "one (T, H, W, 3) .npy array per view (uint8 or --dtype float32)"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def image_grid(images: np.ndarray, n_cols: int = 6, tile: int = 192, labels: bool = True,
               view_names: Sequence[str] | None = None) -> np.ndarray:
    """Tile ``(V, T, H, W, 3)`` uint8 images: one row per view, ``n_cols`` frames evenly spaced.

    With ``labels`` (default) each row is named (``view 0``, or ``view_names``), each
    column carries its frame index, and a legend under the grid says what the channels
    mean (R = tool point P, G = N on the tool x axis, B = U on the tool -z axis, a blue
    floor = gripper open).

    Returns an ``(rows, cols, 3)`` uint8 RGB image (tiles keep the aspect ratio, height
    ``tile`` px, 2 px white gutters).
    """
    import cv2

    V, T, H, W, _ = images.shape
    cols = np.unique(np.linspace(0, T - 1, min(n_cols, T)).round().astype(int))
    th, tw = tile, max(1, round(tile * W / H))
    g = 2
    grid = np.full((V * (th + g) - g, len(cols) * (tw + g) - g, 3), 255, np.uint8)
    for v in range(V):
        for j, t in enumerate(cols):
            grid[v * (th + g):v * (th + g) + th, j * (tw + g):j * (tw + g) + tw] = cv2.resize(
                images[v, t], (tw, th), interpolation=cv2.INTER_AREA)
    if not labels:
        return grid
    names = list(view_names) if view_names is not None else [f"view {v}" for v in range(V)]
    if len(names) != V:
        raise ValueError(f"view_names has {len(names)} names for {V} views")
    font, fs, black = cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0)
    left = 12 + max(cv2.getTextSize(n, font, fs, 1)[0][0] for n in names)
    top, bottom = 24, 50
    out = np.full((grid.shape[0] + top + bottom, grid.shape[1] + left, 3), 255, np.uint8)
    out[top:top + grid.shape[0], left:] = grid
    for j, t in enumerate(cols):
        cv2.putText(out, f"frame {t}", (left + j * (tw + g) + 4, top - 8), font, fs, black, 1, cv2.LINE_AA)
    for v, n in enumerate(names):
        cv2.putText(out, n, (4, top + v * (th + g) + th // 2 + 5), font, fs, black, 1, cv2.LINE_AA)
    y = top + grid.shape[0] + 20
    cv2.putText(out, "R = tool point P (position)   G = N (tool x axis)   B = U (tool -z axis)", (4, y), font,
                fs, black, 1, cv2.LINE_AA)
    cv2.putText(out, "dark blue background (B floor 0.25) = gripper open; black = closed", (4, y + 22), font, fs,
                black, 1, cv2.LINE_AA)
    return out


# ------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    import cv2

    from . import decode, encode, euler_to_matrix, rotation_angle_deg
    from .scenes import default_scene

    rig, actions = default_scene(args.views, args.frames, args.size, args.size)
    from ._compile import prepare

    tk = time.perf_counter()
    # the kernels this demo runs: loaded from numba's cache, or (first run) compiled,
    # encoder and decoder side by side in parallel processes
    prepare(("encode_u8", "detect_u8", "frames", "finish"))
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
    print(f"  kernels (compiled, or loaded from the cache): {1e3 * (t0 - tk):8.1f} ms")
    print(f"  encode (first call):                         {1e3 * (t1 - t0):8.1f} ms")
    print(f"  decode (first call):                         {1e3 * (t2 - t1):8.1f} ms")
    print(f"  action images written to {path}")
    print(f"  frames valid:          {int(result.valid.sum())}/{T}")
    print(f"  position error (mm):   median {np.nanmedian(pos_mm):.4f}   max {np.nanmax(pos_mm):.4f}")
    print(f"  rotation error (deg):  median {np.nanmedian(rot_deg):.4f}   max {np.nanmax(rot_deg):.4f}")
    print(f"  gripper correct:       {int(grip_ok.sum())}/{T}")
    print(f"  confidence:            min {result.confidence.min():.3f}")
    ok = result.valid.all() and np.nanmax(pos_mm) < 1.0 and np.nanmax(rot_deg) < 1.0 and grip_ok.all()
    return 0 if ok else 1


# --------------------------------------------------------------- file inputs
def _load_rig(path: str) -> Any:
    """A :class:`CameraRig` from a JSON rig file (``actimg.cameras.load_rig``)."""
    if not Path(path).is_file():
        raise CliError(f"rig file not found: {path!r}")
    try:
        from .cameras import load_rig
    except ImportError as exc:
        raise CliError(f"reading rig files needs actimg.cameras.load_rig, which this installation lacks ({exc})")
    try:
        return load_rig(path)
    except (ValueError, KeyError, TypeError) as exc:
        msg = str(exc)
        raise CliError(msg if path in msg else f"rig file {path!r} is not a valid rig: {msg}") from None


def _load_actions(path: str, what: str = "--actions") -> np.ndarray:
    """``(T, 7)`` float64 actions from ``.npy`` (or ``.csv`` / ``.txt``, one action per row)."""
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{what} file not found: {path!r}")
    try:
        if p.suffix.lower() == ".npy":
            a = np.load(p, allow_pickle=False)
        elif p.suffix.lower() in (".csv", ".txt"):
            a = np.loadtxt(p, delimiter="," if p.suffix.lower() == ".csv" else None, ndmin=2)
        else:
            raise CliError(f"{what} must be a .npy, .csv or .txt file, got {path!r}")
    except (ValueError, OSError) as exc:
        raise CliError(f"could not read {what} {path!r}: {exc}") from None
    if a.ndim != 2 or a.shape[1] != 7 or a.shape[0] == 0:
        raise CliError(f"{what} {path!r} must hold (T, 7) actions [x, y, z, rx, ry, rz, openness], got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise CliError(f"{what} {path!r} must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64)


def _read_one(path: str, what: str) -> np.ndarray:
    from .media.video import read_video

    p = Path(path)
    if not p.exists():
        raise CliError(f"{what} not found: {path!r}")
    if p.suffix.lower() == ".npy" and p.is_file():
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CliError(f"could not read {what} {path!r}: {exc}") from None
        return a
    try:
        return read_video(p)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _read_views(paths: Sequence[str], rig: Any = None, what: str = "input") -> np.ndarray:
    """``(V, T, H, W, 3)`` images from one input per view, checked against each other and the rig."""
    if not paths:
        raise CliError(f"no {what} given")
    arrays = [_read_one(p, what) for p in paths]
    if len(arrays) == 1 and arrays[0].ndim == 5:
        views, names = list(arrays[0]), [f"{paths[0]}[{v}]" for v in range(arrays[0].shape[0])]
    else:
        views, names = arrays, list(paths)
    for a, n in zip(views, names):
        if a.ndim != 4 or a.shape[-1] != 3:
            raise CliError(f"{what} {n!r} must be frames of shape (T, H, W, 3), got {a.shape}")
        if a.dtype != np.uint8 and a.dtype not in (np.float32, np.float64):
            raise CliError(f"{what} {n!r} must be uint8 or float in [0, 1], got dtype {a.dtype}")
    if rig is not None and len(views) != rig.n_views:
        raise CliError(f"{len(views)} {what}s given but the rig has {rig.n_views} views "
                       "(give one video, PNG folder or .npy per view, in view order)")
    for v, (a, n) in enumerate(zip(views, names)):
        if rig is not None and a.shape[1:3] != (rig.height, rig.width):
            raise CliError(f"view {v} ({n!r}) is {a.shape[1]}x{a.shape[2]} (height x width) but the rig is for "
                           f"{rig.height}x{rig.width}")
        if a.shape[1:3] != views[0].shape[1:3]:
            raise CliError(f"view {v} ({n!r}) is {a.shape[1]}x{a.shape[2]} but view 0 ({names[0]!r}) is "
                           f"{views[0].shape[1]}x{views[0].shape[2]}")
        if a.shape[0] != views[0].shape[0]:
            raise CliError(f"view {v} ({n!r}) has {a.shape[0]} frames but view 0 ({names[0]!r}) has "
                           f"{views[0].shape[0]}")
        if a.dtype != views[0].dtype:
            raise CliError(f"view {v} ({n!r}) has dtype {a.dtype} but view 0 has {views[0].dtype}")
    if rig is not None and rig.n_frames is not None and views[0].shape[0] != rig.n_frames:
        raise CliError(f"the {what}s have {views[0].shape[0]} frames but the per-frame rig has {rig.n_frames}")
    return np.stack(views)


def _f(x: Any, scale: float = 1.0, nd: int = 6) -> float | None:
    v = float(x) * scale
    return round(v, nd) if np.isfinite(v) else None


# ------------------------------------------------------------------ encode
def _encode(args: argparse.Namespace) -> int:
    from . import encode
    from .media.video import write_png_sequence, write_video

    ext, quality, _ = _FORMATS[args.format]
    if args.dtype == "float32" and args.format != "npy":
        raise CliError("--dtype float32 needs --format npy (videos and PNG frames hold 8-bit images)")
    rig = _load_rig(args.rig)
    actions = _load_actions(args.actions)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {args.out!r} exists and is not a folder")
    targets = [out / f"view{v}{ext}" for v in range(rig.n_views)]
    rig_copy = out / ("rig" + (Path(args.rig).suffix.lower() or ".json"))  # same format as --rig
    clash = [str(t) for t in targets + [rig_copy, out / "encode.json"] if t.exists()]
    if clash and not args.overwrite:
        raise CliError(f"{clash[0]!r} already exists (pass --overwrite to replace the outputs)")
    images = encode(actions, rig, dtype=np.float32 if args.dtype == "float32" else np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    codec = "npy"
    for v, target in enumerate(targets):
        if args.format == "npy":
            np.save(target, images[v])
        elif args.format == "png":
            if target.exists():
                shutil.rmtree(target)
            codec = write_png_sequence(target, images[v]).codec
        else:
            codec = write_video(target, images[v], fps=args.fps, quality=quality).codec
        files.append(str(target))
    if Path(args.rig).resolve() != rig_copy.resolve():
        shutil.copyfile(args.rig, rig_copy)
    V, T, H, W, _ = images.shape
    manifest = {"views": files, "rig": str(rig_copy), "format": args.format, "codec": codec,
                "dtype": str(images.dtype), "n_views": V, "n_frames": T, "height": H, "width": W,
                "fps": args.fps if args.format in ("mkv", "avi", "mp4") else None,
                "actions": str(args.actions)}
    (out / "encode.json").write_text(json.dumps(manifest, indent=1))
    print(f"actimg encode: {V} views x {T} frames x {H}x{W} -> {out}/ ({args.format}, {codec}); "
          f"rig copied to {rig_copy}")
    for f in files:
        print(f"  {f}")
    return 0


# ------------------------------------------------------------------ decode
def _decode(args: argparse.Namespace) -> int:
    from . import decode

    rig = _load_rig(args.rig)
    images = _read_views(args.inputs, rig)
    result = decode(images, rig, method=args.method)
    V, T, H, W, _ = images.shape
    out = Path(args.out)
    if out.suffix.lower() != ".npy":
        out = out.with_name(out.name + ".npy")  # what np.save would write
    report = Path(args.report) if args.report else out.with_suffix(".json")
    for p in (out, report):
        if not p.parent.is_dir():
            raise CliError(f"output folder {str(p.parent)!r} does not exist")
    np.save(out, result.actions)
    reproj = np.asarray(result.reprojection_error, float)
    frames = []
    for t in range(T):
        rt = reproj[t][np.isfinite(reproj[t])]
        frames.append({
            "frame": t,
            "valid": bool(result.valid[t]),
            "confidence": _f(result.confidence[t]),
            "openness": _f(result.openness[t]),
            "single_view": bool(result.single_view[t]) if result.single_view is not None else False,
            "ambiguous": bool(result.ambiguous[t]) if result.ambiguous is not None else False,
            "position_std_mm": _f(result.position_std[t], 1e3) if result.position_std is not None else None,
            "rotation_std_deg": _f(result.rotation_std[t]) if result.rotation_std is not None else None,
            "reprojection_error_px_max": _f(rt.max()) if rt.size else None,
            "action": [_f(x, nd=9) for x in result.actions[t]] if result.valid[t] else None,
        })
    valid = np.asarray(result.valid, bool)
    conf = np.asarray(result.confidence, float)
    summary = {
        "n_views": V, "n_frames": T, "height": H, "width": W, "method": result.method,
        "valid_frames": int(valid.sum()),
        "invalid_frames": [int(t) for t in np.flatnonzero(~valid)],
        "single_view_frames": [int(t) for t in np.flatnonzero(np.asarray(result.single_view, bool))]
        if result.single_view is not None else [],
        "ambiguous_frames": [int(t) for t in np.flatnonzero(np.asarray(result.ambiguous, bool))]
        if result.ambiguous is not None else [],
        "confidence_median": _f(np.median(conf)), "confidence_min": _f(conf.min()),
        "open_frames": int(np.nansum(result.openness)) if valid.any() else 0,
        "inputs": [str(p) for p in args.inputs], "rig": str(args.rig), "actions": str(out),
    }
    with open(report, "w") as fh:
        json.dump({"summary": summary, "frames": frames}, fh, indent=1)
    print(f"actimg decode: {V} views x {T} frames x {H}x{W} ({result.method}): {int(valid.sum())}/{T} frames valid, "
          f"{len(summary['single_view_frames'])} single-view, confidence median {np.median(conf):.3f}; "
          f"wrote {out} and {report}")
    return 0


# ------------------------------------------------------------------- bench
def _find_benchmarks(explicit: str | None, name: str) -> Path:
    """The ``benchmarks`` folder of a source checkout holding ``<name>.py``."""
    if explicit:
        cands = [Path(explicit)]
    else:
        cands = [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[1] / "benchmarks"]
    for c in cands:
        if (c / f"{name}.py").is_file():
            return c.resolve()
    where = ", ".join(repr(str(c)) for c in cands)
    raise CliError(f"benchmarks/{name}.py not found (looked in {where}): `actimg bench` runs the benchmarks of a "
                   "source checkout; run it from the repository root or pass --dir")


class _Progress:
    """Elapsed-time indicator on stderr while a long call runs.

    On a terminal: a spinner line redrawn every 0.2 s; other writes to ``sys.stderr``
    (the benchmarks' own progress lines) first clear it, so lines never mix. Otherwise: a
    line ``<label>: still running (N s)`` every ``interval`` seconds.
    """

    _FRAMES = "|/-\\"

    def __init__(self, label: str, interval: float, stream: TextIO | None = None) -> None:
        self.label = label
        self.real = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.real, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else float(interval)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.drawn = False
        self.t0 = time.perf_counter()
        self.thread = threading.Thread(target=self._run, daemon=True)

    # file-like proxy installed as sys.stderr on a terminal
    def write(self, s: str) -> int:
        with self.lock:
            self._clear()
            return self.real.write(s)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return self.tty

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _clear(self) -> None:
        if self.drawn:
            self.real.write("\r\033[K")
            self.drawn = False

    def _run(self) -> None:
        i = 0
        while not self.stop_event.wait(self.interval):
            el = time.perf_counter() - self.t0
            with self.lock:
                if self.tty:
                    self._clear()
                    self.real.write(f"{self._FRAMES[i % 4]} {self.label}: {el:.0f} s")
                    self.drawn = True
                else:
                    self.real.write(f"{self.label}: still running ({el:.0f} s)\n")
                self.real.flush()
            i += 1

    def __enter__(self) -> _Progress:
        self.saved = sys.stderr
        if self.tty:
            sys.stderr = self  # type: ignore[assignment]
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join()
        with self.lock:
            self._clear()
        sys.stderr = self.saved


def _bench(args: argparse.Namespace) -> int:
    import importlib
    import importlib.util

    d = _find_benchmarks(args.dir, args.name)
    root = str(d.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    if (d / "__init__.py").is_file() and d.name.isidentifier():
        mod = importlib.import_module(f"{d.name}.{args.name}")
    else:
        spec = importlib.util.spec_from_file_location(f"_actimg_bench_{args.name}", d / f"{args.name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    main_fn: Callable[[list[str]], int] | None = getattr(mod, "main", None)
    if main_fn is None:
        raise CliError(f"{d / (args.name + '.py')} has no main(argv) function")
    label = f"actimg bench {args.name}"
    argv0 = sys.argv[0]
    sys.argv[0] = label  # the benchmark's argparse names itself after this
    t0 = time.perf_counter()
    try:
        if args.no_progress or any(a in ("-h", "--help") for a in args.args):
            rc = main_fn(list(args.args))
        else:
            with _Progress(label, args.progress_interval):
                rc = main_fn(list(args.args))
    except SystemExit as exc:  # the benchmark's argparse: --help (0) or bad arguments (2)
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return rc
    finally:
        sys.argv[0] = argv0
    rc = int(rc or 0)
    print(f"{label}: finished in {time.perf_counter() - t0:.1f} s (exit {rc})", file=sys.stderr)
    return rc


# --------------------------------------------------------------------- viz
def _viz_overlay(args: argparse.Namespace) -> int:
    from .media.viz import overlay_video

    if args.images:
        images = _read_views(args.images, _load_rig(args.rig) if args.rig else None, "--images input")
        if args.actions:
            raise CliError("give either --images or --actions with --rig, not both")
    else:
        if not (args.actions and args.rig):
            raise CliError("give --images VIDEO_OR_DIR... (one per view), or --actions A.npy with --rig rig.json")
        from . import encode

        images = encode(_load_actions(args.actions), _load_rig(args.rig))
    rgb = None
    if args.rgb:
        rgb = _read_views(args.rgb, None, "--rgb input")
        if rgb.shape[0] != images.shape[0]:
            raise CliError(f"{rgb.shape[0]} --rgb input(s) for {images.shape[0]} views of action images")
        if rgb.shape[1:4] != images.shape[1:4]:
            raise CliError(f"--rgb frames are {rgb.shape[1]} x {rgb.shape[2]}x{rgb.shape[3]} (frames x height x width) "
                           f"but the action images are {images.shape[1]} x {images.shape[2]}x{images.shape[3]}")
    path = overlay_video(args.out, images, rgb, fps=args.fps, alpha=args.alpha)
    print(f"actimg viz overlay: {images.shape[0]} views x {images.shape[1]} frames -> {path}")
    return 0


def _decoded_from(args: argparse.Namespace, rig: Any) -> Any:
    from . import decode

    if args.decoded and args.images:
        raise CliError("give either --decoded or --images, not both")
    if args.decoded:
        return _load_actions(args.decoded, "--decoded")
    if args.images:
        return decode(_read_views(args.images, rig), rig, method=args.method)
    return None


def _viz_trajectory(args: argparse.Namespace) -> int:
    from .media.viz import plot_trajectories_3d

    rig = _load_rig(args.rig)
    true = _load_actions(args.actions) if args.actions else None
    dec = _decoded_from(args, rig)
    if true is None and dec is None:
        raise CliError("give --actions (true), --decoded or --images (decoded here), or both")
    path = plot_trajectories_3d(args.out, true, dec, rig)
    print(f"actimg viz trajectory: {path}")
    return 0


def _viz_errors(args: argparse.Namespace) -> int:
    from . import decode
    from .media.viz import plot_errors

    rig = _load_rig(args.rig)
    true = _load_actions(args.actions) if args.actions else None
    result = decode(_read_views(args.images, rig), rig, method=args.method)
    if true is not None and true.shape[0] != result.actions.shape[0]:
        raise CliError(f"--actions has {true.shape[0]} frames but the images have {result.actions.shape[0]}")
    path = plot_errors(args.out, result, true)
    print(f"actimg viz errors: {path}")
    return 0


# ------------------------------------------------------------------ parser
def _wrap(text: str) -> str:
    """Paragraphs (blank-line separated) filled to 88 columns; RST quotes removed."""
    import textwrap

    return "\n\n".join(textwrap.fill(" ".join(p.split()), 88) for p in text.replace("``", "").split("\n\n"))


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="actimg", description="Robot actions as multi-view action images.",
                                     epilog=_wrap(__doc__.split("\n\n", 1)[1]), formatter_class=fmt)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"actimg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = sub.add_parser("demo", help="encode the embedded default scene, write a PNG grid, decode, print errors")
    d.add_argument("--views", type=int, default=3, help="number of cameras (default 3)")
    d.add_argument("--frames", type=int, default=41, help="number of frames (default 41)")
    d.add_argument("--size", type=int, default=512, help="image height and width in px (default 512)")
    d.add_argument("--out", default="actimg_demo", help="output folder (default ./actimg_demo)")
    d.set_defaults(func=_demo)

    e = sub.add_parser("encode", help="actions (.npy) + rig (.json) -> one action video (or PNG folder) per view",
                       description=_wrap("Render (T, 7) actions as action images, one file per view: "
                       "OUT/view0.<ext>, OUT/view1.<ext>, ..., plus OUT/rig.json (a copy of --rig; rig.yaml for a "
                       "YAML rig) and OUT/encode.json (what was written, with the codec).") + "\n\nformats:\n" +
                       "\n".join(f"  {k:4s} {v[2]}" for k, v in _FORMATS.items()), formatter_class=fmt)
    e.add_argument("--actions", required=True, help="(T, 7) actions [x, y, z, rx, ry, rz, openness]: .npy, .csv, .txt")
    e.add_argument("--rig", required=True, help="camera rig file, .json or .yaml (actimg.cameras.save_rig)")
    e.add_argument("--out", required=True, help="output folder (created)")
    e.add_argument("--format", choices=sorted(_FORMATS), default="mkv", help="output format (default mkv: lossless)")
    e.add_argument("--dtype", choices=("uint8", "float32"), default="uint8",
                   help="image dtype; float32 (values in [0, 1]) only with --format npy (default uint8)")
    e.add_argument("--fps", type=float, default=10.0, help="frames per second stored in videos (default 10)")
    e.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    e.set_defaults(func=_encode)

    c = sub.add_parser("decode", help="action videos (one per view) + rig -> actions .npy and a JSON report",
                       description=_wrap("Decode action images, one input per view in view order (a video, a folder of "
                       "PNG frames, or a (T, H, W, 3) .npy; or one (V, T, H, W, 3) .npy). Writes --out (T, 7) "
                       "actions (NaN rows = invalid frames) and a JSON report: per frame valid, confidence, "
                       "openness, single_view, predicted position/rotation std and reprojection error, plus a "
                       "summary."), formatter_class=fmt)
    c.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="one input per view, in view order")
    c.add_argument("--rig", required=True, help="camera rig JSON the images were rendered with")
    c.add_argument("--out", default="actions.npy", help="decoded (T, 7) actions (default ./actions.npy)")
    c.add_argument("--report", default=None, help="JSON report (default: --out with .json)")
    c.add_argument("--method", choices=("actimg", "published"), default="actimg",
                   help="decoder (default actimg; published = the paper's algorithm, for comparison)")
    c.set_defaults(func=_decode)

    b = sub.add_parser("bench", help="run benchmarks/<name>.py of a source checkout",
                       description=_wrap("Run benchmarks/NAME.py's main(ARGS) from a source checkout (found in ./benchmarks "
                       "or beside the actimg package; --dir to point elsewhere), with an elapsed-time indicator on "
                       "stderr. Arguments after NAME go to the benchmark: `actimg bench fidelity --help` shows its "
                       "options (speed and fidelity take --quick)."), formatter_class=fmt)
    b.add_argument("--dir", default=None, help="the benchmarks folder (default: ./benchmarks, then the checkout's)")
    b.add_argument("--no-progress", action="store_true", help="no progress indicator")
    b.add_argument("--progress-interval", type=float, default=30.0,
                   help="seconds between progress lines when stderr is not a terminal (default 30)")
    b.add_argument("name", choices=BENCHMARKS, metavar="NAME", help="one of: " + ", ".join(BENCHMARKS))
    b.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for the benchmark")
    b.set_defaults(func=_bench)

    v = sub.add_parser("viz", help="figures and videos: overlay, trajectory, errors",
                       description="Figures from files; see `actimg viz SUBCOMMAND --help`.")
    vs = v.add_subparsers(dest="viz_command", required=True, metavar="SUBCOMMAND")
    o = vs.add_parser("overlay", help="action images over observation frames (or black) as .mp4 / .gif",
                      description="Write the action images (from --images, or rendered from --actions and --rig), "
                      "blended over --rgb observation frames if given, views side by side, as a video (.mp4 / .mov: "
                      "mp4v; .mkv / .avi: FFV1) or an animated .gif.")
    o.add_argument("--images", nargs="+", metavar="VIDEO_OR_DIR", help="action images, one input per view")
    o.add_argument("--actions", help="(T, 7) actions to render instead of --images (needs --rig)")
    o.add_argument("--rig", help="camera rig JSON (for --actions; with --images: checks sizes and view count)")
    o.add_argument("--rgb", nargs="+", metavar="VIDEO_OR_DIR", help="observation frames, one input per view")
    o.add_argument("--out", required=True, help="output .mp4, .mov, .mkv, .avi or .gif")
    o.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    o.add_argument("--alpha", type=float, default=0.7, help="opacity of a full blob over --rgb (default 0.7)")
    o.set_defaults(func=_viz_overlay)
    t = vs.add_parser("trajectory", help="3D plot of true vs decoded trajectories with camera frusta (.png)",
                      description="3D plot: true positions (--actions), decoded ones (--decoded actions, or "
                      "--images decoded here), tool axes, camera frusta.")
    t.add_argument("--rig", required=True, help="camera rig JSON")
    t.add_argument("--actions", help="true (T, 7) actions")
    t.add_argument("--decoded", help="decoded (T, 7) actions (e.g. from actimg decode)")
    t.add_argument("--images", nargs="+", metavar="VIDEO_OR_DIR", help="action images to decode, one per view")
    t.add_argument("--method", choices=("actimg", "published"), default="actimg", help="decoder for --images")
    t.add_argument("--out", required=True, help="output image (.png, .pdf, .svg)")
    t.set_defaults(func=_viz_trajectory)
    r = vs.add_parser("errors", help="per-frame position/rotation error, confidence, reprojection (.png)",
                      description="Decode --images and plot per-frame errors against --actions (if given), "
                      "the decoder's predicted std, confidence, openness and reprojection error per view.")
    r.add_argument("--rig", required=True, help="camera rig JSON")
    r.add_argument("--images", nargs="+", required=True, metavar="VIDEO_OR_DIR", help="action images, one per view")
    r.add_argument("--actions", help="true (T, 7) actions")
    r.add_argument("--method", choices=("actimg", "published"), default="actimg", help="decoder")
    r.add_argument("--out", required=True, help="output image (.png, .pdf, .svg)")
    r.set_defaults(func=_viz_errors)
    from .datasets.cli import add_convert_parser  # actimg convert (issue 20); imports nothing heavy
    add_convert_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``actimg`` console script; returns the exit status."""
    # FFmpeg inside OpenCV prints its own lines ("moov atom not found") on stderr; the CLI
    # promises one "actimg: error:" line, so keep FFmpeg quiet unless the user asked for it
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, ValueError, TypeError, OSError, RuntimeError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"actimg: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
