"""One place that seeds every random number generator a chapter uses."""

from __future__ import annotations

import random

import numpy as np
import torch


def set_seed(seed: int = 0) -> np.random.Generator:
    """Seed Python's, NumPy's and PyTorch's generators, so a chapter prints the same numbers on every run.

    Returns a fresh ``numpy.random.Generator`` with the same seed, for code that prefers an
    explicit generator to the global one.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
