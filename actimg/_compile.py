"""Compiling the numba kernels: the note on stderr, and compiling ahead in parallel.

numba compiles a kernel on its first call and caches the machine code on disk
(``cache=True``), so only the first call on a machine pays. That first compile is
mostly numba's own typing and lowering, single-threaded, tens of seconds for the whole
decoder. Two things make it bearable:

- a one-line note on stderr (:data:`COMPILE_NOTE`) the first time a kernel really
  compiles (numba fires ``numba:compile`` only on a cache miss, so a cached call prints
  nothing); ``ACTIMG_COMPILE_NOTE=0`` silences it;
- :func:`prepare`: before the first call of a public function, the kernels it needs
  that are not in the cache yet are compiled in parallel: one share in this process,
  the others in child processes that fill the on-disk cache, from which this process
  then loads them. The kernels are named with the exact argument types the API passes
  (the API canonicalises its inputs: ``_validate.kernel_input``), in :data:`UNITS`
  (declared in ``actimg.codec._units``).
  ``ACTIMG_COMPILE_PROCESSES`` caps the processes (default: the CPUs available, at
  most 4; 1 compiles serially in this process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from numba import typeof
from numba.core import event as _event

__all__ = ["COMPILE_NOTE", "prepare", "register", "UNITS"]

#: printed on stderr (once per process) when a kernel is compiled rather than loaded
#: from numba's cache; ``ACTIMG_COMPILE_NOTE=0`` silences it
COMPILE_NOTE = ("actimg: compiling kernels once, cached for next time "
                "(seconds to a minute; actimg.warmup() does it ahead) ...")

_noted = threading.Event()


def note() -> None:
    """Print :data:`COMPILE_NOTE` unless it was printed already (or is silenced)."""
    if _noted.is_set():
        return
    _noted.set()
    if os.environ.get("ACTIMG_COMPILE_NOTE", "1") != "0":
        try:
            print(COMPILE_NOTE, file=sys.stderr, flush=True)
        except Exception:  # pragma: no cover - a closed stderr must not break a compile
            pass


class _CompileNote(_event.Listener):
    """Prints the note at the start of the first real compile of an actimg kernel."""

    def on_start(self, event: _event.Event) -> None:
        if _noted.is_set():
            return
        disp = (event.data or {}).get("dispatcher")
        module = getattr(getattr(disp, "py_func", None), "__module__", "") or ""
        if module.startswith("actimg."):
            note()

    def on_end(self, event: _event.Event) -> None:
        pass


_event.register("numba:compile", _CompileNote())


# ----------------------------------------------------------------------- units
#: name -> (builder of [(dispatcher, example args)], rough compile CPU seconds for
#: balancing); filled by ``actimg.codec._units`` (so that this module imports no room)
UNITS: dict[str, tuple[Callable[[], list], float]] = {}
# unit -> the unit it must compile with, in one process: units that share callees whose
# own cache entries matter (refine_pose is called from Python too), so that two
# processes never write one index
_TOGETHER: dict[str, str] = {}


def register(name: str, builder: Callable[[], list], cost: float, together: str | None = None) -> None:
    """Declare a compile unit: ``builder()`` returns ``[(dispatcher, example args)]``,
    the top-level kernels one kind of call runs with the argument types the API passes
    (the arrays stand in for their type only: dtype, ndim, layout, flags)."""
    UNITS[name] = (builder, cost)
    if together:
        _TOGETHER[name] = together


_lock = threading.RLock()
_ready: set[str] = set()


def _reset_after_fork() -> None:
    # a thread of the parent may have held the lock while it forked
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _sig(args: Sequence[Any]) -> tuple:
    return tuple(typeof(a) for a in args)


def _loaded(disp: Any, sig: tuple) -> bool:
    """Whether ``disp`` has ``sig`` in memory or in its on-disk cache (then loaded);
    never compiles. (numba's Dispatcher.compile without its compile step.)"""
    if sig in disp.overloads:
        return True
    try:
        from numba.core.compiler_lock import global_compiler_lock

        with global_compiler_lock:
            cres = disp._cache.load_overload(sig, disp.targetctx)
            if cres is None:
                return False
            disp._cache_hits[sig] += 1
            if not cres.objectmode:
                disp.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            disp.add_overload(cres)
            return True
    except Exception:  # pragma: no cover - numba internals changed: compile normally
        return False


def _processes() -> int:
    env = os.environ.get("ACTIMG_COMPILE_PROCESSES")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"ACTIMG_COMPILE_PROCESSES must be a positive integer, got {env!r}") from None
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def _compile_units(names: Sequence[str]) -> None:
    """Compile (or load) every kernel of ``names`` in this process."""
    for name in names:
        for disp, args in UNITS[name][0]():
            disp.compile(_sig(args))


def _child_main(names: Sequence[str]) -> None:  # pragma: no cover - runs in a child process
    os.environ["ACTIMG_COMPILE_NOTE"] = "0"
    import actimg  # noqa: F401  (registers the units)

    _compile_units(names)


def _spawn(names: Sequence[str]) -> subprocess.Popen | None:
    """A child process that compiles ``names`` into the on-disk cache (None if it
    cannot start)."""
    # the child imports this very actimg (a checkout run from its folder is not on the
    # child's default path; an installed copy elsewhere must not win)
    env = {**os.environ, "ACTIMG_COMPILE_NOTE": "0", "ACTIMG_COMPILE_PROCESSES": "1",
           "ACTIMG_COMPILE_PATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    code = ("import os, sys, importlib.util\n"
            "p = os.environ['ACTIMG_COMPILE_PATH']\n"
            "s = importlib.util.find_spec('actimg')\n"
            "if s is None or os.path.dirname(os.path.dirname(os.path.abspath(s.origin))) != p:\n"
            "    sys.path.insert(0, p)\n"
            "from actimg._compile import _child_main\n"
            "_child_main(sys.argv[1:])\n")
    try:
        return subprocess.Popen([sys.executable, "-c", code, *names], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, ValueError):  # pragma: no cover - no interpreter to start
        return None


def _split(names: Sequence[str], n: int) -> list[list[str]]:
    """``names`` in ``n`` groups of about equal cost (units in _TOGETHER stay together)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_TOGETHER.get(name, name) if _TOGETHER.get(name) in names else name, []).append(name)
    bins: list[list[str]] = [[] for _ in range(n)]
    cost = [0.0] * n
    for g in sorted(groups.values(), key=lambda g: -sum(UNITS[x][1] for x in g)):
        i = cost.index(min(cost))
        bins[i] += g
        cost[i] += sum(UNITS[x][1] for x in g)
    return [b for b in bins if b]


def _jit_disabled() -> bool:
    from numba.core import config

    return bool(config.DISABLE_JIT)


def prepare(names: Sequence[str]) -> None:
    """Make the kernels of units ``names`` ready: loaded from numba's cache, or compiled
    (in parallel processes when several are missing). Cheap after the first call."""
    todo = [n for n in names if n not in _ready]
    if not todo or _jit_disabled():
        return
    with _lock:
        todo = [n for n in todo if n not in _ready]
        cold = []
        for name in todo:
            if not all(_loaded(d, _sig(a)) for d, a in UNITS[name][0]()):
                cold.append(name)
        if cold:
            note()
            bins = _split(cold, min(_processes(), len(cold)))
            mine, others = bins[0], bins[1:]
            children = [c for c in (_spawn(b) for b in others) if c is not None]
            _compile_units(mine)
            for c in children:
                c.wait()
            _compile_units([n for b in others for n in b])  # from the cache (or compiled here if a child failed)
        _ready.update(todo)
