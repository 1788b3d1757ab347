"""Choosing the number of clusters by BIC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture
from UnsupervisedSegmentLib.engine.model_selection import select_n_clusters_bic


def blobs(n_blobs: int = 3, seed: int = 0) -> np.ndarray:
    """Well separated Gaussian blobs in 2D, 300 points each."""
    rng = np.random.default_rng(seed)
    centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)][:n_blobs]
    return np.concatenate([rng.normal(c, 1.0, (300, 2)) for c in centres])


def test_bic_picks_three_clusters_for_three_blobs():
    best, scores = select_n_clusters_bic(blobs(3), range(2, 7))
    assert best == 3
    assert sorted(scores) == [2, 3, 4, 5, 6]
    assert scores[3] == min(scores.values())


def test_a_model_factory_replaces_the_default_mixture():
    asked = []

    def make_model(k: int) -> GaussianMixture:
        asked.append(k)
        return GaussianMixture(k, covariance_type="diag", random_state=0)

    best, scores = select_n_clusters_bic(blobs(4), [5, 3, 4], make_model=make_model)
    assert best == 4 and sorted(asked) == [3, 4, 5] and sorted(scores) == [3, 4, 5]


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="k_range"):
        select_n_clusters_bic(blobs(), [])
    with pytest.raises(ValueError, match="k_range"):
        select_n_clusters_bic(blobs(), [0, 2])
    with pytest.raises(ValueError, match="matrix"):
        select_n_clusters_bic(np.zeros(10), [2])
    with pytest.raises(ValueError, match="samples"):
        select_n_clusters_bic(np.zeros((3, 2)), [2, 5])
