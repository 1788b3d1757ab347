"""Fast k-means: greedy k-means++ seeding and Lloyd iterations on chunked float32 data.

Matches ``sklearn.cluster.KMeans(n_init="auto")``: greedy k-means++ seeding and the same
convergence rule (squared centre shift ≤ ``tol`` × mean column variance). Differences:

* Distances are computed in float32 on centred data (one BLAS product per chunk); centres,
  counts and inertia are accumulated in float64. Chunks run on a thread pool.
* Lloyd runs on cheaper rows when that is safe, and the centres then label all rows: one-channel
  data run on a fine histogram, large data on a systematic subsample (the rule is documented in
  :mod:`fast_gmm`); Lloyd climbs a ladder of row sets (pilot sample, subsample, all rows: see
  ``Prepared.ladder``). ``labels_`` and ``inertia_`` are always for all rows and
  ``cluster_centers_``.
* Initialisation: N_SEEDINGS (16) k-means++ seedings of a pilot sample (8,192 systematic rows,
  or a 1,024-bin histogram for one channel), scikit-learn's greedy seeding and plain D²
  sampling in turn, refined together by Lloyd there (one BLAS product per iteration for all
  of them); the lowest pilot inertia wins and Lloyd then climbs to the rows fitted. That is
  robust against the poor local optima a single seeding falls into (a small class lost, two
  classes merged), cheap (about 10–40 ms), and deterministic for ``random_state``.
* Empty clusters move, as in scikit-learn, to the rows farthest from their nearest centre.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..core.parallel import n_workers, parallel, single_threaded_blas
from .estimator import Estimator, check_random_state
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
)

#: k-means++ seedings tried by the initialisation (each refined on the pilot sample).
N_SEEDINGS = 16
#: Lloyd iterations at most per seeding on the pilot sample (it stops earlier, when no centre
#: moves: seedings in one basin then give exactly the same centres, whatever the seed).
PILOT_MAX_ITER = 100
#: Two refined seedings are the same when each centre of one lies within this many (mean
#: column) standard deviations of a centre of the other.
SAME_CENTER_SD = 0.25


def squared_distances(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(k, rows) float32 squared distances from each centre, less the per-row constant |x|²."""
    c32 = centers.astype(np.float32)
    d2 = (-2.0 * c32) @ x.T
    d2 += (c32 * c32).sum(1)[:, None]
    return d2


def kmeans_plusplus(
    rows: Rows, n_clusters: int, rng: np.random.RandomState, n_trials: Optional[int] = None
) -> np.ndarray:
    """k-means++ seeding on in-memory, optionally weighted rows: greedy with ``n_trials`` local
    trials per centre (default 2 + log k, as scikit-learn's), plain D² sampling with one."""
    x, weights = rows.x, rows.weights
    norms = np.einsum("ij,ij->i", x, x)
    if n_trials is None:
        n_trials = 2 + int(np.log(n_clusters))

    def draw(mass: np.ndarray, size: int) -> np.ndarray:
        """Rows drawn with probability ∝ ``mass`` (weighted by the row weights)."""
        cumulative = np.cumsum(mass if weights is None else weights * mass, dtype=np.float64)
        picks = np.searchsorted(cumulative, rng.uniform(size=size) * cumulative[-1], side="right")
        return np.minimum(picks, len(x) - 1)

    def potential(d2: np.ndarray) -> np.ndarray:
        return d2.sum(-1, dtype=np.float64) if weights is None else d2 @ weights

    centers = np.empty((n_clusters, x.shape[1]))
    centers[0] = x[draw(np.ones(len(x)), 1)[0]]
    closest = np.maximum(squared_distances(x, centers[:1])[0] + norms, 0.0)
    for c in range(1, n_clusters):
        candidates = draw(closest, n_trials)
        trials = np.maximum(squared_distances(x, x[candidates]) + norms, 0.0)
        np.minimum(trials, closest, out=trials)
        best = int(np.argmin(potential(trials)))
        closest = trials[best]
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


def _farthest_chunk(
    x: np.ndarray, w: Optional[np.ndarray], centers: np.ndarray, start: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` rows of a chunk farthest from their nearest centre (ties: lowest row first):
    squared distances, row numbers, values, weights and nearest centres."""
    labels, best = argmin_rows(squared_distances(x, centers))
    distance = best.astype(np.float64) + np.einsum("ij,ij->i", x, x)
    order = np.lexsort((np.arange(len(x)), -distance))[:n]
    weights = np.ones(len(order)) if w is None else w[order]
    return distance[order], start + order, x[order].astype(np.float64), weights, labels[order]


def _relocate_empty(
    rows: Rows, centers: np.ndarray, counts: np.ndarray, sums: np.ndarray, inline: bool
) -> None:
    """Move each empty cluster, in place, to one of the rows farthest from their nearest centre
    (farthest first, as scikit-learn does): the row leaves its cluster's counts and sums and
    becomes the empty cluster's. Rows at distance 0 are not moved."""
    empty = np.flatnonzero(counts <= 0)
    n = len(empty)

    def chunk(x: np.ndarray, w: Optional[np.ndarray], part: slice) -> tuple[np.ndarray, ...]:
        return _farthest_chunk(x, w, centers, part.start, n)

    parts = list(zip(*rows.map(chunk, centers.shape[0], inline)))
    distance, index, values, weights, labels = (np.concatenate(p) for p in parts)
    order = np.lexsort((index, -distance))[:n]
    for j, row in zip(empty, order[distance[order] > 0]):
        old = labels[row]
        counts[old] -= weights[row]
        sums[old] -= weights[row] * values[row]
        counts[j] = weights[row]
        sums[j] = weights[row] * values[row]


def assign(rows: Rows, centers: np.ndarray, inline: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """Nearest-centre labels of all rows, the next centres (cluster means, empty clusters
    relocated to far rows) and the (weighted) inertia of ``centers``.

    The labels are those of ``centers``: a relocated row keeps its old label.
    """
    labels = np.empty(len(rows), dtype=np.intp)

    def chunk(x: np.ndarray, w: Optional[np.ndarray], part: slice) -> tuple[np.ndarray, np.ndarray, float]:
        labels[part], *stats = _assign_chunk(x, w, centers)
        return tuple(stats)

    counts, sums, inertia = combine(rows.map(chunk, centers.shape[0], inline))
    if np.any(counts <= 0):
        _relocate_empty(rows, centers, counts, sums, inline)
    filled = counts > 0
    means = centers.copy()
    means[filled] = sums[filled] / counts[filled, None]
    return labels, means, inertia


def lloyd(
    rows: Rows, centers: np.ndarray, tol: float, max_iter: int, inline: bool = False
) -> tuple[np.ndarray, float, int, bool]:
    """Lloyd iterations until the squared centre shift is ≤ ``tol``: centres, inertia (of the
    centres before the last update), iterations, converged."""
    for n_iter in range(1, max_iter + 1):
        means, inertia = assign(rows, centers, inline)[1:]
        shift = float(((means - centers) ** 2).sum())
        centers = means
        if shift <= tol:
            return centers, inertia, n_iter, True
    return centers, inertia, max_iter, False


def _batched_lloyd(rows: Rows, centers: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd on small in-memory rows for a stack of (S, k, d) centre sets at once (one BLAS
    product per iteration for the sets still moving), each until its squared shift is ≤ ``tol``
    or ``max_iter``. Returns the centres and each set's inertia (of its centres before its last
    update). Empty clusters are relocated as in :func:`assign`."""
    x, w = rows.x, rows.weights
    n_sets, k, d = centers.shape
    centers = centers.copy()
    inertia = np.zeros(n_sets)
    norms = np.einsum("ij,ij->i", x, x)
    square_sum = float(norms.sum(dtype=np.float64) if w is None else w @ norms)
    rank = np.arange(k, 0, -1, dtype=np.min_scalar_type(k))[None, :, None]
    clusters = np.arange(k)[None, :, None]
    active = np.arange(n_sets)
    for _ in range(max_iter):
        c = centers[active]
        d2 = squared_distances(x, c.reshape(-1, d)).reshape(len(active), k, len(x))
        best = d2.min(1)
        labels = k - ((d2 == best[:, None, :]) * rank).max(1).astype(np.intp)
        member = (labels[:, None, :] == clusters).astype(np.float32)
        if w is not None:
            member *= w.astype(np.float32)
        counts = member.sum(2, dtype=np.float64)
        sums = np.matmul(member, x).astype(np.float64)
        inertia[active] = square_sum - 2.0 * (c * sums).sum((1, 2)) + (counts * (c**2).sum(2)).sum(1)
        for j in np.flatnonzero(np.any(counts <= 0, axis=1)):
            _relocate_empty(rows, c[j], counts[j], sums[j], inline=True)
        filled = counts > 0
        means = c.copy()
        means[filled] = sums[filled] / counts[filled][:, None]
        moving = ((means - c) ** 2).sum((1, 2)) > tol
        centers[active] = means
        active = active[moving]
        if not len(active):
            break
    return centers, inertia


def candidate_centers(data: Prepared, n_clusters: int, rng: np.random.RandomState) -> list[np.ndarray]:
    """N_SEEDINGS k-means++ seedings of the pilot rows (greedy and plain D² sampling in turn),
    refined together by Lloyd there until no centre moves (at most PILOT_MAX_ITER iterations),
    so that the result depends on the seed only through the basin each seeding falls in; the centres, ordered
    by pilot inertia (ties: seeding order), without repeats. Deterministic for ``rng``."""
    seedings = np.stack(
        [kmeans_plusplus(data.pilot, n_clusters, rng, None if i % 2 == 0 else 1) for i in range(N_SEEDINGS)]
    )
    groups = np.array_split(np.arange(N_SEEDINGS), n_workers())
    parts = parallel(lambda group: _batched_lloyd(data.pilot, seedings[group], 0.0, PILOT_MAX_ITER), groups)
    results = np.concatenate([part[0] for part in parts])
    inertia = np.concatenate([part[1] for part in parts])
    same = SAME_CENTER_SD**2 * float(np.mean(data.variance))
    kept: list[np.ndarray] = []
    for i in sorted(range(N_SEEDINGS), key=lambda i: (inertia[i], i)):
        if not any(_same_centers(results[i], other, same) for other in kept):
            kept.append(results[i])
    return kept


def _same_centers(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Whether every centre of ``a`` is within squared distance ``tol`` of one of ``b`` and back."""
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return bool(np.all(d2.min(1) <= tol) and np.all(d2.min(0) <= tol))


def seed_centers(
    data: Prepared, n_clusters: int, rng: np.random.RandomState, tol: float, max_iter: int
) -> tuple[np.ndarray, int, bool]:
    """The k-means fit: the best of the candidate centres (lowest pilot inertia), then Lloyd up
    the ladder of row sets (``data.ladder()``); ``tol`` is already scaled. Centres, iterations
    and convergence of the last Lloyd run."""
    centers = candidate_centers(data, n_clusters, rng)[0]
    for rows in data.ladder() or [data.pilot]:
        centers, _, n_iter, converged = lloyd(rows, centers, tol, max_iter)
    return centers, n_iter, converged


def scaled_tol(data: Prepared, tol: float) -> float:
    """scikit-learn's k-means tolerance: ``tol`` times the mean column variance."""
    return tol * float(np.mean(data.variance))


class FastKMeans(Estimator):
    """k-means with the interface of ``sklearn.cluster.KMeans`` (best of several k-means++
    seedings, see the module docstring).

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
        data = prepare(X, subsample)
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
