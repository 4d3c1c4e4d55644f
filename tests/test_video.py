"""actimg.video (files) and actimg.layout (array layouts, overlay): content round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import actimg
from actimg import layout, video


@pytest.fixture(scope="module")
def scene():
    """2 views x 12 frames x 96x128 action images of the default scene (gripper opens and closes)."""
    rig, actions = actimg.default_scene(2, 12, 96, 128)
    return rig, actions, actimg.encode(actions, rig)


def _noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ------------------------------------------------------------------ video files
@pytest.mark.parametrize("name", ["a.mkv", "a.avi"])
def test_lossless_is_bit_exact(tmp_path, scene, name):
    _, _, imgs = scene
    info = video.write_video(tmp_path / name, imgs[0], fps=12.5, quality="lossless")
    assert (info.codec, info.fourcc, info.lossless) == ("FFV1", "FFV1", True)
    assert (info.n_frames, info.height, info.width, info.fps) == (12, 96, 128, 12.5)
    back = video.read_video(tmp_path / name, expected_frames=12, expected_size=(96, 128))
    assert back.dtype == np.uint8 and back.shape == imgs[0].shape
    assert np.array_equal(back, imgs[0])


def test_lossless_keeps_arbitrary_rgb(tmp_path):
    """Observation-like frames (random noise: worst case) survive FFV1 bit for bit, RGB order kept."""
    frames = _noise((5, 64, 80, 3))
    frames[:, :8, :8] = (255, 0, 0)  # a pure red corner: R stays R (no BGR swap)
    video.write_video(tmp_path / "obs.mkv", frames)  # quality picked from .mkv
    back = video.read_video(tmp_path / "obs.mkv")
    assert np.array_equal(back, frames)
    assert tuple(back[0, 0, 0]) == (255, 0, 0)


def test_high_quality_is_near_lossless_and_decodes(tmp_path, scene):
    rig, actions, imgs = scene
    views = []
    for v in range(2):
        info = video.write_video(tmp_path / f"v{v}.avi", imgs[v], quality="high")
        assert info.codec == "MJPEG 4:4:4 q100" and info.fourcc == "MJPG" and not info.lossless
        views.append(video.read_video(info.path, expected_frames=12, expected_size=(96, 128)))
    back = np.stack(views)
    err = np.abs(back.astype(int) - imgs.astype(int))
    assert err.max() <= 8, err.max()  # 4:4:4 chroma: even the closed-gripper step of B survives
    assert err.mean() < 0.2
    res = actimg.decode(back, rig)
    assert res.valid.all()
    assert np.abs(res.positions - actions[:, :3]).max() < 0.5e-3  # metres
    assert np.array_equal(res.openness, (actions[:, 6] > 0.5).astype(float))


def test_high_quality_takes_odd_sizes(tmp_path, scene):
    _, _, imgs = scene
    odd = np.ascontiguousarray(imgs[0, :, :95, :127])
    video.write_video(tmp_path / "odd.avi", odd, quality="high")
    back = video.read_video(tmp_path / "odd.avi", expected_size=(95, 127))
    assert np.abs(back.astype(int) - odd).max() <= 8


@pytest.mark.parametrize("name", ["s.mp4", "s.mov", "s.avi"])
def test_standard_is_lossy_mp4v_but_close(tmp_path, scene, name):
    _, _, imgs = scene
    info = video.write_video(tmp_path / name, imgs[1], quality="standard")
    assert info.fourcc == "mp4v" and "MPEG-4" in info.codec and not info.lossless
    back = video.read_video(tmp_path / name, expected_frames=12)
    err = np.abs(back.astype(int) - imgs[1].astype(int))
    assert err.mean() < 2.0  # 4:2:0 chroma and DCT: small on average
    # the blobs stay where they were: the brightest R pixel of every frame moves < 2 px
    for t in range(12):
        a = np.unravel_index(imgs[1, t, :, :, 0].argmax(), (96, 128))
        b = np.unravel_index(back[t, :, :, 0].argmax(), (96, 128))
        assert np.hypot(a[0] - b[0], a[1] - b[1]) < 2.5


def test_mp4_default_quality_is_standard(tmp_path, scene):
    assert video.write_video(tmp_path / "d.mp4", scene[2][0]).quality == "standard"
    assert video.write_video(tmp_path / "d.avi", scene[2][0]).quality == "lossless"


def test_float_frames_are_mapped_like_the_format(tmp_path):
    rng = np.random.default_rng(1)
    f = rng.random((3, 32, 32, 3)).astype(np.float32)
    video.write_video(tmp_path / "f.mkv", f)
    assert np.array_equal(video.read_video(tmp_path / "f.mkv"), np.rint(f * 255).astype(np.uint8))


def test_write_errors(tmp_path, scene):
    _, _, imgs = scene
    with pytest.raises(ValueError, match="one video per view"):
        video.write_video(tmp_path / "x.mkv", imgs)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        video.write_video(tmp_path / "x.mkv", imgs[0, :, :, :, 0])
    with pytest.raises(ValueError, match="even width and height"):
        video.write_video(tmp_path / "x.mkv", imgs[0, :, :95])
    with pytest.raises(ValueError, match=r"needs a \.mkv / \.avi"):
        video.write_video(tmp_path / "x.mp4", imgs[0], quality="lossless")
    with pytest.raises(ValueError, match=r"\.avi"):
        video.write_video(tmp_path / "x.mkv", imgs[0], quality="high")
    with pytest.raises(ValueError, match="quality must be one of"):
        video.write_video(tmp_path / "x.mkv", imgs[0], quality="best")
    with pytest.raises(ValueError, match="cannot pick a codec"):
        video.write_video(tmp_path / "x.webm", imgs[0])
    with pytest.raises(ValueError, match="fps"):
        video.write_video(tmp_path / "x.mkv", imgs[0], fps=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        video.write_video(tmp_path / "x.mkv", imgs[0].astype(np.float32))  # 0..255 floats
    with pytest.raises(TypeError, match="dtype"):
        video.write_video(tmp_path / "x.mkv", imgs[0].astype(np.int16))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        video.write_video(tmp_path / "nope" / "x.mkv", imgs[0])
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_read_errors(tmp_path, scene):
    _, _, imgs = scene
    with pytest.raises(FileNotFoundError, match="no such video"):
        video.read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video" * 10)
    with pytest.raises(ValueError, match="junk.mp4"):
        video.read_video(tmp_path / "junk.mp4")
    video.write_video(tmp_path / "v.mkv", imgs[0])
    with pytest.raises(ValueError, match="has 12 frames but 13 were expected"):
        video.read_video(tmp_path / "v.mkv", expected_frames=13)
    with pytest.raises(ValueError, match=r"is 96x128 \(height x width\) but 128x96 was expected"):
        video.read_video(tmp_path / "v.mkv", expected_size=(128, 96))


# --------------------------------------------------------------- PNG sequences
def test_png_sequence_round_trip_and_read_video_on_folder(tmp_path, scene):
    _, _, imgs = scene
    info = video.write_png_sequence(tmp_path / "seq", imgs[0])
    assert info.codec == "PNG" and info.lossless and info.n_frames == 12
    names = sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert names[0] == "frame_00000.png" and len(names) == 12
    assert np.array_equal(video.read_png_sequence(tmp_path / "seq"), imgs[0])
    assert np.array_equal(video.read_video(tmp_path / "seq", expected_frames=12), imgs[0])
    with pytest.raises(ValueError, match="already holds 12 PNG"):
        video.write_png_sequence(tmp_path / "seq", imgs[1])
    video.write_png_sequence(tmp_path / "seq", imgs[1, :5], overwrite=True)  # shorter: old frames removed
    assert np.array_equal(video.read_png_sequence(tmp_path / "seq"), imgs[1, :5])


def test_png_sequence_natural_order_and_errors(tmp_path):
    import cv2

    d = tmp_path / "frames"
    d.mkdir()
    for t in (10, 2, 1):  # img_2 must come before img_10
        cv2.imwrite(str(d / f"img_{t}.png"), np.full((8, 6, 3), t, np.uint8))
    got = video.read_png_sequence(d)
    assert got.shape == (3, 8, 6, 3) and got[:, 0, 0, 0].tolist() == [1, 2, 10]
    with pytest.raises(ValueError, match="not frames written here"):
        video.write_png_sequence(d, got, overwrite=True)
    cv2.imwrite(str(d / "img_11.png"), np.zeros((9, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="is 9x6 but img_1.png is 8x6"):
        video.read_png_sequence(d)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .png frames"):
        video.read_png_sequence(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        video.read_png_sequence(tmp_path / "missing")


# ---------------------------------------------------------------------- layout
_views = hnp.arrays(np.uint8, st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5),
                                         st.just(3)))


@settings(max_examples=40)
@given(_views)
def test_side_by_side_round_trip(x):
    V, T, H, W, _ = x.shape
    s = layout.side_by_side(x)
    assert s.shape == (T, H, V * W, 3)
    for v in range(V):  # view v occupies columns [v W, (v + 1) W)
        assert np.array_equal(s[:, :, v * W:(v + 1) * W], x[v])
    assert np.array_equal(layout.split_side_by_side(s, V), x)


@settings(max_examples=40)
@given(_views)
def test_concat_time_round_trip_and_segments(x):
    V, T = x.shape[:2]
    acts = 255 - x
    c = layout.concat_time(x, acts)
    assert c.shape == (2 * V * T,) + x.shape[2:]
    segs = layout.time_segments(V, T)
    assert [(s.kind, s.view) for s in segs] == [(k, v) for v in range(V) for k in ("video", "action")]
    for s in segs:
        assert np.array_equal(c[s.frames], (x if s.kind == "video" else acts)[s.view])
    vid, act = layout.split_time(c, V)
    assert np.array_equal(vid, x) and np.array_equal(act, acts)


def test_published_layout_order():
    """[video v1, action v1, video v2, action v2] for 2 views x 41 frames."""
    T = 41
    vid = np.zeros((2, T, 2, 2, 3), np.uint8)
    act = np.zeros_like(vid)
    vid[0], act[0], vid[1], act[1] = 1, 2, 3, 4
    c = layout.concat_time(vid, act)
    assert c.shape == (164, 2, 2, 3)
    assert c[::T, 0, 0, 0].tolist() == [1, 2, 3, 4]
    assert [(s.frames.start, s.frames.stop) for s in layout.time_segments(2, T)] == [(0, 41), (41, 82), (82, 123),
                                                                                       (123, 164)]


def test_layout_errors():
    x = np.zeros((2, 3, 4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="not a multiple of n_views=3"):
        layout.split_side_by_side(layout.side_by_side(x), 3)
    with pytest.raises(ValueError, match="same"):
        layout.concat_time(x, x[:, :2])
    with pytest.raises(TypeError, match="same dtype"):
        layout.concat_time(x, x.astype(np.float32))
    with pytest.raises(ValueError, match="multiple of 4"):
        layout.split_time(np.zeros((10, 4, 5, 3)), 2)
    with pytest.raises(ValueError, match=r"\(V, T, H, W, 3\)"):
        layout.side_by_side(x[0])


def test_overlay_content(scene):
    rig, actions, imgs = scene
    grey = np.full(imgs.shape, 100, np.uint8)
    out = layout.overlay(imgs, grey, alpha=0.7)
    assert out.dtype == np.uint8 and out.shape == imgs.shape
    pix, _ = rig.project(actions[:, :3])  # (V, T, 2)
    for v in range(2):
        for t in range(12):
            u, r = np.rint(pix[v, t]).astype(int)
            if 0 <= r < 96 and 0 <= u < 128:
                p = out[v, t, r, u].astype(int)
                assert p[0] > 150 and p[0] > p[1] + 60 and p[0] > p[2] + 60, (v, t, p)  # red dominant at P
    # closed-gripper frames have a black background: the observation shows through unchanged
    closed = int(np.flatnonzero(actions[:, 6] < 0.5)[0])
    black = (imgs[0, closed] == 0).all(axis=-1)
    assert black.any() and (out[0, closed][black] == 100).all()
    # alpha 0: the frames themselves; float images give the same as uint8 (to rounding)
    assert np.array_equal(layout.overlay(imgs, grey, alpha=0.0), grey)
    f = layout.overlay(imgs.astype(np.float32) / 255, grey.astype(np.float32) / 255, alpha=0.7)
    assert np.abs(f.astype(int) - out).max() <= 1
    with pytest.raises(ValueError, match="same shape"):
        layout.overlay(imgs, grey[:, :, :10])
    with pytest.raises(ValueError, match="alpha"):
        layout.overlay(imgs, grey, alpha=1.5)
