"""Reproducibility and device helpers (training loops join them in a later lesson)."""

from __future__ import annotations

import random

import torch

__all__ = ["set_seed", "get_device"]


def set_seed(seed: int) -> None:
    """Seed Python's, torch's (CPU and every CUDA device) random generators."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def get_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``: the one place notebooks choose."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
