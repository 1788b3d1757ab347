"""The report figure of a 2D result: the picture upright and in colour, its quantised version and the segments."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ..pipeline.segmentation import SegmentationResult  # noqa: E402
from .planar import area_rows, as_stored_picture, original_picture, picture_values, segment_colours, upright  # noqa: E402


def displayable(result: SegmentationResult, values: np.ndarray) -> np.ndarray:
    """Picture values as matplotlib's 0..1 floats, on the scale of the stored pictures."""
    stored = as_stored_picture(result, values)
    return stored / float(np.iinfo(stored.dtype).max)


def save_picture_report(result: SegmentationResult, path: str | Path) -> None:
    """Draw the input, the quantised picture and the segments side by side and save them as a PNG."""
    source = result.channels[0].source
    pictures = [
        (Path(source).name if source else result.channel_names[0], displayable(result, original_picture(result))),
        (f"quantised: {result.n_clusters} clusters' mean colours", displayable(result, picture_values(result, result.quantised))),
        ("segments", segment_colours(result)[upright(result.labels[:, :, 0], result.grid)]),
    ]
    rows, columns = pictures[0][1].shape[:2]
    width = 3 * 4.0
    figure, axes = plt.subplots(1, 3, figsize=(width, width / 3 * rows / columns + 1.4), squeeze=False)
    for axis, (title, picture) in zip(axes[0], pictures):
        axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1 if picture.ndim == 2 else None,
                    interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.set_axis_off()
    table = area_rows(result)
    key, unit = ("area_mm2", "mm²") if "area_mm2" in table[0] else ("pixels", "pixels")
    legend = [Patch(color=segment.color, label=f"{row['segment']}: {float(row[key]):.1f} {unit}" if unit == "mm²"
                    else f"{row['segment']}: {row[key]} {unit}")
              for segment, row in zip(result.segments, table)]
    axes[0][2].legend(handles=legend, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False)
    model = result.model
    figure.suptitle(f"{model.method.upper()}, k={model.n_clusters}, {result.mask_voxels} pixels clustered", fontsize=11)
    figure.tight_layout()
    figure.savefig(str(path), dpi=80, format="png")
    plt.close(figure)
