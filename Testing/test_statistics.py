"""Per-segment statistics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from UnsupervisedSegmentLib.core.volume import Channel, Grid, masked_rows
from UnsupervisedSegmentLib.engine.statistics import segment_statistics, statistics_columns


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


def test_values_and_labels_given_by_the_caller_give_the_same_rows():
    rng = np.random.default_rng(0)
    grid = Grid((9, 8, 7), np.eye(4))
    labels = rng.integers(0, 4, size=grid.shape).astype(np.uint8)
    channels = [Channel(f"c{c}", rng.normal(100, 10, grid.shape).astype(np.float32), grid) for c in range(2)]
    names = {1: "a", 2: "b", 3: "c"}
    inside = labels > 0
    values = np.stack([masked_rows(c.data, inside) for c in channels], axis=1)  # the pipeline's row order
    expected = segment_statistics(labels, names, channels, 1.0)
    for given in ({"inside_values": values}, {"inside_labels": masked_rows(labels, inside)},
                  {"inside_values": values, "inside_labels": masked_rows(labels, inside)}):
        assert segment_statistics(labels, names, channels, 1.0, **given) == expected
    with pytest.raises(ValueError, match="one row per labelled voxel"):
        segment_statistics(labels, names, channels, 1.0, inside_values=values[1:])


def test_many_voxels_and_labels_not_asked_for_match_numpy():
    """More labelled voxels than one bincount chunk, three channels (uneven over the cores), and
    a label above those asked for, which is left out."""
    rng = np.random.default_rng(1)
    grid = Grid((80, 70, 60), np.eye(4))
    labels = rng.integers(0, 5, size=grid.shape).astype(np.uint8)
    channels = [Channel(f"c{c}", rng.normal(50 * (c + 1), 7, grid.shape).astype(np.float32), grid) for c in range(3)]
    rows = segment_statistics(labels, {1: "a", 3: "c"}, channels, 1.0)
    for row in rows:
        voxels = labels == row["label"]
        assert row["voxels"] == voxels.sum()
        for channel in channels:
            assert row[f"mean_{channel.name}"] == pytest.approx(channel.data[voxels].mean(dtype=np.float64), rel=1e-9)
            assert row[f"std_{channel.name}"] == pytest.approx(channel.data[voxels].std(dtype=np.float64), rel=1e-6)
