"""The PUBLISHED action-image decoder, re-implemented faithfully in numpy.

This is the baseline that ``actimg.decode(..., method="published")`` and the benchmarks
use. It reproduces, step by step, the decoder released with the Action Images paper
(``fuse_multiview_heatmaps_to_7d_point_torch`` and the functions it calls), without
torch. It is meant to give exactly the published accuracy, so its defects are kept on
purpose; do not "fix" them here (``actimg``'s own decoder is where things get fixed).

Why it is faithful (per point type, per frame):

1. Heatmap: R and G channels as float32 on a 0..255 scale divided by 255 (uint8 input is
   converted exactly like ``tensor.to(float32) / 255``).
2. Intensity-weighted centroid over the WHOLE image, pixel centres at ``index + 0.5``,
   normaliser ``sum + 1e-8``. (Computed here from the row/column marginals, which is the
   same sum regrouped.)
3. Ray of view 0 through its centroid: ``d = R_c2w @ [(cx_c - cx) / fx, (cy_c - cy) / fy, 1]``
   normalised with ``/ (|d| + 1e-8)``, origin at the camera centre (translation column).
4. ``D`` depths ``linspace(near, far, D)`` along that ray (distance along the unit ray,
   not camera z).
5. Every sample projected into every view with ``R^T (X - t)``, ``u = fx * x / (z + 1e-8)
   + cx`` (likewise v; no depth test), clamped to ``[0, W-1] x [0, H-1]``.
6. Bilinear sampling with ``grid_sample(align_corners=True, padding_mode="zeros")``
   semantics on the clamped coordinates, which is plain bilinear interpolation at pixel
   indices (a sample exactly on the last row/column reads that row/column).
7. Product of the samples over views; ``argmax`` over depth (first maximum on ties).
8. Edge smoothing (on by default): a frame is invalid if in ANY view the heatmap argmax
   (first maximum in row-major order) lies within ``int(H * edge_threshold)`` rows or
   ``int(W * edge_threshold)`` columns of the border; invalid frames are replaced by
   linear interpolation between the nearest valid frames before and after (the nearest
   valid frame if only one side exists; unchanged if no frame is valid).
9. Direction = ``(N - P) / (|N - P| + 1e-8)`` from the (smoothed) decoded P and N.
10. Gripper: "closed" if any B value (0..255 scale) exceeds 128 in any view.

Known defects of the published algorithm, kept here on purpose:

* Half-pixel shift: the encoder evaluates its Gaussians at integer pixel coordinates,
  the decoder takes pixel centres at ``index + 0.5``, so every centroid is off by
  (+0.5, +0.5) px.
* Whole-image centroid: a blob cut by the image border, or (for B) sitting on the blue
  floor, biases the centroid; there is no windowing around the peak.
* Depth quantisation: only ``D`` samples between near and far (defaults 0.1 m .. 5.0 m,
  D = 64, i.e. ~78 mm steps), and the 3D point is only ever on view 0's ray.
* Samples behind a view are projected through a negative depth (mirrored) and clamped
  to the border rather than rejected.
* U (the B channel's Gaussian) is never decoded, so roll about the tool x axis is lost:
  only the direction N - P comes back (see :func:`shortest_arc_rotation`).
* The gripper read-out is "any B pixel > 128/255": the U blob itself peaks at 1 whenever
  U is in (or near) a view, so the result is "closed" essentially always, whatever the
  openness; the open floor (0.25 -> 64) never triggers it. Openness is not recovered.

Numerics: the published code runs in float32 torch; here geometry and centroids are
computed in float64 (heatmaps stay float32). The differences are far below a micrometre
and could only matter for an exact tie in the depth argmax.
"""

from __future__ import annotations

import numpy as np

__all__ = ["published_decode_points", "published_decode", "shortest_arc_rotation"]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _edge_invalid_mask(heatmaps, edge_threshold):
    """(T,) bool: True where, in any view, the heatmap argmax is within the border margin.

    Margins are ``int(H * edge_threshold)`` rows and ``int(W * edge_threshold)`` columns,
    as in the published ``check_heatmap_max_on_edge_torch``.
    """
    T, V, H, W = heatmaps.shape
    margin_h = int(H * edge_threshold)
    margin_w = int(W * edge_threshold)
    idx = np.argmax(heatmaps.reshape(T, V, H * W), axis=2)  # first maximum, row-major
    row = idx // W
    col = idx % W
    on_edge = (row < margin_h) | (row >= H - margin_h) | (col < margin_w) | (col >= W - margin_w)
    return on_edge.any(axis=1)


def _smooth_invalid(points, invalid):
    """Replace invalid frames by linear interpolation between the nearest valid frames.

    Mirrors the published ``smooth_3d_points_torch``: both neighbours -> linear
    interpolation by frame distance; one neighbour -> copy it; no valid frame at all ->
    unchanged. Valid frames are never modified, so this vectorised form equals the
    published in-place loop.
    """
    T = points.shape[0]
    valid = ~invalid
    n_valid = int(valid.sum())
    if n_valid == 0 or n_valid == T:
        return points
    out = points.copy()
    t = np.arange(T)
    valid_idx = np.flatnonzero(valid)
    bad = np.flatnonzero(invalid)
    # nearest valid index strictly before / after each invalid frame (-1 / T if none)
    pos = np.searchsorted(valid_idx, bad)  # number of valid frames before `bad`
    has_prev = pos > 0
    has_next = pos < n_valid
    prev = np.where(has_prev, valid_idx[np.maximum(pos - 1, 0)], -1)
    nxt = np.where(has_next, valid_idx[np.minimum(pos, n_valid - 1)], T)

    both = has_prev & has_next
    if both.any():
        b, p, n = bad[both], prev[both], nxt[both]
        d_prev = (t[b] - p).astype(np.float64)
        d_next = (n - t[b]).astype(np.float64)
        total = d_prev + d_next
        w_prev = (d_next / total)[:, None]
        w_next = (d_prev / total)[:, None]
        out[b] = w_prev * points[p] + w_next * points[n]
    only_prev = has_prev & ~has_next
    out[bad[only_prev]] = points[prev[only_prev]]
    only_next = has_next & ~has_prev
    out[bad[only_next]] = points[nxt[only_next]]
    return out


def _bilinear_clamped(heatmaps, x, y):
    """Bilinear samples of ``heatmaps`` (T, V, H, W) at pixel coords x, y (T, V, D).

    x, y are already clamped to [0, W-1] x [0, H-1]; this equals ``grid_sample`` with
    ``align_corners=True`` there (the zero padding only ever gets weight 0).
    Returns (T, V, D) float64.
    """
    T, V, H, W = heatmaps.shape
    # A NaN coordinate (only from 0/0 in the projection) samples nothing (score 0).
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        x = np.where(bad, 0.0, x)
        y = np.where(bad, 0.0, y)
    x0 = np.floor(x)
    y0 = np.floor(y)
    # On the last row/column the upper neighbour has weight 0; use the pair (n-2, n-1)
    # with weight 1 on n-1 instead, which reads the same value without indexing past.
    x0 = np.clip(x0, 0, max(W - 2, 0))
    y0 = np.clip(y0, 0, max(H - 2, 0))
    wx = x - x0
    wy = y - y0
    x0i = x0.astype(np.intp)
    y0i = y0.astype(np.intp)
    x1i = np.minimum(x0i + 1, W - 1)
    y1i = np.minimum(y0i + 1, H - 1)

    flat = heatmaps.reshape(T, V, H * W)
    ti = np.arange(T)[:, None, None]
    vi = np.arange(V)[None, :, None]

    def at(yi, xi):
        return flat[ti, vi, yi * W + xi].astype(np.float64)

    top = at(y0i, x0i) * (1.0 - wx) + at(y0i, x1i) * wx
    bottom = at(y1i, x0i) * (1.0 - wx) + at(y1i, x1i) * wx
    out = top * (1.0 - wy) + bottom * wy
    if bad.any():
        out[bad] = 0.0
    return out


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def published_decode_points(
    heatmaps,
    K,
    cam2world,
    *,
    near=0.1,
    far=5.0,
    num_depth_samples=64,
    edge_threshold=0.01,
    edge_smoothing=True,
):
    """Published multi-view heatmap -> 3D point fusion for one point type.

    Parameters
    ----------
    heatmaps : array_like, shape (T, V, H, W)
        Float heatmaps in [0, 1] (one channel of the action images).
    K : array_like, shape (T, V, 3, 3)
        Intrinsics in pixels.
    cam2world : array_like, shape (T, V, 4, 4)
        OpenCV camera-to-world extrinsics (only the top 3x4 is used, like the published
        ``[R | t]``; the inverse is taken as ``R^T``, so R must be a rotation).
    near, far : float
        Depth range in metres along view 0's unit ray from its camera centre.
    num_depth_samples : int
        Number D of evenly spaced depths (``np.linspace(near, far, D)``).
    edge_threshold : float
        Border margin as a fraction of H and W for the edge test.
    edge_smoothing : bool
        Whether to replace border frames by interpolation between valid frames.

    Returns
    -------
    points : ndarray, shape (T, 3), float64
        Decoded world points in metres.
    """
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must have shape (T, V, H, W), got {heatmaps.shape}")
    if not np.issubdtype(heatmaps.dtype, np.floating):
        heatmaps = heatmaps.astype(np.float32)
    T, V, H, W = heatmaps.shape
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (T, V, 3, 3))
    c2w = np.broadcast_to(np.asarray(cam2world, dtype=np.float64)[..., :3, :4], (T, V, 3, 4))
    D = int(num_depth_samples)

    # 1) Whole-image intensity-weighted centroid, pixel centres at index + 0.5.
    col_marg = heatmaps.sum(axis=2, dtype=np.float64)  # (T, V, W)
    row_marg = heatmaps.sum(axis=3, dtype=np.float64)  # (T, V, H)
    total = col_marg.sum(axis=2) + 1e-8  # (T, V)
    xs = np.arange(W, dtype=np.float64) + 0.5
    ys = np.arange(H, dtype=np.float64) + 0.5
    cen_x = (col_marg @ xs) / total
    cen_y = (row_marg @ ys) / total

    fx, fy = K[..., 0, 0], K[..., 1, 1]  # (T, V)
    cx, cy = K[..., 0, 2], K[..., 1, 2]
    Rm = c2w[..., :3, :3]  # (T, V, 3, 3) camera-to-world rotation
    tc = c2w[..., :3, 3]  # (T, V, 3) camera centre

    # 2) Ray of view 0 through its centroid (only view 0's ray is ever used).
    ray_cam = np.stack([(cen_x[:, 0] - cx[:, 0]) / fx[:, 0],
                        (cen_y[:, 0] - cy[:, 0]) / fy[:, 0],
                        np.ones(T)], axis=-1)  # (T, 3)
    ray = np.einsum("tij,tj->ti", Rm[:, 0], ray_cam)
    ray = ray / (np.linalg.norm(ray, axis=-1, keepdims=True) + 1e-8)

    # 3) Candidate points along it.
    depths = np.linspace(near, far, D)  # (D,)
    cand = tc[:, 0, None, :] + ray[:, None, :] * depths[None, :, None]  # (T, D, 3)

    # 4) Project every candidate into every view: R^T (X - t), no depth test.
    rel = cand[:, None, :, :] - tc[:, :, None, :]  # (T, V, D, 3)
    pc = np.einsum("tvji,tvdj->tvdi", Rm, rel)  # R^T @ rel
    z = pc[..., 2] + 1e-8
    u = fx[..., None] * (pc[..., 0] / z) + cx[..., None]
    v = fy[..., None] * (pc[..., 1] / z) + cy[..., None]
    u = np.clip(u, 0, W - 1)
    v = np.clip(v, 0, H - 1)

    # 5) Bilinear sample, product over views, best depth.
    scores = _bilinear_clamped(heatmaps, u, v).prod(axis=1)  # (T, D)
    best = np.argmax(scores, axis=1)
    points = cand[np.arange(T), best]  # (T, 3)

    # 6) Edge smoothing over time.
    if edge_smoothing and T > 0:
        invalid = _edge_invalid_mask(heatmaps, edge_threshold)
        if invalid.any():
            points = _smooth_invalid(points, invalid)
    return points


def published_decode(
    images,
    K,
    cam2world,
    *,
    near=0.1,
    far=5.0,
    num_depth_samples=64,
    edge_threshold=0.01,
    edge_smoothing=True,
    grip_close_threshold=128.0,
):
    """Published decoder: multi-view action images -> position, direction, "closed".

    Parameters
    ----------
    images : array_like, shape (V, T, H, W, 3)
        Action images, uint8 (0..255) or float (0..1). Floats are multiplied by 255 first
        so both go through the published path (which takes 0..255, divides R and G by
        255 and thresholds B on the 0..255 scale).
    K : array_like, shape (V, T, 3, 3)
        Intrinsics in pixels (a (V, 3, 3) static camera is also accepted and broadcast).
    cam2world : array_like, shape (V, T, 4, 4)
        OpenCV camera-to-world extrinsics ((V, 4, 4) also accepted and broadcast).
    near, far, num_depth_samples, edge_threshold, edge_smoothing
        See :func:`published_decode_points`.
    grip_close_threshold : float
        B threshold on the 0..255 scale (128 published).

    Returns
    -------
    dict with
        ``positions`` : (T, 3) float64, metres, decoded from R (the P point);
        ``normal_points`` : (T, 3) float64, metres, decoded from G (the N point);
        ``direction`` : (T, 3) float64, ``(N - P) / (|N - P| + 1e-8)`` (unit, or ~0 if
        N and P decode to the same point);
        ``closed`` : (T,) bool, any B > threshold in any view (the published gripper
        read-out, which is True whenever the U blob is visible, see module notes).
    """
    images = np.asarray(images)
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (V, T, H, W, 3), got {images.shape}")
    V, T, H, W, _ = images.shape
    K = np.asarray(K, dtype=np.float64)
    cam2world = np.asarray(cam2world, dtype=np.float64)
    if K.ndim == 3:
        K = K[:, None]
    if cam2world.ndim == 3:
        cam2world = cam2world[:, None]
    K_tv = np.swapaxes(np.broadcast_to(K, (V, T, 3, 3)), 0, 1)  # (T, V, 3, 3)
    c2w_tv = np.swapaxes(np.broadcast_to(cam2world, (V, T, 4, 4)), 0, 1)

    is_float = np.issubdtype(images.dtype, np.floating)
    f255 = np.float32(255.0)

    def channel_255(c):
        """Channel c as float32 on the 0..255 scale, laid out (T, V, H, W)."""
        ch = np.ascontiguousarray(np.swapaxes(images[..., c], 0, 1), dtype=np.float32)
        if is_float:
            ch *= f255
        return ch

    kw = dict(near=near, far=far, num_depth_samples=num_depth_samples,
              edge_threshold=edge_threshold, edge_smoothing=edge_smoothing)

    heat = channel_255(0)
    heat /= f255
    positions = published_decode_points(heat, K_tv, c2w_tv, **kw)
    heat = channel_255(1)
    heat /= f255
    normal_points = published_decode_points(heat, K_tv, c2w_tv, **kw)
    del heat

    diff = normal_points - positions
    direction = diff / (np.linalg.norm(diff, axis=-1, keepdims=True) + 1e-8)

    blue = channel_255(2)
    closed = (blue > np.float32(grip_close_threshold)).reshape(T, -1).any(axis=1)

    return {
        "positions": positions,
        "normal_points": normal_points,
        "direction": direction,
        "closed": closed,
    }


def shortest_arc_rotation(direction):
    """Rotations taking the tool +x axis [1, 0, 0] onto ``direction`` by the smallest angle.

    The published decoder returns only the direction N - P; U is never decoded, so the
    roll about that direction is unknowable. This fills it in with the minimal rotation
    (zero "twist" relative to the shortest arc), which is a convention, not a recovery:
    the true roll is generally different.

    Parameters
    ----------
    direction : array_like, shape (T, 3)
        Direction vectors (normalised here; expected unit).

    Returns
    -------
    R : ndarray, shape (T, 3, 3), float64
        Proper rotations with ``R @ [1, 0, 0] = direction / |direction|``.
        Robustness: for a direction (anti)parallel to -x, where every axis orthogonal to
        x gives a shortest arc of pi, the rotation is pi about the z axis
        (R = diag(-1, -1, 1)); near -x the formula stays continuous and accurate
        (quaternion ``(1 + c, x cross d)`` with ``1 + c`` computed without cancellation). A zero
        (or non-finite-norm zero) direction gives the identity.
    """
    d = np.asarray(direction, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 3:
        raise ValueError(f"direction must have shape (T, 3), got {d.shape}")
    n = np.linalg.norm(d, axis=1, keepdims=True)
    zero = n[:, 0] == 0
    d = np.where(zero[:, None], np.array([1.0, 0.0, 0.0]), d / np.where(n == 0, 1.0, n))

    # Quaternion (w, x, y, z) for the shortest arc from e = [1, 0, 0] to d:
    # q ~ (1 + e.d, e x d) = (1 + dx, 0, -dz, dy), then normalised. For dx < 0, 1 + dx
    # is computed as (dy^2 + dz^2) / (1 - dx) (equal for unit d) to avoid cancellation.
    dyz2 = d[:, 1] ** 2 + d[:, 2] ** 2
    w = np.where(d[:, 0] < 0, dyz2 / (1.0 - d[:, 0]), 1.0 + d[:, 0])
    qx = np.zeros_like(w)
    qy = -d[:, 2]
    qz = d[:, 1]
    qn = np.sqrt(w * w + qy * qy + qz * qz)
    degenerate = qn <= 1e-300  # d == -x exactly: any axis orthogonal to x; use z
    w = np.where(degenerate, 0.0, w / np.where(degenerate, 1.0, qn))
    qy = np.where(degenerate, 0.0, qy / np.where(degenerate, 1.0, qn))
    qz = np.where(degenerate, 1.0, qz / np.where(degenerate, 1.0, qn))

    R = np.empty((d.shape[0], 3, 3), dtype=np.float64)
    R[:, 0, 0] = 1 - 2 * (qy * qy + qz * qz)
    R[:, 0, 1] = 2 * (qx * qy - qz * w)
    R[:, 0, 2] = 2 * (qx * qz + qy * w)
    R[:, 1, 0] = 2 * (qx * qy + qz * w)
    R[:, 1, 1] = 1 - 2 * (qx * qx + qz * qz)
    R[:, 1, 2] = 2 * (qy * qz - qx * w)
    R[:, 2, 0] = 2 * (qx * qz - qy * w)
    R[:, 2, 1] = 2 * (qy * qz + qx * w)
    R[:, 2, 2] = 1 - 2 * (qx * qx + qy * qy)
    return R
