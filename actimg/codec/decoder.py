"""Multi-view action images -> 7-DoF actions with confidences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _decode_kernels as _k
from . import _units  # noqa: F401  (declares the compile units that prepare() names)
from .._compile import prepare
from .._parallel import run_chunks
from .._validate import kernel_input
from ..geometry._rotation_kernels import euler_code
from ..geometry.camera import CameraRig, _frame_cameras
from ..geometry.rotations import matrix_to_euler
from ._unmix import unmix_views
from .drift import estimate_view_offsets
from .spec import ActionImageSpec, resolve_spec

__all__ = ["decode", "DecodeResult", "METHODS"]

METHODS = ("actimg", "published")
#: scan block width in sigmas (blocks are twice as tall, two rows of each are read)
SCAN_BLOCK = 1.0


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
        ambiguous: ``(T,)`` True where more than one pose fits the detections and nothing
            chose between them: a frame seen whole by one view only (three points in one
            image fit up to four poses of the triad exactly, 45-130 mm and 100-180 degrees
            apart; more with ghost blobs) whose neighbouring frames do not decide either
            (no trusted decoded frame within ``MAX_GAP`` frames that exactly one of the
            poses continues: a one-camera rig with no frame where only one pose fits, or
            frames that jump). The pose given is the most plausible one, but its
            ``position_std`` / ``rotation_std`` include the distance to the farthest other
            pose that fits, so its confidence is low. Blob sizes and amplitudes and the
            gripper floor are the same in every such pose: they cannot decide.
            Frames seen by several views are ambiguous when a view drifted and the images
            fit explanations (which view drifted, by how much) that put the scene more than
            1 mm apart; their stds include that distance (``view_offsets``).
        mixing: ``(V, 3, 3)`` the colour mixing ``M`` estimated per view and inverted
            before the blob fits (image ``= M @ [R, G, B]`` per pixel), or None when the
            views did not mix their channels (always None for clean images).
        view_offsets: ``(V, 2)`` pixels ``(du, dv)``: a constant drift of views over the
            clip (blobs drawn at ``projection + offset``), estimated with 2+ views from the
            frames' residuals with each frame's rigid pose eliminated (the triad's known
            shape tells even two views apart), attributed to as few views as explain them,
            and removed before the poses were fitted (``detections`` are where the blobs
            are in the images, ``reprojection_error`` is measured after the offsets are
            removed); None when no view drifted by 0.2 px or more. The offsets'
            uncertainty (counted as if the clip were one frame: a generator's errors repeat
            from frame to frame) is added to every frame's ``position_std``.

    ``confidence = 1 / (1 + (position_std / 0.5 mm)^2 + (rotation_std / 0.5 deg)^2)``, times
    a gripper factor in [0.5, 1] (how clearly the floor is above or below half its level).
    The stds come from the pose fit's covariance (the detections' fitted weights), inflated
    by ``max(1, chi^2 / dof)`` of the frame's own residual and of the clip's median over its
    multi-view frames (how much noisier the detections are than their weights say), and,
    for ``ambiguous`` frames, by the distance to the farthest other pose that fits; a
    view's drift adds its own uncertainty (``view_offsets``). So
    ``confidence >= 0.5`` means a predicted std within 0.5 mm / 0.5 deg: the promise that
    such a frame is within 2 mm and 2 deg keeps a 4-sigma margin for errors the residuals
    cannot show (a video codec's lag moves the blobs consistently in every view).
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
    ambiguous: np.ndarray | None = None
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
    elif images.dtype.kind == "f" and images.dtype.itemsize in (4, 8):  # either byte order
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


def _kernel_images(imgs: np.ndarray) -> np.ndarray:
    """Images as the kernels take them: uint8 stays uint8, float images become float32
    (float64 adds nothing a decode can use), C-contiguous, native byte order, read-only
    (:func:`kernel_input`): one compiled signature per kernel for every input variant."""
    return kernel_input(imgs, np.uint8 if imgs.dtype == np.uint8 else np.float32)


def decode(images: np.ndarray, rig: CameraRig, spec: ActionImageSpec | None = None, *,
           method: str = "actimg", **published_options: float) -> DecodeResult:
    """Read actions back from multi-view action images.

    Args:
        images: ``(V, T, H, W, 3)`` uint8 (0..255) or float (0..1) action images.
        rig: the cameras the images were rendered with (``V`` views, ``H x W``).
        spec: the format (default ``ActionImageSpec.paper()``). With
            ``precision="bfloat16"`` the images are taken as the released model's bfloat16
            renderings: resampled from its pixel grid to the integer one and decoded
            through its bfloat16-rounded cameras (:mod:`actimg.codec.bf16`).
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
        (``mixing``); with 2+ views, a view drawn shifted by a constant offset over the
        clip is re-aligned (``view_offsets``), and what the images leave open about it is
        in every frame's std.
    """
    spec = resolve_spec(spec)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    imgs, scale = _check_images(images, rig)
    if spec.precision == "bfloat16" and method == "actimg":
        # drawn by the bfloat16 renderer: undo its pixel grid, decode through its cameras
        from .bf16 import regrid, rounded_rig
        imgs, scale, rig = regrid(imgs), 1.0, rounded_rig(rig)
    if method == "published":
        return _decode_published(imgs, rig, spec, **published_options)
    if published_options:
        raise TypeError(f"unexpected options for method='actimg': {sorted(published_options)}")
    imgs = _kernel_images(imgs)
    u8 = imgs.dtype == np.uint8
    prepare(("detect_u8" if u8 else "detect_f32", "frames" if u8 else "frames_f32", "finish"))
    V, T, H, W, _ = imgs.shape
    s = spec.sigma_px(H, W)
    N = V * T
    K_ = _k.MAX_CANDIDATES
    cand_uv = np.empty((N, 3, K_, 2))
    cand_w = np.empty((N, 3, K_))
    cand_amp = np.empty((N, 3, K_))
    cand_rms = np.empty((N, 3, K_))
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
        """Blob candidates of images ``x`` into cand_*; with ``leak`` the noisy images'
        refits include the channel-leakage test (flags bit 1 where it found leakage)."""
        xf = kernel_input(x.reshape(N, H, W, 3))
        run_chunks(_k.detect_many, N, xf, scale, float(s), bh, bw, rstep, acc_dtype, fit_step,
                   hi, cand_uv, cand_w, cand_amp, cand_rms, bgs, min_items=1)
        flags[:] = 0
        if (cand_rms > _k.NOISY_RMS).any():  # not clean: intensity refits (compiled only when needed)
            prepare(("noisy_u8" if u8 else "noisy_f32",))
            run_chunks(_k.refine_noisy, N, xf, scale, float(s), hi, bool(leak), cand_uv, cand_w, cand_amp,
                       cand_rms, bgs, flags, min_items=1)

    detect(imgs)
    # colour mixing between channels: a 3x3 matrix per view from the blobs just found,
    # inverted, and the unmixed images detected again
    mixing = None
    if (flags & 2).any():  # the leakage refits found leakage in two channels of an image
        imgs, mixing = unmix_views(imgs, scale, cand_uv, cand_w, bgs, float(s), hi, spec, detect)
        imgs = kernel_input(imgs)
    cand_uv = cand_uv.reshape(V, T, 3, K_, 2)
    cand_w = cand_w.reshape(V, T, 3, K_)
    bgs = bgs.reshape(V, T, 3)

    Ks, W2C, C2W = _frame_cameras(rig, T)
    model = kernel_input(spec.tool_points)  # (3, 3) float64
    off = spec.pixel_offset
    if off:
        # work in the image grid: shift the principal point by the pixel origin
        Ks = Ks.copy()
        Ks[..., 0, 2] -= off
        Ks[..., 1, 2] -= off
        Ks = kernel_input(Ks)
    # per frame: match the detections across views (ray sampling), triangulate P, N,
    # U (dropping a view that disagrees with the others), fit the rigid triad
    uv_f = np.empty((T, V, 3, 2))
    w_f = np.empty((T, V, 3))
    R0 = np.empty((T, 3, 3))
    t0 = np.empty((T, 3))
    ok = np.empty(T, bool)
    stats = np.empty((T, 4))
    need_rays = np.empty(T, bool)

    def frames(cuv: np.ndarray) -> None:
        """Decode every frame from candidates cuv into uv_f, w_f, R0, t0, ok, stats."""
        args = (imgs, scale, bgs, cuv, cand_w, Ks, W2C, C2W, float(s), model, max(2.0, 0.25 * s), 10, 20, uv_f,
                w_f, R0, t0, ok, stats, need_rays)
        run_chunks(_k.frames_many, T, *args, min_items=4)
        if need_rays.any():  # ambiguous detections: the ray search (compiled only when needed)
            prepare(("rays" if u8 else "rays_f32",))
            run_chunks(_k.rays_many, T, *args, min_items=4)

    frames(cand_uv)
    # a view drifted by a constant offset over the clip: found from the frames' residuals,
    # removed from the detections, frames decoded again; where the images cannot say which
    # view drifted, what that leaves open is added to every frame's std (drift.py)
    drift = None
    if V >= 2 and ok.sum() >= 4:
        def redecode(o: np.ndarray) -> tuple:
            frames(cand_uv - o[:, None, None, None, :])
            return uv_f, R0, t0, ok

        drift = estimate_view_offsets(uv_f.copy(), R0.copy(), t0.copy(), ok.copy(), model, Ks, W2C, redecode)
    cand_fit = cand_uv if drift is None else cand_uv - drift.offsets[:, None, None, None, :]
    # how much noisier the detections are than their fitted weights say, from the clip's
    # multi-view frames; every frame's predicted std is inflated by at least that
    noise = _clip_noise_scale(stats, ok)
    _inflate(stats, ok, noise)
    # frames where only one view sees all three points: the pose from that view (P3P)
    single, ambiguous = _single_view_poses(uv_f, w_f, cand_fit, cand_w, model, Ks, W2C, C2W, R0, t0, ok, stats,
                                           noise)
    ok |= single
    if drift is not None:
        stats[ok, 1] = np.hypot(stats[ok, 1], drift.position_std)
        if drift.ambiguous:
            ambiguous |= ok
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
    view_offsets = None if drift is None or not drift.offsets.any() else drift.offsets
    if view_offsets is not None:
        det += view_offsets[:, None, None, :]  # where the blobs are in the images
    det_w = np.ascontiguousarray(w_f.transpose(1, 0, 2))
    return DecodeResult(actions=actions, positions=pts[:, 0].copy(), rotations=R0, openness=openness,
                        confidence=conf, valid=ok.copy(), reprojection_error=reproj, detections=det,
                        detection_weight=det_w, points=pts, gripper_floor=floors, method="actimg",
                        single_view=single & ok, position_std=pos_std, rotation_std=rot_std,
                        ambiguous=ambiguous & ok, mixing=mixing, view_offsets=view_offsets)


#: continuity of the trajectory: how far (position in mm, rotation in degrees) a pose may
#: be from the one predicted by its trusted neighbouring frames (interpolated between both
#: sides, or extrapolated at constant velocity), per frame to the nearest of them, when
#: the neighbours decide between single-view poses: one "step"
STEP_MM = 30.0
STEP_DEG = 20.0
#: an alternative pose is ruled out by continuity when it is this many steps (per frame of
#: gap) from the prediction, and the pose kept is within one
CONTINUITY_MARGIN = 2.0
#: trusted neighbours are looked for up to this many frames away on each side
MAX_GAP = 3
#: single-view poses closer than this (mm and degrees) are the same pose
SAME_MM = 1.0
SAME_DEG = 1.0
#: a neighbour is trusted when its predicted std is below this (mm and degrees)
TRUSTED_STD = 1.0
#: tail probability of the chi-square test that a single-view pose fits the detections
FIT_TAIL_Z = 3.72  # one-sided normal quantile of 1e-4


def _chi2_quantile(dof: int) -> float:
    """Upper ``1e-4`` quantile of chi-square with ``dof`` degrees of freedom (Wilson-Hilferty);
    ``dof = 0`` (an exact fit is forced) gives a small floor."""
    if dof <= 0:
        return 1.0
    a = 2.0 / (9.0 * dof)
    return float(dof * (1.0 - a + FIT_TAIL_Z * np.sqrt(a)) ** 3)


def _clip_noise_scale(stats: np.ndarray, ok: np.ndarray) -> float:
    """Median ``chi^2 / dof`` of the pose fits of the clip's multi-view frames (``stats``
    ``(T, 4)`` from ``refine_pose``), at least 1: how much the detections' fitted weights
    understate their actual noise (compression, cross-talk, blur bias the centres more
    than the blob fit's residual shows). 1 without a frame with redundancy."""
    red = stats[ok, 3]
    red = red[np.isfinite(red)]
    return max(1.0, float(np.median(red))) if red.size else 1.0


def _inflate(stats: np.ndarray, mask: np.ndarray, noise: float) -> None:
    """Scale the predicted stds (``stats[:, 1:3]``) of the frames in ``mask`` from their
    own inflation ``max(1, chi^2 / dof)`` (``refine_pose``) to ``max(1, chi^2 / dof, noise)``:
    a frame whose few degrees of freedom happen to fit well is not more certain than the
    clip's detections are."""
    if noise <= 1.0:
        return
    own = np.maximum(1.0, np.nan_to_num(stats[mask, 3], nan=1.0))
    stats[mask, 1:3] *= np.sqrt(np.maximum(noise / own, 1.0))[:, None]


def _rot_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    c = (float(np.trace(Ra.T @ Rb)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(min(1.0, max(-1.0, c)))))


def _single_view_poses(uv: np.ndarray, w: np.ndarray, cand_uv: np.ndarray, cand_w: np.ndarray, model: np.ndarray,
                       Ks: np.ndarray, W2C: np.ndarray, C2W: np.ndarray, R0: np.ndarray, t0: np.ndarray,
                       ok: np.ndarray, stats: np.ndarray, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Poses of frames that multi-view triangulation could not decode but where one view
    sees P, N and U, with their ambiguity.

    Three points in one view fit up to four poses of the known triad exactly (P3P), and a
    view with ghost candidates fits more. For every such frame every pose that fits is
    enumerated: the P3P solutions (``cv2.solveP3P``) of every combination of that view's
    blob candidates, plus the poses of trusted neighbouring frames as starting points (a
    solution that noise turned complex), each refined with every detection of the frame
    (other views that see one or two points discriminate); a pose fits when its weighted
    squared reprojection error passes a chi-square test (``1e-4`` tail; the weights are
    scaled by ``noise``, the clip's median ``chi^2 / dof`` of multi-view frames when above
    1, which also inflates the predicted std: with three points in one view the fit has no
    redundancy to tell its own noise).

    Then time decides: a frame with one fitting pose is trusted, as are multi-view frames
    with a predicted std below ``TRUSTED_STD``; a frame with several is resolved when the
    pose predicted from the trusted frames within ``MAX_GAP`` frames (interpolated between
    both sides, else extrapolated from one) is within one step (``STEP_MM``, ``STEP_DEG``
    per frame of gap to the nearest) of one pose and at least ``CONTINUITY_MARGIN`` steps
    from every other. Resolved frames are trusted in
    turn, so a chain of single-view frames is resolved from one trusted end; without one
    (a one-camera rig where every frame fits several poses) nothing is. Blob amplitudes
    and the gripper floor are the same for every pose, so they cannot help.

    Unresolved frames keep the best pose (closest to a neighbour, else the lowest error)
    and are ``ambiguous``: the largest distance to another fitting pose is added to the
    predicted position and rotation std (in quadrature), so their confidence is low.

    Writes R0, t0, stats ``(T, 4)`` of the frames decoded; returns ``(single, ambiguous)``,
    ``(T,)`` bool each.
    """
    import cv2

    T, V = uv.shape[:2]
    single = np.zeros(T, bool)
    ambiguous = np.zeros(T, bool)
    if ok.all():
        return single, ambiguous
    scale = noise
    trusted = ok & (stats[:, 1] * 1e3 < TRUSTED_STD) & (np.degrees(stats[:, 2]) < TRUSTED_STD)
    cands: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]] = {}
    K_ = cand_w.shape[-1]
    for f in np.flatnonzero(~ok):
        full = [v for v in range(V) if (cand_w[v, f] > 0).any(axis=-1).all()]
        if not full:
            continue
        starts: list[tuple[np.ndarray, np.ndarray]] = []
        for v in full:
            idx = [np.flatnonzero(cand_w[v, f, p] > 0)[:K_] for p in range(3)]
            for i0 in idx[0]:
                for i1 in idx[1]:
                    for i2 in idx[2]:
                        pix = np.stack([cand_uv[v, f, 0, i0], cand_uv[v, f, 1, i1], cand_uv[v, f, 2, i2]])
                        try:
                            n_sol, rvecs, tvecs = cv2.solveP3P(model.astype(np.float64), pix.astype(np.float64),
                                                               Ks[f, v].astype(np.float64), None,
                                                               flags=cv2.SOLVEPNP_P3P)
                        except cv2.error:
                            continue
                        for rv, tv in zip(rvecs[:n_sol], tvecs[:n_sol]):
                            Rc, _ = cv2.Rodrigues(rv)
                            starts.append((C2W[f, v, :3, :3] @ Rc,
                                           C2W[f, v, :3, :3] @ tv.reshape(3) + C2W[f, v, :3, 3]))
        for g in (*range(f - 1, max(-1, f - 1 - MAX_GAP), -1), *range(f + 1, min(T, f + 1 + MAX_GAP))):
            if trusted[g]:
                starts.append((R0[g].copy(), t0[g].copy()))
        # every start refined against the frame's detections: the selected ones, with the
        # full view's detections replaced by the candidates nearest the refined pose
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
        for R, t in starts:
            R = np.ascontiguousarray(R, dtype=np.float64)
            t = np.ascontiguousarray(t, dtype=np.float64)
            u_f = uv[f].copy()
            w_f = w[f].copy()
            for _ in range(2):
                for v in full:
                    for p in range(3):
                        X = R @ model[p] + t
                        xc = W2C[f, v, :3, :3] @ X + W2C[f, v, :3, 3]
                        if not xc[2] > 0:
                            break
                        q = Ks[f, v] @ (xc / xc[2])
                        k = np.flatnonzero(cand_w[v, f, p] > 0)
                        d = np.linalg.norm(cand_uv[v, f, p, k] - q[:2], axis=1)
                        j = k[int(np.argmin(d))]
                        u_f[v, p] = cand_uv[v, f, p, j]
                        w_f[v, p] = cand_w[v, f, p, j]
                st = np.empty(4)
                _k.refine_pose(u_f, w_f, model, Ks[f], W2C[f], R, t, 20, st)
                if not np.isfinite(st[0]):
                    break
            if not np.isfinite(st[0]):
                continue
            cost = float(_k._pose_cost(u_f, w_f, model, Ks[f], W2C[f], R, t))
            n_obs = int(((w_f > 0) & np.isfinite(u_f).all(axis=-1)).sum())
            if not np.isfinite(cost) or cost > scale * _chi2_quantile(2 * n_obs - 6):
                continue
            for j, (Rj, tj, _, cj) in enumerate(found):
                if np.linalg.norm(t - tj) * 1e3 < SAME_MM and _rot_deg(R, Rj) < SAME_DEG:
                    if cost < cj:
                        found[j] = (R, t, st, cost)
                    break
            else:
                found.append((R, t, st, cost))
        if found:
            cands[int(f)] = found
            single[f] = True
    # time decides
    chosen: dict[int, int] = {}
    for f, c in cands.items():
        if len(c) == 1:
            chosen[f] = 0
            trusted[f] = True
    pending = [f for f in cands if f not in chosen]
    changed = True
    while changed and pending:
        changed = False
        for f in list(pending):
            sc = _continuity(f, cands[f], R0, t0, trusted)
            if sc is None:
                continue
            s, gap = sc
            k = int(np.argmin(s))
            others = np.delete(s, k)
            if s[k] <= gap and (others >= CONTINUITY_MARGIN * gap).all():
                chosen[f] = k
                R0[f], t0[f] = cands[f][k][0], cands[f][k][1]  # a trusted neighbour from now on
                trusted[f] = True
                pending.remove(f)
                changed = True
    for f, c in cands.items():
        if f in chosen:
            k = chosen[f]
        else:
            sc = _continuity(f, c, R0, t0, trusted)
            k = int(np.argmin(sc[0])) if sc is not None else int(np.argmin([x[3] for x in c]))
            ambiguous[f] = True
        R, t, st, _ = c[k]
        R0[f], t0[f] = R, t
        stats[f] = st
        _inflate(stats, np.arange(T) == f, noise)
        if ambiguous[f]:
            dp = max(float(np.linalg.norm(x[1] - t)) for x in c)
            dr = max(np.radians(_rot_deg(x[0], R)) for x in c)
            stats[f, 1] = float(np.hypot(stats[f, 1], dp))
            stats[f, 2] = float(np.hypot(stats[f, 2], dr))
    return single, ambiguous


def _rotvec(R: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.ascontiguousarray(R, dtype=np.float64))[0].reshape(3)


def _rotmat(w: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.ascontiguousarray(w, dtype=np.float64).reshape(3, 1))[0]


def _predict(f: int, R0: np.ndarray, t0: np.ndarray, trusted: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Pose of frame ``f`` predicted from trusted frames within ``MAX_GAP``: interpolated
    between the nearest on each side (position linear, rotation along the geodesic), else
    extrapolated at constant velocity from the two nearest on one side, else the nearest
    one's pose. Returns ``(R, t, gap)`` (``gap``: frames to the nearest one) or None."""
    T = trusted.shape[0]

    def nearest(start: int, step: int) -> int:
        g = start
        for _ in range(MAX_GAP):
            g += step
            if not 0 <= g < T:
                return -1
            if trusted[g]:
                return g
        return -1

    left, right = nearest(f, -1), nearest(f, 1)
    if left < 0 and right < 0:
        return None
    if left >= 0 and right >= 0:
        a = (f - left) / (right - left)
        t = t0[left] + a * (t0[right] - t0[left])
        R = _rotmat(a * _rotvec(R0[right] @ R0[left].T)) @ R0[left]
        return R, t, min(f - left, right - f)
    g1 = left if left >= 0 else right
    step = -1 if left >= 0 else 1
    g0 = nearest(g1, step)
    if g0 < 0:
        return R0[g1], t0[g1], abs(f - g1)
    a = (f - g1) / (g1 - g0)
    t = t0[g1] + a * (t0[g1] - t0[g0])
    R = _rotmat(a * _rotvec(R0[g1] @ R0[g0].T)) @ R0[g1]
    return R, t, abs(f - g1)


def _continuity(f: int, cands: list, R0: np.ndarray, t0: np.ndarray,
                trusted: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Per candidate pose of frame ``f``: its distance to the pose predicted from the
    trusted neighbouring frames (:func:`_predict`), in steps
    ``sqrt((mm / STEP_MM)^2 + (deg / STEP_DEG)^2)``; with the gap to the nearest trusted
    frame. None without a trusted frame within ``MAX_GAP``."""
    pred = _predict(f, R0, t0, trusted)
    if pred is None:
        return None
    Rp, tp, gap = pred
    s = np.empty(len(cands))
    for k, (R, t, _, _) in enumerate(cands):
        s[k] = np.hypot(np.linalg.norm(t - tp) * 1e3 / STEP_MM, _rot_deg(R, Rp) / STEP_DEG)
    return s, gap


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
                        rotation_std=np.full(T, np.nan), ambiguous=np.zeros(T, bool))
