"""Gaussian smoothing in millimetres, and its normalised form: the local mean over a region only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")


def smooth(values: np.ndarray, sigma_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """Gaussian smoothing with ``sigma_mm`` along every axis (float32)."""
    return ndimage.gaussian_filter(values.astype(np.float32), [sigma_mm / s for s in spacing])


def smooth_within(values: np.ndarray, region: np.ndarray, sigma_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """Normalised convolution: the local mean of ``values`` over ``region`` only."""
    weights = smooth(region.astype(np.float32), sigma_mm, spacing)
    total = smooth(np.where(region, values, 0).astype(np.float32), sigma_mm, spacing)
    return total / np.maximum(weights, np.float32(1e-3))
