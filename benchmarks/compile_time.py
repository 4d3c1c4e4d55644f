"""First-call cost of actimg's numba kernels: cold (empty cache) and warm (cached).

Each case runs in a fresh Python process with ``NUMBA_CACHE_DIR`` set to a new temporary
folder (cold: every kernel compiles), then again in a new process on the same folder
(warm: every kernel loads from the cache). Cases:

- ``demo``: the README's ``actimg demo --out DIR`` (encode + decode of the default scene);
- ``warmup``: ``actimg.warmup()`` (every kernel and image dtype).

A third run per case, cold with ``ACTIMG_COMPILE_PROCESSES=1`` (every kernel compiled in
the one process, as without ``actimg._compile.prepare``'s child processes), gives the
per-kernel breakdown (``--no-serial`` skips it).

Printed per run: wall seconds of the whole process (interpreter start, imports, the work)
and its CPU seconds (user + system, all threads and child processes: on a busy machine
wall time is inflated by other processes, CPU time much less), split into the main
process and the compile processes it started (on an idle machine with a core for each,
the wall time is about the larger of the two, plus a second of interpreter start). The
per-kernel breakdown: CPU seconds numba spent compiling each actimg kernel itself
(exclusive of the kernels and numba library functions it calls, which are listed under
their own names; numba's own helpers are summed per calling kernel), from numba's
``numba:compile`` events.

Usage::

    python benchmarks/compile_time.py                 # demo and warmup, cold and warm
    python benchmarks/compile_time.py --cases demo --top 25
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# runs inside the child process: records compile events, runs the case, prints JSON
CHILD = r"""
import json, sys, time
from numba.core import event as ev
stack, excl, count = [], {}, {}
def name(d):
    f = d.py_func
    mod = getattr(f, "__module__", "") or ""
    return (mod.split(".")[-1] + "." + f.__name__) if mod.startswith("actimg") else None
class L(ev.Listener):
    def on_start(self, e):
        stack.append([e.data["dispatcher"], time.process_time(), 0.0])
    def on_end(self, e):
        d, t0, child = stack.pop()
        dur = time.process_time() - t0
        if stack:
            stack[-1][2] += dur
        n = name(d)
        if n is None:  # numba's own helpers: charged to the nearest actimg kernel
            anc = next((name(x[0]) for x in reversed(stack) if name(x[0])), None)
            n = f"(numba helpers of {anc})"
        excl[n] = excl.get(n, 0.0) + dur - child
        count[n] = count.get(n, 0) + 1
ev.register("numba:compile", L())
case, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if case == "demo":
    from actimg.cli import main
    rc = main(["demo", "--out", out])
    assert rc == 0, rc
elif case == "warmup":
    import actimg
    actimg.warmup()
else:
    raise SystemExit(f"unknown case {case}")
import resource
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print("@@" + json.dumps({"work_s": time.perf_counter() - t0, "excl": excl, "count": count,
                         "self_cpu_s": me.ru_utime + me.ru_stime, "children_cpu_s": kids.ru_utime + kids.ru_stime}))
"""


def run_case(case: str, cache: str, out: str, root: Path = ROOT, processes: int | None = None) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "ACTIMG_COMPILE_NOTE": "1"}
    env.pop("ACTIMG_COMPILE_PROCESSES", None)
    if processes:
        env["ACTIMG_COMPILE_PROCESSES"] = str(processes)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, case, out], cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{case} failed:\n{p.stdout}\n{p.stderr}")
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("@@"))
    res = json.loads(line[2:])
    res["wall_s"] = wall
    res["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res["note"] = "actimg: compiling kernels once" in p.stderr
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="demo,warmup", help="comma-separated: demo, warmup")
    ap.add_argument("--top", type=int, default=20, help="kernels listed in each breakdown")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--no-serial", action="store_true",
                    help="skip the third run (cold, ACTIMG_COMPILE_PROCESSES=1) that gives the full breakdown")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose actimg is measured (default: this one)")
    args = ap.parse_args(argv)
    results = {}
    print(f"actimg compile time of {args.root}  ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    for case in args.cases.split(","):
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            cold = run_case(case, cache, out, args.root)
            warm = run_case(case, cache, out, args.root)
        runs = [("cold (empty cache)", cold), ("warm (cached)", warm)]
        results[case] = {"cold": cold, "warm": warm}
        if not args.no_serial:
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
                serial = run_case(case, cache, out, args.root, processes=1)
            runs.append(("cold, 1 process", serial))
            results[case]["cold_serial"] = serial
            cold = serial  # its breakdown holds every kernel (child processes report none)
        for label, r in runs:
            print(f"  {case:7s} {label:19s} wall {r['wall_s']:6.1f} s   cpu {r['cpu_s']:6.1f} s "
                  f"(main process {r['self_cpu_s']:5.1f} s, compile processes {r['children_cpu_s']:5.1f} s)   "
                  f"compile note: {'yes' if r['note'] else 'no'}")
        total = sum(cold["excl"].values())
        print(f"  {case} cold{'' if args.no_serial else ', 1 process'}: per-kernel compile CPU seconds "
              f"(exclusive; total {total:.1f} s)")
        for k, v in sorted(cold["excl"].items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"    {v:6.2f}  {k}  (x{cold['count'][k]})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
