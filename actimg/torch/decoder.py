"""A differentiable decode of batched action images, in torch.

Per image and channel (R = P, G = N, B = U) the blob is found by its hard argmax (a
piecewise-constant choice, no gradient) and located by a weighted least-squares fit of
the known Gaussian in a window around it (``window`` sigmas):
``log x(c, r) = A - ((c - u)^2 + (r - v)^2) / (2 s^2)`` is linear in ``(u, v, A)`` once
``(c^2 + r^2) / (2 s^2)`` is added to both sides, so the fit is one 3x3 solve per blob.
Pixels enter with weight ``gate x^2``: the gate ramps from 0 at a threshold to 1 at the
threshold plus ``threshold``; the threshold is ``threshold`` (R, G) or
``gripper_floor + threshold`` (B), raised to the background's mean + 3 std (measured
outside the window) on noisy images. So the floor, the black background and the faint
tails carry no weight, and a blob cut by the image border is located as exactly as a
whole one. Two more passes reweight with the fitted model instead of the data (gate and
``x^2`` of the model), which removes the bias of selecting pixels that noise lifted
above the threshold. On clean images every pass is exact up to float rounding.

Each view's centre gives a ray; rays are triangulated by weighted linear least squares
(``sum_v w_v (I - d_v d_v^T) (X - o_v) = 0``) with ``w_v`` the fit's inverse variance of
the centre times ``f^2 / depth^2``. The rotation comes from the triangulated triad by a
symmetric (SVD-free) orthonormalisation of ``N - P`` and ``U - P``; openness from the
mean blue level outside the U window over the floor. Every step is differentiable in the
images (and in the cameras).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..codec.spec import ActionImageSpec
from ._checks import check_cameras, check_finite, check_spec, check_tensor, compute_dtype
from ._geometry import SQRT_HALF, ray_directions

__all__ = ["decode", "TorchDecodeResult"]

#: reweighted passes of the blob fit after the first (weights from the fitted model)
REFINE = 2


class TorchDecodeResult(NamedTuple):
    """What :func:`decode` read, batched. ``B`` samples, ``V`` views, ``T`` frames.

    Attributes:
        positions: ``(B, T, 3)`` tool-centre points P, metres.
        rotations: ``(B, T, 3, 3)`` ``tool2world`` rotations (roll included).
        openness: ``(B, T)`` in [0, 1]: the blue background level over the spec's
            gripper floor (1 open, 0 closed on clean images; NaN if the floor is 0).
        points: ``(B, T, 3, 3)`` triangulated P, N, U, metres.
        pixels: ``(B, V, T, 3, 2)`` fitted blob centres (u, v) in the cameras' pixel
            coordinates (as :func:`actimg.project_actions` gives them).
        weights: ``(B, V, T, 3)`` detection strengths: inverse variance (px^-2, for unit
            noise in ``log x`` per ``1 / x``) of each fitted centre, of order 1 for a
            whole blob and ~0 for one not seen or seen too little to fix its centre;
            times ``f^2 / depth^2`` they weight the triangulation.
        valid: ``(B, T)`` bool: each of P, N, U was seen in at least two views.
    """

    positions: torch.Tensor
    rotations: torch.Tensor
    openness: torch.Tensor
    points: torch.Tensor
    pixels: torch.Tensor
    weights: torch.Tensor
    valid: torch.Tensor


def _fit_blobs(x: torch.Tensor, s: float, k: int, t0: torch.Tensor, ramp: float, cdt: torch.dtype
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian log-fit of each channel's blob.

    ``x (N, H, W, 3)``, base thresholds ``t0 (3,)``; returns centres ``(N, 3, 2)`` (u, v
    in the image grid), strengths ``(N, 3)`` (px^-2) and the mean level outside each
    window ``(N, 3)`` (the background).

    The threshold of a channel is raised to ``mean + 3 std`` of the pixels outside its
    window when that is higher (noise: only pixels clearly above it enter the fit).
    """
    N, H, W, _ = x.shape
    pix = x.reshape(N, H * W, 3)  # channel-last, as given: no transposed copy of the images
    with torch.no_grad():
        idx = pix.argmax(dim=1)  # (N, 3): the hard peak of each channel
        r0 = torch.div(idx, W, rounding_mode="floor")
        c0 = idx - r0 * W
        off = torch.arange(-k, k + 1, device=x.device)
        rr = r0[..., None] + off  # (N, 3, P)
        cc = c0[..., None] + off
        vr = (rr >= 0) & (rr < H)
        vc = (cc >= 0) & (cc < W)
        gidx = (rr.clamp(0, H - 1)[..., :, None] * W + cc.clamp(0, W - 1)[..., None, :]).reshape(N, 3, -1)
        inside = (vr[..., :, None] & vc[..., None, :]).reshape(N, 3, -1)
        chan = torch.arange(3, device=x.device)[None, :, None]
        gidx = (gidx * 3 + chan).reshape(N, -1)  # into the (H * W * 3) pixels of an image
    patch = pix.reshape(N, H * W * 3).gather(-1, gidx).reshape(N, 3, -1).to(cdt)  # (N, 3, P*P)
    insf = inside.to(cdt)
    # background outside the window: mean and std from whole-image sums minus the window's
    n_out = (H * W - insf.sum(dim=-1)).clamp_min(1.0)
    # accumulated in the compute dtype (a float32 sum over a whole image loses ~1e-4 of the
    # floor level); the reductions cast as they load, no copy of the images
    s1 = pix.sum(dim=1, dtype=cdt) - (patch * insf).sum(dim=-1)
    s2 = torch.linalg.vector_norm(pix, dim=1, dtype=cdt).square() - (patch.square() * insf).sum(dim=-1)
    mean = s1 / n_out
    std = (s2 / n_out - mean.square()).clamp_min(1e-12).sqrt()
    t = torch.maximum(t0.to(cdt), mean + 3.0 * std)  # (N, 3)
    gate = ((patch - t[..., None]) / ramp).clamp(0.0, 1.0) * insf
    w = gate * patch.square()
    support = ((patch - t0.to(cdt)[:, None]) / ramp).clamp(0.0, 1.0) * insf
    xi = off.to(cdt) / s
    eta = xi[:, None].expand(-1, xi.shape[0]).reshape(-1)  # row offset per patch pixel
    xic = xi[None, :].expand(xi.shape[0], -1).reshape(-1)  # column offset
    q = 0.5 * (xic.square() + eta.square())
    # log x, floored at half the threshold: only pixels of a (noisy) blob enter the fit
    y = torch.log(torch.maximum(patch, 0.5 * t[..., None])) + q
    phi = torch.stack([xic, eta, torch.ones_like(xic)], dim=-1)  # (P*P, 3)
    eye = torch.eye(3, dtype=cdt, device=x.device)
    sol = Minv = None
    for it in range(1 + REFINE):
        if it:
            # reweight with the fitted model instead of the data: the pixels a noisy image
            # lifts above the threshold no longer bias the fit (clean images: the same fit)
            # (pixels must still be above the base threshold: a fit without data has no
            # model to trust)
            model = torch.exp((phi @ sol[..., None])[..., 0] - q).clamp(max=1.5)
            gate = ((model - t[..., None]) / ramp).clamp(0.0, 1.0) * support
            w = gate * model.square()
        wphi = (w[..., None] * phi).transpose(-1, -2)  # (N, 3, 3, P*P)
        M = wphi @ phi
        rhs = (wphi @ y[..., None])[..., 0]
        trace = M.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
        Minv = torch.linalg.inv(M + (1e-9 * trace + 1e-30)[..., None, None] * eye)
        sol = (Minv @ rhs[..., None])[..., 0]  # (N, 3, 3): mu, nu (in sigmas), A'
    u = c0.to(cdt) + sol[..., 0] * s
    v = r0.to(cdt) + sol[..., 1] * s
    # inverse variance of the centre in px^-2 for unit noise in log x / x (the fit's
    # Fisher information): of order 1 for a whole blob, ~0 when the visible pixels do
    # not fix both coordinates (a sliver of tail along the border)
    strength = 1.0 / (s * s * (Minv[..., 0, 0] + Minv[..., 1, 1]))
    return torch.stack([u, v], dim=-1), strength, mean


def _solve_rays(d: torch.Tensor, o: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Least-squares point of rays ``o + lam d`` weighted by ``w``: view axis 1."""
    eye = torch.eye(3, dtype=d.dtype, device=d.device)
    proj = eye - d[..., :, None] * d[..., None, :]  # (B, V, T, 3, 3, 3)
    A = (w[..., None, None] * proj).sum(dim=1)      # (B, T, 3, 3, 3)
    b = (w[..., None] * (proj @ o[..., None])[..., 0]).sum(dim=1)
    A = A + (1e-9 * w.sum(dim=1) + 1e-30)[..., None, None] * eye
    return torch.linalg.solve(A, b[..., None])[..., 0]


def _triangulate(K: torch.Tensor, c2w: torch.Tensor, uv: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted linear triangulation: ``K (B, V, Tc, 1, 3, 3)``, ``c2w (B, V, Tc, 1, 4, 4)``,
    ``uv (B, V, T, 3, 2)`` camera pixels, ``w (B, V, T, 3)`` px^-2 -> points ``(B, T, 3, 3)``.

    A pixel error ``e`` moves the ray by ``depth * e / f`` metres at the point, so each ray
    is weighted by ``w f^2 / depth^2``: depths from a first solve with ``w f^2``.
    """
    d = ray_directions(K, c2w, uv)  # (B, V, T, 3, 3)
    o = c2w[..., :3, 3].expand_as(d)
    f2 = (K[..., 0, 0] * K[..., 1, 1]).expand_as(w)
    X0 = _solve_rays(d, o, w * f2)
    dist2 = (X0[:, None] - o).square().sum(dim=-1).clamp_min(1e-6)
    return _solve_rays(d, o, w * f2 / dist2)


def _normalize(a: torch.Tensor) -> torch.Tensor:
    return a / torch.linalg.vector_norm(a, dim=-1, keepdim=True)


def _triad_rotation(points: torch.Tensor, spec: ActionImageSpec) -> torch.Tensor:
    """``tool2world (..., 3, 3)`` from P, N, U ``(..., 3, 3)``: symmetric orthonormalisation
    of the unit directions of ``N - P`` and ``U - P`` (no SVD, no preference for N)."""
    x = _normalize(points[..., 1, :] - points[..., 0, :])
    y = _normalize(points[..., 2, :] - points[..., 0, :])
    m = _normalize(x + y)
    q = _normalize(x - y)
    e1 = (m + q) * SQRT_HALF
    e2 = (m - q) * SQRT_HALF
    e3 = torch.linalg.cross(e1, e2, dim=-1)
    world = torch.stack([e1, e2, e3], dim=-1)  # columns
    n = torch.as_tensor(spec.normal_axis, dtype=points.dtype, device=points.device)
    u = torch.as_tensor(spec.up_axis, dtype=points.dtype, device=points.device)
    tool = torch.stack([n, u, torch.linalg.cross(n, u, dim=-1)], dim=-1)
    return world @ tool.T


def decode(images: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor,
           spec: ActionImageSpec | None = None, *, window: float = 2.5, threshold: float = 0.02,
           validate: bool = True) -> TorchDecodeResult:
    """Differentiable decode of batched action images (for action losses on generated frames).

    Args:
        images: ``(B, V, T, H, W, 3)`` float action images in [0, 1] (a video model's
            ``[-1, 1]`` output must be mapped with ``(x + 1) / 2`` first).
        intrinsics: ``(B, V, 3, 3)`` or ``(B, V, T, 3, 3)`` pixel ``K`` of the images.
        extrinsics: ``(B, V, 4, 4)`` or ``(B, V, T, 4, 4)`` OpenCV ``cam2world`` (metres).
        spec: the format (default :data:`actimg.codec.spec.PAPER`).
        window: half-size of the fit window around each blob's peak, in sigmas.
        threshold: pixels below ``threshold`` (R, G) or ``gripper_floor + threshold`` (B)
            get no weight; the weight ramps up to full at twice that.
        validate: check values (finite, in [-0.5, 1.5], pinhole ``K``, rigid extrinsics;
            a device sync). Shapes and dtypes are always checked.

    Returns:
        :class:`TorchDecodeResult` with ``positions (B, T, 3)``, ``rotations (B, T, 3, 3)``,
        ``openness (B, T)`` and diagnostics, in the images' dtype and device. Gradients
        flow to ``images`` (and the cameras) through the blob fits, the triangulation,
        the orthonormalisation and the floor level; the argmax window choice is
        piecewise constant. Clean ``actimg.encode`` images decode to within a few
        micrometres (float rounding); see ``benchmarks/torch_decode.py``.

    Raises:
        TypeError: non-tensor or non-floating images/cameras, a spec of the wrong type.
        ValueError: wrong shapes, batch/view/frame counts that differ, devices that
            differ, bad ``window``/``threshold``, and with ``validate`` non-finite or
            out-of-range images, non-pinhole ``K`` or non-rigid extrinsics.
    """
    spec = check_spec(spec)
    x = check_tensor(images, "images", "(B, V, T, H, W, 3)", (6,), (3,))
    if not (isinstance(window, (int, float)) and math.isfinite(window) and window >= 1.0):
        raise ValueError(f"window must be a number of sigmas >= 1, got {window!r}")
    if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 0.5):
        raise ValueError(f"threshold must be in (0, 0.5), got {threshold!r}")
    B, V, T, H, W, _ = x.shape
    cdt = compute_dtype(x.device)
    cams = check_cameras(intrinsics, extrinsics, validate, cdt, batch=B, views=V, data=("images", x, T))
    if validate:
        lo, hi = torch.aminmax(x.detach())  # one pass; NaN propagates, inf is out of range
        mn, mx = float(lo), float(hi)
        if math.isnan(mn) or math.isnan(mx):
            check_finite(x, "images")  # names the first NaN
        if mx > 1.5:
            raise ValueError(f"images must be in [0, 1] (max is {mx:g}); 0..255 data must be divided by 255")
        if mn < -0.5:
            raise ValueError(f"images must be in [0, 1] (min is {mn:g}); a video model's [-1, 1] output "
                             "must be mapped with (x + 1) / 2 first")
    s = spec.sigma_px(H, W)
    k = max(1, int(math.ceil(window * s)))
    floor = spec.gripper_floor
    t0 = torch.tensor([threshold, threshold, floor + threshold], dtype=cdt, device=x.device)
    N = B * V * T
    uv, strength, background = _fit_blobs(x.reshape(N, H, W, 3), s, k, t0, threshold, cdt)
    uv = uv.reshape(B, V, T, 3, 2)
    strength = strength.reshape(B, V, T, 3)

    # triangulate P, N, U (camera pixel coordinates: + the spec's pixel offset)
    K = cams.K[:, :, :, None]
    E = cams.c2w[:, :, :, None]
    uv = uv + spec.pixel_offset
    pts = _triangulate(K, E, uv, strength)  # (B, T, 3, 3)
    R = _triad_rotation(pts, spec)

    # openness: the mean blue level outside the U window, over the floor
    bg = background[:, 2].reshape(B, V, T)
    if floor > 0.0:
        openness = (bg.mean(dim=1) / floor).clamp(0.0, 1.0)
    else:
        openness = torch.full((B, T), float("nan"), dtype=cdt, device=x.device)
    seen = (strength > 1e-3).sum(dim=1) >= 2  # (B, T, 3): two views fix the point
    odt = x.dtype
    return TorchDecodeResult(positions=pts[..., 0, :].to(odt), rotations=R.to(odt), openness=openness.to(odt),
                             points=pts.to(odt), pixels=uv.to(odt), weights=strength.to(odt),
                             valid=seen.all(dim=-1))
