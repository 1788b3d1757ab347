"""Fast k-means: greedy k-means++ seeding and Lloyd iterations on chunked float32 data.

Matches ``sklearn.cluster.KMeans(n_init=1)`` (what ``n_init="auto"`` means with k-means++):
the same greedy k-means++ seeding and convergence rule (squared centre shift ≤ ``tol`` × mean
column variance). Differences, all for speed:

* Distances are computed in float32 on centred data (one BLAS product per chunk); centres,
  counts and inertia are accumulated in float64. Chunks run on a thread pool.
* Lloyd runs on cheaper rows when that is safe, and the centres then label all rows: one-channel
  data run on a fine histogram, large data on a systematic subsample (the rule is documented in
  :mod:`fast_gmm`). ``labels_`` and ``inertia_`` are always for all rows and ``cluster_centers_``.
* An empty cluster keeps its previous centre (scikit-learn moves it to a far point).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state

from .fast_common import (
    Prepared,
    Rows,
    argmin_rows,
    check_int,
    check_matrix,
    check_nonnegative,
    check_subsample,
    combine,
    prepare,
    single_threaded_blas,
)


def squared_distances(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(k, rows) float32 squared distances from each centre, less the per-row constant |x|²."""
    c32 = centers.astype(np.float32)
    d2 = (-2.0 * c32) @ x.T
    d2 += (c32 * c32).sum(1)[:, None]
    return d2


def kmeans_plusplus(rows: Rows, n_clusters: int, rng: np.random.RandomState) -> np.ndarray:
    """Greedy k-means++ seeding (as scikit-learn's) on in-memory, optionally weighted rows."""
    x = rows.x
    weights = np.ones(len(x)) if rows.weights is None else rows.weights
    norms = np.einsum("ij,ij->i", x, x)
    n_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, x.shape[1]))
    centers[0] = x[rng.choice(len(x), p=weights / weights.sum())]
    closest = np.maximum(squared_distances(x, centers[:1])[0] + norms, 0.0)
    potential = closest @ weights
    for c in range(1, n_clusters):
        targets = rng.uniform(size=n_trials) * potential
        candidates = np.searchsorted(np.cumsum(weights * closest), targets)
        np.clip(candidates, None, len(x) - 1, out=candidates)
        trials = np.maximum(squared_distances(x, x[candidates]) + norms, 0.0)
        np.minimum(trials, closest, out=trials)
        potentials = trials @ weights
        best = int(np.argmin(potentials))
        closest, potential = trials[best], potentials[best]
        centers[c] = x[candidates[best]]
    return centers


def _assign_chunk(
    x: np.ndarray, w: Optional[np.ndarray], centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Labels of a chunk, and the weighted counts, coordinate sums and inertia of its clusters.

    Sums are float32 BLAS products over the chunk (centred data), accumulated later in float64;
    inertia is Σw|x|² - 2Σ c·S + Σ n|c|², which needs no per-row distances.
    """
    k = centers.shape[0]
    labels = argmin_rows(squared_distances(x, centers))[0]
    member = (labels == np.arange(k)[:, None]).astype(np.float32)
    if w is None:
        square_sum = float(np.dot(x.ravel(), x.ravel()))
    else:
        member *= w.astype(np.float32)
        square_sum = float(w @ np.einsum("ij,ij->i", x, x))
    counts = member.sum(1, dtype=np.float64)
    sums = (member @ x).astype(np.float64)
    inertia = square_sum - 2.0 * float((centers * sums).sum()) + float(counts @ (centers**2).sum(1))
    return labels, counts, sums, inertia


def _means(counts: np.ndarray, sums: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Cluster means; an empty cluster keeps its centre."""
    filled = counts > 0
    means = centers.copy()
    means[filled] = sums[filled] / counts[filled, None]
    return means


def assign(rows: Rows, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Nearest-centre labels of all rows, the cluster means and the (weighted) inertia."""
    labels = np.empty(len(rows), dtype=np.intp)

    def chunk(x: np.ndarray, w: Optional[np.ndarray], part: slice) -> tuple[np.ndarray, np.ndarray, float]:
        labels[part], *stats = _assign_chunk(x, w, centers)
        return tuple(stats)

    counts, sums, inertia = combine(rows.map(chunk, centers.shape[0]))
    return labels, _means(counts, sums, centers), inertia


def lloyd(rows: Rows, centers: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int, bool]:
    """Lloyd iterations until the squared centre shift is ≤ ``tol``: centres, iterations, converged."""
    for n_iter in range(1, max_iter + 1):
        means = assign(rows, centers)[1]
        shift = float(((means - centers) ** 2).sum())
        centers = means
        if shift <= tol:
            return centers, n_iter, True
    return centers, max_iter, False


def seed_centers(
    data: Prepared, n_clusters: int, rng: np.random.RandomState, tol: float, max_iter: int
) -> tuple[np.ndarray, int, bool]:
    """k-means++ on ``data.seed``, then Lloyd on ``data.fit``; ``tol`` is already scaled."""
    centers = kmeans_plusplus(data.seed, n_clusters, rng)
    return lloyd(data.fit, centers, tol, max_iter)


def scaled_tol(data: Prepared, tol: float) -> float:
    """scikit-learn's k-means tolerance: ``tol`` times the mean column variance."""
    return tol * float(np.mean(data.variance))


class FastKMeans(ClusterMixin, BaseEstimator):
    """k-means with the interface of ``sklearn.cluster.KMeans`` (one k-means++ initialisation).

    Fitted attributes: ``cluster_centers_``, ``labels_``, ``inertia_``, ``n_iter_`` and
    ``converged_`` (of the Lloyd iterations on the rows fitted).
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: Any = None,
        subsample: Any = "auto",
    ) -> None:
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.subsample = subsample

    @single_threaded_blas
    def fit(self, X: Any, y: Any = None) -> FastKMeans:
        """Cluster ``X`` (n_samples, n_features)."""
        n_clusters = check_int("n_clusters", self.n_clusters, 1)
        max_iter = check_int("max_iter", self.max_iter, 1)
        tol = check_nonnegative("tol", self.tol)
        subsample = check_subsample(self.subsample)
        X = check_matrix(X, min_rows=n_clusters)
        rng = check_random_state(self.random_state)
        data = prepare(X, subsample, rng)
        tol = scaled_tol(data, tol)
        centers, self.n_iter_, self.converged_ = seed_centers(data, n_clusters, rng, tol, max_iter)
        self.labels_, _, self.inertia_ = assign(data.full, centers)
        self.cluster_centers_ = centers + data.full.shift
        self.n_features_in_ = X.shape[1]
        return self

    @single_threaded_blas
    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centre for each row of ``X``."""
        X = check_matrix(X)
        if X.shape[1] != self.cluster_centers_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the model has {self.cluster_centers_.shape[1]}")
        shift = self.cluster_centers_.mean(0)
        return assign(Rows(X, shift), self.cluster_centers_ - shift)[0]

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X).labels_
