"""The clustering estimator: Gaussian mixture or k-means with a stable label order.

Labels are ordered by ascending cluster mean of the first feature (ties broken by the next
features): label 0 is the darkest cluster in the first input. The pipeline adds 1 so that 0
can mean "outside the mask".
"""

from __future__ import annotations

import numpy as np

from ..core.errors import UserInputError
from ..core.options import COVARIANCE_TYPES, ENGINES, METHODS
from .estimator import Estimator
from .fast_gmm import FastGaussianMixture
from .fast_kmeans import FastKMeans
from .features import count_distinct_rows
from .mrf import mixture_log_likelihood


def make_backend(method: str, n_clusters: int, covariance_type: str, random_state: int | None, engine: str):
    """An unfitted estimator: the project's fast engine, or scikit-learn's as the reference
    (imported only then: scikit-learn takes over a second to import)."""
    if engine not in ENGINES:
        raise UserInputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "fast":
        if method == "gmm":
            return FastGaussianMixture(n_components=n_clusters, covariance_type=covariance_type,
                                       random_state=random_state)
        return FastKMeans(n_clusters=n_clusters, random_state=random_state)
    if method == "gmm":
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(n_components=n_clusters, covariance_type=covariance_type, random_state=random_state)
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, n_init="auto", random_state=random_state)


class ClusterModel(Estimator):
    """Masked-voxel clustering with scikit-learn's estimator API and ordered labels.

    >>> import numpy as np
    >>> X = np.array([[5.0], [5.1], [0.0], [0.1], [9.9], [10.0]])
    >>> ClusterModel("kmeans", n_clusters=3, random_state=0).fit_predict(X).tolist()
    [1, 1, 0, 0, 2, 2]
    """

    def __init__(
        self,
        method: str = "gmm",
        n_clusters: int = 3,
        *,
        covariance_type: str = "full",
        random_state: int | None = 123,
        engine: str = "fast",
    ) -> None:
        self.method = method
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.engine = engine

    def _validate(self, X: np.ndarray) -> None:
        """Check the parameters against the data; UserInputError with a clear message if wrong."""
        if self.method not in METHODS:
            raise UserInputError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise UserInputError(
                f"unknown covariance type {self.covariance_type!r}; use one of {', '.join(COVARIANCE_TYPES)}"
            )
        if int(self.n_clusters) != self.n_clusters or self.n_clusters < 2:
            raise UserInputError(f"number of clusters must be an integer of at least 2, not {self.n_clusters}")
        distinct = count_distinct_rows(X, self.n_clusters)
        if distinct < self.n_clusters:
            raise UserInputError(
                f"cannot make {self.n_clusters} clusters from {distinct} distinct masked voxel values; use fewer clusters"
            )

    def fit(self, X: np.ndarray, y: None = None) -> ClusterModel:
        """Fit the mixture or k-means to the (n_voxels, n_features) matrix ``X``."""
        X = np.asarray(X)
        self._validate(X)
        self.backend_ = make_backend(
            self.method, int(self.n_clusters), self.covariance_type, self.random_state, self.engine
        )
        self.backend_.fit(X)
        centres = self.backend_.means_ if self.method == "gmm" else self.backend_.cluster_centers_
        self.order_ = np.lexsort(centres.T[::-1])  # sorted position -> backend cluster
        self.rank_ = np.argsort(self.order_)  # backend cluster -> sorted position
        self.means_ = np.asarray(centres)[self.order_]
        self.n_iter_ = self.backend_.n_iter_
        self.converged_ = bool(getattr(self.backend_, "converged_", True))
        self.labels_ = self.predict(X)
        return self

    def fit_predict(self, X: np.ndarray, y: None = None) -> np.ndarray:
        """Fit, then return the ordered cluster index of each row of ``X``."""
        return self.fit(X).labels_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Ordered cluster index (0 = darkest in the first feature) of each row of ``X``."""
        return self.rank_[self.backend_.predict(X)]

    def class_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        """(n, k) log(weight x density) of every ordered cluster, the input of the MRF prior.

        k-means is read as a mixture of equal spherical Gaussians whose variance is the mean
        squared distance of the voxels to their centre, weighted by the cluster sizes.
        """
        X = np.asarray(X)
        if self.method == "gmm":
            backend = self.backend_
            if isinstance(backend, FastGaussianMixture):  # float32, chunked on both cores
                return backend.weighted_log_prob(X)[:, self.order_]
            return mixture_log_likelihood(X, backend.weights_, backend.means_, backend.covariances_,
                                          self.covariance_type)[:, self.order_]
        labels = self.predict(X)
        counts = np.bincount(labels, minlength=self.means_.shape[0]).astype(np.float64)
        variance = float(np.mean(np.sum((X - self.means_[labels]) ** 2, axis=1))) / X.shape[1]
        weights = np.maximum(counts, 1.0) / counts.sum()
        covariances = np.full(self.means_.shape[0], max(variance, 1e-12))
        return mixture_log_likelihood(X, weights, self.means_, covariances, "spherical")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Posterior probability of each ordered cluster for each row (Gaussian mixture only)."""
        if self.method != "gmm":
            raise ValueError("posterior probabilities exist only for the Gaussian mixture (method='gmm')")
        return self.backend_.predict_proba(X)[:, self.order_]
