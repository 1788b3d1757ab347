"""What the cohort review page shows of one finished case, made by the batch worker as the case ends.

``thumbnail.png``: the axial slice through the largest lesion (its largest connected component;
without lesion finding, the largest segment) with every segment's outline in its colour, on
the first input, at most :data:`THUMBNAIL_SIZE` pixels a side (a few tens of kB).
``review.json``: the run's notes and warnings, and the fraction of the lesion's voxels on the
border of the mask (the review page flags a lesion mostly along the border: see :mod:`review`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..core.output_files import REVIEW_FILE, THUMBNAIL_FILE
from ..core.palette import LESION_NAME
from ..pipeline.segmentation import SegmentationResult

THUMBNAIL_SIZE = 220
MAX_THUMBNAIL_BYTES = 100_000


def focus_region(result: SegmentationResult) -> tuple[np.ndarray, str]:
    """The voxels the thumbnail is centred on, and what they are."""
    if result.lesion is not None and result.lesion.any():
        return largest_component(result.lesion), "largest lesion"
    counts = {segment: int(np.count_nonzero(result.labels == segment.label)) for segment in result.segments}
    largest = max(result.segments, key=counts.get)
    return result.labels == largest.label, f"largest segment ({largest.name})"


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest face-connected component of a boolean volume."""
    components, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(components.ravel())[1:]
    return components == 1 + int(np.argmax(sizes))


def fraction_on_mask_border(region: np.ndarray, mask: np.ndarray) -> float:
    """The fraction of the voxels of ``region`` on the border of ``mask`` (next to a voxel outside it, or the image edge)."""
    return float(np.count_nonzero(region & inner_border(mask)) / max(1, np.count_nonzero(region)))


def thumbnail_image(result: SegmentationResult, slice_index: int, size: int = THUMBNAIL_SIZE) -> Image.Image:
    """The axial slice ``slice_index`` of the first input, grey, cropped to the mask, at most ``size`` pixels a side.

    Drawn on it: the lesion's outline when there is a lesion, else every segment's, in its colour.
    """
    crop = mask_box(result.mask)
    grey = grey_levels(result.channels[0].data, result.mask)[:, :, slice_index][crop]
    labels = result.labels[:, :, slice_index][crop]
    spacing = result.grid.spacing
    extent = (labels.shape[0] * spacing[0], labels.shape[1] * spacing[1])
    width, height = (max(1, int(round(size * side / max(extent)))) for side in extent)
    rows = ((np.arange(height) + 0.5) * labels.shape[1] / height).astype(int)[::-1]  # j up, as report.png
    columns = ((np.arange(width) + 0.5) * labels.shape[0] / width).astype(int)
    screen_labels = labels.T[np.ix_(rows, columns)]
    picture = Image.fromarray(np.ascontiguousarray(grey.T[::-1])).resize((width, height), Image.BILINEAR)
    pixels = np.asarray(picture.convert("RGB")).copy()
    lesion = [s for s in result.segments if s.name == LESION_NAME] if result.lesion is not None else []
    for segment in lesion or result.segments:
        outline = inner_border(screen_labels == segment.label)
        if lesion:
            outline = ndimage.binary_dilation(outline)
        pixels[outline] = np.round(np.asarray(segment.color) * 255).astype(np.uint8)
    return Image.fromarray(pixels)


def mask_box(mask: np.ndarray, margin: float = 0.05) -> tuple[slice, slice]:
    """The (i, j) box around the mask's voxels of every slice, widened by ``margin`` of its size."""
    seen = mask.any(axis=2)
    if not seen.any():
        return slice(None), slice(None)
    box = []
    for axis in (1, 0):
        occupied = np.flatnonzero(seen.any(axis=axis))
        pad = int(np.ceil(margin * (occupied[-1] - occupied[0] + 1)))
        box.append(slice(max(0, occupied[0] - pad), occupied[-1] + 1 + pad))
    return box[0], box[1]


def grey_levels(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The volume as 0..255, windowed to the 1st..99th percentile of its masked voxels."""
    inside = volume[mask] if mask.any() else volume.ravel()
    low, high = np.percentile(inside, [1, 99]) if inside.size else (0.0, 1.0)
    scaled = (np.nan_to_num(volume) - low) / max(float(high - low), 1e-6)
    return np.clip(scaled * 255, 0, 255).astype(np.uint8)


def inner_border(region: np.ndarray) -> np.ndarray:
    """The voxels (pixels) of a boolean region with a face neighbour outside it or beyond the image's edge."""
    return region & ~ndimage.binary_erosion(region, border_value=0)


def png_bytes(image: Image.Image, limit: int = MAX_THUMBNAIL_BYTES) -> bytes:
    """The image as PNG, reduced to a 256-colour palette when the full-colour file is over ``limit`` bytes."""
    for candidate in (image, image.quantize(colors=256)):
        stream = io.BytesIO()
        candidate.save(stream, format="PNG", optimize=True)
        if stream.tell() <= limit:
            break
    return stream.getvalue()


def write_case_review(result: SegmentationResult, messages: Sequence[str], directory: str | Path) -> None:
    """Write ``thumbnail.png`` and ``review.json`` of a finished run into ``directory``.

    ``messages`` are the run's ``note: ...`` and ``warning: ...`` lines (:class:`runner.RunOutcome`).
    """
    directory = Path(directory)
    region, focus = focus_region(result)
    slice_index = int(np.argmax(np.count_nonzero(region, axis=(0, 1))))
    (directory / THUMBNAIL_FILE).write_bytes(png_bytes(thumbnail_image(result, slice_index)))
    facts = {
        "notes": [m.split(": ", 1)[1] for m in messages if m.startswith("note: ")],
        "warnings": [m.split(": ", 1)[1] for m in messages if m.startswith("warning: ")],
        "focus": focus,
        "slice": slice_index,
        "lesion_fraction_on_mask_border": (None if result.lesion is None
                                           else round(fraction_on_mask_border(result.lesion, result.mask), 4)),
    }
    (directory / REVIEW_FILE).write_text(json.dumps(facts, indent=1), encoding="utf-8")
