"""actimg.viz: the files written show what they should (pixels, plotted data, axis limits)."""

from __future__ import annotations

import numpy as np
import pytest

import actimg
from actimg import viz
from actimg.media.video import read_video


@pytest.fixture(scope="module")
def scene():
    """2 views x 10 frames x 96x96: rig, actions, images, decode result."""
    rig, actions = actimg.default_scene(2, 10, 96, 96)
    imgs = actimg.encode(actions, rig)
    return rig, actions, imgs, actimg.decode(imgs, rig)


def _p_pixels(rig, actions):
    pix, depth = rig.project(actions[:, :3])  # (V, T, 2) (u, v), pixel centres at integers
    assert (depth > 0).all()
    return np.rint(pix).astype(int)


def _check_red_at_p(frames, imgs, rig, actions, width, background_r):
    """frames: (T, H, V * W, 3) side by side. At P's projection red is the largest channel and far
    above the background's; where N and U are away from P (G, B of the action image < 100 there)
    red dominates by a margin."""
    pix = _p_pixels(rig, actions)
    checked = strict = 0
    for v in range(rig.n_views):
        for t in range(actions.shape[0]):
            u, r = pix[v, t]
            if 0 <= r < rig.height and 0 <= u < width:
                p = frames[t, r, v * width + u].astype(int)
                assert p[0] == p.max() and p[0] > background_r + 80, (v, t, p)
                if imgs[v, t, r, u, 1:].max() < 100:
                    assert p[0] > p[1] + 60 and p[0] > p[2] + 60, (v, t, p)
                    strict += 1
                checked += 1
    assert checked >= actions.shape[0] and strict >= actions.shape[0] // 2


def test_overlay_video_gif_over_observation(tmp_path, scene):
    from PIL import Image

    rig, actions, imgs, _ = scene
    rgb = np.full(imgs.shape, 90, np.uint8)
    rgb[..., 2] = 140  # a bluish grey "observation"
    path = viz.overlay_video(tmp_path / "o.gif", imgs, rgb, fps=5, alpha=0.8)
    assert path == str(tmp_path / "o.gif")
    im = Image.open(path)
    assert im.n_frames == 10 and im.size == (2 * 96, 96)
    assert im.info["duration"] == 200  # ms per frame at 5 fps
    frames = []
    for t in range(im.n_frames):
        im.seek(t)
        frames.append(np.asarray(im.convert("RGB")))
    frames = np.stack(frames)
    _check_red_at_p(frames, imgs, rig, actions, 96, 90)
    # far from every blob of a closed-gripper frame the observation shows through
    closed = int(np.flatnonzero(actions[:, 6] < 0.5)[0])
    black = (imgs[0, closed] == 0).all(axis=-1)
    r, c = np.argwhere(black)[0]
    assert np.abs(frames[closed, r, c].astype(int) - (90, 90, 140)).max() <= 12


def test_overlay_video_mp4_over_black(tmp_path, scene):
    rig, actions, imgs, _ = scene
    path = viz.overlay_video(tmp_path / "o.mp4", imgs, fps=10)
    frames = read_video(path, expected_frames=10, expected_size=(96, 192))
    _check_red_at_p(frames, imgs, rig, actions, 96, 0)
    # over black the frames are the action images themselves (mp4v: lossy, close on average)
    assert np.abs(frames.astype(int) - actimg.layout.side_by_side(imgs).astype(int)).mean() < 3.0


def test_overlay_video_single_view_float_and_errors(tmp_path, scene):
    imgs = scene[2]
    path = viz.overlay_video(tmp_path / "one.mkv", imgs[1].astype(np.float32) / 255)
    assert np.array_equal(read_video(path), imgs[1])  # lossless .mkv: exactly the images
    with pytest.raises(ValueError, match="same shape"):
        viz.overlay_video(tmp_path / "x.gif", imgs, np.zeros((2, 10, 48, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        viz.overlay_video(tmp_path / "x.gif", imgs[0, 0])
    with pytest.raises(ValueError, match=r"writes \.mp4, \.mov, \.mkv, \.avi or \.gif"):
        viz.overlay_video(tmp_path / "x.png", imgs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mkv"]


def _lines(ax):
    return {ln.get_label(): ln for ln in ax.get_lines()}


def test_trajectory_plot_content_and_limits(tmp_path, scene):
    rig, actions, _, res = scene
    path, fig = viz.plot_trajectories_3d(tmp_path / "t.png", actions, res, rig, return_figure=True)
    assert path == str(tmp_path / "t.png") and (tmp_path / "t.png").stat().st_size > 10_000
    (ax,) = fig.axes
    lines = _lines(ax)
    for label in ("true P", "decoded P", "N - P", "U - P", "cam 0", "cam 1"):
        assert label in lines, label
    xs, ys, zs = lines["true P"].get_data_3d()
    assert np.allclose(np.column_stack([xs, ys, zs]), actions[:, :3])
    xs, ys, zs = lines["decoded P"].get_data_3d()
    assert np.allclose(np.column_stack([xs, ys, zs]), res.positions)
    for v in range(2):
        assert np.allclose(np.ravel(lines[f"cam {v}"].get_data_3d()), rig.centers[v])
    # limits contain the trajectory and every camera centre; equal scale on the three axes
    lims = np.array([ax.get_xlim(), ax.get_ylim(), ax.get_zlim()])  # (3, 2)
    for p in np.concatenate([actions[:, :3], rig.centers]):
        assert (lims[:, 0] < p).all() and (p < lims[:, 1]).all(), (p, lims)
    assert np.allclose(np.diff(lims, axis=1), np.diff(lims, axis=1)[0])


def test_trajectory_plot_frusta_follow_opencv_axes(tmp_path, scene):
    """The frustum lines drawn by pytransform3d start at each camera centre and open along
    the camera's +z (OpenCV: forward, towards the scene) with the image's top edge at -y."""
    rig, actions, _, res = scene
    _, fig = viz.plot_trajectories_3d(tmp_path / "t.png", None, res.actions, rig, return_figure=True)
    ax = fig.axes[0]
    for v in range(2):
        c = rig.centers[v]
        drawn = [np.column_stack(ln.get_data_3d()) for ln in ax.get_lines()]
        from_c = [d for d in drawn if len(d) == 3 and np.allclose(d[0], c)]
        assert len(from_c) == 4  # four edges of the frustum
        corners = np.array([d[1] for d in from_c])
        R = rig.extrinsics[v, :3, :3]
        cam = (corners - c) @ R  # camera-frame coordinates of the drawn corners
        assert np.allclose(cam[:, 2], cam[0, 2]) and cam[0, 2] > 0  # a plane in front: +z is forward
        expect = viz.camera_frustum_corners(rig, cam[0, 2])[v]
        assert np.allclose(np.sort(corners, axis=0), np.sort(expect, axis=0), atol=1e-9)
        # the frustum is the image's: its corners project to the image corners (0, 0) ... (W, H)
        px, _ = rig[v].project(corners)
        assert np.allclose(np.sort(px[0, :, 0]), [0, 0, 96, 96], atol=1e-6)
        assert np.allclose(np.sort(px[0, :, 1]), [0, 0, 96, 96], atol=1e-6)
        # the small triangle marks the top edge (row 0, camera -y)
        tri = [(d - c) @ R for d in drawn if len(d) == 4]
        (own,) = [d for d in tri if np.allclose(d[:, 2], cam[0, 2])]  # this camera's triangle
        assert np.isclose(own[1, 1], cam[:, 1].min() - 0.5 * np.ptp(cam[:, 1]))  # apex above row 0
        mean_dir = corners.mean(axis=0) - c
        # towards the trajectory: the scene is in front of the camera
        to_scene = actions[:, :3].mean(axis=0) - c
        assert mean_dir @ to_scene > 0


def test_trajectory_plot_only_truth_and_moving_cameras(tmp_path, scene):
    rig, actions, _, _ = scene
    T = actions.shape[0]
    K, E = rig.broadcast(T)
    E = np.array(E)
    E[:, :, 2, 3] += np.linspace(0, 0.2, T)  # cameras rise 20 cm over the clip
    moving = actimg.CameraRig(np.array(K), E, rig.height, rig.width)
    _, fig = viz.plot_trajectories_3d(tmp_path / "m.png", actions, None, moving, return_figure=True)
    ax = fig.axes[0]
    assert "decoded P" not in _lines(ax)
    zmax = ax.get_zlim()[1]
    assert zmax > E[:, -1, 2, 3].max()  # the last camera positions are inside the limits
    with pytest.raises(ValueError, match="give true_actions, decoded, or both"):
        viz.plot_trajectories_3d(tmp_path / "x.png", None, None, rig)
    with pytest.raises(ValueError, match="frames"):
        viz.plot_trajectories_3d(tmp_path / "x.png", actions[:5], actions, rig)
    with pytest.raises(FileNotFoundError):
        viz.plot_trajectories_3d(tmp_path / "no" / "x.png", actions, None, rig)


def test_error_plot_content(tmp_path, scene):
    rig, actions, imgs, _ = scene
    bad = imgs.copy()
    bad[:, 3] = 0  # frame 3 blank in every view: invalid
    res = actimg.decode(bad, rig)
    assert not res.valid[3] and res.valid.sum() == 9
    _, fig = viz.plot_errors(tmp_path / "e.png", res, actions, return_figure=True)
    assert (tmp_path / "e.png").stat().st_size > 10_000
    ax_pos, ax_rot, ax_conf, ax_rep = fig.axes
    T = 10
    pos, rot = viz.trajectory_errors(res, actions)
    lp, lr, lc, lrep = _lines(ax_pos), _lines(ax_rot), _lines(ax_conf), _lines(ax_rep)
    assert set(lp) == {"position error", "predicted std"} and set(lr) == {"rotation error", "predicted std"}
    for ln in list(lp.values()) + list(lr.values()) + list(lc.values()) + list(lrep.values()):
        assert len(ln.get_xdata()) == T and np.array_equal(ln.get_xdata(), np.arange(T))
    y = np.asarray(lp["position error"].get_ydata(), float)
    assert np.isnan(y[3]) and np.allclose(np.delete(y, 3), np.delete(pos, 3))
    assert np.nanmax(y) < 0.5  # mm, clean images
    assert np.allclose(np.delete(np.asarray(lr["rotation error"].get_ydata(), float), 3), np.delete(rot, 3))
    assert np.allclose(lc["confidence"].get_ydata(), res.confidence)
    inv = np.asarray(lc["invalid"].get_ydata(), float)
    assert np.flatnonzero(np.isfinite(inv)).tolist() == [3]
    assert np.array_equal(np.asarray(lc["true openness"].get_ydata(), float), (actions[:, 6] > 0.5).astype(float))
    assert set(lrep) == {"view 0", "view 1"}
    assert np.allclose(np.asarray(lrep["view 1"].get_ydata(), float)[res.valid],
                       np.nanmax(res.reprojection_error[res.valid, 1], axis=1))


def test_error_plot_without_truth_and_errors(tmp_path, scene):
    _, actions, _, res = scene
    _, fig = viz.plot_errors(tmp_path / "e.png", res, return_figure=True)
    assert set(_lines(fig.axes[0])) == {"predicted std"}
    assert np.allclose(np.asarray(_lines(fig.axes[0])["predicted std"].get_ydata(), float), res.position_std * 1e3)
    with pytest.raises(TypeError, match="DecodeResult"):
        viz.plot_errors(tmp_path / "x.png", res.actions)
    with pytest.raises(ValueError, match=r"\(T=10, 7\)"):
        viz.plot_errors(tmp_path / "x.png", res, actions[:4])
