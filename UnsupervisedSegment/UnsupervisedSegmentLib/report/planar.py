"""2D inputs (photos, 2D slices): pictures a person can open, upright, and areas instead of volumes.

A result is *planar* when its grid has a single slice. Besides the NIfTI and .seg.nrrd files
(for Slicer) it gets ``labels.png`` (the label values), ``segmentation.png`` (the labels in
their segment colours) and, with ``--quantised``, ``quantised.png``: the first input with every
pixel set to its cluster's mean colour, in the input's colour space (grey or RGB) and pixel
type (8 or 16 bit). When that input is a JPEG, TIFF or BMP picture, the quantised picture is
also written in its format (``quantised.jpg``...); the PNG keeps the exact cluster colours,
which JPEG compression blurs.

*Upright* follows the viewing conventions: a picture as any viewer shows it (first row on
top), a medical slice as Slicer shows it (axial: anterior up and the patient's right on the
left; coronal and sagittal: superior up).

Areas: pixels, plus mm² when the file records a physical pixel size (a picture whose reader
gives a pixel spacing of exactly 1 has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.grid import LPS_TO_RAS
from ..core.lazy import lazy_module
from ..core.output_files import LABELS_PICTURE, QUANTISED_PICTURE, SEGMENTATION_PICTURE
from ..core.volume import Channel, Grid
from ..io.image_files import PICTURE_SUFFIXES
from ..pipeline.segmentation import SegmentationResult

sitk = lazy_module("SimpleITK")

#: Pixel types (SimpleITK names) of picture files kept in the quantised picture (others are
#: written as 8-bit); names, so that importing this module does not load SimpleITK.
PICTURE_TYPES = {"sitkUInt8": np.uint8, "sitkVectorUInt8": np.uint8, "sitkUInt16": np.uint16,
                 "sitkVectorUInt16": np.uint16}


def is_planar(grid: Grid) -> bool:
    """True for a single-slice grid (a photo or a 2D slice)."""
    return grid.shape[2] == 1


def upright(plane: np.ndarray, grid: Grid) -> np.ndarray:
    """An (i, j[, c]) slice on ``grid`` as a (rows, columns[, c]) picture, upright (see the module docstring)."""
    lps = (LPS_TO_RAS @ grid.affine)[:3, :2]
    world_axis = np.abs(lps).argmax(axis=0)  # for i and j: x (L), y (P) or z (S)
    sign = np.sign(lps[world_axis, [0, 1]])
    if world_axis[1] < world_axis[0]:  # the horizontal axis is the one along the earlier world axis
        plane, world_axis, sign = plane.swapaxes(0, 1), world_axis[::-1], sign[::-1]
    if sign[0] < 0:  # left to right: towards L (x) or P (y)
        plane = plane[::-1]
    downwards = 1 if world_axis[1] < 2 else -1  # top to bottom: towards P (y), or inferior (z)
    if sign[1] != downwards:
        plane = plane[:, ::-1]
    return np.ascontiguousarray(plane.swapaxes(0, 1))


def first_input_channels(result: SegmentationResult) -> list[Channel]:
    """The channels read from the first input file: one (grey) or its colours."""
    source = result.channels[0].source
    return [channel for channel in result.channels if channel.source == source] if source else result.channels[:1]


def picture_file(result: SegmentationResult) -> Path | None:
    """The first input when it is a picture file (PNG, JPEG, TIFF, BMP), else None."""
    source = Path(result.channels[0].source)
    return source if source.name.lower().endswith(PICTURE_SUFFIXES) and source.is_file() else None


def pixel_area_mm2(result: SegmentationResult) -> float | None:
    """Area of one pixel in mm², or None when the input records no physical pixel size."""
    spacing = result.grid.spacing[:2]
    if picture_file(result) is not None and spacing == (1.0, 1.0):
        return None
    return float(spacing[0] * spacing[1])


def area_columns(channel_names: Sequence[str], physical: bool) -> list[str]:
    """Columns of the statistics of a planar result."""
    columns = ["segment", "label", "pixels"] + (["area_mm2"] if physical else [])
    for name in channel_names:
        columns += [f"mean_{name}", f"std_{name}"]
    return columns


def area_rows(result: SegmentationResult) -> list[dict[str, object]]:
    """The per-segment statistics with pixel counts and areas (mm², when known) instead of volumes."""
    area = pixel_area_mm2(result)
    columns = area_columns(result.channel_names, area is not None)
    rows = []
    for row in result.statistics:
        sizes = {"pixels": row["voxels"], "area_mm2": int(row["voxels"]) * area if area is not None else None}
        rows.append({column: sizes[column] if column in sizes else row[column] for column in columns})
    return rows


def picture_values(result: SegmentationResult, volume: np.ndarray) -> np.ndarray:
    """The first input's channels of an (i, j, 1, channel) volume as an upright (rows, columns[, 3]) picture."""
    count = len(first_input_channels(result))
    plane = volume[:, :, 0, :count]
    return upright(plane[..., 0] if count == 1 else plane, result.grid)


def original_picture(result: SegmentationResult) -> np.ndarray:
    """The first input (grey or colour) upright, as float values."""
    stacked = np.stack([channel.data for channel in first_input_channels(result)], axis=-1)
    return picture_values(result, stacked)


def picture_dtype(result: SegmentationResult) -> type | None:
    """numpy pixel type of the first input's picture file (8 or 16 bit), None for other inputs."""
    path = picture_file(result)
    if path is None:
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    pixel = reader.GetPixelID()
    return next((dtype for name, dtype in PICTURE_TYPES.items() if getattr(sitk, name) == pixel), None)


def as_stored_picture(result: SegmentationResult, values: np.ndarray) -> np.ndarray:
    """Picture values in the first input's pixel type; an 8-bit window over its range for other inputs."""
    dtype = picture_dtype(result)
    if dtype is not None:
        return np.clip(np.rint(values), 0, np.iinfo(dtype).max).astype(dtype)
    original = original_picture(result)
    finite = original[np.isfinite(original)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low if high > low else 1.0)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def segment_colours(result: SegmentationResult) -> np.ndarray:
    """(labels, 3) uint8 colour of each label value; black for 0 and unused values."""
    table = np.zeros((int(result.labels.max()) + 1, 3), dtype=np.uint8)
    for segment in result.segments:
        if segment.label < len(table):
            table[segment.label] = np.rint(np.asarray(segment.color) * 255)
    return table


def write_picture(picture: np.ndarray, path: Path) -> None:
    """A (rows, columns[, c]) integer array as a picture file (format from the suffix)."""
    image = sitk.GetImageFromArray(picture, isVector=picture.ndim == 3)
    sitk.WriteImage(image, str(path))


def write_planar_pictures(result: SegmentationResult, directory: Path, quantised: bool = False) -> None:
    """Write labels.png, segmentation.png and, when asked, the quantised picture(s) into ``directory``."""
    labels = upright(result.labels[:, :, 0], result.grid)
    write_picture(labels, directory / LABELS_PICTURE)
    write_picture(segment_colours(result)[labels], directory / SEGMENTATION_PICTURE)
    if not quantised:
        return
    picture = as_stored_picture(result, picture_values(result, result.quantised))
    write_picture(picture, directory / QUANTISED_PICTURE)
    source = picture_file(result)
    if source is not None and source.suffix.lower() != ".png":
        write_picture(picture, directory / f"quantised{source.suffix.lower()}")
