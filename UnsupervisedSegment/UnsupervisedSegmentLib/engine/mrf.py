"""Markov random field (Potts) regularisation of a fitted mixture by mean-field iterations.

A voxel's cluster posterior is pulled towards the clusters of its neighbours:

    q_i(c) ∝ exp(log(w_c p(x_i | c)) + beta * Σ_j a_ij q_j(c))

over the neighbours j of voxel i inside the mask (neighbours outside the mask are ignored).
The neighbour weights a_ij are 1 / distance (mm) to the neighbour, scaled so that they sum to 6
for a voxel with all its neighbours; a given ``beta`` therefore means the same smoothing strength
for the 6- and 26-neighbourhoods and for any voxel spacing (with isotropic voxels and 6 neighbours
every weight is 1, the textbook Potts prior; without ``spacing`` voxels count as isotropic).
Updates are synchronous (all voxels at once).

The mixture parameters are not re-estimated: this is the post-fit mean-field step of a hidden
MRF, applied to a mixture fitted without spatial prior. ``beta=0`` returns the plain mixture
posteriors.

Implementation: float32 posteriors of the masked voxels only, (n, k), between two zero rows. The
row of each voxel's neighbour (the zero row outside the mask) is found once; each iteration sums
each neighbour's rows by one gather of whole rows, or for the neighbours along i (the next and
previous rows) by one copy with the few rows at the mask's edge zeroed: one pass per neighbour,
no 3D convolution per class, no scatter into a box. Old and new posteriors are two buffers
(synchronous updates); the two halves of the voxels are updated on two threads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.options import COVARIANCE_TYPES, NEIGHBOURHOODS
from ..core.parallel import parallel
from ..core.volume import bounding_box, masked_rows, new_volume, set_masked_rows


def mixture_log_likelihood(
    X: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    covariance_type: str = "full",
) -> np.ndarray:
    """Per-class log(weight * Gaussian density) of each row of ``X`` (n, C) -> (n, k) float64."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance type {covariance_type!r}; use one of {', '.join(COVARIANCE_TYPES)}")
    columns = np.asarray(X, dtype=np.float64).T.copy()  # (C, n): long rows, fast reductions over C
    means = np.asarray(means, dtype=np.float64)
    n_classes, n_features = means.shape
    full = _full_covariances(np.asarray(covariances, dtype=np.float64), covariance_type, n_classes, n_features)
    out = np.empty((columns.shape[1], n_classes))
    for c in range(n_classes):
        chol = np.linalg.cholesky(full[c])
        z = np.linalg.inv(chol) @ (columns - means[c][:, None])
        log_det = 2.0 * np.sum(np.log(np.diag(chol)))
        z *= z
        out[:, c] = np.log(weights[c]) - 0.5 * (n_features * np.log(2 * np.pi) + log_det + z.sum(axis=0))
    return out


def _full_covariances(covariances: np.ndarray, covariance_type: str, n_classes: int, n_features: int) -> np.ndarray:
    """Covariances of any scikit-learn covariance type as a (k, C, C) stack."""
    if covariance_type == "full":
        return covariances.reshape(n_classes, n_features, n_features)
    if covariance_type == "tied":
        return np.broadcast_to(covariances.reshape(n_features, n_features), (n_classes, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(row) for row in covariances.reshape(n_classes, n_features)])
    return np.stack([np.eye(n_features) * v for v in covariances.reshape(n_classes)])


def neighbour_offsets(
    neighbourhood: int, spacing: Sequence[float] | None = None
) -> list[tuple[tuple[int, int, int], float]]:
    """The (offset, weight) pairs of a neighbourhood; weights ∝ 1/distance and sum to 6."""
    if neighbourhood not in NEIGHBOURHOODS:
        raise ValueError(f"neighbourhood must be 6 or 26, not {neighbourhood!r}")
    spacing = np.ones(3) if spacing is None else np.asarray(spacing, dtype=np.float64)
    if spacing.shape != (3,) or not np.all(spacing > 0):
        raise ValueError(f"spacing must be three positive numbers, not {spacing.tolist()}")
    offsets = [
        (di, dj, dk)
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        for dk in (-1, 0, 1)
        if (di, dj, dk) != (0, 0, 0) and (neighbourhood == 26 or abs(di) + abs(dj) + abs(dk) == 1)
    ]
    raw = np.array([1.0 / np.linalg.norm(np.array(o) * spacing) for o in offsets])
    raw *= 6.0 / raw.sum()
    return list(zip(offsets, raw.tolist()))


def _softmax_rows(values: np.ndarray, of: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax of an (n, k) array ``of`` (default: ``values``) into ``values``;
    computed on a (k, n) copy, since numpy's reductions and broadcasts along a short last axis
    are several times slower."""
    columns = np.array((values if of is None else of).T, order="C")  # a copy, even where .T is contiguous
    columns -= columns.max(axis=0)
    np.exp(columns, out=columns)
    columns /= columns.sum(axis=0)
    values[...] = columns.T
    return values


def regularise_posteriors(
    log_likelihood: np.ndarray,
    mask: np.ndarray,
    beta: float,
    neighbourhood: int = 6,
    iterations: int = 5,
    spacing: Sequence[float] | None = None,
) -> np.ndarray:
    """Mean-field Potts posteriors (I, J, K, k) float32 from per-class log(weight * density).

    ``log_likelihood`` (I, J, K, k) is read only inside ``mask`` (I, J, K); posteriors outside
    the mask are 0. ``beta=0`` gives the plain mixture posteriors exactly.
    """
    mask = np.asarray(mask, dtype=bool)
    if log_likelihood.ndim != 4 or log_likelihood.shape[:3] != mask.shape:
        raise ValueError(f"log_likelihood shape {log_likelihood.shape} must be mask shape {mask.shape} + (k,)")
    posteriors = new_volume(log_likelihood.shape, np.float32)
    set_masked_rows(posteriors, mask, regularise_masked(masked_rows(log_likelihood, mask), mask, beta, neighbourhood,
                                                        iterations, spacing))
    return posteriors


def regularise_masked(
    log_likelihood: np.ndarray,
    mask: np.ndarray,
    beta: float,
    neighbourhood: int = 6,
    iterations: int = 5,
    spacing: Sequence[float] | None = None,
) -> np.ndarray:
    """Mean-field Potts posteriors (n, k) float32 of the ``n`` voxels of ``mask`` (in
    :func:`volume.masked_rows` order),
    from their (n, k) log(weight * density): :func:`regularise_posteriors` without full volumes."""
    mask = np.asarray(mask, dtype=bool)
    if log_likelihood.ndim != 2 or log_likelihood.shape[0] != np.count_nonzero(mask):
        raise ValueError(f"log_likelihood shape {log_likelihood.shape} must be (voxels in the mask, k)")
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, not {beta!r}")
    if int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, not {iterations!r}")
    offsets = neighbour_offsets(neighbourhood, spacing)
    data = np.ascontiguousarray(log_likelihood, dtype=np.float32)
    n, k = data.shape
    # posteriors between two zero rows: old (read) and new (written) in turn; row r of q is row r + 1
    old, new = np.zeros((n + 2, k), np.float32), np.zeros((n + 2, k), np.float32)
    parts = [slice(0, n // 2), slice(n // 2, n)]  # the two halves of the rows, one per thread
    parallel(lambda part: _softmax_rows(old[1 + part.start:1 + part.stop], of=data[part]), parts)
    if beta == 0 or n == 0:
        return old[1:-1]
    neighbours = _neighbour_rows(mask, offsets)
    # rows of k float32 as single opaque items: numpy gathers those several times faster
    as_items = np.dtype((np.void, 4 * k))
    # each half with its energy, sum and neighbour buffers
    halves = [(part, *(np.empty((part.stop - part.start, k), np.float32) for _ in range(3))) for part in parts]

    def update(half: tuple[slice, np.ndarray, np.ndarray, np.ndarray]) -> None:
        """New posteriors of the rows ``part`` (in ``new``) from the neighbours' old ones (in ``old``)."""
        part, energy, total, neighbour = half
        np.copyto(energy, data[part])
        for weight, group in neighbours:
            for position, (shift, where) in enumerate(group):
                into = neighbour if position else total
                if shift is None:  # a gather; row 0 (zeros) where the neighbour is outside the mask
                    np.take(old.view(as_items).ravel(), where[part], out=into.view(as_items).ravel())
                else:  # along i: the next or previous row, except where that neighbour is outside
                    np.copyto(into, old[part.start + 1 + shift:part.stop + 1 + shift])
                    outside = where[np.searchsorted(where, part.start):np.searchsorted(where, part.stop)]
                    into[outside - part.start] = 0
                if position:
                    total += neighbour
            total *= np.float32(beta * weight)
            energy += total
        new[1 + part.start:1 + part.stop] = _softmax_rows(energy)

    for _ in range(int(iterations)):
        parallel(update, halves)  # numpy releases the GIL: the two halves run on two cores
        old, new = new, old
    return old[1:-1]


def _neighbour_rows(
    mask: np.ndarray, offsets: list[tuple[tuple[int, int, int], float]]
) -> list[tuple[float, list[tuple[int | None, np.ndarray]]]]:
    """Where each masked voxel's neighbours are among the rows (between two zero rows), grouped
    by weight (neighbours of equal weight are summed before one multiplication).

    Each neighbour is ``(None, index)``: ``index`` (n,) its row + 1, 0 (a zero row) outside the
    mask, or for the neighbours along i ``(±1, outside)``: the next or previous row, except at
    the rows ``outside`` (sorted), whose neighbour there is outside the mask.
    """
    box = bounding_box(mask)
    padded = np.pad(mask[box], 1).T  # (k, j, i): its C order is the rows' order, i fastest
    cells = np.flatnonzero(padded)  # the masked voxels, in the padded box
    row_of_cell = np.zeros(padded.size, np.intp)
    row_of_cell[cells] = np.arange(1, len(cells) + 1)
    k_step, j_step = padded.shape[1] * padded.shape[2], padded.shape[2]

    def find(offset: tuple[int, int, int]) -> tuple[int | None, np.ndarray]:
        di, dj, dk = offset
        rows = row_of_cell[cells + dk * k_step + dj * j_step + di]
        return (di, np.flatnonzero(rows == 0)) if (dj, dk) == (0, 0) else (None, rows)

    found = parallel(find, [offset for offset, _ in offsets])  # numpy's gathers release the GIL
    groups: dict[float, list[tuple[int | None, np.ndarray]]] = {}
    for (_, weight), neighbour in zip(offsets, found):
        groups.setdefault(round(weight, 12), []).append(neighbour)
    return list(groups.items())
