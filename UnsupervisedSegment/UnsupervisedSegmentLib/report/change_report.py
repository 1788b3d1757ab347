"""report.png of a comparison of two visits: the slices with the most change, baseline and registered
follow-up side by side, the new or enlarging lesion voxels outlined in red and the shrinking or resolved
ones in blue, on both visits (drawn on the raster canvas, no matplotlib)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..change.visits import CHANGE_SEGMENTS, NEW, SHRINKING, STABLE, VisitComparison
from ..core.output_files import REVIEW_FILE, THUMBNAIL_FILE
from ..core.volume import MM3_PER_ML, Grid
from .planar import upright
from .raster import Canvas, grid_boxes
from .thumbnail import THUMBNAIL_SIZE, inner_border, png_bytes

SLICES = 3
PANEL = 320
MARGINS = (0.02, 0.98, 0.03, 0.90)
LOW_HIGH_PERCENTILES = (1.0, 99.5)


def slices_with_most_change(labels: np.ndarray, count: int = SLICES) -> list[int]:
    """The ``count`` axial slices (k) holding the most changed voxels, in order; the middle slice when none changed."""
    changed = np.count_nonzero((labels == NEW) | (labels == SHRINKING), axis=(0, 1))
    if not changed.any():
        return [labels.shape[2] // 2]
    ranked = [int(k) for k in np.argsort(-changed, kind="stable") if changed[k] > 0][:count]
    return sorted(ranked)


def slice_picture(values: np.ndarray, labels: np.ndarray, k: int, grid: Grid, window: tuple[float, float]) -> np.ndarray:
    """A grey slice (rows, columns, 3 in 0..1) with the change outlined and the stable lesion faintly tinted."""
    low, high = window
    grey = np.clip((values[:, :, k] - low) / max(high - low, 1e-6), 0, 1)
    rgb = np.repeat(upright(grey, grid)[..., None], 3, axis=2)
    plane = upright(labels[:, :, k], grid)
    for segment in CHANGE_SEGMENTS:
        if segment.label == STABLE:
            tint = plane == STABLE
            rgb[tint] = 0.7 * rgb[tint] + 0.3 * np.asarray(segment.color)
        else:
            rgb[inner_border(plane == segment.label)] = segment.color
    return rgb


def display_window(data: np.ndarray) -> tuple[float, float]:
    """The grey window of a channel: the LOW_HIGH_PERCENTILES of its non-zero voxels ((0, 1) when it has none)."""
    inside = data[data > 0]
    return tuple(np.percentile(inside, LOW_HIGH_PERCENTILES)) if inside.size else (0.0, 1.0)


def save_change_report(comparison: VisitComparison, path: str | Path) -> None:
    """Draw the slices with the most change, both visits side by side, and save them as a PNG."""
    picks = slices_with_most_change(comparison.labels)
    canvas = Canvas(2 * PANEL, PANEL * len(picks) + PANEL // 4)
    boxes = grid_boxes(canvas.pixels.shape[1], canvas.pixels.shape[0], len(picks), 2, MARGINS, 0.02, 0.08)
    ml = comparison.grid.voxel_volume_mm3 / MM3_PER_ML
    visits = [(np.asarray(channel.data), display_window(np.asarray(channel.data)))
              for channel in (comparison.baseline, comparison.registered_follow_up)]
    for row, k in enumerate(picks):
        new = np.count_nonzero(comparison.labels[:, :, k] == NEW) * ml
        gone = np.count_nonzero(comparison.labels[:, :, k] == SHRINKING) * ml
        titles = (f"baseline, slice {k}", f"follow-up (registered): +{new:.2f} mL, -{gone:.2f} mL")
        for box, (data, window), title in zip(boxes[row], visits, titles):
            canvas.picture(slice_picture(data, comparison.labels, k, comparison.grid, window), box)
            canvas.text(((box.left + box.right) / 2, box.top - 8), title, 11)
    canvas.text((canvas.pixels.shape[1] / 2, 14), f"Lesion change: {comparison.volume_ml(NEW):.2f} mL new or enlarging "
                f"(red), {comparison.volume_ml(SHRINKING):.2f} mL shrinking or resolved (blue), stable lesion tinted", 13)
    canvas.save_png(path)


def write_comparison_review(comparison: VisitComparison, messages: Sequence[str], directory: str | Path) -> None:
    """thumbnail.png (the registered follow-up at the slice with the most change, the change outlined) and
    review.json of a compared visit pair, for the batch's review page."""
    directory = Path(directory)
    k = slices_with_most_change(comparison.labels, 1)[0]
    data = np.asarray(comparison.registered_follow_up.data)
    rgb = slice_picture(data, comparison.labels, k, comparison.grid, display_window(data))
    picture = Image.fromarray(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
    picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    (directory / THUMBNAIL_FILE).write_bytes(png_bytes(picture))
    counts = ", ".join(f"{count} {name}" for name, count in comparison.lesion_counts().items())
    facts = {"notes": [f"lesions: {counts}" if comparison.lesions else "no lesion at either visit",
                       *(m.split(": ", 1)[1] for m in messages if m.startswith("note: "))],
             "warnings": [m.split(": ", 1)[1] for m in messages if m.startswith("warning: ")],
             "focus": "lesion change", "slice": k, "lesion_fraction_on_mask_border": None}
    (directory / REVIEW_FILE).write_text(json.dumps(facts, indent=1), encoding="utf-8")
