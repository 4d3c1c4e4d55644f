"""After ``actimg.warmup()`` no common input variant compiles a kernel again.

numba fires a ``numba:compile`` event for every real compile (never for a load from its
on-disk cache, never for a call of an already compiled signature); the test listens for
them while it calls each public entry point with every variant a user is likely to pass.
It also checks the one-line compile note.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from numba.core import event

import actimg
from actimg import CameraRig
from actimg._compile import COMPILE_NOTE
from actimg.scenes import default_scene

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def compiles():
    """Collect the actimg kernels numba compiles inside the block: ``[(name, args), ...]``."""
    seen: list[tuple[str, tuple]] = []

    class Listener(event.Listener):
        def on_start(self, ev):
            disp = ev.data["dispatcher"]
            mod = getattr(disp.py_func, "__module__", "")
            if mod.startswith("actimg."):
                seen.append((f"{mod}.{disp.py_func.__name__}", ev.data["args"]))

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Listener()):
        yield seen


@pytest.fixture(scope="module")
def warm():
    actimg.warmup()
    rig, actions = default_scene(n_views=3, n_frames=4, height=72, width=80)
    return rig, actions, actimg.encode(actions, rig)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _image_variants(images):
    f64 = images / 255.0
    yield "uint8", images
    yield "float32", f64.astype(np.float32)
    yield "float64", f64
    yield "read-only uint8", _readonly(images)
    yield "read-only float64", _readonly(f64)
    yield "Fortran uint8", np.asfortranarray(images)
    yield "big-endian float64", f64.astype(">f8")
    yield "big-endian float32", f64.astype(">f4")
    wide = np.zeros(images.shape[:-1] + (6,), images.dtype)
    wide[..., ::2] = images
    yield "strided channels", wide[..., ::2]


def test_decode_variants_do_not_compile(warm):
    rig, actions, images = warm
    one_view = rig.with_views([0])
    per_frame = CameraRig(np.repeat(rig.intrinsics[:, None], 4, axis=1),
                          np.repeat(rig.extrinsics[:, None], 4, axis=1), rig.height, rig.width)
    with compiles() as seen:
        for name, imgs in _image_variants(images):
            r = actimg.decode(imgs, rig)
            assert r.valid.all(), name
        actimg.decode(images[:, :1], rig)  # one frame
        actimg.decode(images[:, 1:2] / 255.0, rig)  # one frame, float
        actimg.decode(images[:1], one_view)  # one view
        actimg.decode(images[:, ::2], rig)  # strided frames
        actimg.decode(images, per_frame)  # per-frame cameras
        actimg.decode(images[:, :1], CameraRig(rig.intrinsics[:, None], rig.extrinsics[:, None],
                                               rig.height, rig.width))  # per-frame, one frame
        actimg.decode(images, rig, actimg.ActionImageSpec(pixel_origin="half"))
    assert seen == [], f"compiled after warmup: {seen}"


def test_encode_variants_do_not_compile(warm):
    rig, actions, _ = warm
    per_frame = CameraRig(np.repeat(rig.intrinsics[:, None], 4, axis=1),
                          np.repeat(rig.extrinsics[:, None], 4, axis=1), rig.height, rig.width)
    with compiles() as seen:
        for a in (actions, _readonly(actions), np.asfortranarray(actions), actions.astype(">f8"),
                  actions.astype(np.float32), actions[:1], np.repeat(actions, 2, axis=0)[::2]):
            for dtype in (np.uint8, np.float32):
                actimg.encode(a, rig, dtype=dtype)
            actimg.project_actions(a, rig)
        actimg.encode(actions, per_frame)
        actimg.encode(actions, rig.with_views([1]), dtype=np.float32)
        actimg.encode(actions, rig, actimg.ActionImageSpec(gripper_threshold=0))
        actimg.encode(actions, rig, out=np.empty((3, 4, rig.height, rig.width, 3), np.uint8))
    assert seen == [], f"compiled after warmup: {seen}"


def test_triangulate_variants_do_not_compile(warm):
    rig, actions, _ = warm
    pix, _ = actimg.project_actions(actions, rig)
    p = pix[:, :, 0]
    with compiles() as seen:
        for x in (p, _readonly(p), np.asfortranarray(p), p.astype(">f8"), p.astype(np.float32), p[:, :1],
                  p[:1]):
            rg = rig if x.shape[0] == 3 else rig.with_views([0])
            actimg.triangulate(x, rg)
        actimg.triangulate(p, rig, weights=np.ones((3, 4), np.float32))
        actimg.triangulate(p, rig, iterations=np.int32(3))
    assert seen == [], f"compiled after warmup: {seen}"


def test_listener_sees_a_real_compile():
    # the checks above cannot pass vacuously: a compile of an actimg function is reported
    # (a function of its own, not cached on disk, so that it always compiles)
    from numba import njit

    def probe(x):
        return x + 1.0

    probe.__module__ = "actimg.geometry._kernels"
    with compiles() as seen:
        njit(probe)(1.0)
    assert [name for name, _ in seen] == ["actimg.geometry._kernels.probe"]


def test_compile_note_only_when_compiling(tmp_path):
    # a fresh cache: the note is printed once; the same call again (cached): silent
    code = ("import numpy as np; from actimg.geometry import _kernels as k; "
            "k._solve3(np.eye(3), np.ones(3), np.empty(3)); k._solve3(np.eye(3), np.ones(3), np.empty(3))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("ACTIMG_COMPILE_NOTE", None)
    runs = [subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stderr.count(COMPILE_NOTE) == 1, runs[0].stderr
    assert "actimg: compiling" not in runs[1].stderr, runs[1].stderr
    quiet = subprocess.run([sys.executable, "-c", code], env={**env, "NUMBA_CACHE_DIR": str(tmp_path / "q"),
                                                              "ACTIMG_COMPILE_NOTE": "0"},
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "actimg: compiling" not in quiet.stderr, quiet.stderr


def test_units_name_the_signatures_the_api_compiles(warm):
    # actimg._compile.UNITS compiles kernels ahead (in parallel processes) by argument
    # types; they must be exactly the ones the API passes, or the ahead work is wasted
    from actimg import _compile, _warmup

    _compile._compile_units(list(_compile.UNITS))
    disps = {id(d): d for name in _compile.UNITS for d, _ in _compile.UNITS[name][0]()}
    before = {i: set(d.overloads) for i, d in disps.items()}
    _warmup._warm_calls()
    new = {d.py_func.__name__: set(d.overloads) - before[i] for i, d in disps.items()}
    assert not any(new.values()), new


def test_prepare_compiles_in_a_child_process(tmp_path):
    # a cold cache: one unit compiles here, the other in a child process that fills the
    # cache; this process then loads it (no compile event for it here); a second
    # process finds both in the cache
    code = """if True:
        import json
        from numba.core import event
        seen = []
        class L(event.Listener):
            def on_start(self, e): seen.append(e.data["dispatcher"].py_func.__name__)
            def on_end(self, e): pass
        event.register("numba:compile", L())
        from actimg import _compile
        _compile.prepare(["project", "triangulate"])
        ok = all(_compile._sig(a) in d.overloads for n in ("project", "triangulate") for d, a in _compile.UNITS[n][0]())
        print(json.dumps({"seen": sorted(set(seen)), "ok": ok}))
    """
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "ACTIMG_COMPILE_PROCESSES": "2"}
    import json

    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["ok"] and second["ok"]
    assert "triangulate_many" in first["seen"] and "project_actions_many" not in first["seen"], first
    assert second["seen"] == [], second
