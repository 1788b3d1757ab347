"""Choosing the number of clusters by the Bayesian information criterion (BIC)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np


def select_n_clusters_bic(
    X: np.ndarray,
    k_range: Iterable[int] = range(2, 7),
    covariance_type: str = "full",
    random_state: int | None = 123,
    make_model: Callable[[int], object] | None = None,
) -> tuple[int, dict[int, float]]:
    """The k with the lowest BIC on ``X`` (n, C) and the BIC of every k tried.

    ``make_model(k)`` returns an unfitted estimator with ``fit(X)`` and ``bic(X)``; by default a
    scikit-learn ``GaussianMixture(k, covariance_type, random_state)``. Ties go to the smaller k.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty (n_samples, n_features) matrix, not of shape {X.shape}")
    requested = list(k_range)
    if not requested or any(int(k) != k or k < 1 for k in requested):
        raise ValueError(f"k_range must hold integers >= 1, not {requested!r}")
    ks = sorted({int(k) for k in requested})
    if ks[-1] > X.shape[0]:
        raise ValueError(f"cannot fit {ks[-1]} clusters to {X.shape[0]} samples")
    if make_model is None:
        from sklearn.mixture import GaussianMixture

        def make_model(k: int) -> GaussianMixture:
            return GaussianMixture(n_components=k, covariance_type=covariance_type, random_state=random_state)

    scores = {k: float(make_model(k).fit(X).bic(X)) for k in ks}
    best = min(ks, key=lambda k: (scores[k], k))
    return best, scores
