"""encode's recycled output memory: reused only when nothing can reach it any more."""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import actimg
from actimg.codec import _buffers

H = W = 512  # one uint8 image is 768 KiB: 6 images make a pooled (>= 4 MiB) result
CENTER = np.array([0.5, 0.0, 0.2])


def scene(T: int = 3, seed: int = 0) -> tuple[actimg.CameraRig, np.ndarray]:
    rng = np.random.default_rng(seed)
    az = np.array([0.3, 2.0])
    E = actimg.look_at(CENTER + np.stack([np.cos(az), np.sin(az), np.full(2, 0.6)], axis=1), CENTER)
    K = np.repeat([[[400.0, 0, (W - 1) / 2], [0, 400.0, (H - 1) / 2], [0, 0, 1]]], 2, axis=0)
    a = np.empty((T, 7))
    a[:, :3] = CENTER + rng.uniform(-0.08, 0.08, size=(T, 3))
    a[:, 3:6] = rng.uniform(-1, 1, size=(T, 3))
    a[:, 6] = rng.integers(0, 2, size=T)
    return actimg.CameraRig(K, E, H, W), a


@pytest.fixture(autouse=True)
def default_cache():
    gc.collect()  # results of earlier tests come back now, not during this one
    prev = actimg.set_buffer_cache(0)  # start empty
    actimg.set_buffer_cache(256 << 20)
    yield
    actimg.set_buffer_cache(prev)


def test_large_results_are_reused_after_they_are_dropped():
    rig, a = scene()
    img = actimg.encode(a, rig)
    assert img.nbytes >= _buffers.MIN_BYTES
    addr = img.ctypes.data
    ref = img.copy()
    del img
    gc.collect()
    assert _buffers.cached_bytes() == ref.nbytes
    again = actimg.encode(a, rig)
    assert again.ctypes.data == addr  # the same memory, handed out again
    assert _buffers.cached_bytes() == 0
    assert np.array_equal(again, ref)
    assert again.flags.c_contiguous and again.flags.writeable and again.flags.aligned


HOLDERS = {
    "slice": lambda img: img[1, 2],
    "transpose": lambda img: img.T[::3],
    "asarray": lambda img: np.asarray(img)[0],
    "reshape": lambda img: img.reshape(-1)[5:],
    "view-dtype": lambda img: img.view(np.uint8)[:, 1],
    "ctypes-pointer": lambda img: img.ctypes.data_as(ctypes.c_void_p),
    "memoryview": lambda img: memoryview(img[0]),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("holder", list(HOLDERS))
def test_memory_reachable_through_any_view_is_never_reused(dtype, holder):
    rig, a = scene(seed=1)
    _, b = scene(seed=2)
    img = actimg.encode(a, rig, dtype=dtype)
    ref = img.copy()
    held = HOLDERS[holder](img)
    expected = np.array(HOLDERS[holder](ref)) if holder != "ctypes-pointer" else None
    del img
    gc.collect()
    assert _buffers.cached_bytes() == 0  # still reachable through `held`
    other = actimg.encode(b, rig, dtype=dtype)
    if expected is not None:
        assert not np.shares_memory(other, np.asarray(held))
        assert np.array_equal(np.asarray(held), expected)
    del other
    gc.collect()
    assert _buffers.cached_bytes() == ref.nbytes  # the second result's block only
    del held
    gc.collect()
    assert _buffers.cached_bytes() == 2 * ref.nbytes


def test_a_reused_block_is_fully_overwritten():
    rig, a = scene(T=3, seed=3)
    _, b = scene(T=3, seed=4)
    expected = actimg.encode(b, rig, out=np.empty((2, 3, H, W, 3), np.uint8))
    first = actimg.encode(a, rig)
    first[...] = 77  # garbage left in the block
    addr = first.ctypes.data
    del first
    again = actimg.encode(b, rig)
    assert again.ctypes.data == addr  # the garbage block was reused ...
    assert np.array_equal(again, expected)  # ... and every byte redrawn


def test_only_the_same_size_is_reused_and_the_limit_holds():
    rig, a = scene(T=3)
    img3 = actimg.encode(a, rig)
    n3 = img3.nbytes
    del img3
    rig4, a4 = scene(T=4)
    img4 = actimg.encode(a4, rig4)  # a different size: new memory
    assert _buffers.cached_bytes() == n3
    del img4
    assert _buffers.cached_bytes() == n3 + n3 * 4 // 3
    assert actimg.set_buffer_cache(n3 * 4 // 3) == 256 << 20  # the oldest block goes
    assert _buffers.cached_bytes() == n3 * 4 // 3
    actimg.set_buffer_cache(n3 - 1)
    assert _buffers.cached_bytes() == 0
    img = actimg.encode(a, rig)  # larger than the limit: neither taken nor kept
    del img
    assert _buffers.cached_bytes() == 0


def test_small_results_and_a_zero_limit_bypass_the_pool():
    rig, a = scene(T=1)
    small = actimg.encode(a[:1], rig.resized(64, 64))
    assert small.flags.owndata
    del small
    assert _buffers.cached_bytes() == 0
    actimg.set_buffer_cache(0)
    img = actimg.encode(a, rig)
    assert img.flags.owndata
    del img
    assert _buffers.cached_bytes() == 0


def test_concurrent_encodes_of_pooled_sizes_match_serial():
    jobs = [scene(T=3 + s % 2, seed=s) for s in range(4)]
    serial = [actimg.encode(a, rig).copy() for rig, a in jobs]

    def run(i: int) -> bool:
        rig, a = jobs[i % 4]
        for _ in range(3):  # drop and redraw: blocks travel between threads
            img = actimg.encode(a, rig)
            if not np.array_equal(img, serial[i % 4]):
                return False
            del img
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(run, range(12)))


def _child_encode(args):
    rig, a = args
    kept = _buffers.cached_bytes()
    return kept, actimg.encode(a, rig).copy()


def test_forked_child_starts_with_an_empty_pool():
    rig, a = scene()
    ref = actimg.encode(a, rig).copy()  # the parent's block is now in its pool
    assert _buffers.cached_bytes() == ref.nbytes
    with multiprocessing.get_context("fork").Pool(1) as pool:
        kept, img = pool.apply_async(_child_encode, ((rig, a),)).get(timeout=120)
    assert kept == 0
    assert np.array_equal(img, ref)


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (1.5, TypeError), ("8", TypeError), (True, TypeError)])
def test_set_buffer_cache_rejects_bad_limits(bad, err):
    with pytest.raises(err, match="max_bytes"):
        actimg.set_buffer_cache(bad)


@pytest.mark.parametrize("value, ok", [("0", True), ("16.5", True), ("-1", False), ("lots", False),
                                       ("nan", False)])
def test_environment_limit(value, ok):
    script = textwrap.dedent("""
        import actimg
        print(actimg.set_buffer_cache(0))
    """)
    env = {**os.environ, "ACTIMG_BUFFER_CACHE_MB": value}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert int(proc.stdout) == int(float(value) * (1 << 20))
    else:
        assert proc.returncode != 0
        assert "ACTIMG_BUFFER_CACHE_MB must be a number of MiB >= 0" in proc.stderr
