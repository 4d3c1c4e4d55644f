"""Thread and fork safety: concurrent and forked calls give the serial results."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import actimg
from actimg import CameraRig
from actimg.codec._llvm import _address, take_item
from actimg._parallel import run_from_both_ends

CENTER = np.array([0.5, 0.0, 0.2])
N_JOBS = 8


def make_job(seed: int) -> tuple[CameraRig, np.ndarray]:
    """A small deterministic scene: 2..3 views, 3..6 frames, 128..192 px."""
    rng = np.random.default_rng(seed)
    V = 2 + seed % 2
    T = 3 + seed % 4
    H, W = (128, 160) if seed % 2 else (192, 192)
    az = rng.uniform(0, 2 * np.pi) + np.arange(V) * 2 * np.pi / V
    eyes = CENTER + np.stack([np.cos(az), np.sin(az), np.full(V, 0.6)], axis=1)
    E = actimg.look_at(eyes, CENTER)
    if seed % 3 == 0:  # moving cameras
        E = np.repeat(E[:, None], T, axis=1)
        E[:, :, :3, 3] += rng.uniform(-0.01, 0.01, size=(V, T, 3))
    f = 0.9 * min(H, W)
    K = np.repeat(np.array([[[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]]]), V, axis=0)
    a = np.empty((T, 7))
    a[:, :3] = CENTER + rng.uniform(-0.08, 0.08, size=(T, 3))
    a[:, 3:6] = rng.uniform(-np.pi, np.pi, size=(T, 3)) * [1, 0.45, 1]
    a[:, 6] = rng.integers(0, 2, size=T)
    return CameraRig(K, E, H, W), a


def run_job(seed: int) -> dict[str, np.ndarray]:
    """encode (both dtypes) and decode (both methods) one scene."""
    rig, a = make_job(seed)
    img = actimg.encode(a, rig)
    img32 = actimg.encode(a, rig, dtype=np.float32)
    dec = actimg.decode(img, rig)
    pub = actimg.decode(img, rig, method="published")
    tri, err = actimg.triangulate(dec.detections[:, :, 0], rig)
    return {"img": img, "img32": img32, "actions": dec.actions, "confidence": dec.confidence,
            "detections": dec.detections, "published": pub.actions, "tri": tri}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), k


@pytest.fixture(scope="module")
def serial() -> list[dict[str, np.ndarray]]:
    return [run_job(s) for s in range(N_JOBS)]


def test_jobs_are_meaningful(serial):
    for s, r in enumerate(serial):
        _, a = make_job(s)
        assert np.isfinite(r["actions"]).all()
        assert np.abs(r["actions"][:, :3] - a[:, :3]).max() < 1e-3


def test_concurrent_threads_match_serial(serial):
    with ThreadPoolExecutor(max_workers=4) as pool:
        # every job several times, interleaved, from 4 threads at once
        seeds = [s for _ in range(3) for s in range(N_JOBS)]
        results = list(pool.map(run_job, seeds))
    for s, r in zip(seeds, results):
        assert_same(r, serial[s])


def test_concurrent_threads_on_shared_inputs_do_not_modify_them(serial):
    rig, a = make_job(3)
    a0 = a.copy()
    img = actimg.encode(a, rig)
    img0 = img.copy()

    def work(i: int):
        if i % 2:
            return actimg.encode(a, rig)
        return actimg.decode(img, rig).actions

    with ThreadPoolExecutor(max_workers=4) as pool:
        out = list(pool.map(work, range(16)))
    for i, r in enumerate(out):
        if i % 2:
            assert np.array_equal(r, img0)
        else:
            assert np.array_equal(r, serial[3]["actions"], equal_nan=True)
    assert np.array_equal(a, a0) and np.array_equal(img, img0)


@njit(nogil=True)
def _record_takes(owner, slow, counters, end):  # pragma: no cover - numba
    a = _address(counters)
    n = owner.size
    while True:
        i = take_item(a, n, end)
        if i < 0:
            return
        owner[i] += end + 1  # 1: from the front, 2: from the back; > 2: taken twice
        x = 0.0
        for k in range(slow[i]):  # uneven work, so that threads race
            x += k
        owner[i] += 10 * int(x < 0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), threads=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_items_from_both_ends_are_each_taken_once(n, threads, seed):
    owner = np.zeros(n, np.int64)
    slow = np.random.default_rng(seed).integers(0, 3000, size=n)
    env = os.environ.get("ACTIMG_NUM_THREADS")
    os.environ["ACTIMG_NUM_THREADS"] = str(threads)
    try:
        run_from_both_ends(_record_takes, n, owner, slow, min_items=1)
    finally:
        if env is None:
            del os.environ["ACTIMG_NUM_THREADS"]
        else:
            os.environ["ACTIMG_NUM_THREADS"] = env
    assert np.all((owner == 1) | (owner == 2))
    front = np.flatnonzero(owner == 1)
    back = np.flatnonzero(owner == 2)
    assert np.array_equal(front, np.arange(front.size))  # a prefix ...
    assert np.array_equal(back, np.arange(n - back.size, n))  # ... and a suffix
    if threads == 1 or n < 2:
        assert back.size == 0


def test_thread_count_does_not_change_results(serial, monkeypatch):
    for n in ("1", "3"):
        monkeypatch.setenv("ACTIMG_NUM_THREADS", n)
        for s in (0, 5):
            assert_same(run_job(s), serial[s])


def test_fork_pool_after_parent_used_the_library(serial):
    # the parent has encoded and decoded (the `serial` fixture, and once more here),
    # so its worker threads exist; forked children must not deadlock on them
    assert_same(run_job(1), serial[1])
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pending = pool.map_async(run_job, range(N_JOBS))
        results = pending.get(timeout=120)
    for s, r in enumerate(results):
        assert_same(r, serial[s])


def test_single_thread_env_in_subprocess(serial, tmp_path: Path):
    out = tmp_path / "res.npz"
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from actimg import _parallel
        assert _parallel.num_threads() == 1, _parallel.num_threads()
        from test_threads import run_job
        res = {{}}
        for s in range({N_JOBS}):
            for k, v in run_job(s).items():
                res[f"{{s}}:{{k}}"] = v
        np.savez({str(out)!r}, **res)
    """)
    env = {**os.environ, "ACTIMG_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as data:
        for s in range(N_JOBS):
            assert_same({k: data[f"{s}:{k}"] for k in serial[s]}, serial[s])
