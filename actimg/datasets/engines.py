"""Engines: where :func:`convert_episode` runs. ``local`` (a process pool) and ``ray``.

Both yield manifest rows as episodes finish (never waiting on the slowest one) and turn
a crashed worker into a ``failed`` row for its episode, so one bad episode never stops
the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._deps import require
from .episode_io import ConvertOptions, _row, convert_episode, done_path
from .files import write_json
from .readers import Reader, error_line

__all__ = ["ENGINES", "Job", "run_local", "run_ray"]

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """What every worker needs: the reader, the destination and the options."""

    reader: Reader
    dst: str
    options: ConvertOptions


def _crashed(job: Job, name: str, exc: BaseException) -> dict[str, Any]:
    row = _row(name, "failed", error=f"worker crashed: {error_line(exc)}")
    marker = done_path(Path(job.dst), name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_json(marker, row)
    return row


# -------------------------------------------------------------------- local
_JOB: Job | None = None


_WARM = False


def _init_worker(job: Job, forked: bool = False) -> None:
    """Once per worker process: one thread each (the processes are the parallelism), kernels loaded."""
    global _JOB, _WARM
    _JOB = job
    if _WARM:
        return
    os.environ["ACTIMG_NUM_THREADS"] = "1"
    # cv2.setNumThreads in a forked child hangs for ever when the parent had used OpenCV's
    # thread pool (it joins threads that do not exist in the child); a forked child leaves
    # OpenCV's threads alone (its parallel calls work), a fresh process gets one thread
    if not forked:
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:  # pragma: no cover
            pass
    from .._warmup import warmup

    warmup()  # numba's cached kernels load here, not inside the first episode's timings
    _WARM = True


def _convert_in_worker(name: str, position: int) -> dict[str, Any]:
    assert _JOB is not None
    return convert_episode(_JOB.reader, name, position, _JOB.dst, _JOB.options)


def default_mp_context() -> str:
    """``"fork"`` where the platform has it (Linux), else ``"spawn"``."""
    import multiprocessing

    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def run_local(job: Job, items: Sequence[tuple[str, int]], workers: int = 1,
              mp_context: str | None = None) -> Iterator[dict[str, Any]]:
    """Convert ``items`` (``(name, position)``) with ``workers`` processes; rows as they finish.

    ``workers=1`` converts in this process (no pool). ``mp_context`` is the
    multiprocessing start method of the pool: ``"fork"`` by default on Linux (a script
    without an ``if __name__ == "__main__":`` guard works; actimg's thread pool is rebuilt
    in the child, each worker uses one thread), ``"spawn"`` elsewhere or on request
    (then the calling script needs the guard, as always with spawn).
    """
    if workers == 1:
        # one episode at a time in this process: its encode/decode use one thread, like a
        # pool worker (waking a thread pool for ~1 ms kernels costs more than it gains)
        old = os.environ.get("ACTIMG_NUM_THREADS")
        os.environ["ACTIMG_NUM_THREADS"] = "1"
        try:
            for name, pos in items:
                yield convert_episode(job.reader, name, pos, job.dst, job.options)
        finally:
            if old is None:
                os.environ.pop("ACTIMG_NUM_THREADS", None)
            else:
                os.environ["ACTIMG_NUM_THREADS"] = old
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context(mp_context or default_mp_context())

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                                   initargs=(job, ctx.get_start_method() == "fork"))

    todo = list(items)
    suspects: list[tuple[str, int]] = []
    while todo or suspects:
        # a worker that dies (killed, out of memory, a crashing library) breaks the pool and
        # every episode in flight with it: those are suspects, each retried alone in a pool of
        # its own; the one that kills its own pool fails, the others convert normally
        for name, pos in suspects:
            with pool(1) as solo:
                try:
                    yield solo.submit(_convert_in_worker, name, pos).result()
                except BrokenProcessPool:
                    yield _crashed(job, name, RuntimeError("the worker process died converting this episode"))
                except Exception as exc:  # noqa: BLE001
                    yield _crashed(job, name, exc)
        suspects = []
        rest: list[tuple[str, int]] = []
        with pool(workers) as ex:
            it = iter(todo)
            pending: dict[Any, tuple[str, int]] = {}

            def submit() -> None:
                for item in it:
                    pending[ex.submit(_convert_in_worker, *item)] = item
                    if len(pending) >= 4 * workers:
                        break

            submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, pos = pending.pop(fut)
                    try:
                        row = fut.result()
                    except BrokenProcessPool:
                        suspects.append((name, pos))
                        continue
                    except Exception as exc:  # noqa: BLE001
                        row = _crashed(job, name, exc)
                    yield row
                if suspects:
                    suspects += list(pending.values())
                    rest = list(it)
                    pending.clear()
                    ex.shutdown(wait=False, cancel_futures=True)
                    break
                submit()
        todo = rest


# -------------------------------------------------------------------- ray
def _ray_convert(job: Job, name: str, position: int) -> dict[str, Any]:
    _init_worker(job)
    return convert_episode(job.reader, name, position, job.dst, job.options)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def run_ray(job: Job, items: Sequence[tuple[str, int]], workers: int = 1, address: str | None = None,
            resources: dict[str, Any] | None = None, runtime_env: dict[str, Any] | None = None,
            max_in_flight: int | None = None) -> Iterator[dict[str, Any]]:
    """Convert ``items`` as Ray tasks, one per episode; rows stream in as tasks finish (``ray.wait``).

    Args:
        workers: CPUs of the local instance started when Ray is not running and no
            ``address`` is given (``ray.init(num_cpus=workers)``).
        address: an existing cluster (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.1:6379"``).
        resources: declared per task (default ``{"num_cpus": 1, "memory": 1 GiB}``);
            Ray schedules by them.
        runtime_env: passed to ``ray.init`` (e.g. ``{"pip": ["actimg[datasets]"]}``); a local
            instance gets this checkout on ``PYTHONPATH`` by default.
        max_in_flight: tasks submitted ahead (default: 2 x the cluster's CPUs), so that an
            80k-episode run does not queue 80k tasks at once.

    A Ray instance already initialised in this process is used as is (and left running);
    one started here is shut down at the end. The destination must be a file system every
    node sees (NFS, a FUSE-mounted bucket).
    """
    ray = require("ray")
    started = False
    if not ray.is_initialized():
        env = dict(runtime_env or {})
        if address is None:
            env.setdefault("env_vars", {}).setdefault("PYTHONPATH", _package_root())
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=env or None)
        started = True
    try:
        res = {"num_cpus": 1, "memory": 1 << 30}
        res.update(resources or {})
        task = ray.remote(_ray_convert).options(**res)
        if max_in_flight is None:
            max_in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", workers)))
        job_ref = ray.put(job)
        it = iter(items)
        pending: dict[Any, str] = {}

        def submit() -> None:
            for name, pos in it:
                pending[task.remote(job_ref, name, pos)] = name
                if len(pending) >= max_in_flight:
                    break

        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            name = pending.pop(ref)
            try:
                row = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a crashed task (worker died, OOM) fails its episode only
                row = _crashed(job, name, exc)
            yield row
            submit()
    finally:
        if started:
            ray.shutdown()
