"""Video models in, action images out: tasks and modes, sequence layouts, adapters.

- :class:`Task` (:mod:`.task`): what a model is asked to do, in one of :data:`MODES`
  (``joint``, ``action_to_video``, ``video_to_action``, ``video_only``,
  ``image_to_action``), with frame masks at frame and latent-frame resolution;
- :class:`TemporalLayout`, :class:`SpatialLayout` (:mod:`.layout`): the published
  ``[obs v1 | action v1 | obs v2 | action v2]`` layout (and its variants) and a spatial
  tiling, built and split, masks following;
- :mod:`.convert`: ``2 x - 1`` model range and channels-first axes, and back;
  :mod:`.backbones`: backbone rules (:func:`check_backbone`);
- :func:`run_model`, :class:`Generated` (:mod:`.adapters`): any callable ``model(task)``
  is a model; what it returns is checked;
- :class:`actimg.models.wan.WanAdapter`: diffusers' Wan pipelines as a model (imports
  torch and diffusers itself, on first use: ``pip install "actimg[diffusers]"``).

Importing this package imports neither torch nor diffusers.
"""

from .adapters import Generated, Model, run_model
from .backbones import BACKBONES, BackboneRules, check_backbone
from .convert import from_channels_first, from_model_range, to_channels_first, to_model_range, to_uint8
from .layout import Segment, SpatialLayout, TemporalLayout
from .task import MODES, PUBLISHED_NAMES, SegmentMasks, Task, latent_frame_count, latent_mask

__all__ = [
    "BACKBONES", "BackboneRules", "Generated", "MODES", "Model", "PUBLISHED_NAMES", "Segment", "SegmentMasks",
    "SpatialLayout", "Task", "TemporalLayout", "WanAdapter", "check_backbone", "from_channels_first",
    "from_model_range", "latent_frame_count", "latent_mask", "run_model", "to_channels_first", "to_model_range",
    "to_uint8",
]


def __getattr__(name: str):  # PEP 562: the diffusers adapter imports torch, so only on first use
    if name == "WanAdapter":
        from .wan import WanAdapter

        return WanAdapter
    raise AttributeError(f"module 'actimg.models' has no attribute {name!r}")
