"""Robustness tools: image corruptions (``corrupt``), calibration noise and refinement
(``calibration``), and trajectory smoothing (``smoothing``)."""
from . import calibration, corrupt, smoothing

__all__ = ["calibration", "corrupt", "smoothing"]
