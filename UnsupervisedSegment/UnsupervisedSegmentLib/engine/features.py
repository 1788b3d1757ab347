"""From masked channels to the feature matrix that is clustered: one row per voxel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import UserInputError
from ..core.options import SCALINGS
from ..core.parallel import parallel
from ..core.volume import Channel, masked_rows


def feature_matrix(channels: Sequence[Channel], mask: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """(n_voxels, n_features) float32 matrix of masked voxels (in :func:`volume.masked_rows` order),
    the names kept, and warnings.

    A channel that is constant inside the mask carries no information: it is dropped with a
    warning. If every channel is constant, UserInputError.
    """
    columns = np.empty((len(channels), int(np.count_nonzero(mask))), dtype=np.float32)

    def gather(index: int) -> None:  # one pass over a volume; numpy releases the GIL, so inputs go in parallel
        columns[index] = masked_rows(channels[index].data, mask)

    parallel(gather, range(len(channels)))
    kept, names, warnings = [], [], []
    for index, (channel, values) in enumerate(zip(channels, columns)):
        if values.min() == values.max():
            warnings.append(
                f"input {channel.name!r} is constant ({values[0]:g}) inside the mask: left out of the clustering"
            )
            continue
        kept.append(index)
        names.append(channel.name)
    if not kept:
        raise UserInputError("every input is constant inside the mask: there is nothing to cluster")
    selected = columns if len(kept) == len(channels) else columns[kept]
    return np.ascontiguousarray(selected.T), names, warnings


def scale_features(features: np.ndarray, scaling: str, names: Sequence[str]) -> np.ndarray:
    """Scale each column: ``none``, ``standard`` (z-score) or ``robust`` (median / IQR).

    Both scalings are increasing affine maps, so cluster order by mean is unchanged.
    """
    if scaling == "none":
        return features
    data = features.astype(np.float64)
    if scaling == "standard":
        centre, spread = data.mean(axis=0), data.std(axis=0)
    elif scaling == "robust":
        q25, centre, q75 = np.percentile(data, [25, 50, 75], axis=0)
        spread = q75 - q25
    else:
        raise UserInputError(f"unknown scaling {scaling!r}; use one of {', '.join(SCALINGS)}")
    flat = [name for name, value in zip(names, spread) if value == 0]
    if flat:
        raise UserInputError(
            f"cannot use {scaling} scaling: input {flat[0]!r} has no spread inside the mask "
            "(interquartile range 0); use standard scaling or none"
        )
    return ((data - centre) / spread).astype(np.float32)


def count_distinct_rows(features: np.ndarray, enough: int) -> int:
    """Number of distinct feature vectors, exact up to ``enough`` (counting stops there).

    Counts among the first rows, then among eight times as many, and so on: a few thousand
    rows usually suffice."""
    rows = np.ascontiguousarray(features).view(np.dtype((np.void, features.dtype.itemsize * features.shape[1])))[:, 0]
    stop = max(4 * enough, 1_024)
    while True:
        ordered = np.sort(rows[:stop])  # as np.unique does, without its import of numpy.ma
        distinct = int(ordered.size > 0) + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
        if distinct >= enough or stop >= rows.shape[0]:
            return distinct
        stop *= 8
