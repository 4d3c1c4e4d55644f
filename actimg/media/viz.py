"""Figures and videos for looking at action images and decoded trajectories.

Rendering uses matplotlib's Agg canvas directly (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``): no pyplot state, no window, and the process-wide backend is left as
it is. Camera frusta are drawn with :func:`pytransform3d.camera.plot_camera`, which uses
the same conventions as :class:`actimg.CameraRig`: OpenCV axes (x right, y down, z
forward), ``cam2world`` extrinsics, ``K`` in pixels with ``sensor_size = (W, H)`` pixels;
the frustum's small triangle marks the image's top edge (row 0).

Each function writes a file and returns its path; the plotting ones can also return the
``Figure`` (``return_figure=True``) so callers and tests can inspect the drawn data.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union, overload

import numpy as np

from ..geometry.camera import CameraRig
from ..codec.decoder import DecodeResult
from .layout import overlay, side_by_side
from ..geometry.rotations import euler_to_matrix, rotation_angle_deg
from ..codec.spec import ActionImageSpec, resolve_spec

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["camera_frustum_corners", "overlay_video", "plot_errors", "plot_trajectories_3d", "trajectory_errors"]

PathLike = Union[str, "os.PathLike[str]"]
_VIEW_COLORS = ("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray",
                "gold")  # not red / green / blue: those are P, N, U


# ------------------------------------------------------------------ overlay video
def overlay_video(path: PathLike, action_images: np.ndarray, rgb: np.ndarray | None = None, fps: float = 10.0,
                  alpha: float = 0.7) -> str:
    """Write action images blended over observation frames as a video or GIF.

    Args:
        path: ``.mp4`` / ``.mov`` (``mp4v``), ``.mkv`` / ``.avi`` (FFV1, lossless) via
            :func:`actimg.video.write_video`, or ``.gif`` (Pillow, 256-colour palette).
        action_images: ``(V, T, H, W, 3)`` or ``(T, H, W, 3)``, uint8 or float in [0, 1].
        rgb: observation frames of the same shape, or None: the action images are
            shown as they are (over black).
        fps: frames per second (> 0).
        alpha: opacity of a full-intensity blob over ``rgb`` (see :func:`actimg.layout.overlay`).

    Returns:
        ``path`` as a string. Several views are placed side by side (view 0 on the left).
    """
    from .video import _check_fps, write_video

    a = np.asarray(action_images)
    if a.ndim == 4:
        a = a[None]
    if a.ndim != 5 or a.shape[-1] != 3:
        raise ValueError(f"action_images must have shape (V, T, H, W, 3) or (T, H, W, 3), got {a.shape}")
    if rgb is None:
        frames = _as_u8(a)
    else:
        r = np.asarray(rgb)
        if r.ndim == 4:
            r = r[None]
        frames = overlay(a, r, alpha=alpha)
    frames = side_by_side(frames)
    fps = _check_fps(fps)
    p = Path(path)
    if p.suffix.lower() not in (".gif", ".mp4", ".mov", ".mkv", ".avi"):
        raise ValueError(f"overlay_video writes .mp4, .mov, .mkv, .avi or .gif files, got {p.name!r}")
    if p.suffix.lower() == ".gif":
        from PIL import Image

        if not p.parent.is_dir():
            raise FileNotFoundError(f"folder {str(p.parent)!r} of {str(p)!r} does not exist")
        ims = [Image.fromarray(f) for f in frames]
        ims[0].save(p, save_all=True, append_images=ims[1:], duration=max(10, round(1000.0 / fps)), loop=0)
    else:
        write_video(p, frames, fps=fps)
    return str(p)


def _as_u8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError("float action_images must be finite and in [0, 1]")
        return np.rint(a * 255.0).astype(np.uint8)
    raise TypeError(f"action_images must be uint8 or float in [0, 1], got dtype {a.dtype}")


# ---------------------------------------------------------------- helpers
def _poses(x: DecodeResult | np.ndarray | None, spec: ActionImageSpec, name: str
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """``positions (T, 3)`` and ``rotations (T, 3, 3)`` (NaN where unknown) of a result or actions."""
    if x is None:
        return None
    if isinstance(x, DecodeResult):
        return np.asarray(x.positions, float), np.asarray(x.rotations, float)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 7:
        raise ValueError(f"{name} must be a DecodeResult or (T, 7) actions, got shape {a.shape}")
    ok = np.asarray(np.isfinite(a).all(axis=1))
    R = np.full((a.shape[0], 3, 3), np.nan)
    if ok.any():
        R[ok] = euler_to_matrix(a[ok, 3:6], spec.euler)
    P = np.where(ok[:, None], a[:, :3], np.nan)
    return P, R


def trajectory_errors(decoded: DecodeResult | np.ndarray, true_actions: np.ndarray,
                      spec: ActionImageSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame position error ``(T,)`` in mm and rotation error ``(T,)`` in degrees
    (geodesic angle between the rotations); NaN where the decoded frame is invalid."""
    spec = resolve_spec(spec)
    d = _poses(decoded, spec, "decoded")
    t = _poses(true_actions, spec, "true_actions")
    assert d is not None and t is not None
    if d[0].shape != t[0].shape:
        raise ValueError(f"decoded has {d[0].shape[0]} frames but true_actions has {t[0].shape[0]}")
    pos = np.linalg.norm(d[0] - t[0], axis=1) * 1e3
    ok = np.isfinite(d[1]).all(axis=(1, 2)) & np.isfinite(t[1]).all(axis=(1, 2))
    rot = np.full(pos.shape, np.nan)
    if ok.any():
        rot[ok] = rotation_angle_deg(d[1][ok], t[1][ok])
    return pos, rot


def camera_frustum_corners(rig: CameraRig, distance: float | np.ndarray, frame: int = 0) -> np.ndarray:
    """World corners ``(V, 4, 3)`` of each view's image plane at ``distance`` metres along
    the optical axis (the points :func:`pytransform3d.camera.plot_camera` draws): pixel
    corners ``(0, 0), (0, H), (W, H), (W, 0)`` as ``(u, v)``."""
    K, E = rig.broadcast(None if rig.is_static else rig.n_frames)
    K, E = K[:, frame], E[:, frame]
    d = np.broadcast_to(np.asarray(distance, float), (rig.n_views,))
    uv = np.array([[0.0, 0.0], [0.0, rig.height], [rig.width, rig.height], [rig.width, 0.0]])
    out = np.empty((rig.n_views, 4, 3))
    for v in range(rig.n_views):
        f = 0.5 * (K[v, 0, 0] + K[v, 1, 1])
        cam = np.column_stack([uv[:, 0] - K[v, 0, 2], uv[:, 1] - K[v, 1, 2], np.full(4, f)]) * (d[v] / f)
        out[v] = cam @ E[v, :3, :3].T + E[v, :3, 3]
    return out


def _figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike, dpi: int) -> str:
    p = Path(path)
    if not p.parent.is_dir():
        raise FileNotFoundError(f"folder {str(p.parent)!r} of {str(p)!r} does not exist")
    fig.savefig(p, dpi=dpi)
    return str(p)


# ----------------------------------------------------------- 3D trajectories
@overload
def plot_trajectories_3d(path: PathLike, true_actions: np.ndarray | None,
                         decoded: DecodeResult | np.ndarray | None, rig: CameraRig, *,
                         spec: ActionImageSpec | None = ..., title: str | None = ..., dpi: int = ...,
                         return_figure: Literal[False] = ...) -> str: ...


@overload
def plot_trajectories_3d(path: PathLike, true_actions: np.ndarray | None,
                         decoded: DecodeResult | np.ndarray | None, rig: CameraRig, *,
                         spec: ActionImageSpec | None = ..., title: str | None = ..., dpi: int = ...,
                         return_figure: Literal[True]) -> tuple[str, Figure]: ...


def plot_trajectories_3d(path: PathLike, true_actions: np.ndarray | None,
                         decoded: DecodeResult | np.ndarray | None, rig: CameraRig, *,
                         spec: ActionImageSpec | None = None, title: str | None = None, dpi: int = 120,
                         return_figure: bool = False) -> str | tuple[str, Figure]:
    """3D plot of the true and decoded tool trajectories with the camera frusta.

    Draws the position P per frame (true: black line ``"true P"``; decoded: red dashed
    line with dots ``"decoded P"``, gaps at invalid frames), short tool axes (green:
    ``N - P``, blue: ``U - P``, length ``spec.axis_length``) at about ten frames of the
    decoded (else true) trajectory, and every camera (frustum at frame 0, centre marker
    ``"cam v"``; a moving camera's centre path as a dotted line). Axes are in metres with
    equal scale and limits that contain everything drawn.

    Args:
        path: image file (``.png``, ``.pdf``, ``.svg`` ...).
        true_actions: ``(T, 7)`` ground-truth actions, or None.
        decoded: a :class:`DecodeResult` or ``(T, 7)`` actions (NaN rows = invalid), or None.
        rig: the cameras.
        spec: the format (axis length, Euler sequence); default ``ActionImageSpec()``.
        return_figure: also return the matplotlib ``Figure`` (one 3D ``Axes``).

    Returns:
        ``path`` as a string, or ``(path, figure)``.
    """
    import pytransform3d.camera as pc

    spec = resolve_spec(spec)
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be a CameraRig, got {type(rig).__name__}")
    tru = _poses(true_actions, spec, "true_actions")
    dec = _poses(decoded, spec, "decoded")
    if tru is None and dec is None:
        raise ValueError("give true_actions, decoded, or both")
    if tru is not None and dec is not None and tru[0].shape != dec[0].shape:
        raise ValueError(f"true_actions has {tru[0].shape[0]} frames but decoded has {dec[0].shape[0]}")
    fig = _figure((7.5, 6.5))
    ax = fig.add_subplot(projection="3d")
    pts = []
    if tru is not None:
        P = tru[0]
        # wide and translucent under the decoded one, so both stay visible where they agree
        ax.plot(P[:, 0], P[:, 1], P[:, 2], color="0.35", lw=5.0, alpha=0.35, solid_capstyle="round",
                label="true P")
        pts.append(P)
    if dec is not None:
        P = dec[0]
        ax.plot(P[:, 0], P[:, 1], P[:, 2], color="tab:red", lw=0.8, marker="x", ms=3.5, mew=0.8,
                label="decoded P")
        pts.append(P)
    # tool axes on ~10 frames
    P, R = dec if dec is not None else tru  # type: ignore[misc]
    T = P.shape[0]
    step = max(1, T // 10)
    L = spec.axis_length
    for axis, color, label in ((spec.normal_axis, "tab:green", "N - P"), (spec.up_axis, "tab:blue", "U - P")):
        first = True
        for t in range(0, T, step):
            if not (np.isfinite(P[t]).all() and np.isfinite(R[t]).all()):
                continue
            q = P[t] + L * R[t] @ np.asarray(axis, float)
            ax.plot([P[t, 0], q[0]], [P[t, 1], q[1]], [P[t, 2], q[2]], color=color, lw=1.0,
                    label=label if first else None)
            pts.append(q[None])
            first = False
    # cameras
    centers = rig.centers  # (V, 3) or (V, T, 3)
    c0 = centers if centers.ndim == 2 else centers[:, 0]
    allp = np.concatenate([p[np.isfinite(p).all(axis=1)] for p in pts] or [np.zeros((0, 3))])
    focus = allp.mean(axis=0) if allp.size else c0.mean(axis=0)
    dist = 0.25 * np.linalg.norm(c0 - focus, axis=1)
    dist = np.where(dist > 0, dist, 0.1)
    K, E = rig.broadcast(None if rig.is_static else rig.n_frames)
    for v in range(rig.n_views):
        color = _VIEW_COLORS[v % len(_VIEW_COLORS)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pc.plot_camera(ax, M=K[v, 0], cam2world=E[v, 0], virtual_image_distance=float(dist[v]),
                           sensor_size=(rig.width, rig.height), strict_check=False, color=color, lw=1.0)
        ax.plot([c0[v, 0]], [c0[v, 1]], [c0[v, 2]], marker="o", color=color, ms=5, ls="", label=f"cam {v}")
        if centers.ndim == 3:
            ax.plot(centers[v, :, 0], centers[v, :, 1], centers[v, :, 2], color=color, ls=":", lw=1.0)
    corners = camera_frustum_corners(rig, dist)
    everything = np.concatenate([allp, c0, corners.reshape(-1, 3)]
                                + ([centers.reshape(-1, 3)] if centers.ndim == 3 else []))
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    mid, half = (lo + hi) / 2, 0.55 * float((hi - lo).max()) + 1e-3
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    if title is None:
        title = f"{T} frames, {rig.n_views} views"
        if tru is not None and dec is not None:
            pe = np.linalg.norm(dec[0] - tru[0], axis=1) * 1e3
            if np.isfinite(pe).any():
                title += f": position error median {np.nanmedian(pe):.3g} mm, max {np.nanmax(pe):.3g} mm"
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    out = _save(fig, path, dpi)
    return (out, fig) if return_figure else out


# ------------------------------------------------------------------ errors
@overload
def plot_errors(path: PathLike, result: DecodeResult, true_actions: np.ndarray | None = ..., *,
                spec: ActionImageSpec | None = ..., dpi: int = ..., return_figure: Literal[False] = ...) -> str: ...


@overload
def plot_errors(path: PathLike, result: DecodeResult, true_actions: np.ndarray | None = ..., *,
                spec: ActionImageSpec | None = ..., dpi: int = ...,
                return_figure: Literal[True]) -> tuple[str, Figure]: ...


def plot_errors(path: PathLike, result: DecodeResult, true_actions: np.ndarray | None = None, *,
                spec: ActionImageSpec | None = None, dpi: int = 120,
                return_figure: bool = False) -> str | tuple[str, Figure]:
    """Per-frame errors and confidence of a decode, four panels sharing the frame axis.

    1. position (mm): ``"position error"`` against ``true_actions`` (if given) and the
       decoder's ``"predicted std"`` (``result.position_std``);
    2. rotation (deg): ``"rotation error"`` (if truth) and ``"predicted std"``;
    3. ``"confidence"`` in [0, 1], decoded ``"openness"`` (and ``"true openness"``),
       ``"invalid"`` frames as red crosses at 0 and ``"single view"`` frames as circles;
    4. reprojection error (px): the largest of P, N, U per view (``"view v"``).

    Every line has one point per frame (x = frame index 0..T-1), NaN where undefined.

    Returns:
        ``path`` as a string, or ``(path, figure)`` with ``return_figure=True``.
    """
    spec = resolve_spec(spec)
    if not isinstance(result, DecodeResult):
        raise TypeError(f"result must be a DecodeResult, got {type(result).__name__}")
    T = result.actions.shape[0]
    x = np.arange(T)
    pos = rot = None
    if true_actions is not None:
        ta = np.asarray(true_actions, float)
        if ta.shape != (T, 7):
            raise ValueError(f"true_actions must have shape (T={T}, 7), got {ta.shape}")
        pos, rot = trajectory_errors(result, ta, spec)
    fig = _figure((8.0, 8.5))
    axs = fig.subplots(4, 1, sharex=True)
    nanT = np.full(T, np.nan)
    pstd = np.asarray(result.position_std, float) * 1e3 if result.position_std is not None else nanT
    rstd = np.asarray(result.rotation_std, float) if result.rotation_std is not None else nanT
    if pos is not None:
        axs[0].plot(x, pos, color="tab:red", marker=".", label="position error")
    axs[0].plot(x, pstd, color="tab:gray", ls="--", label="predicted std")
    axs[0].set_ylabel("position (mm)")
    if rot is not None:
        axs[1].plot(x, rot, color="tab:red", marker=".", label="rotation error")
    axs[1].plot(x, rstd, color="tab:gray", ls="--", label="predicted std")
    axs[1].set_ylabel("rotation (deg)")
    valid = np.asarray(result.valid, bool)
    single = np.asarray(result.single_view, bool) if result.single_view is not None else np.zeros(T, bool)
    axs[2].plot(x, result.confidence, color="tab:blue", marker=".", label="confidence")
    axs[2].step(x, result.openness, where="mid", color="tab:green", label="openness")
    if true_actions is not None:
        axs[2].step(x, (ta[:, 6] > spec.gripper_threshold).astype(float), where="mid", color="k", ls=":",
                    label="true openness")
    axs[2].plot(x, np.where(valid, np.nan, 0.0), color="tab:red", marker="x", ls="", label="invalid")
    axs[2].plot(x, np.where(single, result.confidence, np.nan), color="tab:orange", marker="o", ls="",
                mfc="none", label="single view")
    axs[2].set_ylim(-0.05, 1.05)
    axs[2].set_ylabel("confidence / openness")
    reproj = np.asarray(result.reprojection_error, float)  # (T, V, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        worst = np.nanmax(reproj, axis=2) if reproj.size else np.zeros((T, 0))
    for v in range(worst.shape[1]):
        axs[3].plot(x, worst[:, v], marker=".", color=_VIEW_COLORS[v % len(_VIEW_COLORS)], label=f"view {v}")
    axs[3].set_ylabel("reprojection (px)")
    axs[3].set_xlabel("frame")
    for a in axs:
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7, loc="upper right")
        a.grid(alpha=0.3)
    head = f"{result.method} decoder: {int(valid.sum())}/{T} frames valid, {int(single.sum())} single-view"
    if pos is not None and np.isfinite(pos).any():
        head += f"; position error median {np.nanmedian(pos):.3g} mm, rotation {np.nanmedian(np.asarray(rot)):.3g} deg"
    fig.suptitle(head, fontsize=9)
    out = _save(fig, path, dpi)
    return (out, fig) if return_figure else out
