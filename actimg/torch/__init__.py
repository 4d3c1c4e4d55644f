"""PyTorch path: batched action images, Plücker rays and a differentiable decode.

Everything here takes and returns ``torch.Tensor`` on any device (CPU, CUDA, ...), with a
leading batch axis ``B``; nothing goes through numpy, so targets can be rendered and
actions read back inside a training loop.

- :func:`encode`: actions ``(B, T, 7)`` -> action images ``(B, V, T, H, W, 3)`` in
  [0, 1], equal to ``actimg.encode(..., dtype=np.float32)`` within 1e-5;
- :func:`plucker_rays`: per-pixel Plücker rays ``(B, V, H, W, 6)`` (or ``(B, V, T, H, W, 6)``),
  equal to :func:`actimg.cameras.plucker_rays`;
- :func:`decode`: images ``(B, V, T, H, W, 3)`` -> positions, rotations, openness, a
  differentiable read-out (Gaussian log-fit of each blob, weighted triangulation, triad
  pose) for action losses on generated frames.

Cameras follow :class:`actimg.CameraRig`: intrinsics ``K`` ``(B, V, 3, 3)`` or per frame
``(B, V, T, 3, 3)`` in pixels, OpenCV ``cam2world`` extrinsics ``(B, V, 4, 4)`` or
``(B, V, T, 4, 4)`` in metres. ``import actimg`` never imports this subpackage; it
needs ``pip install "actimg[torch]"``.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401  (absolute: the installed PyTorch, not this package)
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        'actimg.torch needs PyTorch: pip install "actimg[torch]" (or install a torch build of your '
        "choice first, e.g. CPU-only: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
    ) from exc

from .decoder import TorchDecodeResult, decode
from .encoder import encode, project_actions
from .plucker import plucker_rays

__all__ = ["encode", "project_actions", "plucker_rays", "decode", "TorchDecodeResult"]
