"""Per-segment statistics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from UnsupervisedSegmentLib.statistics import segment_statistics, statistics_columns
from UnsupervisedSegmentLib.volume import Channel, Grid


def test_counts_volumes_means_and_stds():
    grid = Grid((2, 2, 2), np.diag([2.0, 1.0, 0.5, 1.0]))  # 1 mm³ voxels
    labels = np.array([0, 1, 1, 2, 2, 2, 0, 1], dtype=np.uint8).reshape(2, 2, 2)
    data = np.array([9, 1, 3, 10, 20, 30, 9, 5], dtype=np.float32).reshape(2, 2, 2)
    rows = segment_statistics(labels, {1: "one", 2: "two", 3: "empty"}, [Channel("x", data, grid)], grid.voxel_volume_mm3)
    one, two, empty = rows
    assert (one["voxels"], one["volume_mm3"], one["volume_ml"]) == (3, 3.0, 0.003)
    assert one["mean_x"] == pytest.approx(3.0) and one["std_x"] == pytest.approx(np.std([1, 3, 5]))
    assert two["mean_x"] == pytest.approx(20.0) and two["std_x"] == pytest.approx(np.std([10, 20, 30]))
    assert empty["voxels"] == 0 and np.isnan(empty["mean_x"])
    assert list(one) == statistics_columns(["x"])
