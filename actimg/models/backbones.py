"""The frame-count and size rules of video backbones, checked with a named rule.

Wan's causal video VAE compresses time by 4 (frame 0 alone, then groups of 4), so a
segment has ``4 k + 1`` frames; its transformer patchifies latents by ``(1, 2, 2)``, so
``H`` and ``W`` must be multiples of ``2 x`` the VAE's spatial factor: 16 for Wan2.1
(factor 8), 32 for the Wan2.2-TI2V-5B VAE (factor 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BACKBONES", "BackboneRules", "check_backbone"]


@dataclass(frozen=True)
class BackboneRules:
    """What a backbone needs of a segment.

    Attributes:
        name: the backbone's name.
        temporal_compression: ``c``: segments have ``c k + 1`` frames.
        spatial_compression: the VAE's pixels per latent pixel.
        patch: the transformer's spatial patch (latent pixels).
        latent_channels: the VAE's latent channels.
    """

    name: str
    temporal_compression: int
    spatial_compression: int
    patch: int
    latent_channels: int

    @property
    def size_multiple(self) -> int:
        """``H`` and ``W`` must be multiples of this (``spatial_compression * patch``)."""
        return self.spatial_compression * self.patch

    def latent_shape(self, n_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """``(C, T_latent, H / s, W / s)`` of one checked segment."""
        check_backbone(n_frames, height, width, self)
        s = self.spatial_compression
        return (self.latent_channels, (n_frames - 1) // self.temporal_compression + 1, height // s, width // s)


#: Known backbones by name.
BACKBONES = {
    "wan2.1": BackboneRules("wan2.1", 4, 8, 2, 16),
    "wan2.2-5b": BackboneRules("wan2.2-5b", 4, 16, 2, 48),
}


def check_backbone(n_frames: int, height: int, width: int, backbone: str | BackboneRules = "wan2.2-5b"
                   ) -> BackboneRules:
    """Check one segment's frame count and size against a backbone's rules.

    Args:
        n_frames: frames per segment (each segment is encoded on its own).
        height, width: pixels.
        backbone: ``"wan2.1"``, ``"wan2.2-5b"`` (the published system's, default) or
            a :class:`BackboneRules`.

    Returns:
        The rules (for their factors).

    Raises:
        ValueError: naming the rule broken, e.g. "Wan needs 4k+1 frames per segment".
    """
    if isinstance(backbone, str):
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; known: {sorted(BACKBONES)} (or pass BackboneRules)")
        rules = BACKBONES[backbone]
    elif isinstance(backbone, BackboneRules):
        rules = backbone
    else:
        raise TypeError(f"backbone must be a name or BackboneRules, got {type(backbone).__name__}")
    for name, val in (("n_frames", n_frames), ("height", height), ("width", width)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"{name} must be a positive integer, got {val!r}")
    c = rules.temporal_compression
    if (n_frames - 1) % c:
        lo = (n_frames - 1) // c * c + 1
        raise ValueError(f"{rules.name} needs {c}k+1 frames per segment (its video VAE compresses time by {c} "
                         f"after frame 0); got {n_frames}, use {lo} or {lo + c}")
    m = rules.size_multiple
    for name, val in (("height", height), ("width", width)):
        if val % m:
            raise ValueError(f"{rules.name} needs {name} to be a multiple of {m} (VAE factor "
                             f"{rules.spatial_compression} x patch {rules.patch}); got {val}, use {val // m * m or m} "
                             f"or {(val // m + 1) * m}")
    return rules
