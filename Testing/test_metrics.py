"""Overlap and distance metrics on shapes with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from UnsupervisedSegmentLib.report.metrics import dice, evaluate, hausdorff95_mm, jaccard, volume_difference_ml


def cube(corner: tuple[int, int, int], size: int = 10, shape=(20, 20, 20)) -> np.ndarray:
    """A boolean cube of ``size`` voxels a side at ``corner``."""
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(c, c + size) for c in corner)] = True
    return mask


def ball(radius: float, shape=(40, 40, 40)) -> np.ndarray:
    """A centred boolean ball."""
    grid = np.indices(shape) - np.array(shape)[:, None, None, None] // 2
    return (grid**2).sum(axis=0) <= radius**2


def test_cubes_shifted_by_two_voxels_overlap_as_computed_by_hand():
    pred, ref = cube((2, 2, 2)), cube((4, 2, 2))
    # overlap 8 x 10 x 10 = 800 voxels of 1000 each
    assert dice(pred, ref) == pytest.approx(2 * 800 / 2000)
    assert jaccard(pred, ref) == pytest.approx(800 / 1200)


def test_volume_difference_uses_the_voxel_size():
    pred, ref = cube((0, 0, 0), 10), cube((0, 0, 0), 5)
    assert volume_difference_ml(pred, ref, (2.0, 1.0, 1.0)) == pytest.approx((1000 - 125) * 2 / 1000)
    assert volume_difference_ml(ref, pred, (2.0, 1.0, 1.0)) == pytest.approx(-(1000 - 125) * 2 / 1000)


def test_hausdorff95_of_two_single_voxels_is_their_distance_in_mm():
    pred, ref = np.zeros((5, 5, 5), dtype=bool), np.zeros((5, 5, 5), dtype=bool)
    pred[0, 0, 0], ref[3, 0, 0] = True, True
    assert hausdorff95_mm(pred, ref, (2.0, 1.0, 1.0)) == pytest.approx(6.0)


def test_hausdorff95_of_concentric_balls_is_the_radius_difference():
    inner, outer = ball(10), ball(13)
    distance = hausdorff95_mm(inner, outer, (1.0, 1.0, 1.0))
    assert distance == pytest.approx(3.0, abs=1.0)
    assert hausdorff95_mm(outer, inner, (1.0, 1.0, 1.0)) == distance
    assert hausdorff95_mm(inner, outer, (2.0, 2.0, 2.0)) == pytest.approx(2 * distance)


def test_identical_masks_score_perfectly():
    mask = ball(8)
    scores = evaluate(mask, mask, (1.0, 1.0, 1.0))
    assert scores["dice"] == scores["jaccard"] == 1.0
    assert scores["hausdorff95_mm"] == 0.0 and scores["volume_difference_ml"] == 0.0
    assert scores["volume_pred_ml"] == scores["volume_ref_ml"] == pytest.approx(mask.sum() / 1000)


def test_empty_masks_follow_the_documented_conventions():
    empty, full = np.zeros((4, 4, 4), dtype=bool), cube((0, 0, 0), 2, (4, 4, 4))
    assert dice(empty, empty) == 1.0 and jaccard(empty, empty) == 1.0
    assert dice(empty, full) == 0.0 and jaccard(full, empty) == 0.0
    assert hausdorff95_mm(empty, empty, (1, 1, 1)) == 0.0
    assert math.isnan(hausdorff95_mm(empty, full, (1, 1, 1)))
    assert math.isnan(evaluate(full, empty, (1, 1, 1))["hausdorff95_mm"])


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff95_mm(cube((0, 0, 0)), cube((1, 1, 1)), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        volume_difference_ml(cube((0, 0, 0)), cube((1, 1, 1)), (1.0, 1.0))
