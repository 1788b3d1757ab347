"""Putting inputs on one grid: same grid kept, overlapping grid resampled, disjoint refused."""

from __future__ import annotations

import numpy as np
import pytest
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.grid import align_channels, overlaps, resample
from UnsupervisedSegmentLib.core.volume import Channel, Grid


def ramp(shape=(10, 12, 8)) -> np.ndarray:
    """A volume whose value is linear in i, so linear resampling is exact."""
    return np.broadcast_to(np.arange(shape[0], dtype=np.float32)[:, None, None], shape).copy()


def test_channels_on_one_grid_are_returned_unchanged():
    grid = Grid((10, 12, 8), np.diag([1.0, 1.0, 2.0, 1.0]))
    channels = [Channel("a", ramp(), grid), Channel("b", ramp() * 2, grid)]
    aligned, messages = align_channels(channels)
    assert messages == []
    assert all(x is y for x, y in zip(aligned, channels))


def test_shifted_input_is_resampled_linearly_onto_the_first_grid():
    reference = Grid((10, 12, 8), np.eye(4))
    shifted_affine = np.eye(4)
    shifted_affine[0, 3] = 2.5  # half-voxel shift: exercises interpolation
    shifted = Grid((10, 12, 8), shifted_affine)
    aligned, messages = align_channels([Channel("a", ramp(), reference), Channel("b", ramp(), shifted)])
    assert aligned[1].grid is reference
    assert "resampled" in messages[0]
    # world x = i_ref = i_b + 2.5, so value_b = i_ref - 2.5 where it is inside b's field of view
    np.testing.assert_allclose(aligned[1].data[3:9, 5, 4], np.arange(3, 9) - 2.5, atol=1e-5)
    assert np.isnan(aligned[1].data[0, 5, 4]), "voxels outside b's field of view are NaN (left out of the mask)"


def test_disjoint_inputs_are_refused():
    far = np.eye(4)
    far[0, 3] = 1000.0
    a, b = Grid((10, 10, 10), np.eye(4)), Grid((10, 10, 10), far)
    assert not overlaps(b, a)
    with pytest.raises(UserInputError, match="does not overlap"):
        align_channels([Channel("a", np.ones((10, 10, 10)), a), Channel("b", np.ones((10, 10, 10)), b)])


def test_nearest_resampling_keeps_label_values():
    source = Grid((4, 4, 4), np.diag([2.0, 2.0, 2.0, 1.0]))
    target = Grid((8, 8, 8), np.eye(4))
    labels = np.arange(64, dtype=np.float32).reshape(4, 4, 4)
    result = resample(labels, source, target, order=0, fill=0.0)
    assert set(np.unique(result)) <= set(np.unique(labels))
    assert result[2, 4, 6] == labels[1, 2, 3]
