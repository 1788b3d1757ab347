"""The lesson's diagnostic figure in one PNG.

Top: the first input at several axial slices with the label overlay. Middle: histograms of
the masked voxels of every input, stacked by cluster. Bottom: pair plots of the clustered
features (a subsample of voxels, coloured by cluster).

Drawn on the small raster canvas of :mod:`raster` (numpy and Pillow; no matplotlib), on a
fixed layout of 256-pixel panels; the histograms are counted in one bincount pass per input.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..core.parallel import parallel
from ..core.volume import masked_rows
from ..pipeline.segmentation import SegmentationResult
from .planar import upright
from .raster import Axes, Canvas, grid_boxes
from .thumbnail import grey_levels, inner_border, mask_box

SLICES = 4
MAX_PAIRS = 6
PAIR_POINTS = 20_000
HISTOGRAM_BINS = 80
#: Pixels a side of one panel (matplotlib's 3.2 inches at 80 dots per inch, as before).
PANEL = 256
#: Figure fractions left, right, bottom, top of the panel grid, and the gaps between panels.
MARGINS = (0.05, 0.98, 0.06, 0.92)
WSPACE, HSPACE = 0.3, 0.35
#: Opacity of the label overlay's fill (each segment is also outlined) and of the pair plots' points.
OVERLAY_ALPHA, POINT_ALPHA = 0.3, 0.4


def overlay_slices(mask: np.ndarray, count: int = SLICES) -> list[int]:
    """Indices of ``count`` axial slices spread over the part of the volume inside the mask."""
    per_slice = mask.sum(axis=(0, 1))
    occupied = np.flatnonzero(per_slice)
    if occupied.size == 0:
        return [mask.shape[2] // 2]
    picks = np.linspace(occupied[0], occupied[-1], count + 2)[1:-1]
    return sorted({int(round(k)) for k in picks})


class StackedHistograms:
    """Per-row histograms of feature columns, counted by one bincount per column into buffers
    reused from column to column (fresh memory costs a new process page faults)."""

    def __init__(self, rows: np.ndarray, n_rows: int, bins: int = HISTOGRAM_BINS) -> None:
        self.n_rows, self.bins = n_rows, bins
        self.row_offsets = rows * bins
        self.scaled = np.empty(len(rows), dtype=np.float32)
        self.index = np.empty(len(rows), dtype=np.intp)

    def __call__(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bin edges (even over [min, max]) and (n_rows, bins) counts of ``values``."""
        low, high = float(values.min()), float(values.max())
        width = (high - low) / self.bins if high > low else 1.0
        np.subtract(values, np.float32(low), out=self.scaled)
        self.scaled *= np.float32(1.0 / width)
        np.copyto(self.index, self.scaled, casting="unsafe")  # truncation: the bin
        np.minimum(self.index, self.bins - 1, out=self.index)
        self.index += self.row_offsets
        counts = np.bincount(self.index, minlength=self.n_rows * self.bins).reshape(self.n_rows, self.bins)
        return low + width * np.arange(self.bins + 1), counts


def save_report(result: SegmentationResult, path: str | Path, seed: int = 0) -> None:
    """Draw the diagnostics of ``result`` and save them as a PNG."""
    names = result.feature_names
    pairs = list(itertools.combinations(range(len(names)), 2))[:MAX_PAIRS]
    n_cols = max(SLICES, len(names), len(pairs), 1)
    n_rows = 3 if pairs else 2
    canvas = Canvas(PANEL * n_cols, PANEL * n_rows)
    boxes = grid_boxes(canvas.pixels.shape[1], canvas.pixels.shape[0], n_rows, n_cols, MARGINS, WSPACE, HSPACE)
    colours = [segment.color for segment in result.segments]
    cluster = masked_rows(result.labels, result.mask)
    row_of_label = np.zeros(max([int(cluster.max()), *(s.label for s in result.segments)]) + 1, dtype=np.intp)
    row_of_label[[s.label for s in result.segments]] = np.arange(len(result.segments))
    rows = row_of_label[cluster]

    def draw_histograms() -> None:
        histograms = StackedHistograms(rows, len(result.segments))
        for column, (values, name) in enumerate(zip(result.features.T, names)):
            edges, counts = histograms(values)
            top = float(counts.sum(axis=0).max())
            axes = Axes(canvas, boxes[1][column], _padded(edges[0], edges[-1]), (0.0, 1.05 * top))
            axes.stacked_steps(edges, counts, colours)
            axes.frame(title=f"{name} (masked voxels)")
            if column == 0:
                axes.legend([segment.name for segment in result.segments], colours)

    def draw_slices_and_pairs() -> None:
        _draw_slices(canvas, boxes[0], result, colours)
        if pairs:
            _draw_pairs(canvas, boxes[2], result, pairs, rows, colours, seed)

    parallel(lambda draw: draw(), [draw_histograms, draw_slices_and_pairs])  # disjoint panels, two cores
    canvas.text((canvas.pixels.shape[1] / 2, 0.04 * canvas.pixels.shape[0]), _title(result), 12)
    canvas.save_png(path)


def _draw_slices(canvas: Canvas, boxes: list, result: SegmentationResult, colours: list) -> None:
    """The first input's axial slices, one per panel of the row, cropped to the mask, upright as Slicer shows
    them (grey windowed to the masked voxels' 1st-99th percentile), each segment lightly filled and outlined."""
    grey = grey_levels(result.channels[0].data, result.mask).astype(np.float32) / 255.0
    crop = mask_box(result.mask)
    palette = np.asarray([(0.0, 0.0, 0.0)] + [tuple(c[:3]) for c in colours], dtype=np.float32)
    for box, k in zip(boxes, overlay_slices(result.mask, len(boxes))):
        plane = upright(grey[:, :, k][crop], result.grid)
        labels = upright(result.labels[:, :, k][crop], result.grid)
        rgb = np.repeat(plane[:, :, None], 3, axis=2)
        labelled = labels > 0
        colour = palette[np.minimum(labels, len(colours))]
        rgb[labelled] += OVERLAY_ALPHA * (colour[labelled] - rgb[labelled])
        for label in np.unique(labels[labelled]):
            edge = inner_border(labels == label)
            rgb[edge] = colour[edge]
        placed = canvas.picture(rgb, box)
        canvas.text(((box.left + box.right) / 2, placed.top - 4), f"{result.channel_names[0]}, slice k={k}", 9, "mb")


def _draw_pairs(canvas: Canvas, boxes: list, result: SegmentationResult, pairs: list, rows: np.ndarray,
                colours: list, seed: int) -> None:
    """Scatter plots of feature pairs for a bounded random sample of the voxels, coloured by cluster."""
    names = result.feature_names
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(rows.size, size=min(PAIR_POINTS, rows.size), replace=False))
    sample_rows = rows[take]
    for box, (a, b) in zip(boxes, pairs):
        x, y = result.features[take, a], result.features[take, b]
        axes = Axes(canvas, box, _padded(x.min(), x.max()), _padded(y.min(), y.max()))
        for index, colour in enumerate(colours):
            chosen = sample_rows == index
            axes.scatter(x[chosen], y[chosen], colour, POINT_ALPHA)
        axes.frame(xlabel=names[a], ylabel=names[b])


def _padded(low: float, high: float) -> tuple[float, float]:
    """Axis limits with 5 % of the range added on each side."""
    margin = 0.05 * (high - low) if high > low else 0.5
    return float(low) - margin, float(high) + margin


def _title(result: SegmentationResult) -> str:
    """One line naming the method, k and the mask size."""
    model = result.model
    return f"{model.method.upper()}, k={model.n_clusters}, {result.mask_voxels} masked voxels"
