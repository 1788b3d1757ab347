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

Implementation: float32 posteriors of the masked voxels only, (n, k); each iteration writes them
into a zero-padded box around the mask (one row per voxel, zero outside the mask) and sums each
neighbour's rows by one gather at a constant offset in the flattened box: one pass per
neighbour, no 3D convolution per class. The two halves of the voxels are updated on two threads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .fast_common import parallel
from .volume import masked_rows, new_volume, set_masked_rows
from .options import COVARIANCE_TYPES, NEIGHBOURHOODS



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


def _softmax_rows(values: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (n, k) array, in place; computed on a (k, n) copy, since numpy's
    reductions and broadcasts along a short last axis are several times slower."""
    columns = np.ascontiguousarray(values.T)
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
    q = _softmax_rows(data.copy())
    if beta == 0 or not mask.any():
        return q
    box = tuple(slice(idx.min(), idx.max() + 1) for idx in np.nonzero(mask))
    padded = np.pad(mask[box], 1).T  # (k, j, i): its C order is the rows' order, i fastest
    rows = np.flatnonzero(padded)  # the masked voxels, as rows of ``field``
    k_step, j_step = padded.shape[1] * padded.shape[2], padded.shape[2]
    groups: dict[float, list[int]] = {}  # neighbours of equal weight are summed before one multiplication
    for (di, dj, dk), weight in offsets:
        groups.setdefault(round(weight, 12), []).append(dk * k_step + dj * j_step + di)
    # rows of k float32 as single opaque items: numpy gathers and scatters those several times faster
    as_items = np.dtype((np.void, 4 * data.shape[1]))
    field = np.zeros((padded.size, data.shape[1]), dtype=np.float32)
    field_items = field.view(as_items).ravel()
    neighbours = [(np.float32(beta * weight), [rows + shift for shift in shifts]) for weight, shifts in groups.items()]
    halves = [slice(0, len(rows) // 2), slice(len(rows) // 2, len(rows))]

    def update(part: slice) -> None:
        """New posteriors of the rows ``part`` from the neighbours' old ones (in ``field``)."""
        energy = data[part].copy()
        total = np.empty(energy.shape, np.float32)
        neighbour = np.empty(energy.shape, np.float32)
        total_items, neighbour_items = total.view(as_items).ravel(), neighbour.view(as_items).ravel()
        for scale, indices in neighbours:
            np.take(field_items, indices[0][part], out=total_items)
            for index in indices[1:]:
                np.take(field_items, index[part], out=neighbour_items)
                total += neighbour
            total *= scale
            energy += total
        q[part] = _softmax_rows(energy)

    for _ in range(int(iterations)):
        field_items[rows] = q.view(as_items).ravel()
        parallel(update, halves)  # numpy releases the GIL: the two halves run on two cores
    return q
