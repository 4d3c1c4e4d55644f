"""Multi-view action images -> 7-DoF actions with confidences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _decode_kernels as _k
from .._parallel import run_chunks
from ..geometry._rotation_kernels import euler_code
from ..geometry.camera import CameraRig, _frame_cameras
from ..geometry.rotations import matrix_to_euler
from ._unmix import unmix_views
from .drift import estimate_view_offsets
from .spec import PAPER, ActionImageSpec

__all__ = ["decode", "DecodeResult", "METHODS"]

METHODS = ("actimg", "published")
#: scan block width in sigmas (blocks are twice as tall, two rows of each are read)
SCAN_BLOCK = 1.0
#: the drift stage runs when the median frame's RMS reprojection error is above this (px)
DRIFT_TEST_PX = 0.1


@dataclass(frozen=True, eq=False)
class DecodeResult:
    """What :func:`decode` read from the images. ``T`` frames, ``V`` views.

    Attributes:
        actions: ``(T, 7)`` ``[x, y, z, rx, ry, rz, openness]`` (metres, radians in the
            spec's Euler sequence); NaN rows where ``valid`` is False.
        positions: ``(T, 3)`` tool-centre points P, metres.
        rotations: ``(T, 3, 3)`` ``tool2world`` rotations (roll included).
        openness: ``(T,)`` 1.0 open, 0.0 closed (the image records only > 0.5).
        confidence: ``(T,)`` in [0, 1]; 0 for invalid frames.
        valid: ``(T,)`` False where the frame could not be decoded (actions are NaN).
        reprojection_error: ``(T, V, 3)`` pixels between each detection of P, N, U and
            the reprojection of the decoded pose; NaN where not detected.
        detections: ``(V, T, 3, 2)`` per-view pixel centres of P, N, U used (NaN where
            none), pixel centres at integer coordinates.
        detection_weight: ``(V, T, 3)`` inverse variance (px^-2) of each detection.
        points: ``(T, 3, 3)`` decoded P, N, U in metres.
        gripper_floor: ``(V, T)`` measured blue floor: the B background above the R/G
            background, relative to the range up to 1 (0.25 open, 0 closed for clean
            images; brightness/contrast changes cancel out).
        method: ``"actimg"`` or ``"published"``.
        single_view: ``(T,)`` True where the pose comes from one view alone (P3P of the
            known triad; less accurate in depth).
        position_std: ``(T,)`` predicted standard deviation of the position, metres
            (from the fit's covariance, inflated by the residual when views disagree).
        rotation_std: ``(T,)`` predicted standard deviation of the rotation, degrees.
        mixing: ``(V, 3, 3)`` the colour mixing ``M`` estimated per view and inverted
            before the blob fits (image ``= M @ [R, G, B]`` per pixel), or None when the
            views did not mix their channels (always None for clean images).
        view_offsets: ``(V, 2)`` pixels ``(du, dv)``: a constant drift of each view over
            the clip (blobs drawn at ``projection + offset``), estimated from the frames'
            reprojection residuals with 3+ views and removed before the poses were fitted
            (``detections`` are where the blobs are in the images,
            ``reprojection_error`` is measured after the offsets are removed); None when
            no view drifted by 0.2 px or more.

    ``confidence = 1 / (1 + (position_std / 1 mm)^2 + (rotation_std / 1 deg)^2)``, times a
    gripper factor in [0.5, 1] (how clearly the floor is above or below half its level).
    """

    actions: np.ndarray
    positions: np.ndarray
    rotations: np.ndarray
    openness: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray
    reprojection_error: np.ndarray
    detections: np.ndarray
    detection_weight: np.ndarray
    points: np.ndarray
    gripper_floor: np.ndarray
    method: str = "actimg"
    single_view: np.ndarray | None = None
    position_std: np.ndarray | None = None
    rotation_std: np.ndarray | None = None
    mixing: np.ndarray | None = None
    view_offsets: np.ndarray | None = None

    def __repr__(self) -> str:
        T = self.actions.shape[0]
        return (f"DecodeResult(method={self.method!r}, T={T}, valid={int(self.valid.sum())}/{T}, "
                f"median confidence={np.median(self.confidence):.3f})")


def _check_images(images: object, rig: CameraRig) -> tuple[np.ndarray, float]:
    if not isinstance(rig, CameraRig):
        raise TypeError(f"rig must be a CameraRig, got {type(rig).__name__}")
    if not isinstance(images, np.ndarray):
        images = np.asarray(images)
    if images.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif images.dtype in (np.float32, np.float64):
        scale = 1.0
    else:
        raise TypeError(f"images must be uint8 (0..255) or float32/float64 (0..1), got dtype {images.dtype}")
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (V, T, H, W, 3), got {images.shape}")
    V, T, H, W, _ = images.shape
    if images.size == 0:
        raise ValueError(f"images is empty (shape {images.shape})")
    if V != rig.n_views:
        raise ValueError(f"images has V={V} views but the rig has {rig.n_views}")
    if (H, W) != (rig.height, rig.width):
        raise ValueError(f"images are {H}x{W} but the rig is for {rig.height}x{rig.width} "
                         "(use rig.resized / rig.center_cropped_resized)")
    if rig.n_frames is not None and rig.n_frames != T:
        raise ValueError(f"images has T={T} frames but the per-frame rig has T={rig.n_frames}")
    if scale == 1.0:
        if not np.isfinite(images).all():
            raise ValueError("images contain NaN or inf")
        mx, mn = float(images.max()), float(images.min())
        if mx > 1.5:
            raise ValueError(f"float images must be in [0, 1] (max is {mx:g}); 0..255 data must be uint8 "
                             "or divided by 255")
        if mn < -0.5:
            raise ValueError(f"float images must be in [0, 1] (min is {mn:g}); a video model's [-1, 1] output "
                             "must be mapped with (x + 1) / 2 first")
    return np.ascontiguousarray(images), scale


def decode(images: np.ndarray, rig: CameraRig, spec: ActionImageSpec | None = None, *,
           method: str = "actimg", **published_options: float) -> DecodeResult:
    """Read actions back from multi-view action images.

    Args:
        images: ``(V, T, H, W, 3)`` uint8 (0..255) or float (0..1) action images.
        rig: the cameras the images were rendered with (``V`` views, ``H x W``).
        spec: the format (default ``ActionImageSpec.paper()``).
        method: ``"actimg"`` (this library's decoder) or ``"published"`` (the published
            algorithm, for comparison; see :mod:`actimg.published`; its options
            ``near``, ``far``, ``num_depth_samples`` ... pass through).

    Returns:
        :class:`DecodeResult`. The ``"actimg"`` decoder fits the known Gaussian to each
        blob (sub-pixel, robust to border cuts, saturation and the gripper floor),
        matches blob candidates across views by sampling depths along rays, triangulates
        each point weighted by its fit certainty, then refines the rigid P-N-U triad pose
        by minimising the reprojection error over all views, so position and rotation
        (roll included) come out together; the gripper is read from the blue floor.
        A view whose detection disagrees with the others (ghost blob, wrong peak) is
        dropped when 3+ views see the point. Frames where only one view sees all three
        points are decoded from that view (``single_view``); frames with less are
        ``valid=False`` with NaN actions. Images whose channels leak into each other
        (colour mixing, cross-talk) are unmixed first with a 3x3 matrix estimated per view
        (``mixing``); with 3+ views, a view drawn shifted by a constant offset over the
        clip is re-aligned (``view_offsets``).
    """
    spec = spec or PAPER
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    imgs, scale = _check_images(images, rig)
    if method == "published":
        return _decode_published(imgs, rig, spec, **published_options)
    if published_options:
        raise TypeError(f"unexpected options for method='actimg': {sorted(published_options)}")
    V, T, H, W, _ = imgs.shape
    s = spec.sigma_px(H, W)
    N = V * T
    K_ = _k.MAX_CANDIDATES
    cand_uv = np.empty((N, 3, K_, 2))
    cand_w = np.empty((N, 3, K_))
    cand_amp = np.empty((N, 3, K_))
    bgs = np.empty((N, 3))
    # scan blocks: sigma wide, twice as tall, of which two rows (sigma apart) are read:
    # enough to find a blob (the fit then recentres its window), at a fraction of the
    # memory traffic (a row stride of 2 saves nothing: the prefetcher fetches the
    # skipped rows anyway)
    bw = max(1, int(round(s * SCAN_BLOCK)))
    bh = 2 * bw
    rstep = bh // 2 if bh >= 8 else 1
    acc_dtype = np.uint16 if scale < 1.0 and bh * 255 < 65536 else np.float64
    hi = (1.0 - 0.5 / 255.0) if scale < 1.0 else 1.0 - 1e-6
    # fit on every pixel only when blobs are small
    fit_step = max(1, int(round(s / 9)))
    flags = np.zeros(N, np.uint8)

    def detect(x: np.ndarray, leak: bool = True) -> None:
        run_chunks(_k.detect_many, N, x.reshape(N, H, W, 3), scale, float(s), bh, bw, rstep, acc_dtype, fit_step,
                   hi, leak, cand_uv, cand_w, cand_amp, bgs, flags, min_items=1)

    detect(imgs)
    # colour mixing between channels: a 3x3 matrix per view from the blobs just found,
    # inverted, and the unmixed images detected again
    mixing = None
    if (flags & 2).any():  # the leakage refits found leakage in two channels of an image
        imgs, mixing = unmix_views(imgs, scale, cand_uv, cand_w, bgs, float(s), hi, spec, detect)
    cand_uv = cand_uv.reshape(V, T, 3, K_, 2)
    cand_w = cand_w.reshape(V, T, 3, K_)
    bgs = bgs.reshape(V, T, 3)

    Ks, W2C, C2W = _frame_cameras(rig, T)
    model = spec.tool_points  # (3, 3) float64, contiguous
    off = spec.pixel_offset
    if off:
        # work in the image grid: shift the principal point by the pixel origin
        Ks = Ks.copy()
        Ks[..., 0, 2] -= off
        Ks[..., 1, 2] -= off
    # per frame: match the detections across views (ray sampling), triangulate P, N,
    # U (dropping a view that disagrees with the others), fit the rigid triad
    uv_f = np.empty((T, V, 3, 2))
    w_f = np.empty((T, V, 3))
    R0 = np.empty((T, 3, 3))
    t0 = np.empty((T, 3))
    ok = np.empty(T, bool)
    stats = np.empty((T, 4))
    run_chunks(_k.frames_many, T, imgs, scale, bgs, cand_uv, cand_w, Ks, W2C, C2W, float(s),
               model, max(2.0, 0.25 * s), 10, 20, uv_f, w_f, R0, t0, ok, stats, min_items=4)
    # one view drifted by a constant offset over the clip (3+ views; only when frames do
    # not reproject cleanly): estimated, removed from the detections, frames decoded again
    view_offsets = None
    if V >= 3 and ok.sum() >= 4 and np.median(stats[ok, 0]) > DRIFT_TEST_PX:
        def redecode(o: np.ndarray) -> tuple:
            shifted = cand_uv - o[:, None, None, None, :]
            run_chunks(_k.frames_many, T, imgs, scale, bgs, shifted, cand_w, Ks, W2C, C2W, float(s),
                       model, max(2.0, 0.25 * s), 10, 20, uv_f, w_f, R0, t0, ok, stats, min_items=4)
            return uv_f, R0, t0, ok

        view_offsets = estimate_view_offsets(uv_f.copy(), R0.copy(), t0.copy(), ok.copy(), model, Ks, W2C,
                                             redecode)
    # frames where only one view sees all three points: the pose from that view (P3P)
    single = _single_view_poses(uv_f, w_f, model, Ks, W2C, C2W, R0, t0, ok, stats)
    ok |= single
    # everything the result holds, per frame in one pass (reprojection errors in the
    # kernels' pixel grid: the shift cancels); NaN where not ok
    pts = np.empty((T, 3, 3))
    reproj = np.empty((T, V, 3))
    euler = np.empty((T, 3))
    floors = np.empty((V, T))
    openness = np.empty(T)
    conf = np.empty(T)
    pos_std = np.empty(T)
    rot_std = np.empty(T)
    actions = np.empty((T, 7))
    _k.assemble_frames(R0, t0, ok, model, Ks, W2C, uv_f, euler_code(spec.euler), bgs, float(spec.gripper_floor),
                       stats, pts, reproj, euler, floors, openness, conf, pos_std, rot_std, actions)
    det = np.ascontiguousarray(uv_f.transpose(1, 0, 2, 3)) + off  # (V, T, 3, 2), caller's pixel origin
    if view_offsets is not None:
        det += view_offsets[:, None, None, :]  # where the blobs are in the images
    det_w = np.ascontiguousarray(w_f.transpose(1, 0, 2))
    return DecodeResult(actions=actions, positions=pts[:, 0].copy(), rotations=R0, openness=openness,
                        confidence=conf, valid=ok.copy(), reprojection_error=reproj, detections=det,
                        detection_weight=det_w, points=pts, gripper_floor=floors, method="actimg",
                        single_view=single & ok, position_std=pos_std, rotation_std=rot_std,
                        mixing=mixing, view_offsets=view_offsets)


def _single_view_poses(uv: np.ndarray, w: np.ndarray, model: np.ndarray, Ks: np.ndarray, W2C: np.ndarray,
                       C2W: np.ndarray, R0: np.ndarray, t0: np.ndarray, ok: np.ndarray,
                       stats: np.ndarray) -> np.ndarray:
    """Poses of frames that multi-view triangulation could not decode but where one view
    sees P, N and U: the P3P solutions of the known triad (``cv2.solveP3P``), each refined
    with every detection of the frame; the one with the lowest reprojection error wins,
    and ties (three points in one view fit up to four poses exactly) go to the solution
    closest to the nearest multi-view frame in time. Writes R0, t0, stats; returns the
    mask of frames so decoded (their depth is less certain: see ``position_std``)."""
    import cv2

    T, V = uv.shape[:2]
    single = np.zeros(T, bool)
    if ok.all():
        return single
    anchors = np.flatnonzero(ok)
    for f in np.flatnonzero(~ok):
        seen = (w[f] > 0).all(axis=1) & np.isfinite(uv[f]).all(axis=(1, 2))  # (V,)
        if not seen.any():
            continue
        v = int(np.argmax(np.where(seen, w[f].min(axis=1), -1.0)))
        try:
            n_sol, rvecs, tvecs = cv2.solveP3P(model.astype(np.float64), uv[f, v].astype(np.float64),
                                               Ks[f, v].astype(np.float64), None, flags=cv2.SOLVEPNP_P3P)
        except cv2.error:
            continue
        if not n_sol:
            continue
        near = anchors[np.argmin(np.abs(anchors - f))] if anchors.size else -1
        best = None
        for rv, tv in zip(rvecs, tvecs):
            Rc, _ = cv2.Rodrigues(rv)
            R = C2W[f, v, :3, :3] @ Rc
            t = C2W[f, v, :3, :3] @ tv.reshape(3) + C2W[f, v, :3, 3]
            st = np.empty(4)
            _k.refine_pose(uv[f], w[f], model, Ks[f], W2C[f], R, t, 20, st)
            if not np.isfinite(st[0]):
                continue
            gap = 0.0
            if near >= 0:
                gap = float(np.linalg.norm(t - t0[near])) + 0.1 * float(np.linalg.norm(R - R0[near]))
            key = (round(float(st[0]), 3), gap)  # reprojection first, then closeness in time
            if best is None or key < best[0]:
                best = (key, R, t, st)
        if best is not None:
            _, R0[f], t0[f], stats[f] = best
            single[f] = True
    return single


def _decode_published(imgs: np.ndarray, rig: CameraRig, spec: ActionImageSpec, **options: float) -> DecodeResult:
    """Run the published algorithm and wrap its output (see :mod:`actimg.published`)."""
    from .published import published_decode, shortest_arc_rotation

    V, T = imgs.shape[:2]
    K, E = rig.broadcast(T)
    out = published_decode(imgs, K, E, **options)
    P = out["positions"]
    R = shortest_arc_rotation(out["direction"])  # roll is not recoverable: shortest arc
    ok = np.isfinite(P).all(axis=1) & np.isfinite(R).all(axis=(1, 2))
    openness = np.where(out["closed"], 0.0, 1.0)
    pts = np.stack([P, out["normal_points"], np.full_like(P, np.nan)], axis=1)
    actions = np.full((T, 7), np.nan)
    actions[ok, :3] = P[ok]
    actions[ok, 3:6] = matrix_to_euler(R[ok], spec.euler)
    actions[ok, 6] = openness[ok]
    nan = np.full((V, T, 3, 2), np.nan)
    return DecodeResult(actions=actions, positions=P, rotations=R, openness=openness,
                        confidence=ok.astype(np.float64), valid=ok, reprojection_error=np.full((T, V, 3), np.nan),
                        detections=nan, detection_weight=np.zeros((V, T, 3)), points=pts,
                        gripper_floor=np.full((V, T), np.nan), method="published",
                        single_view=np.zeros(T, bool), position_std=np.full(T, np.nan),
                        rotation_std=np.full(T, np.nan))
