"""The model interface the policy uses (:mod:`actimg.models`)."""
from ..models import BACKBONES, BackboneRules, Generated, Task, run_model

__all__ = ["BACKBONES", "BackboneRules", "Generated", "Task", "run_model"]
