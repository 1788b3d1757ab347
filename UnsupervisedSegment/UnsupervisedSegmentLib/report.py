"""The lesson's diagnostic figure in one PNG.

Top: the first input at several axial slices with the label overlay. Middle: histograms of
the masked voxels of every input, stacked by cluster. Bottom: pair plots of the clustered
features (a subsample of voxels, coloured by cluster).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from .pipeline import SegmentationResult  # noqa: E402

SLICES = 4
MAX_PAIRS = 6
PAIR_POINTS = 20_000


def overlay_slices(mask: np.ndarray, count: int = SLICES) -> list[int]:
    """Indices of ``count`` axial slices spread over the part of the volume inside the mask."""
    per_slice = mask.sum(axis=(0, 1))
    occupied = np.flatnonzero(per_slice)
    if occupied.size == 0:
        return [mask.shape[2] // 2]
    picks = np.linspace(occupied[0], occupied[-1], count + 2)[1:-1]
    return sorted({int(round(k)) for k in picks})


def save_report(result: SegmentationResult, path: str | Path, seed: int = 0) -> None:
    """Draw the diagnostics of ``result`` and save them as a PNG."""
    names = result.feature_names
    pairs = list(itertools.combinations(range(len(names)), 2))[:MAX_PAIRS]
    n_cols = max(SLICES, len(names), len(pairs), 1)
    n_rows = 3 if pairs else 2
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for axis in axes.ravel():
        axis.set_axis_off()
    colours = [segment.color for segment in result.segments]
    label_colours = ListedColormap([(0, 0, 0, 0)] + [(*c, 0.5) for c in colours])
    first = result.channels[0].data
    for axis, k in zip(axes[0], overlay_slices(result.mask)):
        axis.imshow(first[:, :, k].T, cmap="gray", origin="lower")
        axis.imshow(result.labels[:, :, k].T, cmap=label_colours, vmin=0, vmax=len(colours), origin="lower",
                    interpolation="nearest")
        axis.set_title(f"{result.channel_names[0]}, slice k={k}", fontsize=9)
    cluster = result.labels[result.mask]
    for axis, column, name in zip(axes[1], result.features.T, names):
        axis.set_axis_on()
        axis.hist([column[cluster == s.label] for s in result.segments], bins=80, stacked=True, color=colours,
                  label=[s.name for s in result.segments])
        axis.set_title(f"{name} (masked voxels)", fontsize=9)
        axis.tick_params(labelsize=7)
    axes[1][0].legend(fontsize=7)
    if pairs:
        rng = np.random.default_rng(seed)
        take = rng.choice(cluster.size, size=min(PAIR_POINTS, cluster.size), replace=False)
        point_colours = np.asarray(colours)[cluster[take] - 1]
        for axis, (a, b) in zip(axes[2], pairs):
            axis.set_axis_on()
            axis.scatter(result.features[take, a], result.features[take, b], s=1, c=point_colours, alpha=0.4,
                         linewidths=0)
            axis.set_xlabel(names[a], fontsize=8)
            axis.set_ylabel(names[b], fontsize=8)
            axis.tick_params(labelsize=7)
    figure.suptitle(_title(result), fontsize=11)
    figure.tight_layout()
    figure.savefig(str(path), dpi=80, format="png")
    plt.close(figure)


def _title(result: SegmentationResult) -> str:
    """One line naming the method, k and the mask size."""
    model = result.model
    return f"{model.method.upper()}, k={model.n_clusters}, {result.mask_voxels} masked voxels"
