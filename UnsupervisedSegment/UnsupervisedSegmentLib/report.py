"""The lesson's diagnostic figure in one PNG.

Top: the first input at several axial slices with the label overlay. Middle: histograms of
the masked voxels of every input, stacked by cluster. Bottom: pair plots of the clustered
features (a subsample of voxels, coloured by cluster).

Drawn with matplotlib's Agg canvas directly (no pyplot), on a fixed layout; the histograms
are counted in one bincount pass per input and drawn as one filled step outline per cluster.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .pipeline import SegmentationResult

SLICES = 4
MAX_PAIRS = 6
PAIR_POINTS = 20_000
HISTOGRAM_BINS = 80
#: At most about this many ticks per axis (each tick costs matplotlib a few ms to build and draw).
TICKS = 4


def overlay_slices(mask: np.ndarray, count: int = SLICES) -> list[int]:
    """Indices of ``count`` axial slices spread over the part of the volume inside the mask."""
    per_slice = mask.sum(axis=(0, 1))
    occupied = np.flatnonzero(per_slice)
    if occupied.size == 0:
        return [mask.shape[2] // 2]
    picks = np.linspace(occupied[0], occupied[-1], count + 2)[1:-1]
    return sorted({int(round(k)) for k in picks})


def stacked_histogram(values: np.ndarray, rows: np.ndarray, n_rows: int, bins: int = HISTOGRAM_BINS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (even over [min, max]) and (n_rows, bins) counts of ``values`` per row index ``rows``."""
    low, high = float(values.min()), float(values.max())
    width = (high - low) / bins if high > low else 1.0
    index = ((values - low) * (1.0 / width)).astype(np.intp)
    np.minimum(index, bins - 1, out=index)
    index += rows * bins
    counts = np.bincount(index, minlength=n_rows * bins).reshape(n_rows, bins)
    return low + width * np.arange(bins + 1), counts


def save_report(result: SegmentationResult, path: str | Path, seed: int = 0) -> None:
    """Draw the diagnostics of ``result`` and save them as a PNG."""
    names = result.feature_names
    pairs = list(itertools.combinations(range(len(names)), 2))[:MAX_PAIRS]
    n_cols = max(SLICES, len(names), len(pairs), 1)
    n_rows = 3 if pairs else 2
    figure = Figure(figsize=(3.2 * n_cols, 3.2 * n_rows))
    FigureCanvasAgg(figure)
    layout = figure.add_gridspec(n_rows, n_cols)
    colours = [segment.color for segment in result.segments]
    label_colours = ListedColormap([(0, 0, 0, 0)] + [(*c, 0.5) for c in colours])
    first = result.channels[0].data
    for column, k in enumerate(overlay_slices(result.mask)):
        axis = figure.add_subplot(layout[0, column])
        axis.set_axis_off()
        axis.imshow(first[:, :, k].T, cmap="gray", origin="lower")
        axis.imshow(result.labels[:, :, k].T, cmap=label_colours, vmin=0, vmax=len(colours), origin="lower",
                    interpolation="nearest")
        axis.set_title(f"{result.channel_names[0]}, slice k={k}", fontsize=9)
    cluster = result.labels[result.mask]
    row_of_label = np.zeros(int(cluster.max()) + 1, dtype=np.intp)
    row_of_label[[s.label for s in result.segments]] = np.arange(len(result.segments))
    rows = row_of_label[cluster]
    for column, (values, name) in enumerate(zip(result.features.T, names)):
        axis = figure.add_subplot(layout[1, column])
        edges, counts = stacked_histogram(values, rows, len(result.segments))
        steps = np.repeat(edges, 2)[1:-1]
        bottom = np.zeros(len(steps))
        for segment, colour, count in zip(result.segments, colours, counts):
            top = bottom + np.repeat(count, 2)
            axis.fill_between(steps, bottom, top, color=colour, linewidth=0, label=segment.name)
            bottom = top
        axis.set_title(f"{name} (masked voxels)", fontsize=9)
        axis.tick_params(labelsize=7)
        axis.locator_params(nbins=TICKS)
        if column == 0:
            axis.legend(fontsize=7)
    if pairs:
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(cluster.size, size=min(PAIR_POINTS, cluster.size), replace=False))
        sample_rows = rows[take]
        for column, (a, b) in enumerate(pairs):
            axis = figure.add_subplot(layout[2, column])
            for index, colour in enumerate(colours):
                points = take[sample_rows == index]
                axis.plot(result.features[points, a], result.features[points, b], linestyle="", marker="o",
                          markersize=1, markeredgewidth=0, color=colour, alpha=0.4)
            axis.set_xlabel(names[a], fontsize=8)
            axis.set_ylabel(names[b], fontsize=8)
            axis.tick_params(labelsize=7)
            axis.locator_params(nbins=TICKS)
    figure.suptitle(_title(result), fontsize=11)
    figure.subplots_adjust(left=0.05, right=0.98, bottom=0.06, top=0.92, wspace=0.3, hspace=0.35)
    figure.savefig(str(path), dpi=80, format="png", pil_kwargs={"compress_level": 1})


def _title(result: SegmentationResult) -> str:
    """One line naming the method, k and the mask size."""
    model = result.model
    return f"{model.method.upper()}, k={model.n_clusters}, {result.mask_voxels} masked voxels"
