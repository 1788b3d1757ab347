"""What the cohort review page shows of one finished case, made by the batch worker as the case ends.

``thumbnail.png``: the axial slice through the largest lesion (its largest connected component;
without lesion finding, the largest segment) with every segment's outline in its colour, on
the first input, at most :data:`THUMBNAIL_WIDTH` pixels wide (a few tens of kB).
``review.json``: the run's notes and warnings and whether the lesion touches the mask border.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from .pipeline import SegmentationResult

THUMBNAIL_FILE = "thumbnail.png"
REVIEW_FILE = "review.json"
THUMBNAIL_WIDTH = 240
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


def touches_mask_border(region: np.ndarray, mask: np.ndarray) -> bool:
    """True when a voxel of ``region`` lies on the border of ``mask`` (next to a voxel outside it, or the image edge)."""
    border = mask & ~ndimage.binary_erosion(mask, border_value=0)
    return bool(np.any(region & border))


def thumbnail_image(result: SegmentationResult, slice_index: int, width: int = THUMBNAIL_WIDTH) -> Image.Image:
    """The axial slice ``slice_index`` of the first input, grey, with each segment's outline, ``width`` pixels wide."""
    grey = _grey_levels(result.channels[0].data, result.mask)[:, :, slice_index]
    labels = result.labels[:, :, slice_index]
    spacing = result.grid.spacing
    height = max(1, int(round(width * labels.shape[1] * spacing[1] / (labels.shape[0] * spacing[0]))))
    rows = ((np.arange(height) + 0.5) * labels.shape[1] / height).astype(int)[::-1]  # j up, as report.png
    columns = ((np.arange(width) + 0.5) * labels.shape[0] / width).astype(int)
    screen_labels = labels.T[np.ix_(rows, columns)]
    picture = Image.fromarray(grey.T[::-1]).resize((width, height), Image.BILINEAR).convert("RGB")
    pixels = np.asarray(picture).copy()
    outline = _outline(screen_labels)
    for segment in result.segments:
        pixels[outline & (screen_labels == segment.label)] = np.round(np.asarray(segment.color) * 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _grey_levels(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The volume as 0..255, windowed to the 1st..99th percentile of its masked voxels."""
    inside = volume[mask] if mask.any() else volume.ravel()
    low, high = np.percentile(inside, [1, 99]) if inside.size else (0.0, 1.0)
    scaled = (np.nan_to_num(volume) - low) / max(float(high - low), 1e-6)
    return np.clip(scaled * 255, 0, 255).astype(np.uint8)


def _outline(labels: np.ndarray) -> np.ndarray:
    """Pixels of a non-zero label with a 4-neighbour of another label."""
    padded = np.pad(labels, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = ((centre != padded[:-2, 1:-1]) | (centre != padded[2:, 1:-1])
               | (centre != padded[1:-1, :-2]) | (centre != padded[1:-1, 2:]))
    return differs & (centre > 0)


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
        "lesion_touches_mask_border": None if result.lesion is None else touches_mask_border(result.lesion, result.mask),
    }
    (directory / REVIEW_FILE).write_text(json.dumps(facts, indent=1), encoding="utf-8")
