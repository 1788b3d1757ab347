"""Shared pieces of the fast clustering engine (``fast_gmm``, ``fast_kmeans``).

* Input checks and parameter validation.
* :class:`Rows`: a feature matrix read in float32 chunks, shifted to a centre, with optional
  sample weights; :meth:`Rows.map` runs a function over the chunks on a thread pool (numpy
  releases the GIL, so both cores work).
* The sampling rules: systematic subsamples of the rows, and the weighted fine histogram
  used for one-channel data; :func:`prepare` makes the ladder of row sets a fit climbs (a small
  pilot sample for comparing initialisations, the ≤ 50,000-row sample, all rows).

The subsample rule (``subsample="auto"``) is documented in :mod:`fast_gmm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, TypeVar

import numpy as np

from ..core.parallel import parallel

#: Rows of the automatic subsample; a class holding 1 % of the rows keeps about 500 of them.
AUTO_SUBSAMPLE_SIZE = 50_000
#: ``subsample="auto"`` fits on a subsample only from this many rows on.
AUTO_SUBSAMPLE_MIN_ROWS = 2 * AUTO_SUBSAMPLE_SIZE
#: Rows of the pilot sample on which the k-means++ seedings are refined and compared (a class
#: holding 1 % of the rows keeps about 80 of them).
PILOT_SIZE = 1 << 13
#: A row set of the ladder is skipped when the next one holds fewer than this many times its rows.
LADDER_STEP = 4
#: Bins of the one-channel histogram.
HISTOGRAM_BINS = 16_384
#: Bins of the coarser one-channel histogram used as the pilot sample.
PILOT_BINS = 1_024
#: A chunk holds about this many values per temporary (rows × columns).
CHUNK_VALUES = 1 << 19
#: Chunk rows stay within these bounds.
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 4_096, 65_536

T = TypeVar("T")


def check_matrix(X: Any, min_rows: int = 1) -> np.ndarray:
    """``X`` as a finite 2-D float32 or float64 array with at least ``min_rows`` rows."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.shape[0] < min_rows:
        raise ValueError(f"X has {X.shape[0]} samples, at least {min_rows} are needed")
    if X.shape[1] < 1:
        raise ValueError("X has no features")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    return X


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int ≥ ``minimum``, else a ValueError naming the parameter."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative(name: str, value: Any) -> float:
    """``value`` as a float ≥ 0, else a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def check_subsample(value: Any) -> Optional[int]:
    """Validate ``subsample`` ("auto", None or an int ≥ 1); "auto" becomes -1."""
    if value is None:
        return None
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"subsample must be 'auto', None or an integer >= 1, got {value!r}")
        return -1
    return check_int("subsample", value, 1)


def subsample_size(n_rows: int, subsample: Optional[int]) -> Optional[int]:
    """Rows to fit on (None: all of them) for a checked ``subsample`` setting."""
    if subsample is None:
        return None
    if subsample == -1:
        return AUTO_SUBSAMPLE_SIZE if n_rows >= AUTO_SUBSAMPLE_MIN_ROWS else None
    return subsample if subsample < n_rows else None


def systematic_rows(n_rows: int, size: int) -> np.ndarray:
    """Indices of a systematic sample: the middle row of each of ``size`` equal runs of
    consecutive rows (all rows when ``size >= n_rows``).

    Masked voxels are stored in raster order, so this is a spatially stratified sample: a
    compact class gets its proportional share ± 1.
    """
    if size >= n_rows:
        return np.arange(n_rows)
    step = n_rows / size
    return (np.arange(size) * step + step / 2).astype(np.intp)


def chunk_rows(n_columns: int) -> int:
    """Rows per chunk so that a (rows, n_columns) temporary holds about CHUNK_VALUES values."""
    return int(np.clip(CHUNK_VALUES // max(n_columns, 1), MIN_CHUNK_ROWS, MAX_CHUNK_ROWS))


@dataclass
class Rows:
    """Rows of a feature matrix, read as float32 chunks of ``x - shift``, with optional weights."""

    x: np.ndarray
    shift: Optional[np.ndarray] = None
    weights: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def total_weight(self) -> float:
        """Number of samples the rows stand for."""
        return float(len(self) if self.weights is None else self.weights.sum())

    def chunk(self, rows: slice | np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """The float32 centred chunk ``rows`` and its weights."""
        x = self.x[rows]
        if self.shift is not None:
            x = x - self.shift.astype(x.dtype)
        weights = None if self.weights is None else self.weights[rows]
        return x.astype(np.float32, copy=False), weights

    def map(
        self, fn: Callable[[np.ndarray, Optional[np.ndarray], slice], T], n_columns: int, inline: bool = False
    ) -> list[T]:
        """``fn(x, weights, rows)`` over all chunks, in parallel; results in row order.

        ``inline``: in the calling thread, in one piece when the rows are an in-memory float32
        matrix without shift (the pilot sample, a histogram), else chunk by chunk.
        """
        if inline and self.shift is None and self.x.dtype == np.float32:
            return [fn(self.x, self.weights, slice(0, len(self)))]
        count = -(-len(self) // chunk_rows(n_columns))  # chunks of even size, none above chunk_rows
        bounds = [len(self) * i // count for i in range(count + 1)]
        slices = [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]

        def run(rows: slice) -> T:
            return fn(*self.chunk(rows), rows)

        if inline:
            return [run(rows) for rows in slices]
        return parallel(run, slices)

    def sample(self, rows: np.ndarray) -> Rows:
        """The rows ``rows``, centred, as in-memory float32 :class:`Rows` without shift."""
        x, weights = self.chunk(rows)
        return Rows(np.ascontiguousarray(x), None, weights)


def column_stats(x: np.ndarray, weights: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted column means and variances of a (small) matrix, computed in float64."""
    x64 = x.astype(np.float64)
    w = np.ones(len(x64)) if weights is None else weights
    mean = w @ x64 / w.sum()
    var = w @ (x64 - mean) ** 2 / w.sum()
    return mean, var


def histogram_rows(x: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One channel as a weighted histogram: the occupied bins' mean values, counts and bin width.

    The bins split [min, max] evenly; each occupied bin stands for the exact mean of its values,
    so integer-valued images with at most ``n_bins`` levels are represented exactly.
    """
    low, high = float(x.min()), float(x.max())
    width = (high - low) / n_bins if high > low else 1.0

    def chunk(values: np.ndarray, _: Optional[np.ndarray], __: slice) -> tuple[np.ndarray, np.ndarray]:
        index = ((values[:, 0] - low) * (1.0 / width)).astype(np.intp)
        np.minimum(index, n_bins - 1, out=index)
        return np.bincount(index, minlength=n_bins), np.bincount(index, weights=values[:, 0], minlength=n_bins)

    counts, sums = combine(Rows(x).map(chunk, 1))
    occupied = counts > 0
    counts = counts[occupied].astype(np.float64)
    return sums[occupied] / counts, counts, width


def coarser_histogram(values: np.ndarray, counts: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """A weighted one-channel histogram merged into ``n_bins`` even bins (mean values, counts)."""
    low, high = float(values.min()), float(values.max())
    width = (high - low) / n_bins if high > low else 1.0
    index = np.minimum(((values - low) / width).astype(np.intp), n_bins - 1)
    merged = np.bincount(index, weights=counts, minlength=n_bins)
    sums = np.bincount(index, weights=counts * values, minlength=n_bins)
    occupied = merged > 0
    return sums[occupied] / merged[occupied], merged[occupied]


@dataclass
class Prepared:
    """The data of one fit: all rows, and the cheaper rows the fit starts on."""

    full: Rows
    #: In-memory rows (≤ PILOT_SIZE, or a PILOT_BINS histogram) on which the k-means++
    #: seedings are refined and compared.
    pilot: Rows
    #: In-memory rows (≤ 50,000, or a histogram): the subsample or histogram EM fits, else the statistics sample.
    seed: Rows
    #: Rows the fit ends on: ``seed`` (a subsample or histogram) or ``full``.
    fit: Rows
    #: Column variances of the data (float64).
    variance: np.ndarray
    #: Histogram bin width for one-channel data, else None.
    bin_width: Optional[float] = None

    def ladder(self) -> list[Rows]:
        """The row sets a fit climbs after the pilot: ``seed`` if it is at least LADDER_STEP
        times the pilot and ``fit`` at least LADDER_STEP times it, then ``fit`` (unless it is
        the pilot)."""
        ladder = [] if self.fit is self.pilot else [self.fit]
        seed = self.seed
        if seed is not self.fit and seed is not self.pilot and len(self.fit) >= LADDER_STEP * len(seed):
            if len(seed) >= LADDER_STEP * len(self.pilot):
                ladder.insert(0, seed)
        return ladder


def prepare(X: np.ndarray, subsample: Optional[int]) -> Prepared:
    """Centre ``X`` and choose the rows to fit on: a histogram (one channel), a subsample or all;
    and the pilot sample (a systematic sample of ``seed``).

    No sample depends on the seed, so EM converged on them reaches the same optimum from the
    different starts that different seeds give."""
    if X.shape[1] == 1:
        centres, counts, width = histogram_rows(X, HISTOGRAM_BINS)
        shift, variance = column_stats(centres[:, None], counts)
        hist = Rows(((centres - shift[0]).astype(np.float32))[:, None], None, counts)
        pilot_values, pilot_counts = coarser_histogram(centres - shift[0], counts, PILOT_BINS)
        pilot = Rows(pilot_values.astype(np.float32)[:, None], None, pilot_counts)
        return Prepared(Rows(X, shift), pilot, hist, hist, variance, width)
    stats_rows = systematic_rows(len(X), AUTO_SUBSAMPLE_SIZE)
    shift, variance = column_stats(X[stats_rows])
    full = Rows(X, shift)
    size = subsample_size(len(X), subsample)
    if size is None:
        seed, fit = full.sample(stats_rows), full
    else:
        seed = full.sample(systematic_rows(len(X), size))
        fit = seed
    pilot = seed if len(seed) <= PILOT_SIZE else seed.sample(systematic_rows(len(seed), PILOT_SIZE))
    return Prepared(full, pilot, seed, fit, variance)


def first_index(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index of the first row of a (k, n) array equal to ``target`` in each column.

    Vectorised over rows (much faster than ``argmin(axis=0)`` for small k).
    """
    k = values.shape[0]
    rank = np.arange(k, 0, -1, dtype=np.min_scalar_type(k))[:, None]
    top = ((values == target) * rank).max(0)
    return (k - top).astype(np.intp)


def argmin_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and value of the minimum of each column of a (k, n) array."""
    best = values.min(0)
    return first_index(values, best), best


def argmax_rows(values: np.ndarray) -> np.ndarray:
    """Row index of the maximum of each column of a (k, n) array."""
    return first_index(values, values.max(0))


def combine(parts: Sequence[Sequence[Any]]) -> list[Any]:
    """Element-wise sums of per-chunk result tuples."""
    return [sum(items[1:], items[0]) for items in zip(*parts)]
