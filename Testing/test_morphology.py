"""The lesion rule's morphology equals scipy.ndimage's, voxel for voxel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from UnsupervisedSegmentLib.engine.morphology import ball, deeper_than, dilate, erode, fill_holes, opening


def blobs(seed: int, shape=(23, 19, 11)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 1.2) > 0.5


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.9, 0.9, 2.5), (1.2, 0.7, 1.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_erosion_dilation_opening_equal_scipy(spacing, seed):
    mask, structure = blobs(seed), ball(2.0, spacing)
    np.testing.assert_array_equal(erode(mask, structure), ndimage.binary_erosion(mask, structure=structure))
    np.testing.assert_array_equal(dilate(mask, structure), ndimage.binary_dilation(mask, structure=structure))
    np.testing.assert_array_equal(opening(mask, structure), ndimage.binary_opening(mask, structure=structure))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.9, 0.9, 2.5), (0.3, 0.3, 0.3)])  # the last: a distance map
def test_deeper_than_equals_a_thresholded_distance_map(spacing):
    mask = blobs(2, (30, 28, 20))
    depth = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    np.testing.assert_array_equal(deeper_than(mask, 1.5 if spacing[0] < 0.5 else 3.0, spacing),
                                  mask & (depth > (1.5 if spacing[0] < 0.5 else 3.0)))


@pytest.mark.parametrize("seed", [0, 3])
def test_hole_filling_equals_scipy_in_3d_and_per_plane(seed):
    mask = ~blobs(seed, (25, 21, 13))  # background blobs inside: many holes
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    for axis in range(3):
        planes = [ndimage.binary_fill_holes(plane) for plane in np.moveaxis(mask, axis, 0)]
        np.testing.assert_array_equal(fill_holes(mask, plane_axis=axis), np.moveaxis(np.stack(planes), 0, axis))
