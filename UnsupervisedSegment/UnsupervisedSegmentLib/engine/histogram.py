"""Histograms of quantised intensities that do not comb.

Scanners store integers, often scaled by a slope: the intensities are multiples of a step. Bins narrower
than a few steps then hold one, two or no values in turn (a comb), and a peak's maximum and half width
are read off the comb instead of the distribution (a spread of 1 for a sample of SD 25 stored in steps of
4). Here bins hold a whole number of steps, their edges halfway between two steps.
"""

from __future__ import annotations

import numpy as np

#: Values sampled to find the step.
STEP_SAMPLE = 20_000
#: A step finer than this share of the bin width does not comb (every bin holds this many values or more).
FINE_STEPS_PER_BIN = 8


def intensity_step(values: np.ndarray) -> float:
    """The smallest gap between distinct values in a sample of ``values``: the storage step of quantised
    data (1 for integers, the slope for scaled integers), about 0 for continuous data."""
    probe = np.unique(values.reshape(-1)[:: max(1, values.size // STEP_SAMPLE)])
    gaps = np.diff(probe)
    return float(gaps.min()) if gaps.size else 0.0


def step_aligned_bins(values: np.ndarray, bins: int, low: float, high: float) -> tuple[int, float, float]:
    """(bins, low, high) covering [``low``, ``high``] with about ``bins`` bins that each hold the same whole
    number of ``values``' steps; as given for continuous data or steps finer than a few per bin."""
    step = intensity_step(values)
    width = (high - low) / bins
    if not step > width / FINE_STEPS_PER_BIN:
        return bins, low, high
    width = max(1, round(width / step)) * step
    origin = float(values.flat[0])  # on the lattice of steps: edges lie halfway between two of its points
    start = origin + (np.floor((low - origin) / step) - 0.5) * step
    count = max(1, int(np.ceil((high - start) / width)))
    return count, start, start + count * width


def histogram(values: np.ndarray, bins: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts (float) and bin edges of ``values`` in [``low``, ``high``], as ``np.histogram``, the bins
    step-aligned (:func:`step_aligned_bins`); values outside the range are not counted."""
    count, start, stop = step_aligned_bins(values, bins, low, high)
    counts, edges = np.histogram(values, bins=count, range=(start, stop))
    return counts.astype(np.float64), edges
