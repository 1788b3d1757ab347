"""Per-segment statistics: voxel count, volume, and intensity mean and spread per input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.parallel import parallel, shares
from ..core.volume import MM3_PER_ML, Channel, masked_rows

#: Labelled voxels per bincount call: the float64 buffers stay small (2 MB) for any image.
CHUNK_ROWS = 1 << 18


def statistics_columns(channel_names: Sequence[str]) -> list[str]:
    """Column names of the statistics table, in order."""
    columns = ["segment", "label", "voxels", "volume_mm3", "volume_ml"]
    for name in channel_names:
        columns += [f"mean_{name}", f"std_{name}"]
    return columns


def segment_statistics(
    labels: np.ndarray, names: dict[int, str], channels: Sequence[Channel], voxel_volume_mm3: float,
    inside_values: np.ndarray | None = None, inside_labels: np.ndarray | None = None,
) -> list[dict[str, object]]:
    """One row per label in ``names`` (label -> segment name): counts, volumes, means, stds.

    Two bincount passes per channel over the labelled voxels only (labels > 0, unless label 0
    is asked for), float64 sums, the channels spread over the cores. When the caller has them,
    ``inside_values`` (the feature matrix: the channels' values at the voxels with labels > 0
    in :func:`volume.masked_rows` order, one column per channel) and ``inside_labels`` (the
    labels there) save reading every volume again.
    """
    n_labels = max(names) + 1  # labels above it (not asked for) are not counted
    if inside_labels is not None and min(names) == 0:
        raise ValueError("inside_labels hold the labelled voxels only: label 0 cannot be counted from them")
    if inside_labels is None or inside_values is None:
        inside = labels > 0 if min(names) > 0 else np.ones(labels.shape, dtype=bool)
        inside_labels = masked_rows(labels, inside) if inside_labels is None else inside_labels
    counts = np.bincount(inside_labels, minlength=n_labels)
    if inside_values is not None and inside_values.shape != (len(inside_labels), len(channels)):
        raise ValueError("inside_values must hold one row per labelled voxel and one column per channel")
    found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    n_rows = len(inside_labels)

    def moments_of(group: Sequence[int]) -> None:
        """Per-label sums and sums of squares of the channels ``group``, CHUNK_ROWS rows at a time
        through two small float64 buffers."""
        values, squares = np.empty(min(CHUNK_ROWS, n_rows)), np.empty(min(CHUNK_ROWS, n_rows))
        for column in group:
            source = masked_rows(channels[column].data, inside) if inside_values is None else inside_values[:, column]
            sums, sums_of_squares = np.zeros(n_labels), np.zeros(n_labels)
            for start in range(0, n_rows, CHUNK_ROWS):
                part_labels = inside_labels[start:start + CHUNK_ROWS]
                part = values[:len(part_labels)]
                np.copyto(part, source[start:start + CHUNK_ROWS])
                if not np.isfinite(part.sum()):
                    np.nan_to_num(part, nan=0.0, posinf=0.0, neginf=0.0, copy=False)
                sums += np.bincount(part_labels, weights=part, minlength=n_labels)[:n_labels]
                sums_of_squares += np.bincount(part_labels, weights=np.square(part, out=squares[:len(part)]),
                                               minlength=n_labels)[:n_labels]
            found[column] = (sums, sums_of_squares)

    parallel(moments_of, shares(range(len(channels))))  # bincount releases the GIL
    moments = {channel.name: found[column] for column, channel in enumerate(channels)}
    rows = []
    for label, name in names.items():
        count = int(counts[label])
        row: dict[str, object] = {
            "segment": name,
            "label": label,
            "voxels": count,
            "volume_mm3": count * voxel_volume_mm3,
            "volume_ml": count * voxel_volume_mm3 / MM3_PER_ML,
        }
        for channel_name, (sums, squares) in moments.items():
            mean = sums[label] / count if count else float("nan")
            variance = max(squares[label] / count - mean * mean, 0.0) if count else float("nan")
            row[f"mean_{channel_name}"] = float(mean)
            row[f"std_{channel_name}"] = float(np.sqrt(variance))
        rows.append(row)
    return rows
