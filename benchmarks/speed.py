"""Speed of actimg's encoder and decoder against the published formulation, side by side.

Run from the repository root::

    python benchmarks/speed.py                # full run (a few minutes)
    python benchmarks/speed.py --quick        # CI smoke: fewer reps, published config only
    python -m benchmarks.speed --out /tmp/r   # writes /tmp/r/speed.md and /tmp/r/speed.json

Candidates, timed in the same process and interleaved round-robin in every repetition
(the machine may be shared and noisy, so slow drifts hit every candidate alike):

* ``dense``: the dense numpy formulation of the published encoder
  (``tests/dense_reference.reference_encode``, applied per view), uint8;
* ``encode(out=)``: ``actimg.encode`` writing into a reused buffer;
* ``encode fresh``: ``actimg.encode`` without ``out=``, the result dropped after each
  call: the next call of the same size gets that memory back, already faulted in
  (``actimg.set_buffer_cache``); ``encode fresh, last kept``: the usual loop
  ``img = encode(...)`` where the previous result is alive during the call;
* ``np.empty + encode(out=)``: a result in new memory every time (page faults and the
  kernel's zeroing included), what ``encode fresh`` costs without reuse;
* ``fill(0)``: ``out.fill(0)`` on that same buffer: the memory floor of writing it;
* ``fill(64) numba``: a numba ``nogil`` loop writing a non-zero byte, split over as many
  threads as actimg uses (the other write floor; shown, not used for the targets);
* ``stream fill(0)`` / ``stream fill(64)``: the encoder's own output path (aligned
  64-byte non-temporal stores, same threads) writing zeros, then the open-gripper floor
  byte: the same instructions, different data (on some machines writing zero lines is
  much cheaper than writing anything else, and ``fill(0)`` profits from that);
* ``read max()``: ``out.max()``, numpy's SIMD read of the whole array: the read floor;
* ``decode clean`` / ``decode noisy``: ``actimg.decode`` (the full robust decoder) on the
  clean images and on images with Gaussian noise (sigma 0.08 in [0, 1] units, seeded);
* ``published``: ``actimg.decode(images, rig, method="published", ...)``, the faithful numpy
  implementation of the published decoder, with the settings its inference script uses
  (near 0.5 m, far 1.0 m, 512 depth samples, no edge smoothing; its function defaults,
  64 samples, cost 8x less and are 10x less accurate: ``benchmarks/accuracy.py``).

Each candidate is called once untimed first (compilation, first-touch page faults), then
timed with ``time.perf_counter`` (garbage collector off during a call); the table shows
medians. First-call compile time is measured separately in child processes: with a fresh
``NUMBA_CACHE_DIR`` (cold) and again with the same directory (warm cache).

Nothing here asserts on a time: targets are reported as met or not.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import numba  # noqa: E402
from numba import njit  # noqa: E402

import actimg  # noqa: E402
from actimg.codec._encode_kernels import _store_block, _store_fence  # noqa: E402
from actimg.codec._llvm import _address  # noqa: E402
from benchmarks._results import output_dir, write_results  # noqa: E402
from benchmarks.accuracy import PUBLISHED  # noqa: E402
from benchmarks._scenes import Scene, add_noise, make_scene  # noqa: E402

#: (views, frames, height, width, name)
CONFIGS = [
    (2, 41, 512, 512, "published"),
    (4, 49, 480, 640, "4-view"),
]

TARGETS = {
    "encode_vs_dense": 75.0,     # encode(out=) at least this many times faster than dense
    "encode_vs_fill": 2.5,       # encode(out=) at most this many times fill(0)
    "fresh_vs_fill": 5.0,        # encode fresh at most this many times fill(0)
    "decode_vs_published": 40.0, # decode clean at least this many times faster than published
    "decode_vs_read": 4.0,       # decode clean at most this many times read max()
    "warm_first_call_s": 0.5,    # first encode+decode with a warm cache, seconds
}

NOISE_SIGMA = 0.08
#: the published decoder runs with the settings its inference script uses
PUBLISHED_INFERENCE = PUBLISHED["published (inference: 0.5-1.0 m, 512)"]
FILL_BYTE = 64  # the open-gripper blue floor, round(255 * 0.25)


# ------------------------------------------------------------------ memory floors
@njit(nogil=True, cache=False)
def _fill_kernel(flat, value, start, stop):  # pragma: no cover - numba
    # loop over a sub-view from 0: indexing flat[i] from an unknown start keeps LLVM from
    # proving i >= 0 and the loop stays scalar (a byte per cycle); this one vectorises
    sub = flat[start:stop]
    for i in range(sub.size):
        sub[i] = value


@njit(nogil=True, cache=False)
def _stream_kernel(flat, block, start, stop):  # pragma: no cover - numba
    # the encoder's own output path: aligned 64-byte non-temporal stores of ``block``
    # (plain byte stores for the unaligned ends), then a store fence
    base = _address(flat)
    src = _address(block)
    i = start
    while i < stop and (base + np.uint64(i)) % np.uint64(64) != 0:
        flat[i] = block[0]
        i += 1
    while i + 64 <= stop:
        _store_block(base + np.uint64(i), src)
        i += 64
    while i < stop:
        flat[i] = block[0]
        i += 1
    _store_fence()


def _num_threads() -> int:
    """The thread count actimg's kernels use (``ACTIMG_NUM_THREADS`` or usable CPUs)."""
    try:
        from actimg._parallel import num_threads

        return int(num_threads())
    except Exception:  # the private helper moved: same rule, computed here
        env = os.environ.get("ACTIMG_NUM_THREADS")
        if env and env.isdigit() and int(env) > 0:
            return int(env)
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)


class _ThreadedFill:
    """Fill a C-contiguous array with one byte value, split over ``n`` threads."""

    def __init__(self, n: int) -> None:
        self.n = max(1, n)
        self.pool = ThreadPoolExecutor(max_workers=self.n) if self.n > 1 else None

    def __call__(self, arr: np.ndarray, value: int, stream: bool = False) -> None:
        flat = arr.reshape(-1)
        size = flat.size
        kernel: Callable[..., None] = _fill_kernel
        arg: Any = np.uint8(value)
        if stream:
            kernel, arg = _stream_kernel, np.full(64, value, np.uint8)
        if self.pool is None:
            kernel(flat, arg, 0, size)
            return
        # chunk bounds on 4 KiB pages so no two threads share a cache line
        b = [min(size, (size * i // self.n) // 4096 * 4096) for i in range(self.n)] + [size]
        futs = [self.pool.submit(kernel, flat, arg, b[i], b[i + 1]) for i in range(1, self.n)]
        kernel(flat, arg, b[0], b[1])
        for f in futs:
            f.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


# ------------------------------------------------------------------ timing
class Candidate:
    def __init__(self, key: str, label: str, fn: Callable[[], Any], reps: int) -> None:
        self.key, self.label, self.fn, self.reps = key, label, fn, reps
        self.times: list[float] = []
        self.cpu: list[tuple[float, float]] = []  # (user, system) CPU seconds of the process


def _rusage() -> tuple[float, float]:
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime, r.ru_stime
    except ImportError:  # pragma: no cover - not POSIX
        return float("nan"), float("nan")


def _time_once(fn: Callable[[], Any]) -> tuple[float, tuple[float, float]]:
    """Wall time of ``fn()`` and the process's (user, system) CPU time during it."""
    gc.collect()
    gc.disable()
    try:
        u0, s0 = _rusage()
        t0 = time.perf_counter()
        res = fn()
        t1 = time.perf_counter()
        u1, s1 = _rusage()
    finally:
        gc.enable()
    del res  # freeing a fresh result is not part of its time
    return t1 - t0, (u1 - u0, s1 - s0)


def _interleaved(cands: list[Candidate], log: Callable[[str], None]) -> None:
    """Warm every candidate once, then time them round-robin, ``c.reps`` times each.

    A candidate with fewer repetitions than the others runs in rounds spread evenly over
    the whole sequence (not only the first ones), so it sees the same machine state.
    """
    for c in cands:
        t, _ = _time_once(c.fn)
        log(f"    warm-up {c.label:<22s} {1e3 * t:9.2f} ms")
    rounds = max(c.reps for c in cands)
    plan = {c.key: set(np.round(np.linspace(0, rounds - 1, c.reps)).astype(int).tolist()) if c.reps > 1
            else {0} for c in cands}
    for rep in range(rounds):
        line = []
        for c in cands:
            if rep in plan[c.key]:
                t, cpu = _time_once(c.fn)
                c.times.append(t)
                c.cpu.append(cpu)
                line.append(f"{c.key}={1e3 * c.times[-1]:.1f}")
        log(f"    rep {rep + 1}: " + " ".join(line))


# ------------------------------------------------------------------ one configuration
def dense_encode(scene: Scene, out: np.ndarray) -> np.ndarray:
    """The published encoder, dense numpy, one view at a time (``tests/dense_reference``)."""
    from dense_reference import reference_encode

    rig = scene.rig
    for v in range(rig.n_views):
        out[v] = reference_encode(scene.actions, rig.intrinsics[v], rig.extrinsics[v], rig.height, rig.width,
                                  dtype=np.uint8)
    return out


def _position_error_mm(res: actimg.DecodeResult, actions: np.ndarray) -> float:
    err = np.linalg.norm(res.positions - actions[:, :3], axis=1)
    return float(np.nanmedian(err) * 1e3) if np.isfinite(err).any() else float("nan")


def bench_config(V: int, T: int, H: int, W: int, name: str, reps: int, slow_reps: int, seed: int,
                 filler: _ThreadedFill, log: Callable[[str], None]) -> dict[str, Any]:
    scene = make_scene(V, T, H, W, seed=seed)
    rig, actions = scene.rig, scene.actions
    shape = scene.shape
    label = f"{V}x{T}x{H}x{W}" + (" (published)" if name == "published" else "")
    log(f"[{label}] {np.prod(shape) / 2**20:.1f} MiB uint8 per image stack")

    out = np.empty(shape, np.uint8)
    dense_out = np.empty(shape, np.uint8)
    clean = actimg.encode(actions, rig)
    noisy = add_noise(clean, NOISE_SIGMA, seed=seed)
    last: dict[str, Any] = {}

    def run_decode(key: str, images: np.ndarray, **kw: Any) -> Callable[[], Any]:
        def fn() -> Any:
            last[key] = actimg.decode(images, rig, **kw)
            return None
        return fn

    kept: list[Any] = [None]

    def keep_last() -> None:
        # the previous result is dropped only when the new one is assigned
        kept[0] = actimg.encode(actions, rig)

    cands = [
        Candidate("dense", "dense numpy encode", lambda: dense_encode(scene, dense_out), slow_reps),
        Candidate("encode_out", "encode(out=)", lambda: actimg.encode(actions, rig, out=out), reps),
        Candidate("encode_fresh", "encode fresh", lambda: actimg.encode(actions, rig), reps),
        Candidate("encode_kept", "encode fresh, last kept", keep_last, reps),
        Candidate("encode_new", "np.empty + encode(out=)",
                  lambda: actimg.encode(actions, rig, out=np.empty(shape, np.uint8)), reps),
        Candidate("fill0", "fill(0)", lambda: out.fill(0), reps),
        Candidate("fresh_fill0", "np.empty + fill(0)", lambda: np.empty(shape, np.uint8).fill(0), reps),
        Candidate("fill_nz", f"fill({FILL_BYTE}) numba x{filler.n}", lambda: filler(out, FILL_BYTE), reps),
        Candidate("stream0", f"stream fill(0) x{filler.n}", lambda: filler(out, 0, stream=True), reps),
        Candidate("stream_nz", f"stream fill({FILL_BYTE}) x{filler.n}", lambda: filler(out, FILL_BYTE, stream=True),
                  reps),
        Candidate("read", "read out.max()", lambda: out.max(), reps),
        Candidate("decode_clean", "decode clean", run_decode("decode_clean", clean), reps),
        Candidate("decode_noisy", "decode noisy", run_decode("decode_noisy", noisy), reps),
        Candidate("published", "published decode (inference settings)",
                  run_decode("published", clean, method="published", **PUBLISHED_INFERENCE), slow_reps),
    ]
    _interleaved(cands, log)

    # correctness side-checks (untimed): the fast encoder must equal the dense one
    enc = actimg.encode(actions, rig, out=out)
    identical = bool(np.array_equal(enc, dense_out))
    differing = int(np.count_nonzero(enc != dense_out)) if not identical else 0
    clean_max = int(np.abs(clean.astype(np.int16) - dense_out).max())
    med = {c.key: float(np.median(c.times)) for c in cands}
    res = {
        "label": label,
        "name": name,
        "shape": list(shape),
        "bytes": int(np.prod(shape)),
        "seed": seed,
        "reps": {c.key: c.reps for c in cands},
        "labels": {c.key: c.label for c in cands},
        "times_s": {c.key: c.times for c in cands},
        "median_s": med,
        "min_s": {c.key: float(np.min(c.times)) for c in cands},
        "cpu_user_sys_s": {c.key: c.cpu for c in cands},
        "checks": {
            "encode_equals_dense": identical,
            "differing_bytes": differing,
            "clean_vs_dense_max_abs_diff": clean_max,
            "noise_sigma": NOISE_SIGMA,
            "noisy_vs_clean_mean_abs_diff": float(np.abs(noisy.astype(np.int16) - clean).mean()),
        },
        "accuracy": {
            "decode_clean_pos_err_median_mm": _position_error_mm(last["decode_clean"], actions),
            "decode_noisy_pos_err_median_mm": _position_error_mm(last["decode_noisy"], actions),
            "published_pos_err_median_mm": _position_error_mm(last["published"], actions),
            "decode_clean_valid": int(last["decode_clean"].valid.sum()),
            "decode_noisy_valid": int(last["decode_noisy"].valid.sum()),
            "decode_clean_openness_correct": int(np.sum(last["decode_clean"].openness == (actions[:, 6] > 0.5))),
            "decode_noisy_openness_correct": int(np.sum(last["decode_noisy"].openness == (actions[:, 6] > 0.5))),
            "frames": T,
        },
    }
    return res


# ------------------------------------------------------------------ compile time
_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import actimg
t1 = time.perf_counter()
sys.path.insert(0, {root!r})
from benchmarks._scenes import make_scene
sc = make_scene(2, 5, 96, 128, seed=1)
t2 = time.perf_counter()
img = actimg.encode(sc.actions, sc.rig)
t3 = time.perf_counter()
res = actimg.decode(img, sc.rig)
t4 = time.perf_counter()
img = actimg.encode(sc.actions, sc.rig)
res = actimg.decode(img, sc.rig)
t5 = time.perf_counter()
print("@@" + json.dumps(dict(import_s=t1 - t0, encode_first_s=t3 - t2, decode_first_s=t4 - t3,
                           first_call_s=t4 - t2, second_call_s=t5 - t4, valid=int(res.valid.sum()))))
"""


def _child(cache_dir: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT))], env=env, capture_output=True,
                          text=True, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    if proc.returncode != 0 or not lines:
        log(f"    child failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
        return {"error": proc.stderr[-2000:], "returncode": proc.returncode, "process_s": wall}
    out = json.loads(lines[-1][2:])
    out["process_s"] = wall
    if cache_dir is not None:
        out["cache_files"] = sum(len(f) for _, _, f in os.walk(cache_dir))
    return out


def bench_compile(mode: str, log: Callable[[str], None]) -> dict[str, Any]:
    """``mode`` "full": cold + warm in a fresh NUMBA_CACHE_DIR; "warm": the default cache only."""
    if mode == "warm":
        log("[compile] warm cache (the default cache location, populated by this run)")
        return {"mode": mode, "warm": _child(None, log)}
    with tempfile.TemporaryDirectory(prefix="actimg-numba-cache-") as d:
        log(f"[compile] cold cache ({d})")
        cold = _child(d, log)
        log(f"    {json.dumps(cold)}")
        log("[compile] warm cache (same directory)")
        warm = _child(d, log)
    log(f"    {json.dumps(warm)}")
    return {"mode": mode, "cold": cold, "warm": warm}


# ------------------------------------------------------------------ report
def _ms(t: float) -> str:
    return f"{1e3 * t:.2f}" if t < 10 else f"{1e3 * t:.0f}"


def _row(config: str, cand: str, t: float | None, ratio: str = "", target: str = "",
         met: bool | None = None) -> dict[str, Any]:
    return {"configuration": config, "candidate": cand, "median_ms": None if t is None else 1e3 * t,
            "ratio": ratio, "target": target, "met": met}


def build_rows(configs: list[dict[str, Any]], comp: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tg = TARGETS
    for r in configs:
        m, L, cfg = r["median_s"], r["labels"], r["label"]
        rows.append(_row(cfg, L["dense"], m["dense"], "baseline"))
        sp = m["dense"] / m["encode_out"]
        rows.append(_row(cfg, L["encode_out"], m["encode_out"], f"{sp:.0f}x faster than dense",
                         f">= {tg['encode_vs_dense']:.0f}x", sp >= tg["encode_vs_dense"]))
        f0 = m["encode_out"] / m["fill0"]
        rows.append(_row(cfg, L["encode_out"], m["encode_out"], f"{f0:.2f}x fill(0)",
                         f"<= {tg['encode_vs_fill']}x", f0 <= tg["encode_vs_fill"]))
        rows.append(_row(cfg, L["encode_out"], m["encode_out"], f"{m['encode_out'] / m['fill_nz']:.2f}x "
                         f"fill({FILL_BYTE}) numba", "(info)"))
        ff = m["encode_fresh"] / m["fill0"]
        rows.append(_row(cfg, L["encode_fresh"], m["encode_fresh"], f"{ff:.2f}x fill(0)",
                         f"<= {tg['fresh_vs_fill']}x", ff <= tg["fresh_vs_fill"]))
        rows.append(_row(cfg, L["encode_kept"], m["encode_kept"], f"{m['encode_kept'] / m['fill0']:.2f}x fill(0)",
                         "(info)"))
        rows.append(_row(cfg, L["encode_new"], m["encode_new"], f"{m['encode_new'] / m['fill0']:.2f}x fill(0), "
                         f"{m['encode_new'] / m['fresh_fill0']:.2f}x np.empty + fill(0) (no reuse)", "(info)"))
        rows.append(_row(cfg, L["fill0"], m["fill0"], "write floor"))
        rows.append(_row(cfg, L["fresh_fill0"], m["fresh_fill0"], f"{m['fresh_fill0'] / m['fill0']:.2f}x fill(0)"
                         " (fresh pages)"))
        rows.append(_row(cfg, L["fill_nz"], m["fill_nz"], f"{m['fill_nz'] / m['fill0']:.2f}x fill(0)"))
        rows.append(_row(cfg, L["stream0"], m["stream0"], f"{m['stream0'] / m['fill0']:.2f}x fill(0)"))
        rows.append(_row(cfg, L["stream_nz"], m["stream_nz"], f"{m['stream_nz'] / m['stream0']:.2f}x stream fill(0)"))
        rows.append(_row(cfg, L["read"], m["read"], "read floor"))
        rows.append(_row(cfg, L["published"], m["published"], "baseline"))
        sd = m["published"] / m["decode_clean"]
        rows.append(_row(cfg, L["decode_clean"], m["decode_clean"], f"{sd:.1f}x faster than published",
                         f">= {tg['decode_vs_published']:.0f}x", sd >= tg["decode_vs_published"]))
        rd = m["decode_clean"] / m["read"]
        rows.append(_row(cfg, L["decode_clean"], m["decode_clean"], f"{rd:.2f}x read max()",
                         f"<= {tg['decode_vs_read']}x", rd <= tg["decode_vs_read"]))
        rows.append(_row(cfg, L["decode_noisy"], m["decode_noisy"],
                         f"{m['decode_noisy'] / m['read']:.2f}x read, "
                         f"{m['published'] / m['decode_noisy']:.1f}x faster than published"))
    if comp:
        cfg = "first call, 2x5x96x128"
        cold, warm = comp.get("cold"), comp.get("warm")
        if cold and "first_call_s" in cold:
            rows.append(_row(cfg, "import actimg (cold cache)", cold["import_s"]))
            rows.append(_row(cfg, "encode+decode, cold cache", cold["first_call_s"],
                             f"encode {_ms(cold['encode_first_s'])} + decode {_ms(cold['decode_first_s'])} ms"))
        if warm and "first_call_s" in warm:
            where = "warm cache" if comp["mode"] == "full" else "warm default cache"
            rows.append(_row(cfg, f"import actimg ({where})", warm["import_s"]))
            rows.append(_row(cfg, f"encode+decode, {where}", warm["first_call_s"],
                             f"encode {_ms(warm['encode_first_s'])} + decode {_ms(warm['decode_first_s'])} ms; "
                             f"2nd call {_ms(warm['second_call_s'])} ms",
                             f"< {1e3 * tg['warm_first_call_s']:.0f} ms",
                             warm["first_call_s"] < tg["warm_first_call_s"]))
    return rows


def render_markdown(meta: dict[str, Any], rows: list[dict[str, Any]], configs: list[dict[str, Any]]) -> str:
    lines = ["# actimg speed benchmark", ""]
    lines += [f"- date: {meta['date']}",
              f"- machine: {meta['machine']}; {meta['cpu_count']} CPUs ({meta['cpus_usable']} usable), "
              f"actimg threads {meta['actimg_threads']}; load average {meta['loadavg_start']} at start, "
              f"{meta['loadavg_end']} at end; CPU pressure (PSI some avg10/avg60) "
              f"{meta['cpu_pressure_start']} at start, {meta['cpu_pressure_end']} at end",
              f"- CPU use while timing: {_fmt_load(meta.get('cpu_during_timing'))}",
              f"- python {meta['python']}, numpy {meta['numpy']}, numba {meta['numba']}, actimg {meta['actimg']}",
              f"- warm medians; candidates interleaved round-robin in each repetition; "
              f"{meta['reps']} reps (dense and published: {meta['slow_reps']}); uint8 images; "
              f"noisy = Gaussian sigma {NOISE_SIGMA} (in [0, 1] units), clipped, rounded; "
              f"write floor `out.fill(0)`, read floor `out.max()` on the same {{V,T,H,W,3}} array",
              ""]
    lines += ["| configuration | candidate | median ms | ratio | target | met? |",
              "|---|---|---:|---|---|---|"]
    for r in rows:
        t = "" if r["median_ms"] is None else _ms(r["median_ms"] / 1e3)
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['configuration']} | {r['candidate']} | {t} | {r['ratio']} | {r['target']} | {met} |")
    lines += ["", "The same target ratios from the fastest repetition of each candidate (less sensitive to "
              "other load on a shared machine; the table above uses medians):", ""]
    for c in configs:
        b = c["min_s"]
        lines.append(
            f"- {c['label']}: encode(out=) {b['dense'] / b['encode_out']:.0f}x faster than dense, "
            f"{b['encode_out'] / b['fill0']:.2f}x fill(0), {b['encode_out'] / b['fill_nz']:.2f}x fill({FILL_BYTE}); "
            f"encode fresh {b['encode_fresh'] / b['fill0']:.2f}x fill(0), "
            f"last kept {b['encode_kept'] / b['fill0']:.2f}x, np.empty + encode(out=) "
            f"{b['encode_new'] / b['fill0']:.2f}x; "
            f"decode clean {b['published'] / b['decode_clean']:.1f}x faster than published, "
            f"{b['decode_clean'] / b['read']:.2f}x read max(); decode noisy {b['decode_noisy'] / b['read']:.2f}x "
            f"read max()")
    lines += ["", "Where the baselines' time goes (process CPU seconds per call, medians: user / system; "
              "system time is mostly the kernel faulting in and zeroing fresh pages for temporaries):", ""]
    for c in configs:
        parts = []
        for key in ("dense", "published", "encode_out", "encode_fresh", "encode_new", "decode_clean"):
            cpu = np.asarray(c["cpu_user_sys_s"][key], dtype=float)
            parts.append(f"{c['labels'][key]} {np.median(cpu[:, 0]):.3f} / {np.median(cpu[:, 1]):.3f} s "
                         f"(wall {min(c['times_s'][key]):.3f}-{max(c['times_s'][key]):.3f} s)")
        lines.append(f"- {c['label']}: " + "; ".join(parts))
    lines += ["", "Side checks (untimed):", ""]
    for c in configs:
        ch, ac = c["checks"], c["accuracy"]
        lines.append(
            f"- {c['label']}: encode == dense byte for byte: {'yes' if ch['encode_equals_dense'] else 'NO'}"
            + ("" if ch["encode_equals_dense"] else f" ({ch['differing_bytes']} bytes differ)")
            + f"; median position error: decode clean {ac['decode_clean_pos_err_median_mm']:.3f} mm "
            f"({ac['decode_clean_valid']}/{ac['frames']} valid, gripper {ac['decode_clean_openness_correct']}/"
            f"{ac['frames']}), noisy {ac['decode_noisy_pos_err_median_mm']:.3f} mm "
            f"({ac['decode_noisy_valid']}/{ac['frames']} valid, gripper {ac['decode_noisy_openness_correct']}/"
            f"{ac['frames']}), published {ac['published_pos_err_median_mm']:.1f} mm")
    return "\n".join(lines) + "\n"


def _fmt_load(d: dict[str, float] | None) -> str:
    if not d:
        return "n/a"
    return (f"machine {d['machine_busy_cpus']:.2f} CPUs busy on average over {d['wall_s']:.0f} s, this process "
            f"{d['this_process_cpus']:.2f}, everything else ~{d['others_cpus']:.2f}; hypervisor steal "
            f"{d['steal_cpus']:.2f}")


def _machine() -> str:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    model = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}" + (f", {model}" if model else "")


def _cpu_pressure() -> str:
    """Linux PSI: share of time some runnable task waited for a CPU (other load), avg10/avg60."""
    try:
        with open("/proc/pressure/cpu") as f:
            first = f.readline().split()
        vals = dict(kv.split("=") for kv in first[1:])
        return f"{vals['avg10']}% / {vals['avg60']}%"
    except (OSError, KeyError, ValueError):
        return "n/a"


def _cpu_snapshot() -> tuple[float, float, float, float] | None:
    """(wall, machine busy CPU-s, machine steal CPU-s, this process's CPU-s) now, Linux only."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        tck = float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None
    busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / tck  # user nice system irq softirq
    steal = (v[7] if len(v) > 7 else 0) / tck
    u, s_ = _rusage()
    return time.perf_counter(), busy, steal, u + s_


def _other_load(a: tuple[float, float, float, float] | None, b: tuple[float, float, float, float] | None
                ) -> dict[str, float] | None:
    """Average CPUs used by everything else on the machine between two snapshots."""
    if a is None or b is None:
        return None
    wall = b[0] - a[0]
    return {"wall_s": wall, "machine_busy_cpus": (b[1] - a[1]) / wall, "this_process_cpus": (b[3] - a[3]) / wall,
            "others_cpus": max(0.0, (b[1] - a[1]) - (b[3] - a[3])) / wall, "steal_cpus": (b[2] - a[2]) / wall}


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


# ------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/speed.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions of the fast candidates (default 7, "
                    "--quick 3)")
    ap.add_argument("--slow-reps", type=int, default=None, help="timed repetitions of dense and published "
                    "(default 3, --quick 1)")
    ap.add_argument("--quick", action="store_true", help="CI smoke: fewer reps, the published configuration "
                    "only, compile time with the default (warm) cache only")
    ap.add_argument("--compile", choices=("full", "warm", "skip"), default=None,
                    help="first-call measurement: 'full' cold + warm in a fresh NUMBA_CACHE_DIR (default), "
                    "'warm' the default cache only (--quick default), 'skip'")
    ap.add_argument("--seed", type=int, default=0, help="scene and noise seed")
    ap.add_argument("--out", type=Path, default=None,
                    help="output directory for speed.md and speed.json (default: benchmarks/results/ for a full "
                    "run; a --quick run only prints unless --out is given, and never writes there)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every repetition")
    args = ap.parse_args(argv)
    out = output_dir(args.out, args.quick)

    reps = args.reps if args.reps is not None else (3 if args.quick else 7)
    slow_reps = args.slow_reps if args.slow_reps is not None else (1 if args.quick else 3)
    if reps < 1 or slow_reps < 1:
        ap.error("--reps and --slow-reps must be >= 1")
    compile_mode = args.compile or ("warm" if args.quick else "full")
    configs = CONFIGS[:1] if args.quick else CONFIGS

    def log(msg: str) -> None:
        if args.verbose or not msg.startswith("    "):
            print(msg, file=sys.stderr, flush=True)

    n_threads = _num_threads()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count() or 1
    meta: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": _machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "actimg_threads": n_threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "actimg": getattr(actimg, "__version__", "?"),
        "reps": reps,
        "slow_reps": slow_reps,
        "quick": bool(args.quick),
        "loadavg_start": _loadavg(),
        "cpu_pressure_start": _cpu_pressure(),
        "targets": TARGETS,
    }
    filler = _ThreadedFill(n_threads)
    results = []
    snap0 = _cpu_snapshot()
    try:
        for V, T, H, W, name in configs:
            results.append(bench_config(V, T, H, W, name, reps, slow_reps, args.seed, filler, log))
    finally:
        filler.close()
    meta["cpu_during_timing"] = _other_load(snap0, _cpu_snapshot())
    comp = None if compile_mode == "skip" else bench_compile(compile_mode, log)
    meta["loadavg_end"] = _loadavg()
    meta["cpu_pressure_end"] = _cpu_pressure()

    rows = build_rows(results, comp)
    md = render_markdown(meta, rows, results)
    print(md)
    if out is None:
        print("quick run: nothing written (pass --out DIR to keep the tables)", file=sys.stderr)
        return 0
    write_results(out, "speed", md, {"meta": meta, "configs": results, "compile": comp, "rows": rows})
    print(f"wrote {out / 'speed.md'} and {out / 'speed.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
