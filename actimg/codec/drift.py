"""Per-view image drift: a constant pixel offset of a view over a clip, found and removed,
with what it leaves uncertain.

A generator may draw one view's whole clip shifted by a pixel or two (a camera calibrated a
pixel off looks the same). Model each detection as ``uv = project(X) + o_v``, with ``o_v
(2,)`` shared by every frame and point of view ``v``. Per frame, the residuals of the
decoded pose are projected onto the complement of what a change of the rigid pose can
explain, and the offsets are solved by linear least squares over the clip
(:func:`drift_system`). Eliminating the rigid pose, not each point, keeps the triad's
known shape: a view shifted along its epipolar lines deforms the triangulated triad, so
even two views tell which of them drifted and by how much.

Which views drifted is chosen by the fewest that explain the residuals
(:func:`select_drift`): hypotheses ``D`` (the drifted views; the others exact) are tried
from ``D = {}`` (no drift) up to every view, and ``D`` is accepted when its residual is
within a chi-square margin of the fit with every offset free (``FIT_FACTOR`` times the
``1e-4`` quantile). Several hypotheses of the same size may fit (a shift of the whole
scene looks almost like a pattern of offsets): the position change between their
explanations, and the offsets' own standard errors carried through the pose fit, are what
the frames' positions are uncertain by; the decoder adds them to every frame's std and
marks the frames ``ambiguous`` when the explanations are more than 1 mm apart.

The standard errors are counted as if the clip were one frame: what a generator or a
codec does wrong repeats from frame to frame (a blob-shape bias, a colour leak), so the
number of frames does not average it away; a motion-blurred clip's blob biases, read as
independent, made a 0.8 px "drift" look certain. Offsets within their own uncertainty
(a Wald test) are not removed, and the position change they would make is added to the
frames' std instead: the images then cannot tell a small drift from a bias, and the
decode must not claim more.

Huber weights keep a ghost blob or a wrong detection from pulling the estimate; the
offsets of the chosen hypothesis are refined by decoding again with them removed.

:func:`estimate_view_offsets` is the decoder's stage (``DecodeResult.view_offsets``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .._validate import kernel_input

__all__ = ["estimate_view_offsets", "drift_system", "select_drift", "DriftSystem", "ViewDrift", "MIN_OFFSET_PX",
           "FIT_FACTOR"]

#: offsets smaller than this (pixels) are not removed (and reported as None)
MIN_OFFSET_PX = 0.2
#: a drift hypothesis fits when its extra residual (chi-square units of the free-offset fit)
#: is within this factor of the 1e-4 quantile: neighbouring frames' errors are correlated,
#: so the nominal quantile alone is too strict
FIT_FACTOR = 3.0
_TAIL_Z = 3.72  # one-sided normal quantile of 1e-4


def _chi2_quantile(dof: int) -> float:
    """Upper ``1e-4`` quantile of chi-square with ``dof`` degrees of freedom (Wilson-Hilferty)."""
    a = 2.0 / (9.0 * max(dof, 1))
    return float(max(dof, 1) * (1.0 - a + _TAIL_Z * np.sqrt(a)) ** 3)


@dataclass(frozen=True)
class DriftSystem:
    """The clip's normal equations for per-view offsets, each frame's pose eliminated.

    Attributes:
        H: ``(2V, 2V)`` normal matrix (offsets and residuals are both pixels).
        g: ``(2V,)`` right-hand side (pixels).
        sse: Huber-weighted sum of squared residuals left by the poses alone (px^2).
        dof: residual degrees of freedom with the poses fitted (``sum(n_coords - 6)``).
        n_frames: frames that entered (8+ coordinates seen).
        sens: ``(F, 3, 2V)`` metres per pixel: how each such frame's position moves when
            the offsets removed change (linearised pose fit).
        m_per_px: ``(V,)`` metres per pixel at the points' mean depth in each view (how
            far a one-view pose moves with its view).
    """

    H: np.ndarray
    g: np.ndarray
    sse: float
    dof: int
    n_frames: int
    sens: np.ndarray
    m_per_px: np.ndarray

    def position_std(self, cov: np.ndarray) -> float:
        """Largest position std (metres) over the frames, and of a one-view pose, for an
        offset covariance ``cov (2V, 2V)`` (px^2)."""
        multi = float(np.sqrt(max(np.einsum("fia,ab,fib->f", self.sens, cov, self.sens).max(initial=0.0), 0.0)))
        one = max(np.sqrt(max(float(np.linalg.eigvalsh(cov[2 * v:2 * v + 2, 2 * v:2 * v + 2]).max()), 0.0))
                  * self.m_per_px[v] for v in range(self.m_per_px.size))
        return float(max(multi, one))

    def shift(self, do: np.ndarray) -> float:
        """Largest position change (metres) over the frames, and of a one-view pose, when
        the offsets removed change by ``do (2V,)`` pixels."""
        multi = float(np.linalg.norm(np.einsum("fia,a->fi", self.sens, do), axis=1).max(initial=0.0))
        one = float((np.hypot(*do.reshape(-1, 2).T) * self.m_per_px).max())
        return max(multi, one)


@dataclass(frozen=True)
class ViewDrift:
    """What the drift stage found.

    Attributes:
        offsets: ``(V, 2)`` pixels removed from the detections (``uv = project(X) + o``);
            zeros where the drift found is within its own uncertainty or below
            :data:`MIN_OFFSET_PX` (not removed, but counted in ``position_std``).
        drifted: the views the drift is attributed to (the others' offsets are 0).
        position_std: metres added (in quadrature) to every frame's position std: the
            offsets' standard errors carried through the pose fit, and the position change
            to other explanations that fit as well.
        ambiguous: True when explanations that fit put the frames more than 1 mm apart.
    """

    offsets: np.ndarray
    drifted: tuple[int, ...]
    position_std: float
    ambiguous: bool


def drift_system(uv: np.ndarray, R: np.ndarray, t: np.ndarray, ok: np.ndarray, model: np.ndarray, Ks: np.ndarray,
                 W2C: np.ndarray, huber_px: float = 1.0) -> DriftSystem | None:
    """The normal equations of per-view offsets from the residuals of decoded frames, each
    frame's rigid pose eliminated (``_drift_kernels.drift_normals``).

    Per frame, the detections' residuals (detections minus reprojections of the decoded
    pose) are projected onto the complement of what a small change of the pose (3
    translations, 3 rotations about P) can explain; what is left is credited to the
    offsets. Eliminating the rigid pose rather than each point keeps the triad's shape:
    a view shifted along its epipolar lines deforms the triangulated triad, so even two
    views tell which of them drifted.

    Args:
        uv: ``(T, V, 3, 2)`` detections used (NaN where not), pixels.
        R, t: ``(T, 3, 3)``, ``(T, 3)`` decoded poses (``tool2world``, metres); ok
            ``(T,)`` which frames count.
        model: ``(3, 3)`` tool points (metres); Ks ``(T, V, 3, 3)``; W2C ``(T, V, 4, 4)``.
        huber_px: Huber threshold on a frame's remaining RMS residual (pixels).

    Returns:
        :class:`DriftSystem`, or None without a frame with redundancy (8+ coordinates).
    """
    from ._drift_kernels import drift_normals

    T, V = uv.shape[:2]
    H = np.empty((2 * V, 2 * V))
    g = np.empty(2 * V)
    sens = np.empty((T, 3, 2 * V))
    used = np.empty(T, np.bool_)
    m_per_px = np.empty(V)
    st = np.empty(3)
    drift_normals(kernel_input(uv), kernel_input(R), kernel_input(t), kernel_input(ok, np.bool_), kernel_input(model),
                  kernel_input(Ks), kernel_input(W2C), float(huber_px), H, g, sens, used, m_per_px, st)
    if st[2] == 0:
        return None
    return DriftSystem(H=H, g=g, sse=float(st[0]), dof=int(st[1]), n_frames=int(st[2]), sens=sens[used],
                       m_per_px=m_per_px)


def _solve(H: np.ndarray, g: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, float]:
    """Offsets (``2V``, zero outside ``idx``) minimising the residual, and the reduction of
    the sum of squares they give."""
    o = np.zeros(g.size)
    if idx.size:
        o[idx] = np.linalg.lstsq(H[np.ix_(idx, idx)], g[idx], rcond=1e-10)[0]
    return o, float(g @ o)


def _index(D: tuple[int, ...]) -> np.ndarray:
    return np.array([2 * v + c for v in D for c in (0, 1)], dtype=int)


def select_drift(sys_: DriftSystem) -> ViewDrift | None:
    """Which views drifted, by how much, and how uncertain the positions are for it (see
    the module docstring). None when no drift is needed to explain the residuals."""
    V = sys_.m_per_px.size
    dof_free = sys_.dof - 2 * V
    if dof_free < 1:
        return None
    _, gain_free = _solve(sys_.H, sys_.g, _index(tuple(range(V))))
    var = max(sys_.sse - gain_free, 1e-300) / dof_free
    fits: list[tuple[float, tuple[int, ...], np.ndarray]] = []
    for k in range(V + 1):
        for D in itertools.combinations(range(V), k):
            o, gain = _solve(sys_.H, sys_.g, _index(D))
            stat = (gain_free - gain) / var
            if k == V or stat <= FIT_FACTOR * _chi2_quantile(2 * (V - k)):
                fits.append((stat, D, o))
        if fits:
            break
    if fits[0][1] == ():
        return None  # nothing drifted
    fits.sort(key=lambda b: b[0])
    _, D, o = fits[0]
    # the offsets' uncertainty, counted as if the clip were one frame: errors a generator
    # or a codec makes are alike from frame to frame (a blob-shape bias repeats), so the
    # frames' number does not average them away
    idx = _index(D)
    cov = np.zeros((2 * V, 2 * V))
    cov[np.ix_(idx, idx)] = var * sys_.n_frames * np.linalg.pinv(sys_.H[np.ix_(idx, idx)], rcond=1e-10)
    std = sys_.position_std(cov)
    # other explanations that fit as well
    spread = max((sys_.shift(o2 - o) for _, _, o2 in fits[1:]), default=0.0)
    # offsets within their own uncertainty are not removed, but what they would move is
    # uncertain all the same
    wald = float(o[idx] @ np.linalg.pinv(cov[np.ix_(idx, idx)], rcond=1e-10) @ o[idx])
    if wald < FIT_FACTOR * _chi2_quantile(idx.size):
        spread = max(spread, sys_.shift(o))
        o = np.zeros_like(o)
    return ViewDrift(offsets=o.reshape(V, 2), drifted=D, position_std=float(np.hypot(std, spread)),
                     ambiguous=spread > 1e-3)


def estimate_view_offsets(uv: np.ndarray, R: np.ndarray, t: np.ndarray, ok: np.ndarray, model: np.ndarray,
                          Ks: np.ndarray, W2C: np.ndarray, redecode, iters: int = 3) -> ViewDrift | None:
    """The decoder's drift stage (2+ views, 4+ frames decoded from several views).

    Args:
        uv, R, t, ok, model, Ks, W2C: as :func:`drift_system` (the first decode).
        redecode: ``redecode(offsets (V, 2))`` decodes the frames again from the
            detections minus the offsets and returns ``(uv, R, t, ok)`` like the inputs.
        iters: refinements of the chosen hypothesis's offsets (each one decode).

    Returns:
        :class:`ViewDrift` with the total offsets removed, or None when no drift explains
        the residuals better than noise, or the offsets are all below
        :data:`MIN_OFFSET_PX` and determined (the caller's decode is then left as it
        was). Otherwise the caller's arrays hold the decode with the offsets removed.
    """
    T, V = uv.shape[:2]
    if V < 2 or int(ok.sum()) < 4:
        return None
    sys_ = drift_system(uv, R, t, ok, model, Ks, W2C)
    if sys_ is None or sys_.n_frames < 4:
        return None
    first = select_drift(sys_)
    if first is None:
        return None
    total = first.offsets.copy()
    if np.hypot(total[:, 0], total[:, 1]).max() < MIN_OFFSET_PX:
        # a drift too small to remove: the decode stays as it was, what it would move counts
        std = float(np.hypot(first.position_std, sys_.shift(total.reshape(-1))))
        if std < 1e-4 and not first.ambiguous:
            return None
        return ViewDrift(offsets=np.zeros((V, 2)), drifted=first.drifted, position_std=std, ambiguous=first.ambiguous)
    uv, R, t, ok = redecode(total)
    idx = _index(first.drifted)
    for _ in range(iters - 1):
        s2 = drift_system(uv, R, t, ok, model, Ks, W2C)
        if s2 is None or s2.n_frames < 4:
            break
        o = _solve(s2.H, s2.g, idx)[0].reshape(V, 2)
        total += o
        uv, R, t, ok = redecode(total)
        if np.hypot(o[:, 0], o[:, 1]).max() < 0.02:
            break
    return ViewDrift(offsets=total, drifted=first.drifted, position_std=first.position_std,
                     ambiguous=first.ambiguous)
