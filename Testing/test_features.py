"""Feature matrix, constant channels, scaling and distinct-row counting."""

from __future__ import annotations

import numpy as np
import pytest
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.volume import Channel, Grid
from UnsupervisedSegmentLib.engine.features import count_distinct_rows, feature_matrix, scale_features

GRID = Grid((5, 4, 3), np.eye(4))


def test_rows_are_masked_voxels_in_channel_order():
    a = np.arange(60, dtype=np.float32).reshape(GRID.shape)
    mask = a % 2 == 0
    features, names, warnings = feature_matrix([Channel("a", a, GRID), Channel("b", -a, GRID)], mask)
    assert features.shape == (30, 2) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, 1], -features[:, 0])
    assert names == ["a", "b"] and warnings == []


def test_constant_channel_is_dropped_with_a_warning():
    a = np.arange(60, dtype=np.float32).reshape(GRID.shape)
    features, names, warnings = feature_matrix([Channel("a", a, GRID), Channel("flat", np.full(GRID.shape, 7.0), GRID)], a >= 0)
    assert names == ["a"] and features.shape == (60, 1)
    assert "'flat' is constant" in warnings[0]


def test_all_constant_is_refused():
    with pytest.raises(UserInputError, match="constant"):
        feature_matrix([Channel("flat", np.ones(GRID.shape), GRID)], np.ones(GRID.shape, bool))


def test_standard_and_robust_scaling():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(100, 10, 1000), rng.normal(-5, 0.1, 1000)]).astype(np.float32)
    standard = scale_features(X, "standard", ["a", "b"])
    np.testing.assert_allclose(standard.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(standard.std(axis=0), 1, atol=1e-4)
    robust = scale_features(X, "robust", ["a", "b"])
    np.testing.assert_allclose(np.median(robust, axis=0), 0, atol=1e-5)
    assert scale_features(X, "none", ["a", "b"]) is X


def test_robust_scaling_refuses_a_channel_without_spread():
    X = np.column_stack([np.r_[np.zeros(90), np.arange(10)], np.arange(100)]).astype(np.float32)
    with pytest.raises(UserInputError, match="interquartile range 0"):
        scale_features(X, "robust", ["mostly_zero", "b"])


def test_distinct_rows_are_counted():
    X = np.array([[0, 1], [0, 1], [2, 3], [4, 5]], dtype=np.float32)
    assert count_distinct_rows(X, 10) == 3


def test_distinct_rows_match_numpy_unique_up_to_enough():
    X = np.random.default_rng(0).integers(0, 3, (20_000, 3)).astype(np.float32)  # 27 distinct rows
    assert count_distinct_rows(X, 30) == len(np.unique(X, axis=0)) == 27
    assert count_distinct_rows(X[:1], 2) == 1 and count_distinct_rows(X[:0], 2) == 0
