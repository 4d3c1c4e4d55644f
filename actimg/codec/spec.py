"""The action-image format: every knob of it in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..geometry._rotation_kernels import euler_code

__all__ = ["ActionImageSpec", "PAPER", "SPEC_NAMES", "resolve_spec"]


@dataclass(frozen=True)
class ActionImageSpec:
    """Everything that defines how an action becomes an RGB action image.

    Attributes:
        sigma_fraction: Gaussian standard deviation as a fraction of ``min(H, W)``
            (``s = sigma_fraction * min(H, W)`` pixels; 25.6 px at 512x512).
        axis_length: ``L`` in metres: ``N = P + L * R @ normal_axis``,
            ``U = P + L * R @ up_axis``.
        normal_axis: tool-frame unit axis drawn in the G channel (published: ``+x``).
        up_axis: tool-frame unit axis drawn in the B channel (published: ``-z``).
            Must be orthogonal to ``normal_axis``.
        gripper_floor: B value written wherever ``B <= gripper_floor`` when the gripper
            is open (0 when closed).
        gripper_threshold: openness strictly above this is "open".
        euler: scipy-style Euler sequence of the action's ``rx, ry, rz``; lower case is
            extrinsic (``"xyz"``: ``R = Rz @ Ry @ Rx``, the published one), upper case
            intrinsic.
        pixel_origin: ``"integer"``: pixel centres at integer coordinates, the Gaussian
            of pixel (col, row) is evaluated at (col, row) (published, OpenCV);
            ``"half"``: evaluated at (col + 0.5, row + 0.5).
        behind_camera: what a point with camera depth <= 0 draws: ``"skip"`` (nothing,
            the default) or ``"mirror"`` (the published renderer's defect: it divides by
            the negative depth and draws the mirrored projection). Points in front of
            the camera render byte-identically under both.
        precision: the arithmetic of the renderer. ``"float32"`` (the default): the
            format's definition, the Gaussians of the exact projections (float64
            geometry, float32 pixels; byte-identical to the published float renderer).
            ``"bfloat16"``: the released model's own targets; its training and inference
            code casts actions and cameras to bfloat16 and renders in bfloat16, so
            positions, angles and projections are rounded at every step (8 significant
            bits) and the pixel grid is too (``arange(512)`` has 385 distinct values). Its
            blobs sit a median 1.2 px (p90 2.3 px) from the float ones at 512 px
            (``benchmarks/bf16.py``). Numpy emulation,
            bit-exact to a torch transcription of the published code
            (:mod:`actimg.codec.bf16`); slower than the float kernel. Requires
            ``euler="xyz"`` and ``pixel_origin="integer"`` (the only ones it has).
        quantize: how float images become 8 bits. ``"round"`` (the default):
            ``round(255 x)``. ``"truncate"``: the released pipeline's output path,
            ``uint8((y + 1) * 127.5)`` of the model's ``y = 2 x - 1`` in [-1, 1], which
            truncates (``floor(255 x)``, at most one level low). :func:`actimg.decode`
            needs no correction for it (its estimates on truncated frames are unbiased,
            see ``tests/test_bf16.py``).
    """

    sigma_fraction: float = 0.05
    axis_length: float = 0.1
    normal_axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    up_axis: tuple[float, float, float] = (0.0, 0.0, -1.0)
    gripper_floor: float = 0.25
    gripper_threshold: float = 0.5
    euler: str = "xyz"
    pixel_origin: str = "integer"
    behind_camera: str = "skip"
    precision: str = "float32"
    quantize: str = "round"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.sigma_fraction) and 0.0 < self.sigma_fraction <= 1.0):
            raise ValueError(f"sigma_fraction must be in (0, 1], got {self.sigma_fraction!r}")
        if not (np.isfinite(self.axis_length) and self.axis_length > 0.0):
            raise ValueError(f"axis_length must be a positive number of metres, got {self.axis_length!r}")
        n = np.asarray(self.normal_axis, dtype=np.float64)
        u = np.asarray(self.up_axis, dtype=np.float64)
        for name, a in (("normal_axis", n), ("up_axis", u)):
            if a.shape != (3,) or not np.all(np.isfinite(a)) or abs(np.linalg.norm(a) - 1.0) > 1e-9:
                raise ValueError(f"{name} must be a finite unit 3-vector, got {a.tolist()!r}")
        if abs(float(n @ u)) > 1e-9:
            raise ValueError(f"normal_axis {n.tolist()} and up_axis {u.tolist()} must be orthogonal")
        if not (0.0 <= self.gripper_floor < 1.0):
            raise ValueError(f"gripper_floor must be in [0, 1), got {self.gripper_floor!r}")
        if not (0.0 <= self.gripper_threshold <= 1.0):
            raise ValueError(f"gripper_threshold must be in [0, 1], got {self.gripper_threshold!r}")
        e = self.euler
        try:
            euler_code(e)  # the kernels' parser of the sequence: one set of rules
        except (ValueError, TypeError):
            raise ValueError(f"euler must be a scipy Euler sequence such as 'xyz' or 'XYZ', got {e!r}") from None
        if self.pixel_origin not in ("integer", "half"):
            raise ValueError(f"pixel_origin must be 'integer' or 'half', got {self.pixel_origin!r}")
        if self.behind_camera not in ("skip", "mirror"):
            raise ValueError(f"behind_camera must be 'skip' or 'mirror', got {self.behind_camera!r}")
        if self.precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be 'float32' or 'bfloat16', got {self.precision!r}")
        if self.quantize not in ("round", "truncate"):
            raise ValueError(f"quantize must be 'round' or 'truncate', got {self.quantize!r}")
        if self.precision == "bfloat16" and (self.euler != "xyz" or self.pixel_origin != "integer"):
            raise ValueError("precision='bfloat16' reproduces the released renderer, which has only "
                             f"euler='xyz' and pixel_origin='integer' (got euler={self.euler!r}, "
                             f"pixel_origin={self.pixel_origin!r})")

    @classmethod
    def paper(cls, **overrides: object) -> "ActionImageSpec":
        """The published format (arXiv 2604.06168), with points behind a camera skipped.

        ``ActionImageSpec.paper(behind_camera="mirror")`` reproduces the published
        renderer's behaviour for points behind a camera too;
        ``ActionImageSpec.paper(precision="bfloat16")`` the released model's bfloat16
        targets; ``quantize="truncate"`` its 8-bit output path.
        """
        return replace(cls(), **overrides)  # type: ignore[arg-type]

    def sigma_px(self, height: int, width: int) -> float:
        """Gaussian standard deviation in pixels for an ``height x width`` image."""
        return self.sigma_fraction * min(height, width)

    @property
    def pixel_offset(self) -> float:
        """Where pixel (0, 0)'s centre lies in the camera's pixel coordinates (0 or 0.5)."""
        return 0.0 if self.pixel_origin == "integer" else 0.5

    @property
    def tool_points(self) -> np.ndarray:
        """(3, 3) tool-frame coordinates of P, N, U (rows), in metres."""
        L = self.axis_length
        return np.array([[0.0, 0.0, 0.0],
                         [L * self.normal_axis[0], L * self.normal_axis[1], L * self.normal_axis[2]],
                         [L * self.up_axis[0], L * self.up_axis[1], L * self.up_axis[2]]])


#: The default format, built once (the dataclass is frozen, so sharing it is safe).
PAPER = ActionImageSpec()


#: Named formats accepted wherever a ``spec`` is: ``spec="paper"`` is ``ActionImageSpec.paper()``.
SPEC_NAMES: dict[str, ActionImageSpec] = {"paper": PAPER}


def resolve_spec(spec: ActionImageSpec | str | None) -> ActionImageSpec:
    """The :class:`ActionImageSpec` that ``spec`` names: None -> the published format,
    a spec -> itself, a name in :data:`SPEC_NAMES` (e.g. ``"paper"``) -> that format.

    Raises:
        TypeError: anything else (names what is expected).
        ValueError: an unknown name (lists the known ones).
    """
    if spec is None:
        return PAPER
    if isinstance(spec, ActionImageSpec):
        return spec
    if isinstance(spec, str):
        try:
            return SPEC_NAMES[spec]
        except KeyError:
            raise ValueError(f"unknown spec name {spec!r}; known names: {sorted(SPEC_NAMES)} "
                             "(or pass an actimg.ActionImageSpec)") from None
    raise TypeError(f"spec must be an actimg.ActionImageSpec, a name in {sorted(SPEC_NAMES)} or None, "
                    f"got {type(spec).__name__}")
