"""The ``actimg`` command line, run through its entry points in subprocesses.

Every command runs as ``python -m actimg.cli ...`` (the ``actimg`` console script once);
independent invocations run in parallel to keep the suite quick (each process spends
most of its ~2 s importing numpy/scipy/numba). Images are tiny (64 px, 6 frames).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import actimg
from actimg import cli, layout
from actimg.scenes import default_rig, default_trajectory
from actimg.media.video import read_video, write_video

REPO = Path(__file__).resolve().parents[1]
T, S = 6, 64


def _cameras():
    try:
        from actimg import cameras
    except ImportError:  # pragma: no cover - until actimg/cameras.py exists
        pytest.skip("actimg.cameras (save_rig / load_rig) is not available: rig files cannot be written")
    if not (hasattr(cameras, "save_rig") and hasattr(cameras, "load_rig")):  # pragma: no cover
        pytest.skip("actimg.cameras lacks save_rig / load_rig: rig files cannot be written")
    return cameras


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", "2")
    return env


def _cmd(args, script=False):
    return ([str(Path(sys.executable).parent / "actimg")] if script else [sys.executable, "-m", "actimg.cli"]) + [
        str(a) for a in args]


def run(args, cwd, script=False, timeout=300):
    """One CLI invocation -> CompletedProcess (text)."""
    return subprocess.run(_cmd(args, script), check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env())


def run_parallel(cases, cwd, timeout=300):
    """Start every ``args`` of ``cases`` at once; return their CompletedProcess in order."""
    procs = [subprocess.Popen(_cmd(a), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env()) for a in cases]
    out = []
    for a, p in zip(cases, procs):
        so, se = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(_cmd(a), p.returncode, so, se))
    return out


def _err_line(proc) -> str:
    """The CLI's own one-line error (OpenCV/FFmpeg may add their own lines to stderr)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("actimg: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Workspace: rig.json (2 views, 64 px), rig3.json (3 views), rig96.json (96 px), actions.npy (T=6)."""
    cams = _cameras()
    d = tmp_path_factory.mktemp("cli")
    rig = default_rig(2, S, S)
    cams.save_rig(rig, d / "rig.json")
    cams.save_rig(default_rig(3, S, S), d / "rig3.json")
    cams.save_rig(default_rig(2, 96, 96), d / "rig96.json")
    actions = default_trajectory(T)
    np.save(d / "actions.npy", actions)
    (d / "garbage.json").write_text("{not json")
    return d, rig, actions


@pytest.fixture(scope="module")
def encoded(ws):
    """``actimg encode`` (default format: lossless .mkv) run once for the module."""
    d = ws[0]
    p = run(["encode", "--actions", "actions.npy", "--rig", "rig.json", "--out", "enc"], d)
    assert p.returncode == 0, p.stderr
    return p


# ------------------------------------------------------------------ demo
def test_demo_through_the_console_script(tmp_path):
    exe = Path(sys.executable).parent / "actimg"
    if not exe.exists():  # pragma: no cover
        pytest.skip(f"console script {exe} not installed (pip install -e .)")
    p = run(["demo", "--views", "2", "--frames", "6", "--size", "96", "--out", "demo_out"], tmp_path, script=True)
    assert p.returncode == 0, p.stderr
    assert "actimg demo: 2 views x 6 frames x 96x96" in p.stdout
    assert "frames valid:          6/6" in p.stdout and "gripper correct:       6/6" in p.stdout
    import cv2

    grid = cv2.imread(str(tmp_path / "demo_out" / "action_images.png"))
    # two rows of 192 px tiles, 2 px gutter, a row of frame labels above and a legend below
    assert grid is not None and grid.shape[0] == 24 + 2 * 192 + 2 + 50


# ---------------------------------------------------------- encode / decode
def test_encode_writes_lossless_views_rig_copy_and_manifest(ws, encoded):
    d, rig, actions = ws
    enc = d / "enc"
    assert "(mkv, FFV1)" in encoded.stdout
    assert sorted(p.name for p in enc.iterdir()) == ["encode.json", "rig.json", "view0.mkv", "view1.mkv"]
    assert (enc / "rig.json").read_bytes() == (d / "rig.json").read_bytes()
    truth = actimg.encode(actions, rig)
    for v in range(2):
        assert np.array_equal(read_video(enc / f"view{v}.mkv"), truth[v])  # lossless: bit exact
    man = json.loads((enc / "encode.json").read_text())
    assert (man["codec"], man["n_views"], man["n_frames"], man["height"], man["width"]) == ("FFV1", 2, T, S, S)


def test_decode_round_trip_and_report(ws, encoded):
    d, _, actions = ws
    p = run(["decode", "--rig", "rig.json", "enc/view0.mkv", "enc/view1.mkv", "--out", "dec.npy"], d)
    assert p.returncode == 0, p.stderr
    assert f"{T}/{T} frames valid" in p.stdout
    dec = np.load(d / "dec.npy")
    assert dec.shape == (T, 7)
    assert np.abs(dec[:, :3] - actions[:, :3]).max() < 1e-3  # metres
    assert np.array_equal(dec[:, 6], (actions[:, 6] > 0.5).astype(float))
    rep = json.loads((d / "dec.json").read_text())
    s = rep["summary"]
    assert (s["n_views"], s["n_frames"], s["height"], s["width"], s["method"]) == (2, T, S, S, "actimg")
    assert s["valid_frames"] == T and s["invalid_frames"] == [] and s["inputs"] == ["enc/view0.mkv", "enc/view1.mkv"]
    assert s["open_frames"] == int((actions[:, 6] > 0.5).sum())
    assert [f["frame"] for f in rep["frames"]] == list(range(T))
    for f, a in zip(rep["frames"], actions):
        assert f["valid"] is True and f["single_view"] is False
        assert f["openness"] == float(a[6] > 0.5)
        assert 0.5 < f["confidence"] <= 1.0
        assert np.allclose(f["action"][:3], a[:3], atol=1e-3)
        assert f["reprojection_error_px_max"] < 0.5


def test_encode_other_formats(ws, monkeypatch, capsys):
    """png folders and mp4v .mp4 (subprocesses), float32 .npy and MJPEG .avi (in-process, same code)."""
    d, rig, actions = ws
    truth = actimg.encode(actions, rig)
    truth_f = actimg.encode(actions, rig, dtype=np.float32)
    base = ["encode", "--actions", "actions.npy", "--rig", "rig.json"]
    procs = run_parallel([base + ["--out", "enc_png", "--format", "png"],
                          base + ["--out", "enc_mp4", "--format", "mp4", "--fps", "5"]], d)
    for p in procs:
        assert p.returncode == 0, p.stderr
    monkeypatch.chdir(d)
    assert cli.main(base + ["--out", "enc_npy", "--format", "npy", "--dtype", "float32"]) == 0
    assert cli.main(base + ["--out", "enc_avi", "--format", "avi"]) == 0
    assert "(avi, MJPEG 4:4:4 q100)" in capsys.readouterr().out
    for v in range(2):
        assert np.array_equal(read_video(d / "enc_png" / f"view{v}"), truth[v])
        a = np.load(d / "enc_npy" / f"view{v}.npy")
        assert a.dtype == np.float32 and np.array_equal(a, truth_f[v])
        assert np.abs(read_video(d / "enc_avi" / f"view{v}.avi").astype(int) - truth[v]).max() <= 8
        mp4 = read_video(d / "enc_mp4" / f"view{v}.mp4", expected_frames=T, expected_size=(S, S))
        assert np.abs(mp4.astype(int) - truth[v]).mean() < 3
    man = json.loads((d / "enc_mp4" / "encode.json").read_text())
    assert (man["codec"], man["fps"]) == ("MPEG-4 Part 2 (mp4v)", 5.0)
    # decode PNG folders (subprocess) and float .npy inputs (in-process), one input per view
    p = run(["decode", "--rig", "rig.json", "enc_png/view0", "enc_png/view1", "--out", "dec_png.npy"], d)
    assert p.returncode == 0, p.stderr
    assert cli.main(["decode", "--rig", "rig.json", "enc_npy/view0.npy", "enc_npy/view1.npy", "--out", "dec_npy.npy",
                     "--report", "npy_report.json"]) == 0
    for out in ("dec_png.npy", "dec_npy.npy"):
        assert np.abs(np.load(d / out)[:, :3] - actions[:, :3]).max() < 1e-3
    assert json.loads((d / "npy_report.json").read_text())["summary"]["valid_frames"] == T
    # one (V, T, H, W, 3) .npy holds every view
    np.save(d / "all.npy", truth)
    assert cli.main(["decode", "--rig", "rig.json", "all.npy", "--out", "dec_all.npy"]) == 0
    assert np.abs(np.load(d / "dec_all.npy")[:, :3] - actions[:, :3]).max() < 1e-3


def _bad_input_files(d):
    np.save(d / "short.npy", np.zeros((T - 1, S, S, 3), np.uint8))
    np.save(d / "wide.npy", np.zeros((T, S, S + 2, 3), np.uint8))
    np.save(d / "flat.npy", np.zeros((T, S, S), np.uint8))
    np.save(d / "bad_actions.npy", np.zeros((T, 6)))


def test_bad_inputs_exit_non_zero_with_one_line(ws, encoded):
    """Each bad input: exit status 2 and one ``actimg: error:`` line on stderr naming the problem."""
    d = ws[0]
    _bad_input_files(d)
    cases = [
        (["decode", "--rig", "rig.json", "enc/view0.mkv", "missing.mkv"], "input not found: 'missing.mkv'"),
        (["decode", "--rig", "rig3.json", "enc/view0.mkv", "enc/view1.mkv"], "2 inputs given but the rig has 3 views"),
        (["decode", "--rig", "rig96.json", "enc/view0.mkv", "enc/view1.mkv"],
         "view 0 ('enc/view0.mkv') is 64x64 (height x width) but the rig is for 96x96"),
        (["decode", "--rig", "rig.json", "enc/view0.mkv", "short.npy"],
         "view 1 ('short.npy') has 5 frames but view 0 ('enc/view0.mkv') has 6"),
        (["decode", "--rig", "nope.json", "enc/view0.mkv", "enc/view1.mkv"], "rig file not found: 'nope.json'"),
        (["bench", "--dir", "no_such_dir", "speed"], "benchmarks/speed.py not found"),
    ]
    procs = run_parallel([c for c, _ in cases], d)
    for (args, msg), p in zip(cases, procs):
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert msg in _err_line(p), (args, p.stderr)
    # argparse usage errors: status 2 too
    p = run(["decode", "enc/view0.mkv"], d)
    assert p.returncode == 2 and "--rig" in p.stderr


@pytest.mark.parametrize("args, msg", [
    (["decode", "--rig", "rig.json", "enc/view0.mkv", "wide.npy"], "view 1 ('wide.npy') is 64x66 (height x width) but the rig is for 64x64"),
    (["decode", "--rig", "rig.json", "enc/view0.mkv", "flat.npy"], "must be frames of shape (T, H, W, 3)"),
    (["decode", "--rig", "garbage.json", "enc/view0.mkv", "enc/view1.mkv"], "'garbage.json'"),
    (["decode", "--rig", "rig.json", "actions.npy", "actions.npy"], "must be frames of shape"),
    (["decode", "--rig", "rig.json", "enc/view0.mkv", "enc"], "holds no .png frames"),
    (["encode", "--actions", "bad_actions.npy", "--rig", "rig.json", "--out", "x"], "must hold (T, 7) actions"),
    (["encode", "--actions", "nope.npy", "--rig", "rig.json", "--out", "x"], "--actions file not found"),
    (["encode", "--actions", "actions.npy", "--rig", "rig.json", "--out", "x", "--dtype", "float32"],
     "--dtype float32 needs --format npy"),
    (["encode", "--actions", "actions.npy", "--rig", "rig.json", "--out", "enc"], "already exists"),
    (["viz", "trajectory", "--rig", "rig.json", "--out", "t.png"], "give --actions"),
    (["viz", "overlay", "--out", "o.gif"], "give --images"),
    (["viz", "overlay", "--images", "enc/view0.mkv", "--rgb", "short.npy", "--out", "o.gif"], "--rgb frames are 5"),
    (["viz", "errors", "--rig", "rig.json", "--images", "enc/view0.mkv", "enc/view1.mkv", "--actions", "bad_actions.npy",
      "--out", "e.png"], "must hold (T, 7)"),
])
def test_more_bad_inputs_in_process(ws, encoded, monkeypatch, capsys, args, msg):
    """The same error path in-process (fast): status 2, one line on stderr, nothing written."""
    d, _, _ = ws
    _bad_input_files(d)
    monkeypatch.chdir(d)
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("actimg: error:") and msg in err[0], err
    assert not (d / "x").exists() and not (d / "o.gif").exists()


# ---------------------------------------------------------------------- viz
def test_viz_commands(ws, encoded):
    d, rig, actions = ws
    rgb = np.full((T, S, S, 3), 100, np.uint8)
    write_video(d / "obs0.mkv", rgb)
    write_video(d / "obs1.mkv", rgb)
    np.save(d / "dec_for_viz.npy", actions + 1e-4)
    ov, ov2, tr, er = run_parallel([
        ["viz", "overlay", "--actions", "actions.npy", "--rig", "rig.json", "--out", "ov.gif", "--fps", "4"],
        ["viz", "overlay", "--images", "enc/view0.mkv", "enc/view1.mkv", "--rgb", "obs0.mkv", "obs1.mkv",
         "--out", "ov.mkv", "--alpha", "0.5"],
        ["viz", "trajectory", "--rig", "rig.json", "--actions", "actions.npy", "--decoded", "dec_for_viz.npy",
         "--out", "traj.png"],
        ["viz", "errors", "--rig", "rig.json", "--images", "enc/view0.mkv", "enc/view1.mkv", "--actions",
         "actions.npy", "--out", "err.png"]], d)
    for p in (ov, ov2, tr, er):
        assert p.returncode == 0, p.stderr
    from PIL import Image

    gif = Image.open(d / "ov.gif")
    assert gif.n_frames == T and gif.size == (2 * S, S) and gif.info["duration"] == 250
    pix, _ = rig.project(actions[:, :3])
    u, r = np.rint(pix[1, 0]).astype(int)
    gif.seek(0)
    px = np.asarray(gif.convert("RGB"))[r, S + u].astype(int)  # view 1, frame 0, at P
    assert px[0] > 200 and px[0] == px.max(), px
    blend = read_video(d / "ov.mkv", expected_frames=T, expected_size=(S, 2 * S))  # lossless
    truth = actimg.encode(actions, rig)
    expect = layout.side_by_side(layout.overlay(truth, np.full(truth.shape, 100, np.uint8), 0.5))
    assert np.array_equal(blend, expect)
    for name in ("traj.png", "err.png"):
        im = Image.open(d / name)
        assert im.size[0] > 500 and im.size[1] > 500


def test_help_for_every_command_and_subcommand(capsys):
    """In-process (fast): every command and subcommand has --help; one real subprocess too."""
    for args in ([], ["demo"], ["encode"], ["decode"], ["bench"], ["viz"], ["viz", "overlay"],
                 ["viz", "trajectory"], ["viz", "errors"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(args + ["--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: actimg" + "".join(" " + a for a in args)), (args, out[:80])
    with pytest.raises(SystemExit):
        cli.main(["encode", "--help"])
    assert "mkv  FFV1 in .mkv, lossless" in capsys.readouterr().out
    p = run(["--help"], REPO)
    assert p.returncode == 0 and all(c in p.stdout for c in ("demo", "encode", "decode", "bench", "viz"))


# -------------------------------------------------------------------- bench
def test_bench_runs_benchmark_main_with_progress(tmp_path):
    """fidelity --quick (a few seconds) through the CLI, from the repository root."""
    if not (REPO / "benchmarks" / "fidelity.py").is_file():  # pragma: no cover
        pytest.skip("no benchmarks/ folder (not a source checkout)")
    p = run(["bench", "--progress-interval", "1", "fidelity", "--quick", "--out", tmp_path / "fid"], REPO, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "fid" / "fidelity.md").stat().st_size > 0
    assert "actimg bench fidelity: finished in" in p.stderr and "(exit 0)" in p.stderr
    # the benchmark's own --help, under the CLI's name
    h = run(["bench", "accuracy", "--help"], REPO)
    assert h.returncode == 0 and h.stdout.startswith("usage: actimg bench accuracy") and "--frames" in h.stdout


def test_bench_finds_checkout_from_elsewhere(tmp_path, monkeypatch):
    """From another directory the checkout beside the package is used (or --dir); else a clear error."""
    monkeypatch.chdir(tmp_path)
    pkg_checkout = Path(cli.__file__).resolve().parents[1] / "benchmarks"
    if (pkg_checkout / "speed.py").is_file():
        assert cli._find_benchmarks(None, "speed") == pkg_checkout
    assert cli._find_benchmarks(str(REPO / "benchmarks"), "accuracy") == (REPO / "benchmarks").resolve()
    with pytest.raises(cli.CliError, match="run it from the repository root or pass --dir"):
        cli._find_benchmarks(str(tmp_path), "speed")


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_lines_when_not_a_terminal():
    s = _Stream(tty=False)
    with cli._Progress("job", interval=0.05, stream=s):
        time.sleep(0.3)
    lines = s.getvalue().splitlines()
    assert len(lines) >= 2 and all(ln.startswith("job: still running (") for ln in lines)


def test_progress_spinner_on_a_terminal_never_mixes_with_other_output():
    s = _Stream(tty=True)
    saved = sys.stderr
    with cli._Progress("job", interval=1.0, stream=s):
        assert sys.stderr is not saved  # a proxy that clears the spinner before each write
        time.sleep(0.5)
        print("benchmark progress line", file=sys.stderr)
        time.sleep(0.5)
    assert sys.stderr is saved
    text = s.getvalue()
    assert "job: 0 s" in text
    # the benchmark's line starts after a clear-line sequence, never after spinner text
    before = text.split("benchmark progress line")[0]
    assert before.endswith("\r\033[K")
    assert text.endswith("\r\033[K")  # the spinner is erased at the end
