"""actimg.datasets' pipelined per-episode path: the observation feed thread (decode + crop/resize)
and streaming writes give exactly the frames and files of the plain sequential path
(read_frames -> crop_resize_frames -> write_frames). Tiny fixtures: 6-10 frames, <= 96x128."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("av")
pytest.importorskip("pyarrow")

import actimg  # noqa: E402
from actimg.datasets import Episode, FolderReader, convert  # noqa: E402
from actimg.datasets.avio import iter_frames, read_frames, write_frame_iter, write_frames  # noqa: E402
from actimg.datasets.feed import ObservationFeed  # noqa: E402
from actimg.datasets.frames import crop_resize_frame, crop_resize_frames, crop_resize_rig  # noqa: E402
from actimg.datasets.synthetic import episode_data, make_folder_dataset  # noqa: E402

SIZE = (64, 64)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feed_src")
    make_folder_dataset(root, n_episodes=2, n_frames=10)
    return root


def _feed_all(feed: ObservationFeed, views) -> list[np.ndarray]:
    return [np.stack(list(feed.frames(v))) for v in views]


@pytest.mark.parametrize("size", [SIZE, (48, 80), None])
def test_feed_gives_the_frames_of_the_sequential_path(src: Path, size) -> None:
    ep = FolderReader(src).load("episode_000")
    with ObservationFeed(ep, size, max_bytes=1) as feed:  # 2 frames ahead at most
        got = _feed_all(feed, ep.videos)
    for v, path in enumerate(ep.videos.values()):
        whole = read_frames(path)
        ref = crop_resize_frames(whole, *size) if size is not None else whole
        np.testing.assert_array_equal(got[v], ref)


@given(st.integers(8, 64), st.integers(8, 64), st.integers(1, 20), st.integers(1, 20), st.integers(1, 5))
@settings(max_examples=25, deadline=None)
def test_feed_of_arrays_equals_crop_resize_frames(H: int, W: int, h2: int, w2: int, T: int) -> None:
    rig, a = episode_data(0, T, 1, H, W)
    frames = np.random.default_rng(H * W + T).integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    ep = Episode("e", a, rig, {"cam": frames})
    out = (2 * h2, 2 * w2)
    with ObservationFeed(ep, out) as feed:
        got = np.stack(list(feed.frames("cam")))
    np.testing.assert_array_equal(got, crop_resize_frames(frames, *out))
    np.testing.assert_array_equal(crop_resize_frame(frames[0], *out), got[0])


@pytest.mark.parametrize("codec, ext", [("ffv1", ".mkv"), ("h264-obs", ".mp4"), ("h264", ".mp4")])
def test_streamed_write_has_the_bytes_of_a_plain_write(src: Path, tmp_path: Path, codec: str, ext: str) -> None:
    ep = FolderReader(src).load("episode_001")
    view, path = next(iter(ep.videos.items()))
    plain = tmp_path / f"plain{ext}"
    write_frames(plain, crop_resize_frames(read_frames(path), *SIZE), 10.0, codec)
    streamed = tmp_path / f"streamed{ext}"
    with ObservationFeed(ep, SIZE, max_bytes=1) as feed:
        assert write_frame_iter(streamed, feed.frames(view), 10.0, codec) == ep.n_frames
    if codec == "ffv1":
        assert streamed.read_bytes() == plain.read_bytes()  # lossless: same frames, same bytes
    else:  # x264 bytes may vary under CPU contention (avio): same frames within a grey level
        assert np.abs(read_frames(streamed).astype(int) - read_frames(plain)).mean() < 1.0


def test_converted_ffv1_videos_are_a_plain_sequential_write(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = convert(src, out, size=SIZE, progress=False)
    assert res.count("ok") == 2
    for name in ("episode_000", "episode_001"):
        small = crop_resize_rig(actimg.load_rig(src / name / "rig.json"), *SIZE)
        images = actimg.encode(np.load(src / name / "actions.npy"), small)
        for v in range(2):
            write_frames(tmp_path / "ref.mkv", images[v], 10.0, "ffv1")
            assert (out / name / f"action_{v}.mkv").read_bytes() == (tmp_path / "ref.mkv").read_bytes()
            # the observation videos hold the frames of the sequential path (H.264: within a grey level or two)
            ref = crop_resize_frames(read_frames(src / name / f"video_{v}.mp4"), *SIZE)
            assert np.abs(read_frames(out / name / f"video_{v}.mp4").astype(int) - ref).mean() < 3


def test_feed_errors_reach_the_consumer(src: Path, tmp_path: Path) -> None:
    ep = FolderReader(src).load("episode_000")
    short = tmp_path / "short.mp4"
    write_frames(short, read_frames(ep.videos["0"])[:5], 10.0)
    bad = Episode("b", ep.actions, ep.rig, {"0": short, "1": tmp_path / "missing.mp4"})
    with ObservationFeed(bad, SIZE) as feed:
        with pytest.raises(ValueError, match="view '0' has 5 frames but the episode has T=10 actions: partial"):
            list(feed.frames("0"))
    with ObservationFeed(Episode("b", ep.actions, ep.rig, {"0": ep.videos["0"], "1": tmp_path / "missing.mp4"}),
                         SIZE) as feed:
        feed.check("0")
        with pytest.raises(FileNotFoundError, match="no such video file"):
            feed.check("1")
    small = ep.rig.center_cropped_resized(48, 64)
    with ObservationFeed(Episode("c", ep.actions, small, {"0": ep.videos["0"], "1": ep.videos["1"]}), SIZE) as feed:
        with pytest.raises(ValueError, match="is 96x128 but the rig is 48x64"):
            feed.check("0")
    with ObservationFeed(ep, SIZE) as feed:
        with pytest.raises(RuntimeError, match="out of order"):
            feed.check("1")


def test_feed_closed_early_stops_its_thread(src: Path) -> None:
    ep = FolderReader(src).load("episode_000")
    feed = ObservationFeed(ep, None, max_bytes=1)
    next(feed.frames("0"))
    feed.close()  # returns although the thread is blocked on a full queue
    assert not feed._thread.is_alive()


def test_write_frame_iter_rejects_and_leaves_nothing(tmp_path: Path) -> None:
    f = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="at least one frame"):
        write_frame_iter(tmp_path / "a.mkv", iter([]), 10.0, "ffv1")
    with pytest.raises(ValueError, match="frame 1 is"):
        write_frame_iter(tmp_path / "a.mkv", [f, np.zeros((8, 6, 3), np.uint8)], 10.0, "ffv1")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        write_frame_iter(tmp_path / "a.mkv", [f.astype(np.float32)], 10.0, "ffv1")
    with pytest.raises(ValueError, match="codec must be one of"):
        write_frame_iter(tmp_path / "a.mkv", [f], 10.0, "vp9")

    def broken():
        yield f
        raise OSError("source went away")

    with pytest.raises(OSError, match="went away"):
        write_frame_iter(tmp_path / "a.mkv", broken(), 10.0, "ffv1")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_iter_frames_is_read_frames(src: Path, tmp_path: Path) -> None:
    path = src / "episode_000" / "video_1.mp4"
    np.testing.assert_array_equal(np.stack(list(iter_frames(path))), read_frames(path))
    with pytest.raises(FileNotFoundError):
        next(iter_frames(tmp_path / "none.mp4"))


def test_dropped_episode_with_a_partial_video_still_fails(tmp_path: Path) -> None:
    """on_quality="drop" writes nothing for a flagged episode, but its videos are still checked:
    a partial video is a failure, as with the sequential path."""
    src = tmp_path / "src"
    make_folder_dataset(src, n_episodes=2, n_frames=10)
    for i in (0, 1):
        a = np.load(src / f"episode_00{i}" / "actions.npy")
        a[5:, 1] += 0.4  # a teleoperation glitch: flagged
        np.save(src / f"episode_00{i}" / "actions.npy", a)
    write_frames(src / "episode_001" / "video_1.mp4", read_frames(src / "episode_001" / "video_1.mp4")[:7], 10.0)
    res = convert(src, tmp_path / "out", size=SIZE, progress=False, on_quality="drop")
    rows = {r["episode"]: r for r in res.rows}
    assert (rows["episode_000"]["status"], rows["episode_000"]["path"]) == ("filtered", "")
    assert rows["episode_001"]["status"] == "failed" and "has 7 frames" in rows["episode_001"]["error"]
    assert not (tmp_path / "out" / "episode_000").exists() and not (tmp_path / "out" / "episode_001").exists()


def test_droid_recordings_are_streamed_and_checked(tmp_path: Path) -> None:
    from actimg.datasets import DroidReader
    from actimg.datasets.synthetic import make_droid_dataset

    make_droid_dataset(tmp_path / "src", n_episodes=2, n_frames=10)
    rd = DroidReader(tmp_path / "src")
    ep = rd.load(rd.names()[0])
    assert all(isinstance(v, str) and v.endswith(".mp4") for v in ep.videos.values())  # paths, not frames
    assert (ep.rig.height, ep.rig.width) == read_frames(ep.videos["ext1"]).shape[1:3]
    bad = Path(rd.load(rd.names()[1]).videos["ext2"])
    write_frames(bad, read_frames(bad)[:6], 15.0)  # a recording cut short
    res = convert(tmp_path / "src", tmp_path / "out", "droid", size=SIZE, progress=False)
    assert [r["status"] for r in res.rows] == ["ok", "failed"]
    assert "view 'ext2' has 6 frames but the episode has T=10 actions: partial" in res.rows[1]["error"]
    assert not (tmp_path / "out" / rd.names()[1]).exists()
    write_frames(bad, np.zeros((10, 48, 64, 3), np.uint8), 15.0)  # another size than ext1
    with pytest.raises(ValueError, match="recordings differ in size"):
        rd.load(rd.names()[1])
