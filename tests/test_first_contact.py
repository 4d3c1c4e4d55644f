"""The rough edges a new user met on first contact, each pinned by a test (issue 17)."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actimg
from actimg.codec.encoder import BlankImagesWarning
from actimg.codec.spec import SPEC_NAMES, resolve_spec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks._results import COMMITTED, output_dir  # noqa: E402


@pytest.fixture(scope="module")
def scene():
    rig, actions = actimg.default_scene(n_views=3, n_frames=4, height=96, width=96)
    return rig, actions


# -- quick benchmark runs never overwrite the committed results
def test_quick_benchmark_writes_nothing_by_default():
    assert output_dir(None, quick=True) is None
    assert output_dir(None, quick=False) == COMMITTED
    assert output_dir(None, quick=False, sub="fidelity") == COMMITTED / "fidelity"


@pytest.mark.parametrize("target", ["", "fidelity", "speed.md"])
def test_quick_benchmark_refuses_committed_results(target):
    with pytest.raises(SystemExit, match="does not write into the committed results"):
        output_dir(COMMITTED / target if target else COMMITTED, quick=True)


def test_quick_benchmark_writes_where_asked(tmp_path):
    assert output_dir(tmp_path, quick=True) == tmp_path
    assert output_dir(tmp_path, quick=False) == tmp_path


@pytest.mark.parametrize("script", ["speed", "fidelity", "trust"])
def test_benchmarks_resolve_their_output_through_output_dir(script):
    src = (ROOT / "benchmarks" / f"{script}.py").read_text()
    assert "output_dir(args.out, args.quick" in src


# -- spec names
def test_spec_by_name(scene):
    rig, actions = scene
    assert resolve_spec("paper") is SPEC_NAMES["paper"]
    a = actimg.encode(actions, rig, spec="paper")
    np.testing.assert_array_equal(a, actimg.encode(actions, rig))
    r = actimg.decode(a, rig, spec="paper")
    assert r.valid.all()


@pytest.mark.parametrize("bad,err,msg", [(3, TypeError, "spec must be an actimg.ActionImageSpec"),
                                         ("papr", ValueError, "unknown spec name 'papr'"),
                                         (object(), TypeError, "got object")])
def test_spec_errors(scene, bad, err, msg):
    rig, actions = scene
    with pytest.raises(err, match=msg):
        actimg.encode(actions, rig, spec=bad)
    with pytest.raises(err, match=msg):
        actimg.decode(np.zeros((3, 4, 96, 96, 3), np.uint8), rig, spec=bad)


# -- world2cam passed as cam2world
def test_world2cam_as_cam2world_warns(scene):
    rig, actions = scene
    wrong = actimg.CameraRig(rig.intrinsics, np.linalg.inv(rig.extrinsics), rig.height, rig.width)
    with pytest.warns(BlankImagesWarning, match="world2cam extrinsics passed as cam2world"):
        img = actimg.encode(actions, wrong)
    assert (img[..., :2] == 0).all()


def test_visible_scene_does_not_warn(scene):
    rig, actions = scene
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlankImagesWarning)
        actimg.encode(actions, rig)


# -- Euler range and the actions <-> poses round trip
@settings(max_examples=60, deadline=None)
@given(st.floats(-3.1, 3.1), st.floats(-1.5, 1.5), st.floats(-3.1, 3.1))
def test_actions_poses_round_trip_inside_range(rx, ry, rz):
    a = np.array([[0.4, -0.1, 0.3, rx, ry, rz, 1.0]])
    b = actimg.actions_from_poses(*actimg.poses_from_actions(a))
    np.testing.assert_allclose(b, a, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.floats(-20, 20), st.floats(-1.5, 1.5), st.floats(-20, 20))
def test_actions_poses_round_trip_with_near(rx, ry, rz):
    a = np.array([[0.4, -0.1, 0.3, rx, ry, rz, 0.0]])
    b = actimg.actions_from_poses(*actimg.poses_from_actions(a), near=a[:, 3:6])
    np.testing.assert_allclose(b, a, atol=1e-8)
    # without near: the same rotation, angles in scipy's range
    c = actimg.actions_from_poses(*actimg.poses_from_actions(a))
    assert np.all(np.abs(c[:, [3, 5]]) <= np.pi + 1e-12) and np.all(np.abs(c[:, 4]) <= np.pi / 2 + 1e-12)
    np.testing.assert_allclose(actimg.euler_to_matrix(c[:, 3:6]), actimg.euler_to_matrix(a[:, 3:6]), atol=1e-9)


def test_near_shape_error():
    a = np.zeros((2, 7))
    with pytest.raises(ValueError, match="near must be"):
        actimg.actions_from_poses(*actimg.poses_from_actions(a), near=np.zeros((3, 3)))


# -- refine_rig: the fixed reference is not blamed when the others disagree
def test_refine_rig_does_not_flag_good_reference():
    rig, a = actimg.default_scene(4, 41, 256, 256)
    img = actimg.encode(a, rig)
    p = actimg.perturb_rig(rig, rotation_deg=0.5, translation_m=0.005, seed=0)
    E, K = p.extrinsics.copy(), p.intrinsics.copy()
    E[0], K[0] = rig.extrinsics[0], rig.intrinsics[0]  # the reference view is right
    bad = actimg.CameraRig(K, E, 256, 256)
    res = actimg.decode(img, bad)
    fix = actimg.refine_rig(bad, res.detections, res.detection_weight)
    assert 0 not in fix.suspect_views
    assert fix.offsets_relative_to == "reference"
    assert set(fix.suspect_views) == {1, 2, 3}
    assert "no consistent majority" in fix.report()


# -- the demo figure is labelled; the true trajectory stays visible
def test_image_grid_labels(scene):
    from actimg.cli import image_grid

    rig, actions = scene
    img = actimg.encode(actions, rig)
    plain = image_grid(img, labels=False)
    lab = image_grid(img)
    assert lab.shape[0] > plain.shape[0] and lab.shape[1] > plain.shape[1]
    # the margins carry dark text pixels (view names left, legend below)
    assert (lab[:, :20] < 128).any() and (lab[-40:] < 128).any()
    with pytest.raises(ValueError, match="view_names has 2 names for 3 views"):
        image_grid(img, view_names=["a", "b"])


def test_trajectory_plot_true_line_under_decoded(scene, tmp_path):
    pytest.importorskip("matplotlib")
    rig, actions = scene
    dec = actions.copy()
    _, fig = actimg.viz.plot_trajectories_3d(tmp_path / "t.png", actions, dec, rig, return_figure=True)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    true, decoded = lines["true P"], lines["decoded P"]
    assert true.get_linewidth() > 2 * decoded.get_linewidth()
    assert true.get_alpha() is not None and true.get_alpha() < 1
    assert decoded.get_linestyle() != "None"  # a thin line with markers: both visible


# -- the console script
def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actimg.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_version():
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"actimg {actimg.__version__}"


def test_ffmpeg_lines_do_not_leak(tmp_path, scene):
    rig, _ = scene
    actimg.save_rig(rig, tmp_path / "rig.json")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    r = _cli("decode", "junk.mp4", "junk.mp4", "junk.mp4", "--rig", "rig.json", cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("actimg: error:"), r.stderr
