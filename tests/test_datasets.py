"""actimg.datasets: episodes, readers (folder, LeRobot v3.0 / v2.1, DROID), converter, quality
filter, local engine, kill-and-resume, CLI. Fixtures are generated in code (tiny episodes:
10-12 frames, 96x128 px sources, 64x64 outputs, 2 views). The Ray engine is in
test_datasets_ray.py."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("av")
pytest.importorskip("pyarrow")
pytest.importorskip("h5py")

import actimg  # noqa: E402
from actimg.datasets import (MANIFEST_COLUMNS, DroidReader, Episode, EpisodeError, FolderReader,  # noqa: E402
                             LeRobotReader, PoseColumns, Thresholds, convert, read_manifest, score_episode)
from actimg.datasets.avio import read_frames, write_frames  # noqa: E402
from actimg.datasets.episode import safe_name  # noqa: E402
from actimg.datasets.frames import crop_box, crop_resize_frames, crop_resize_rig  # noqa: E402
from actimg.datasets.progress import Progress  # noqa: E402
from actimg.datasets.synthetic import (episode_data, make_droid_dataset, make_folder_dataset,  # noqa: E402
                                       make_lerobot_dataset, observation_frames)

ROOT = Path(__file__).resolve().parents[1]
SIZE = (64, 64)


def files_of(root: Path) -> dict[str, bytes]:
    """Every file below root except the manifest and the run state (timings differ)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.parquet" and ".actimg" not in p.parts}


def assert_same_output(a: Path, b: Path) -> None:
    """The same files; the same bytes, except H.264 (.mp4) observation videos: the same frames
    within a small tolerance (x264 was seen to vary its bytes under CPU contention here)."""
    fa, fb = files_of(a), files_of(b)
    assert sorted(fa) == sorted(fb)
    for name in fa:
        if name.endswith(".mp4"):
            x, y = read_frames(a / name), read_frames(b / name)
            assert x.shape == y.shape and np.abs(x.astype(int) - y).mean() < 1.0, name
        else:
            assert fa[name] == fb[name], name


@pytest.fixture(scope="module")
def folder_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folder_src")
    make_folder_dataset(root, n_episodes=3, n_frames=10)
    return root


@pytest.fixture(scope="module")
def folder_out(folder_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("folder_out")
    convert(folder_src, dst, size=SIZE, progress=False)
    return dst


# ------------------------------------------------------------------ package
def test_imports_nothing_heavy() -> None:
    code = ("import sys, actimg, actimg.datasets, actimg.datasets.cli, actimg.cli; "
            "print(sorted(m for m in ('pyarrow', 'av', 'h5py', 'ray', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module, extra", [("ray", "actimg[ray]"), ("h5py", "actimg[datasets]"),
                                           ("av", "actimg[datasets]"), ("pyarrow.parquet", "actimg[datasets]")])
def test_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, extra: str) -> None:
    from actimg.datasets._deps import require

    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ImportError, match=re.escape(f'pip install "{extra}"')):
        require(module)


# ------------------------------------------------------------------ Episode
def _episode(**kw):
    rig, a = episode_data(0, 10)
    args = dict(name="ep", actions=a, rig=rig, videos={}, instruction=None, meta={})
    args.update(kw)
    return Episode(**args)


def test_episode_holds_a_read_only_copy() -> None:
    rig, a = episode_data(0, 10)
    ep = Episode("ep", a, rig, {}, "go", {"fps": 15})
    a[0, 0] = 99.0
    assert ep.actions[0, 0] != 99.0 and not ep.actions.flags.writeable
    assert ep.n_frames == 10 and ep.view_names == ("0", "1") and ep.fps == 15.0


@pytest.mark.parametrize("kw, match", [
    ({"name": "../x"}, "file-system safe"),
    ({"name": ""}, "file-system safe"),
    ({"actions": np.zeros((10, 6))}, r"shape \(T, 7\)"),
    ({"actions": np.full((10, 7), np.nan)}, "not finite"),
    ({"actions": np.c_[np.zeros((10, 6)), np.full(10, 2.0)]}, r"openness must be in \[0, 1\]"),
    ({"videos": {"a": np.zeros((10, 96, 128, 3), np.uint8)}}, "rig has 2 views"),
    ({"videos": {"a": np.zeros((9, 96, 128, 3), np.uint8), "b": np.zeros((10, 96, 128, 3), np.uint8)}},
     "partial episode"),
    ({"videos": {"a": np.zeros((10, 90, 128, 3), np.uint8), "b": np.zeros((10, 96, 128, 3), np.uint8)}},
     "the rig is 96x128"),
    ({"videos": {"a": 3, "b": 4}}, "path or frames"),
    ({"rig": "rig.json"}, "actimg.CameraRig"),
])
def test_episode_rejects(kw: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        _episode(**kw)


def test_episode_rejects_per_frame_rig_of_other_length() -> None:
    rig, a = episode_data(0, 10)
    moving = actimg.CameraRig(np.repeat(rig.intrinsics[:, None], 5, 1), np.repeat(rig.extrinsics[:, None], 5, 1),
                              rig.height, rig.width)
    with pytest.raises(ValueError, match="per-frame rig has 5 frames"):
        Episode("ep", a, moving)


@given(st.text(max_size=30))
@settings(max_examples=60, deadline=None)
def test_safe_name_is_safe_and_stable(text: str) -> None:
    s = safe_name(text)
    assert s and not s.startswith(".") and all(c.isalnum() and c.isascii() or c in "._-" for c in s)
    assert safe_name(s) == s


# ------------------------------------------------------------------ pose columns
@given(st.integers(0, 2**32 - 1), st.sampled_from(["euler:xyz", "euler:XYZ", "euler:zyx", "quat:xyzw", "quat:wxyz",
                                                   "rotvec"]),
       st.sampled_from(["openness", "closedness"]), st.sampled_from([1.0, 0.001]))
@settings(max_examples=40, deadline=None)
def test_pose_columns_round_trip(seed: int, rotation: str, meaning: str, scale: float) -> None:
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    T = 5
    R = Rotation.random(T, random_state=seed)
    pos = rng.uniform(-1, 1, (T, 3))
    opn = rng.uniform(0, 1, T)
    kind, _, arg = rotation.partition(":")
    if kind == "euler":
        rot = R.as_euler(arg)
    elif kind == "quat":
        q = R.as_quat()
        rot = q if arg == "xyzw" else q[:, [3, 0, 1, 2]]
    else:
        rot = R.as_rotvec()
    g = opn if meaning == "openness" else 1 - opn
    vec = np.c_[rng.normal(size=(T, 1)), pos / scale, rot, g * 2 - 1]  # gripper stored in [-1, 1]
    cols = PoseColumns("s", position=1, rotation=rotation, gripper=vec.shape[1] - 1, gripper_meaning=meaning,
                       gripper_range=(-1, 1), position_scale=scale)
    a = cols.actions(vec)
    np.testing.assert_allclose(a[:, :3], pos, atol=1e-12)
    np.testing.assert_allclose(a[:, 6], opn, atol=1e-12)
    assert actimg.rotation_angle_deg(actimg.euler_to_matrix(a[:, 3:6], "xyz"), R.as_matrix()).max() < 1e-6


@pytest.mark.parametrize("kw, vec, match", [
    ({"rotation": "euler:xyy"}, None, "rotation must be one of"),
    ({"rotation": "quat"}, None, "rotation must be one of"),
    ({"gripper_meaning": "open"}, None, "gripper_meaning"),
    ({"gripper_range": (1, 0)}, None, "high > low"),
    ({"position_scale": 0}, None, "position_scale"),
    ({}, np.zeros((3, 5)), "needs 7"),
    ({}, np.c_[np.zeros((3, 6)), [0.5, 1.5, 0.5]], "outside gripper_range"),
    ({}, np.c_[np.full((3, 6), np.nan), np.zeros(3)], "non-finite"),
    ({"rotation": "quat:xyzw", "gripper": 7}, np.zeros((3, 8)), "zero quaternion"),
    ({}, np.zeros(7), "one vector per frame"),
])
def test_pose_columns_reject(kw: dict, vec, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PoseColumns(**kw).actions(vec)


# ------------------------------------------------------------------ crop and resize
@given(st.integers(8, 120), st.integers(8, 120), st.integers(2, 40), st.integers(2, 40))
@settings(max_examples=40, deadline=None)
def test_frames_and_rig_crop_resize_agree(H: int, W: int, h2: int, w2: int) -> None:
    """A column ramp I(u, v) = u lands where the rig says: the rig and the frames move together."""
    h, w = 2 * h2, 2 * w2
    frames = np.broadcast_to(np.arange(W, dtype=np.uint8)[None, None, :, None], (1, H, W, 3)).copy()
    rows = np.broadcast_to(np.arange(H, dtype=np.uint8)[None, :, None, None], (1, H, W, 3)).copy()
    out_u, out_v = crop_resize_frames(frames, h, w), crop_resize_frames(rows, h, w)
    assert out_u.shape == (1, h, w, 3)
    K = np.array([[50.0, 0, (W - 1) / 2], [0, 50.0, (H - 1) / 2], [0, 0, 1]])
    rig = actimg.CameraRig(K[None], np.eye(4)[None], H, W)
    small = crop_resize_rig(rig, h, w)
    # a pixel (u', v') of the output sees the source ray through the pixel centre the rig maps it to
    uu, vv = np.meshgrid(np.arange(w), np.arange(h))
    Ks, Kb = small.intrinsics[0], rig.intrinsics[0]
    src_u = (uu - Ks[0, 2]) / Ks[0, 0] * Kb[0, 0] + Kb[0, 2]
    src_v = (vv - Ks[1, 2]) / Ks[1, 1] * Kb[1, 1] + Kb[1, 2]
    dy, dx, Hc, Wc = crop_box(H, W, h, w)
    assume(Hc >= 2 and Wc >= 2)  # a one-pixel-wide crop holds no ramp
    # area resampling reproduces a ramp exactly (up to the uint8 rounding) inside the crop;
    # OpenCV's fixed-point bilinear enlargement to within 0.25 more
    tol = 0.5 + 1e-6 if (Hc >= h and Wc >= w) else 0.75
    inside = (src_u >= dx) & (src_u <= dx + Wc - 1)
    assert inside.any() and np.abs(out_u[0, :, :, 0] - src_u)[inside].max() <= tol
    inside = (src_v >= dy) & (src_v <= dy + Hc - 1)
    assert inside.any() and np.abs(out_v[0, :, :, 0] - src_v)[inside].max() <= tol
    if W * h == H * w:  # same aspect, no crop: exactly the rig rule
        exact = rig.center_cropped_resized(h, w, scaling="center")
        np.testing.assert_allclose(small.intrinsics, exact.intrinsics, atol=1e-9)


def test_crop_resize_rig_matches_center_cropped_resized_for_whole_pixel_crops() -> None:
    rig, _ = episode_data(0, 10, height=96, width=128)  # 4:3 -> square: crop 96x96 at dx=16
    for scaling in ("center", "corner"):
        np.testing.assert_array_equal(crop_resize_rig(rig, 64, 64, scaling).intrinsics,
                                      rig.center_cropped_resized(64, 64, scaling).intrinsics)
    with pytest.raises(ValueError, match="scaling must be one of"):
        crop_resize_rig(rig, 64, 64, "edge")


# ------------------------------------------------------------------ video files
@pytest.mark.parametrize("codec, ext", [("ffv1", ".mkv"), ("h264", ".mp4"), ("h264-obs", ".mp4")])
def test_write_frames_round_trip(tmp_path: Path, codec: str, ext: str) -> None:
    rig, a = episode_data(0, 8, height=48, width=64)
    frames = observation_frames(a, rig)[0]
    write_frames(tmp_path / f"v{ext}", frames, 10.0, codec)
    write_frames(tmp_path / f"w{ext}", frames, 10.0, codec)
    back = read_frames(tmp_path / f"v{ext}")
    assert back.shape == frames.shape
    assert (tmp_path / f"v{ext}").read_bytes() == (tmp_path / f"w{ext}").read_bytes()  # bit-exact files
    err = np.abs(back.astype(int) - frames)
    assert err.max() == 0 if codec == "ffv1" else err.mean() < 3
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_write_frames_rejects(tmp_path: Path) -> None:
    f = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="codec must be one of"):
        write_frames(tmp_path / "a.mp4", f, 10, "vp9")
    with pytest.raises(ValueError, match="even width and height"):
        write_frames(tmp_path / "a.mp4", np.zeros((2, 7, 8, 3), np.uint8), 10)
    with pytest.raises(ValueError, match=r"\.mp4, \.mkv or \.mov"):
        write_frames(tmp_path / "a.avi", f, 10, "ffv1")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        write_frames(tmp_path / "a.mkv", f.astype(np.float32), 10, "ffv1")
    with pytest.raises(FileNotFoundError):
        read_frames(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="not a readable video"):
        read_frames(tmp_path / "junk.mp4")
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "a.avi").exists()


# ------------------------------------------------------------------ folder reader
def test_folder_reader(folder_src: Path) -> None:
    rd = FolderReader(folder_src)
    eps = list(rd)
    assert [e.name for e in eps] == ["episode_000", "episode_001", "episode_002"]
    for i, ep in enumerate(eps):
        rig, a = episode_data(i, 10)
        np.testing.assert_array_equal(ep.actions, a)
        np.testing.assert_array_equal(ep.rig.extrinsics, rig.extrinsics)
        assert ep.instruction == f"pick up block {i}" and list(ep.videos) == ["0", "1"]


def test_folder_reader_reports_bad_episodes_and_goes_on(tmp_path: Path) -> None:
    make_folder_dataset(tmp_path, n_episodes=5, n_frames=10)
    (tmp_path / "episode_000" / "actions.npy").unlink()
    (tmp_path / "episode_001" / "video_1.mp4").unlink()
    (tmp_path / "episode_002" / "rig.json").write_text("{}")
    os.rename(tmp_path / "episode_003" / "video_1.mp4", tmp_path / "episode_003" / "video_2.mp4")
    out = list(FolderReader(tmp_path))
    assert [type(e).__name__ for e in out] == ["EpisodeError"] * 4 + ["Episode"]
    assert "actions.npy is missing" in out[0].error
    assert "missing [1]" in out[1].error and "partial" in out[1].error
    assert "rig.json" in out[2].error and "lacks the field" in out[2].error
    assert "extra [2]" in out[3].error
    with pytest.raises(FileNotFoundError):
        FolderReader(tmp_path / "nowhere")


# ------------------------------------------------------------------ LeRobot reader
@pytest.fixture(scope="module", params=["v3.0", "v2.1"])
def lerobot_src(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(f"lerobot_{request.param}")
    rig = make_lerobot_dataset(root, request.param, n_episodes=3, n_frames=10, episodes_per_file=2)
    return request.param, root, rig


CLOSED = PoseColumns(gripper_meaning="closedness")


def test_lerobot_reader(lerobot_src) -> None:
    version, root, rig = lerobot_src
    rd = LeRobotReader(root, rig=rig, pose=CLOSED)
    assert rd.version == version and rd.cameras == ["observation.images.cam0", "observation.images.cam1"]
    eps = list(rd)
    assert [e.name for e in eps] == ["episode_000000", "episode_000001", "episode_000002"]
    whole = {}  # frames of each video file, in order: the episodes must be consecutive slices of them
    for i, ep in enumerate(eps):
        _, a = episode_data(i, 10 + i % 3)
        np.testing.assert_array_equal(ep.actions, a)
        assert ep.instruction == f"task {i % 2}" and ep.fps == 10.0
        for v, key in enumerate(rd.cameras):
            if version == "v3.0":
                path = root / f"videos/{key}/chunk-000/file-{i // 2:03d}.mp4"
                start = 0 if i % 2 == 0 else 10
            else:
                path = root / f"videos/chunk-000/{key}/episode_{i:06d}.mp4"
                start = 0
            if path not in whole:
                whole[path] = read_frames(path)
            np.testing.assert_array_equal(ep.videos[key[19:]], whole[path][start:start + ep.n_frames])
            assert np.abs(ep.videos[key[19:]].astype(int) - observation_frames(a, rig)[v]).mean() < 3


def test_lerobot_reader_rig_callable_and_errors(lerobot_src, tmp_path: Path) -> None:
    version, root, rig = lerobot_src
    seen = []

    def per_episode(index: int, meta: dict) -> actimg.CameraRig:
        seen.append(index)
        return rig

    rd = LeRobotReader(root, rig=per_episode, pose=CLOSED, cameras=["cam1", "cam0"])
    assert list(rd.load("episode_000001").videos) == ["cam1", "cam0"] and seen == [1]
    actimg.save_rig(rig, tmp_path / "rig.json")
    assert LeRobotReader(root, rig=tmp_path / "rig.json", pose=CLOSED).load("episode_000000").n_frames == 10
    # no calibration
    out = list(LeRobotReader(root, pose=CLOSED))
    assert all(isinstance(e, EpisodeError) and "LeRobot stores no calibration" in e.error for e in out)
    # the gripper read as openness with the default range is fine, but a wrong pose key is not
    bad = list(LeRobotReader(root, rig=rig, pose=PoseColumns(key="observation.nothing")))
    assert all(isinstance(e, EpisodeError) and "observation.nothing" in e.error for e in bad)
    wrong_views = LeRobotReader(root, rig=rig.with_views([0]), pose=CLOSED)
    assert "rig has 1 views" in next(iter(wrong_views)).error
    with pytest.raises(ValueError, match="not video features"):
        LeRobotReader(root, rig=rig, cameras=["wrist"])
    with pytest.raises(ValueError, match="episode_<index>"):
        LeRobotReader(root, rig=rig).load("ep7")
    with pytest.raises(FileNotFoundError, match="not a LeRobot dataset"):
        LeRobotReader(tmp_path)


def test_lerobot_partial_episodes_are_errors(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rig = make_lerobot_dataset(tmp_path, "v3.0", n_episodes=3, n_frames=10, episodes_per_file=1)
    # episode 1: its data has a row less than its metadata length
    p = tmp_path / "data/chunk-000/file-001.parquet"
    t = pq.read_table(p)
    pq.write_table(t.slice(0, t.num_rows - 1), p)
    # episode 2: its video of cam1 lacks the last frames
    v = tmp_path / "videos/observation.images.cam1/chunk-000/file-002.mp4"
    write_frames(v, read_frames(v)[:5], 10.0, "h264-obs")
    out = list(LeRobotReader(tmp_path, rig=rig, pose=CLOSED))
    assert isinstance(out[0], Episode)
    assert isinstance(out[1], EpisodeError) and "partial episode" in out[1].error
    assert isinstance(out[2], EpisodeError) and "no frame within" in out[2].error


# ------------------------------------------------------------------ DROID reader
def test_droid_reader(tmp_path: Path) -> None:
    make_droid_dataset(tmp_path, n_episodes=2, n_frames=10)
    rd = DroidReader(tmp_path)
    eps = list(rd)
    assert [e.name for e in eps] == ["2026-01-01_episode_00", "2026-01-01_episode_01"]
    for i, ep in enumerate(eps):
        rig, a = episode_data(i, 10)
        np.testing.assert_allclose(ep.actions, a, atol=1e-12)
        assert ep.rig.is_static and ep.fps == 15.0 and list(ep.videos) == ["ext1", "ext2"]
        assert actimg.rotation_angle_deg(ep.rig.extrinsics[:, :3, :3], rig.extrinsics[:, :3, :3]).max() < 1e-6
        np.testing.assert_allclose(ep.rig.centers, rig.centers, atol=1e-12)
        assert ep.instruction == f"put the cup {i} in the sink"
    # without videos, the image size comes from image_size
    assert DroidReader(tmp_path, videos=False).load(eps[0].name).videos == {}
    # a missing recording and a camera without a serial are per-episode errors
    next((tmp_path / "2026-01-01" / "episode_00" / "recordings" / "MP4").glob("*.mp4")).unlink()
    out = list(DroidReader(tmp_path, cameras=("ext1", "ext2")))
    assert isinstance(out[0], EpisodeError) and "recording" in out[0].error and isinstance(out[1], Episode)
    meta = next((tmp_path / "2026-01-01" / "episode_01").glob("metadata*.json"))
    doc = json.loads(meta.read_text())
    del doc["ext2_cam_serial"]
    meta.write_text(json.dumps(doc))
    assert "ext2_cam_serial" in list(DroidReader(tmp_path))[1].error
    with pytest.raises(ValueError, match="cameras must name"):
        DroidReader(tmp_path, cameras=("left",))
    with pytest.raises(ValueError, match="use must be"):
        DroidReader(tmp_path, use="command")


def test_droid_moving_camera_and_intrinsics_argument(tmp_path: Path) -> None:
    import h5py

    make_droid_dataset(tmp_path / "src", n_episodes=1, n_frames=10)
    folder = tmp_path / "src" / "2026-01-01" / "episode_00"
    serials = [json.loads(next(folder.glob("metadata*.json")).read_text())[f"ext{v}_cam_serial"] for v in (1, 2)]
    rig, _ = episode_data(0, 10)
    with h5py.File(folder / "trajectory.h5", "r+") as f:
        del f["observation/camera_intrinsics"]
        e = f[f"observation/camera_extrinsics/{serials[1]}_left"]
        moved = e[()]
        moved[:, 1] += np.linspace(0, 0.05, 10)  # the second camera slides 5 cm sideways
        e[...] = moved
    assert "no intrinsics= given" in next(iter(DroidReader(tmp_path / "src"))).error
    K = {s: rig.intrinsics[v] for v, s in enumerate(serials)}
    ep = DroidReader(tmp_path / "src", intrinsics=K).load("2026-01-01_episode_00")
    assert ep.rig.n_frames == 10
    np.testing.assert_allclose(ep.rig.centers[1, :, 1] - ep.rig.centers[1, 0, 1], np.linspace(0, 0.05, 10),
                               atol=1e-12)
    res = convert(tmp_path / "src", tmp_path / "out", "droid", size=SIZE, progress=False,
                  reader_options={"intrinsics": lambda s: K[s]})
    assert res.rows[0]["status"] == "ok"
    out_rig = actimg.load_rig(tmp_path / "out" / res.rows[0]["path"] / "rig.json")
    assert out_rig.n_frames == 10 and out_rig.height == SIZE[0]


# ------------------------------------------------------------------ quality
def test_score_episode_checks() -> None:
    rig, a = episode_data(0, 12, height=64, width=64)
    images = actimg.encode(a, rig)
    good = score_episode(a, rig, images)
    assert good.flags == () and 0 < good.quality <= 1 and good.decode_mm < 0.5 and good.outside == 0
    jumpy = a.copy()
    jumpy[6:, 0] += 0.3
    assert "jump_m" in score_episode(jumpy, rig, None).flags
    turned = a.copy()
    turned[6:, 5] += 1.5
    assert score_episode(turned, rig, None).flags == ("jump_deg",)
    away = a.copy()
    away[:, :3] += [0, 0, 5.0]  # far above every camera's view
    s = score_episode(away, rig, None)
    assert "outside" in s.flags and s.outside == 1.0 and s.quality == 0.0
    same_place = actimg.CameraRig(rig.intrinsics, np.repeat(rig.extrinsics[:1], 2, 0), 64, 64)
    assert "triangulation_deg" in score_episode(a, same_place, None).flags
    wrong = score_episode(a, rig, actimg.encode(a, rig.with_views([1, 0])))  # views swapped: decodes wrong
    assert "decode_mm" in wrong.flags
    assert score_episode(jumpy, rig, None, Thresholds(max_jump_m=None, max_jump_deg=None)).flags == ()
    with pytest.raises(ValueError, match="max_outside must be a positive number"):
        Thresholds(max_outside=-1)


# ------------------------------------------------------------------ converter
def test_convert_folder_output(folder_src: Path, folder_out: Path) -> None:
    rows = read_manifest(folder_out)
    assert [r["episode"] for r in rows] == ["episode_000", "episode_001", "episode_002"]
    assert set(MANIFEST_COLUMNS) <= set(rows[0])
    for i, r in enumerate(rows):
        assert r["status"] == "ok" and r["frames"] == 10 and r["views"] == 2 and r["error"] == ""
        assert r["path"] == r["episode"] and r["decode_mm"] < 0.5 and 0 < r["quality"] <= 1
        d = folder_out / r["path"]
        assert sorted(p.name for p in d.iterdir()) == ["action_0.mkv", "action_1.mkv", "actions.npy",
                                                        "instruction.txt", "rig.json", "video_0.mp4", "video_1.mp4"]
        rig, a = episode_data(i, 10)
        np.testing.assert_array_equal(np.load(d / "actions.npy"), a)
        small = actimg.load_rig(d / "rig.json")
        np.testing.assert_array_equal(small.intrinsics, rig.center_cropped_resized(*SIZE, scaling="center").intrinsics)
        np.testing.assert_array_equal(small.extrinsics, rig.extrinsics)
        expected = actimg.encode(a, small)
        for v in range(2):
            np.testing.assert_array_equal(read_frames(d / f"action_{v}.mkv"), expected[v])  # lossless
            obs = read_frames(d / f"video_{v}.mp4")
            ref = crop_resize_frames(read_frames(folder_src / r["episode"] / f"video_{v}.mp4"), *SIZE)
            assert obs.shape == (10, *SIZE, 3) and np.abs(obs.astype(int) - ref).mean() < 3
        assert (d / "instruction.txt").read_text() == f"pick up block {i}\n"
    # the output is a plain folder dataset again
    again = list(FolderReader(folder_out))
    assert [e.name for e in again] == ["episode_000", "episode_001", "episode_002"]


def test_rerun_rewrites_nothing(folder_src: Path, folder_out: Path) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in folder_out.rglob("*") if p.is_file()}
    res = convert(folder_src, folder_out, size=SIZE, progress=False)
    assert (res.converted, res.skipped) == (0, 3)
    assert {p: p.stat().st_mtime_ns for p in folder_out.rglob("*") if p.is_file()} == stamps
    with pytest.raises(ValueError, match="other settings .*size"):
        convert(folder_src, folder_out, size=(32, 32), progress=False)


def test_convert_counts_bad_episodes_and_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src"
    make_folder_dataset(src, n_episodes=4, n_frames=10)
    (src / "episode_001" / "actions.npy").unlink()
    write_frames(src / "episode_002" / "video_0.mp4", read_frames(src / "episode_002" / "video_0.mp4")[:7], 10.0)
    res = convert(src, tmp_path / "out", size=SIZE, progress=False)
    st_ = {r["episode"]: (r["status"], r["error"]) for r in read_manifest(tmp_path / "out")}
    assert st_["episode_000"] == ("ok", "") and st_["episode_003"] == ("ok", "")
    assert st_["episode_001"][0] == "failed" and "actions.npy is missing" in st_["episode_001"][1]
    assert st_["episode_002"][0] == "failed" and "has 7 frames" in st_["episode_002"][1]
    assert not (tmp_path / "out" / "episode_001").exists()
    assert res.count("failed") == 2 and "first failures" in res.summary
    assert "episode episode_001 failed: FileNotFoundError" in caplog.text  # logged as well
    # a rerun keeps failures (nothing changed) unless asked to retry them
    (src / "episode_001" / "actions.npy").write_bytes(io.BytesIO().getvalue() or b"")
    np.save(src / "episode_001" / "actions.npy", episode_data(1, 10)[1])
    assert convert(src, tmp_path / "out", size=SIZE, progress=False).converted == 0
    res = convert(src, tmp_path / "out", size=SIZE, progress=False, retry_failed=True)
    assert res.converted == 2 and res.count("ok") == 3


def test_quality_flag_and_drop(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_folder_dataset(src, n_episodes=2, n_frames=10, videos=False)
    a = np.load(src / "episode_001" / "actions.npy")
    a[5:, 1] += 0.4  # a teleoperation glitch
    np.save(src / "episode_001" / "actions.npy", a)
    flagged = convert(src, tmp_path / "flag", size=SIZE, progress=False, observation_videos=False)
    r = flagged.rows[1]
    assert (r["status"], r["flags"], r["path"], r["quality"]) == ("filtered", "jump_m", "episode_001", 0.0)
    assert (tmp_path / "flag" / "episode_001" / "action_0.mkv").exists()
    assert not (tmp_path / "flag" / "episode_000" / "video_0.mp4").exists()
    for codec in ("ffv1", "h264"):
        dropped = convert(src, tmp_path / f"drop_{codec}", size=SIZE, progress=False, on_quality="drop",
                          action_codec=codec)
        assert [(r["status"], r["path"]) for r in dropped.rows] == [("ok", "episode_000"), ("filtered", "")]
        assert not (tmp_path / f"drop_{codec}" / "episode_001").exists()


def test_convert_h264_action_videos(folder_src: Path, tmp_path: Path) -> None:
    res = convert(folder_src, tmp_path, size=SIZE, action_codec="h264", progress=False,
                  episodes=["episode_001"])
    assert [r["episode"] for r in res.rows] == ["episode_001"]
    d = tmp_path / "episode_001"
    assert (d / "action_0.mp4").exists() and not (d / "action_0.mkv").exists()
    assert res.rows[0]["status"] == "ok" and res.rows[0]["decode_mm"] < 2.0  # scored on the decoded .mp4


def test_convert_lerobot_format_round_trip(lerobot_src, tmp_path: Path) -> None:
    version, root, rig = lerobot_src
    res = convert(root, tmp_path, "lerobot", size=SIZE, format="lerobot", progress=False,
                  reader_options={"rig": rig, "pose": CLOSED})
    assert res.count("ok") == 3
    info = json.loads((tmp_path / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["total_frames"] == 33
    assert "observation.images.cam0_action" in info["features"]
    back = LeRobotReader(tmp_path)  # cameras from the actimg.rig episode metadata
    assert back.cameras == ["observation.images.cam0", "observation.images.cam1"]
    actions_back = LeRobotReader(tmp_path, cameras=["cam0_action", "cam1_action"])
    small = crop_resize_rig(rig, *SIZE)
    for i, (ep, ap) in enumerate(zip(back, actions_back)):
        _, a = episode_data(i, 10 + i % 3)
        np.testing.assert_array_equal(ep.actions, a)
        np.testing.assert_array_equal(ep.rig.intrinsics, small.intrinsics)
        np.testing.assert_array_equal(ep.rig.extrinsics, small.extrinsics)
        assert ep.instruction == f"task {i % 2}" and ep.videos["cam0"].shape == (len(a), *SIZE, 3)
        expected = actimg.encode(a, small)
        for v, key in enumerate(ap.videos):
            np.testing.assert_array_equal(ap.videos[key], expected[v])


def test_convert_droid(tmp_path: Path) -> None:
    make_droid_dataset(tmp_path / "src", n_episodes=1, n_frames=10)
    res = convert(tmp_path / "src", tmp_path / "out", "droid", size=SIZE, progress=False)
    r = res.rows[0]
    assert r["status"] == "ok" and r["decode_mm"] < 0.5 and r["views"] == 2
    assert (tmp_path / "out" / r["path"] / "video_1.mp4").exists()


class _DyingReader(FolderReader):
    """Its worker process dies (as if killed or out of memory) on episode_001."""

    def load(self, name: str) -> Episode:
        if name == "episode_001":
            os._exit(3)
        return super().load(name)


def test_a_dying_worker_fails_its_episode_only(folder_src: Path, folder_out: Path, tmp_path: Path) -> None:
    res = convert(folder_src, tmp_path, _DyingReader(folder_src), size=SIZE, workers=2, progress=False)
    st_ = {r["episode"]: (r["status"], r["error"]) for r in res.rows}
    assert st_["episode_000"][0] == "ok" and st_["episode_002"][0] == "ok"
    assert st_["episode_001"] == ("failed", "worker crashed: RuntimeError: the worker process died converting "
                                            "this episode")
    for ep in ("episode_000", "episode_002"):
        assert (tmp_path / ep / "actions.npy").read_bytes() == (folder_out / ep / "actions.npy").read_bytes()


def test_convert_rejects(folder_src: Path, tmp_path: Path) -> None:
    for kw, match in [({"engine": "spark"}, "engine must be one of"), ({"workers": 0}, "workers must be"),
                      ({"size": (63, 64)}, "even"), ({"action_codec": "vp9"}, "action_codec"),
                      ({"format": "rlds"}, "format must be"), ({"on_quality": "keep"}, "on_quality"),
                      ({"reader": "rlds"}, "reader must be one of"), ({"episodes": ["nope"]}, "not in the source")]:
        with pytest.raises(ValueError, match=match):
            convert(folder_src, tmp_path / "x", **{"size": SIZE, "progress": False, **kw})


# ------------------------------------------------------------------ kill and resume
KILLABLE = """
import sys, time
from actimg.datasets import FolderReader, convert

class Slow(FolderReader):  # every episode after the first takes a while to read: room to kill
    def load(self, name):
        if name != "episode_000":
            time.sleep(1.0)
        return super().load(name)

convert(sys.argv[1], sys.argv[2], Slow(sys.argv[1]), size=(64, 64), progress=False)
"""


def test_killed_conversion_resumes_to_the_same_output(folder_src: Path, folder_out: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(folder_src), str(dst)], cwd=ROOT, env=env)
    marker = dst / ".actimg" / "done" / "episode_000.json"
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert marker.exists() and not (dst / ".actimg" / "done" / "episode_002.json").exists()
    # a half-written episode that looks unfinished: a file in place, a temporary file, no marker
    (dst / "episode_001").mkdir(exist_ok=True)
    (dst / "episode_001" / "actions.npy").write_bytes(b"half")
    (dst / "episode_001" / ".video_0.partial.mp4").write_bytes(b"half")
    first = {p: p.stat().st_mtime_ns for p in (dst / "episode_000").iterdir()}
    res = convert(folder_src, dst, size=SIZE, progress=False)  # the rerun finishes the rest
    assert (res.converted, res.skipped) == (2, 1)
    assert {p: p.stat().st_mtime_ns for p in (dst / "episode_000").iterdir()} == first  # finished: untouched
    assert_same_output(dst, folder_out)  # same bytes as an uninterrupted conversion
    assert [r["status"] for r in read_manifest(dst)] == ["ok"] * 3


# ------------------------------------------------------------------ CLI and progress
def test_cli_convert(folder_src: Path, folder_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from actimg.cli import main

    # a pool of 2 processes gives the output of one process
    assert main(["convert", str(folder_src), str(tmp_path / "o"), "--size", "64x64", "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "3/3 episode_00" in err and "| episodes | ok |" in err
    assert_same_output(tmp_path / "o", folder_out)
    assert main(["convert", str(folder_src), str(tmp_path / "p"), "--rig", "r.json"]) == 2
    assert "--rig and --cameras are options of --reader lerobot" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "q")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(folder_src), str(tmp_path / "r"), "--size", "64"])
    assert exc.value.code == 2


def test_cli_convert_lerobot_options(lerobot_src, tmp_path: Path) -> None:
    from actimg.cli import main

    version, root, rig = lerobot_src
    actimg.save_rig(rig, tmp_path / "rig.json")
    code = main(["convert", str(root), str(tmp_path / "o"), "--reader", "lerobot", "--rig", str(tmp_path / "rig.json"),
                 "--gripper", "closedness", "--size", "64x64", "--format", "lerobot", "--action-codec", "h264"])
    assert code == 0 and len(read_manifest(tmp_path / "o")) == 3


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_and_lines() -> None:
    tty, plain = _Tty(), io.StringIO()
    for stream in (tty, plain):
        p = Progress(2, 1, stream)
        p.update({"episode": "a", "status": "ok", "frames": 3})
        p.update({"episode": "b", "status": "failed", "frames": 0, "error": "ValueError: x"})
    assert "\r[" in tty.getvalue() and "ep/s ETA" in tty.getvalue() and tty.getvalue().endswith("\n")
    lines = plain.getvalue().splitlines()
    assert lines[0] == "actimg convert: 2 episodes to convert, 1 already done"
    assert lines[2].startswith("actimg convert: 2/2 b failed (ValueError: x)")


def test_forked_workers_after_the_parent_used_opencv_threads(folder_src: Path, tmp_path: Path) -> None:
    """A forked worker must not touch OpenCV's thread pool settings: cv2.setNumThreads in a
    child forked after the parent ran parallel OpenCV calls hangs for ever."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import numpy as np, cv2
        img = np.random.rand(1500, 1500).astype(np.float32)
        for _ in range(3):
            cv2.resize(img, (400, 400), interpolation=cv2.INTER_AREA)
            cv2.GaussianBlur(img, (31, 31), 5)
        import actimg.datasets as ds
        r = ds.convert({str(folder_src)!r}, {str(tmp_path / 'out')!r}, reader="folder", size={SIZE!r}, workers=2,
                       progress=False, mp_context="fork")
        print(sorted(row["status"] for row in r.rows))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "failed" not in r.stdout and "ok" in r.stdout, r.stdout
