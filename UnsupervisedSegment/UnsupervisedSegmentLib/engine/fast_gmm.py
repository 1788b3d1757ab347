"""Fast Gaussian mixture EM with the interface of ``sklearn.mixture.GaussianMixture``.

Same model, initialisation scheme (k-means labels), M-step (``reg_covar``, ``10 * eps`` added
to the component weights) and stopping rule (change of the mean log-likelihood per sample below
``tol``) as scikit-learn; built for 10⁶+ voxels and 1–4 channels:

* Data are read in float32 chunks, centred on the data mean; each chunk's log densities come
  from one BLAS product with the stacked precision Cholesky factors, responsibilities from a
  log-sum-exp, and the sufficient statistics (Σr, Σr·x, Σr·xxᵀ) are accumulated in float64.
  No (n_samples, k) or larger array is built while fitting. Chunks run on a thread pool.
* Initialisation (robust against the poor local optima one k-means++ seeding can fall into: a
  small class lost, two classes merged): 16 k-means++ seedings of a pilot sample (8,192
  systematic rows, or a 1,024-bin histogram for one channel), greedy and plain D² sampling in
  turn, refined together by Lloyd there (:func:`fast_kmeans.candidate_centers`); each distinct
  result gives a mixture (one M-step from its labels) that runs TRIAL_EM_STEPS EM steps on the
  pilot, and the highest log-likelihood wins. All of it is deterministic for ``random_state``
  and costs some 20–60 ms. EM then converges on the pilot and climbs the ladder of row sets
  (the ≤ 50,000-row sample or histogram, all rows: ``Prepared.ladder``). On a subsample or
  histogram EM converges to ``tol × SAMPLE_TOL_FACTOR``, on all rows to ``tol``. The pilot sample is fixed
  and the k-means candidates are refined until no centre moves, so seeds whose seedings fall
  in the same basin start EM from exactly the same point, and EM converged further on the
  (seed-independent) subsample reaches the same optimum from nearby starts (scikit-learn
  instead runs one k-means++ seeding and k-means on all rows, and stops EM at ``tol`` near
  where k-means put it). A fit on a sample then labels every row with the fitted model.
* The parameters kept are those of the last E-step, so ``lower_bound_`` is exactly their mean
  log-likelihood and ``fit_predict`` (labels from that E-step when it saw all rows) equals
  ``fit(X).predict(X)``; scikit-learn keeps one more M-step (a change below ``tol``).
* One channel: EM runs on a weighted histogram of the intensities (16,384 even bins over the
  range, each occupied bin standing for the exact mean of its values, so images with at most
  that many integer levels are represented exactly). If a bin is wider than 5 % of the smallest
  component standard deviation, EM goes on over all voxels from the histogram solution.
  Prediction is always per voxel.

Subsample rule (``subsample="auto"``, for two or more channels)
------------------------------------------------------------------
With at least 100,000 rows, EM runs on a systematic sample of 50,000 rows (the middle row of
each of 50,000 equal runs of consecutive rows) and the fitted model labels all rows. Masked
voxels come in raster order, so the sample is spatially stratified: a compact class gets its
proportional share ± 1. A class holding 1 % of the mask thus keeps about 500 sampled voxels
(a diffuse one Binomial(50,000, 0.01): 500 ± 22), over 35 times the 14 parameters of a
4-channel full-covariance component (and some 80 in the pilot sample, where the
initialisation's seedings find it). The parameter error this adds is of order 1/√500 of a
component SD for the smallest class and shrinks with the class size; ``bench/engine.py`` and
``bench/end_to_end.py`` compare it with full-data fits and scikit-learn (log-likelihood of the
labels, ARI), and ``Testing/test_fast_engine.py`` checks that a 1 % class survives. Below
100,000 rows all rows are used. ``subsample=None`` fits on all rows (after converging on the
50,000-row sample; the initialisation still runs on the pilot sample); an int ``m`` fits on an
``m``-row sample when ``m < n`` (below about 100 / (smallest class fraction) rows a class may
be lost). ``lower_bound_``, ``n_iter_`` and ``converged_`` describe the EM on the rows it ran on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional

import numpy as np

from ..core.parallel import parallel, single_threaded_blas
from .estimator import ConvergenceWarning, Estimator, check_random_state
from .fast_common import (
    Prepared,
    Rows,
    argmax_rows,
    check_int,
    check_matrix,
    check_nonnegative,
    check_subsample,
    combine,
    prepare,
)
from .fast_kmeans import assign, candidate_centers

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: A one-channel histogram fit is continued on all voxels when a bin is wider than this many SDs.
MAX_BIN_WIDTH_SD = 0.05
#: EM steps on the pilot sample by which the k-means candidates of the initialisation are compared.
TRIAL_EM_STEPS = 3
#: EM on a subsample or one-channel histogram stops at this fraction of ``tol``. Flat
#: likelihoods (several raw MRI sequences) make EM crawl: stopped at ``tol`` it ends where its
#: start put it, and the result depends on the seed; converged further on the
#: (seed-independent) sample it reaches the same optimum from any good start.
SAMPLE_TOL_FACTOR = 0.1
_LOG_2PI = np.log(2.0 * np.pi)


def _precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Cholesky factors of the precisions, in scikit-learn's layout for ``covariance_type``."""
    try:
        if covariance_type in ("full", "tied"):
            matrices = covariances if covariance_type == "full" else covariances[None]
            factors = np.empty_like(matrices)
            for j, matrix in enumerate(matrices):
                chol = np.linalg.cholesky(matrix)
                factors[j] = np.linalg.solve(chol, np.eye(len(matrix))).T
            return factors if covariance_type == "full" else factors[0]
        if np.any(covariances <= 0.0):
            raise np.linalg.LinAlgError
        return 1.0 / np.sqrt(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(
            "Fitting the mixture model failed because some components have ill-defined empirical "
            "covariance (e.g. collapsed samples). Decrease n_components or increase reg_covar."
        ) from None


def _full_cholesky(prec_chol: np.ndarray, covariance_type: str, k: int, d: int) -> np.ndarray:
    """Precision Cholesky factors of any covariance type as a (k, d, d) stack."""
    if covariance_type == "full":
        return prec_chol
    if covariance_type == "tied":
        return np.broadcast_to(prec_chol, (k, d, d))
    diagonals = prec_chol if covariance_type == "diag" else np.repeat(prec_chol[:, None], d, axis=1)
    return np.eye(d) * diagonals[:, None, :]


class _Density:
    """Weighted log densities log(π_j N(x | μ_j, Σ_j)) of float32 chunks, as (k, rows)."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, prec_full: np.ndarray) -> None:
        k, d = means.shape
        self.project = prec_full.transpose(0, 2, 1).reshape(k * d, d).astype(np.float32)
        self.offset = np.einsum("kd,kde->ke", means, prec_full).reshape(k * d, 1).astype(np.float32)
        log_det = np.log(np.diagonal(prec_full, axis1=1, axis2=2)).sum(1)
        self.const = (np.log(weights) + log_det - 0.5 * d * _LOG_2PI).astype(np.float32)[:, None]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        k = self.const.shape[0]
        y = self.project @ x.T
        y -= self.offset
        y *= y
        log_prob = y.reshape(k, -1, len(x)).sum(1)
        log_prob *= -0.5
        log_prob += self.const
        return log_prob


def _normalise(log_prob: np.ndarray) -> np.ndarray:
    """Turn (k, rows) log densities into responsibilities in place; return log Σ_j densities."""
    top = log_prob.max(0)
    log_prob -= top
    np.exp(log_prob, out=log_prob)
    total = log_prob.sum(0)
    log_prob /= total
    return top + np.log(total)


def _moments(x: np.ndarray, resp: np.ndarray, w: Optional[np.ndarray]) -> list[np.ndarray]:
    """float64 Σr, Σr·x and Σr·xxᵀ per component of a chunk, for (k, rows) responsibilities."""
    k, d = resp.shape[0], x.shape[1]
    r = resp.astype(np.float64)
    if w is not None:
        r *= w
    xt = x.T.astype(np.float64)
    upper, lower = np.triu_indices(d)
    products = np.empty((len(upper), len(x)))
    for p, (a, b) in enumerate(zip(upper, lower)):
        np.multiply(xt[a], xt[b], out=products[p])
    second = r @ products.T
    sxx = np.empty((k, d, d))
    sxx[:, upper, lower] = second
    sxx[:, lower, upper] = second
    return [r.sum(1), r @ xt.T, sxx]


@dataclass
class _Mixture:
    """Mixture parameters, means in the centred coordinates of the data being fitted."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str

    @classmethod
    def from_moments(cls, moments: list[np.ndarray], covariance_type: str, reg_covar: float) -> _Mixture:
        """The M-step: parameters from (Σr, Σr·x, Σr·xxᵀ), as scikit-learn estimates them."""
        nk, sx, sxx = moments
        nk = nk + 10 * np.finfo(np.float64).eps
        means = sx / nk[:, None]
        outer = means[:, :, None] * means[:, None, :]
        d = means.shape[1]
        if covariance_type == "tied":
            covariances = (sxx.sum(0) - (nk[:, None, None] * outer).sum(0)) / nk.sum() + reg_covar * np.eye(d)
        else:
            full = sxx / nk[:, None, None] - outer
            if covariance_type == "full":
                covariances = full + reg_covar * np.eye(d)
            else:
                covariances = np.diagonal(full, axis1=1, axis2=2) + reg_covar
                if covariance_type == "spherical":
                    covariances = covariances.mean(1)
        return cls(nk / nk.sum(), means, covariances, covariance_type)

    @cached_property
    def precisions_cholesky(self) -> np.ndarray:
        return _precision_cholesky(self.covariances, self.covariance_type)

    def density(self) -> _Density:
        k, d = self.means.shape
        return _Density(self.weights, self.means, _full_cholesky(self.precisions_cholesky, self.covariance_type, k, d))


def _e_step(rows: Rows, mixture: _Mixture, labels: Optional[np.ndarray] = None, inline: bool = False) -> list[Any]:
    """One pass: total log-likelihood and the moments of the responsibilities.

    With ``labels``, also stores each row's most likely component there.
    """
    density = mixture.density()

    def chunk(x: np.ndarray, w: Optional[np.ndarray], part: slice) -> list[Any]:
        resp = density(x)
        log_norm = _normalise(resp)
        if labels is not None:
            labels[part] = argmax_rows(resp)
        log_lik = log_norm.sum(dtype=np.float64) if w is None else w @ log_norm
        return [float(log_lik), *_moments(x, resp, w)]

    return combine(rows.map(chunk, mixture.means.size, inline))


def _label_moments(rows: Rows, labels: np.ndarray, k: int, inline: bool = False) -> list[np.ndarray]:
    """The moments of hard (one-hot) responsibilities."""

    def chunk(x: np.ndarray, w: Optional[np.ndarray], part: slice) -> list[np.ndarray]:
        one_hot = (labels[part] == np.arange(k)[:, None]).astype(np.float32)
        return _moments(x, one_hot, w)

    return combine(rows.map(chunk, k, inline))


def _em(
    rows: Rows,
    mixture: _Mixture,
    reg_covar: float,
    tol: float,
    max_iter: int,
    labels: Optional[np.ndarray] = None,
    inline: bool = False,
    tight: bool = False,
) -> tuple[_Mixture, float, int, bool]:
    """EM until the mean log-likelihood changes by less than ``tol`` (``tight``: by less than
    ``tol × SAMPLE_TOL_FACTOR``, or ``max_iter``; converged means a change below ``tol``).

    Returns the parameters of the last E-step (so the lower bound is exactly their mean
    log-likelihood, and ``labels``, if given, their labels), the bound, iterations, converged.
    """
    stop = tol * SAMPLE_TOL_FACTOR if tight else tol
    lower_bound = change = -np.inf
    for n_iter in range(1, max_iter + 1):
        log_lik, *moments = _e_step(rows, mixture, labels, inline)
        previous, lower_bound = lower_bound, log_lik / rows.total_weight
        change = abs(lower_bound - previous)
        if change < stop:
            return mixture, lower_bound, n_iter, True
        if n_iter < max_iter:
            mixture = _Mixture.from_moments(moments, mixture.covariance_type, reg_covar)
    return mixture, lower_bound, max_iter, change < tol


def _tight(rows: Rows, data: Prepared) -> bool:
    """Whether EM converges on ``rows`` to ``tol × SAMPLE_TOL_FACTOR``: on a subsample of the
    rows or a one-channel histogram (cheap), not on all rows."""
    return rows is not data.full


def _histogram_too_coarse(data: Prepared, mixture: _Mixture) -> bool:
    """Whether a one-channel histogram's bins are too wide for the fitted components."""
    return data.bin_width is not None and data.bin_width > MAX_BIN_WIDTH_SD * float(np.sqrt(np.min(mixture.covariances)))


class FastGaussianMixture(Estimator):
    """Gaussian mixture fitted by chunked float32/float64 EM (see the module docstring).

    Fitted attributes as scikit-learn's: ``weights_``, ``means_``, ``covariances_``,
    ``precisions_cholesky_``, ``converged_``, ``n_iter_`` (EM iterations, sample and full data
    together) and ``lower_bound_`` (mean log-likelihood per sample at the last E-step).
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        random_state: Any = None,
        subsample: Any = "auto",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.random_state = random_state
        self.subsample = subsample

    def fit(self, X: Any, y: Any = None) -> FastGaussianMixture:
        """Estimate the mixture from ``X`` (n_samples, n_features)."""
        self._fit(X, keep_labels=False)
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then label ``X`` with the fitted model (from the last E-step when it saw all rows)."""
        labels = self._fit(X, keep_labels=True)
        return self.predict(X) if labels is None else labels

    @single_threaded_blas
    def _fit(self, X: Any, keep_labels: bool) -> Optional[np.ndarray]:
        """Fit; return the labels of all rows if asked for and the last E-step saw all rows."""
        k = check_int("n_components", self.n_components, 1)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {self.covariance_type!r}")
        tol = check_nonnegative("tol", self.tol)
        reg_covar = check_nonnegative("reg_covar", self.reg_covar)
        max_iter = check_int("max_iter", self.max_iter, 1)
        subsample = check_subsample(self.subsample)
        X = check_matrix(X, min_rows=k)
        rng = check_random_state(self.random_state)
        data = prepare(X, subsample)
        mixture, self.lower_bound_, self.n_iter_, self.converged_ = self._start(data, k, rng, tol, reg_covar, max_iter)
        labels = np.empty(len(X), dtype=np.intp) if keep_labels else None
        fit_labels = None
        for rows in data.ladder():
            if rows is data.full:
                fit_labels = labels
            mixture, self.lower_bound_, more, self.converged_ = _em(
                rows, mixture, reg_covar, tol, max_iter, fit_labels, tight=_tight(rows, data)
            )
            self.n_iter_ += more
        if _histogram_too_coarse(data, mixture):
            mixture, self.lower_bound_, more, self.converged_ = _em(data.full, mixture, reg_covar, tol, max_iter, labels)
            self.n_iter_ += more
            fit_labels = labels
        if not self.converged_:
            warnings.warn("EM did not converge; increase max_iter or tol", ConvergenceWarning, stacklevel=2)
        self._store(mixture, data.full.shift)
        self.n_features_in_ = X.shape[1]
        return fit_labels

    def _start(
        self, data: Prepared, k: int, rng: np.random.RandomState, tol: float, reg_covar: float, max_iter: int
    ) -> tuple[_Mixture, float, int, bool]:
        """The initialisation, on the pilot sample: each distinct k-means candidate
        (:func:`fast_kmeans.candidate_centers`) gives a mixture (one M-step from its labels)
        that runs TRIAL_EM_STEPS EM steps, in parallel; the highest log-likelihood (ties: lowest
        inertia) goes on to converge there. Returns ``_em``'s result on the pilot."""
        pilot = data.pilot
        candidates = candidate_centers(data, k, rng)

        steps = min(TRIAL_EM_STEPS, max_iter)

        def trial(centers: np.ndarray) -> tuple[float, Any]:
            labels = assign(pilot, centers, inline=True)[0]
            try:
                mixture = _Mixture.from_moments(_label_moments(pilot, labels, k, True), self.covariance_type, reg_covar)
                result = _em(pilot, mixture, reg_covar, tol, steps, inline=True)
            except ValueError as error:  # a degenerate candidate (singular covariance)
                return -np.inf, error
            return result[1], result

        results = parallel(trial, candidates)
        best = max(range(len(results)), key=lambda i: (results[i][0], -i))
        if not np.isfinite(results[best][0]):
            raise results[best][1]
        mixture, lower_bound, n_iter, converged = results[best][1]
        if converged or n_iter == max_iter:
            return mixture, lower_bound, n_iter, converged
        mixture, lower_bound, more, converged = _em(pilot, mixture, reg_covar, tol, max_iter - n_iter)
        return mixture, lower_bound, n_iter + more, converged

    def _store(self, mixture: _Mixture, shift: np.ndarray) -> None:
        """Set the fitted attributes from centred parameters."""
        self.weights_ = mixture.weights
        self.means_ = mixture.means + shift
        self.covariances_ = mixture.covariances
        self.precisions_cholesky_ = mixture.precisions_cholesky

    def _chunks(self, X: Any) -> tuple[Rows, _Density]:
        """``X`` checked and centred, and the density of the fitted model in those coordinates."""
        X = check_matrix(X)
        k, d = self.means_.shape
        if X.shape[1] != d:
            raise ValueError(f"X has {X.shape[1]} features, the model has {d}")
        shift = self.weights_ @ self.means_
        prec_full = _full_cholesky(self.precisions_cholesky_, self.covariance_type, k, d)
        return Rows(X, shift), _Density(self.weights_, self.means_ - shift, prec_full)

    @single_threaded_blas
    def predict(self, X: Any) -> np.ndarray:
        """Most likely component of each row of ``X``."""
        rows, density = self._chunks(X)
        labels = np.empty(len(rows), dtype=np.intp)

        def chunk(x: np.ndarray, _: Optional[np.ndarray], part: slice) -> None:
            labels[part] = argmax_rows(density(x))

        rows.map(chunk, self.means_.size)
        return labels

    @single_threaded_blas
    def predict_proba(self, X: Any) -> np.ndarray:
        """(n_samples, k) float32 responsibilities."""
        rows, density = self._chunks(X)
        proba = np.empty((len(rows), self.means_.shape[0]), dtype=np.float32)

        def chunk(x: np.ndarray, _: Optional[np.ndarray], part: slice) -> None:
            resp = density(x)
            _normalise(resp)
            proba[part] = resp.T

        rows.map(chunk, self.means_.size)
        return proba

    @single_threaded_blas
    def weighted_log_prob(self, X: Any) -> np.ndarray:
        """(n_samples, k) float32 log(weight_j · N(x | μ_j, Σ_j)) of each row (what the MRF prior
        starts from); scikit-learn computes it as ``_estimate_weighted_log_prob``, in float64."""
        rows, density = self._chunks(X)
        log_prob = np.empty((len(rows), self.means_.shape[0]), dtype=np.float32)

        def chunk(x: np.ndarray, _: Optional[np.ndarray], part: slice) -> None:
            log_prob[part] = density(x).T

        rows.map(chunk, self.means_.size)
        return log_prob

    @single_threaded_blas
    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row of ``X`` (float64)."""
        rows, density = self._chunks(X)
        scores = np.empty(len(rows))

        def chunk(x: np.ndarray, _: Optional[np.ndarray], part: slice) -> None:
            scores[part] = _normalise(density(x))

        rows.map(chunk, self.means_.size)
        return scores

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row of ``X``."""
        return float(self.score_samples(X).mean())

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        X = check_matrix(X)
        return -2.0 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def _n_parameters(self) -> int:
        """Free parameters of the model (as scikit-learn counts them)."""
        k, d = self.means_.shape
        covariance = {"full": k * d * (d + 1) / 2, "diag": k * d, "tied": d * (d + 1) / 2, "spherical": k}
        return int(covariance[self.covariance_type] + k * d + k - 1)
