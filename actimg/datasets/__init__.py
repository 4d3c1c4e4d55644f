"""Training sets at dataset scale: robot datasets in, action-image training data out.

Readers (:class:`FolderReader`, :class:`LeRobotReader`, :class:`DroidReader`) yield
:class:`Episode` (or :class:`EpisodeError` for a bad one); :func:`convert` crops and
resizes frames and cameras together, renders the action images, scores and filters each
episode, and writes videos and a manifest, restartably, on a process pool or a Ray
cluster. The core ``actimg`` never imports this package; pyarrow, PyAV, h5py and Ray are
imported on first use (``pip install "actimg[datasets]"``, ``"actimg[ray]"``).
"""

from .convert import MANIFEST_COLUMNS, READERS, ConvertResult, convert, make_reader, read_manifest
from .droid import DroidReader
from .episode import Episode, EpisodeError
from .folder import FolderReader
from .lerobot import LeRobotReader
from .quality import QualityScore, Thresholds, score_episode
from .readers import PoseColumns, Reader

__all__ = ["ConvertResult", "DroidReader", "Episode", "EpisodeError", "FolderReader", "LeRobotReader",
           "MANIFEST_COLUMNS", "PoseColumns", "QualityScore", "READERS", "Reader", "Thresholds", "convert",
           "make_reader", "read_manifest", "score_episode"]
