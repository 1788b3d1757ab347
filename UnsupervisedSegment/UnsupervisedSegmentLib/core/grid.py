"""Putting several inputs on one voxel grid: overlap check and resampling; a volume as an ITK image."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .errors import UserInputError
from .lazy import lazy_module
from .volume import Channel, Grid, new_volume

ndimage = lazy_module("scipy.ndimage")  # only for resampling
sitk = lazy_module("SimpleITK")  # only for ITK images

#: RAS (Slicer, NIfTI) to LPS (ITK, DICOM, NRRD) physical coordinates, and back.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def index_transform(source: Grid, target: Grid) -> np.ndarray:
    """4x4 matrix mapping ``target`` voxel indices to ``source`` voxel indices."""
    return np.linalg.inv(source.affine) @ target.affine


def overlaps(source: Grid, target: Grid) -> bool:
    """True when the two grids' fields of view share some physical space."""
    to_target = np.linalg.inv(index_transform(source, target))
    corners = np.array(
        [[*(c - 0.5 for c in corner), 1.0] for corner in itertools.product(*[(0, n) for n in source.shape])]
    )
    in_target = (to_target @ corners.T).T[:, :3]
    low, high = in_target.min(axis=0), in_target.max(axis=0)
    return bool(np.all(high > -0.5) and np.all(low < np.asarray(target.shape) - 0.5))


def resample(data: np.ndarray, source: Grid, target: Grid, order: int = 1, fill: float = np.nan) -> np.ndarray:
    """Resample an (i, j, k) array from ``source`` onto ``target`` (linear by default).

    Target voxels outside the source's field of view get ``fill`` (NaN: excluded from masks).
    """
    matrix = index_transform(source, target)
    output = new_volume(target.shape, np.float32)
    ndimage.affine_transform(
        np.asarray(data, dtype=np.float32),
        matrix[:3, :3],
        offset=matrix[:3, 3],
        output=output,
        order=order,
        mode="constant",
        cval=fill,
    )
    return output


def align_channels(channels: list[Channel]) -> tuple[list[Channel], list[str]]:
    """Put every channel on the first channel's grid; return them and what was done.

    Channels on another grid that overlaps the first are resampled linearly; a channel
    whose field of view does not overlap the first one's is refused.
    """
    reference = channels[0]
    aligned, messages = [], []
    for channel in channels:
        if channel.grid.same_as(reference.grid):
            aligned.append(channel)
            continue
        if not overlaps(channel.grid, reference.grid):
            raise UserInputError(
                f"input {channel.name!r} ({channel.source or 'no file'}) does not overlap input "
                f"{reference.name!r} in physical space; register the images to each other first"
            )
        data = resample(channel.data, channel.grid, reference.grid)
        aligned.append(Channel(channel.name, data, reference.grid, channel.source))
        messages.append(
            f"input {channel.name!r} is on another voxel grid: resampled (linear) onto the grid of {reference.name!r}"
        )
    return aligned, messages


def to_itk_image(array: np.ndarray, grid: Grid) -> sitk.Image:
    """A 3D (i, j, k) array on ``grid`` as a SimpleITK image with LPS geometry."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    lps = LPS_TO_RAS @ grid.affine
    spacing = np.asarray(grid.spacing)
    image.SetSpacing(tuple(spacing))
    image.SetOrigin(tuple(lps[:3, 3]))
    image.SetDirection(tuple((lps[:3, :3] / spacing).ravel()))
    return image


@contextmanager
def quiet_itk() -> Iterator[None]:
    """ITK's warnings (printed on stderr, e.g. a registration's "no valid points") off within the block."""
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
