"""Step-aligned histograms (engine.histogram): quantised intensities do not comb."""

from __future__ import annotations

import numpy as np
import pytest
from UnsupervisedSegmentLib.engine.histogram import histogram, intensity_step, step_aligned_bins


@pytest.mark.parametrize("step", [1.0, 2.0, 0.37])
def test_every_bin_of_quantised_values_holds_the_same_number_of_steps(step):
    values = np.round(np.random.default_rng(0).normal(300 / step, 40 / step, 200_000)) * step
    assert intensity_step(values) == pytest.approx(step, rel=1e-4)
    low, high = np.percentile(values, [0.5, 99.5])
    counts, edges = histogram(values, 256, low, high)
    width = edges[1] - edges[0]
    assert width / step == pytest.approx(round(width / step), abs=1e-4)  # a whole number of steps per bin
    centres = (edges[:-1] + edges[1:]) / 2
    offsets = (edges - values[0]) / step % 1  # each edge halfway between two steps
    assert np.allclose(offsets, 0.5, atol=1e-3)
    inner = counts[np.abs(centres - 300) < 10]  # within a quarter SD of the mode: no empty or doubled bins
    assert inner.size >= 3 and inner.min() > 0.8 * inner.max()


def test_continuous_values_keep_the_bins_asked_for():
    values = np.random.default_rng(1).normal(0, 1, 10_000)
    assert intensity_step(values) < 1e-2
    assert step_aligned_bins(values, 256, -3.0, 3.0) == (256, -3.0, 3.0)
