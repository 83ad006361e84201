"""Fixtures of intern-mesh's tests (helpers are in ``_meshtest``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# the test modules share helpers in _meshtest; pytest's importlib mode does not put this folder on sys.path
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
