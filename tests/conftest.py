"""Shared test configuration: hypothesis profiles and small helpers.

Profiles: ``ci`` (derandomized, no deadline, loaded when the ``CI`` environment variable
is set) and ``dev`` (random, no deadline: numba kernels compile on first use). Select one
explicitly with ``pytest --hypothesis-profile=ci``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # dense_reference

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
