"""Binary morphology for the lesion rule, exact and several times faster than scipy.ndimage's.

Erosion and dilation by a small symmetric structuring element (a ball of a few millimetres)
are computed as one logical AND / OR per element offset over shifted views of the array, with
the outside taken as background (scipy's ``border_value=0``); above MAX_SHIFTS offsets (a large
ball on fine voxels) scipy does it. Holes are filled by labelling the background once: the
background components (face-connected) that do not touch the array's border are holes, as
``scipy.ndimage.binary_fill_holes`` defines them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")

#: Above this many offsets the shifted-view method is slower than scipy's.
MAX_SHIFTS = 400


def ball(radius_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """A ball of ``radius_mm`` as a structuring element on voxels of ``spacing`` mm."""
    reach = [int(radius_mm // s) for s in spacing]
    grid = np.ogrid[tuple(slice(-r, r + 1) for r in reach)]
    return sum((g * s) ** 2 for g, s in zip(grid, spacing)) <= radius_mm**2


def deeper_than(mask: np.ndarray, radius_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from every voxel outside it (the array's
    outside included): an erosion by the ball, or a distance map when the ball is large."""
    structure = ball(radius_mm, spacing)
    if len(_offsets(structure)) <= MAX_SHIFTS:
        return erode(mask, structure)
    depth = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    return mask & (depth > radius_mm)


def _offsets(structure: np.ndarray) -> np.ndarray:
    """The non-zero offsets of a structuring element centred on its middle voxel."""
    centre = np.array(structure.shape) // 2
    offsets = np.argwhere(structure) - centre
    return offsets[np.any(offsets != 0, axis=1)]


def _views(shape: tuple[int, ...], offset: np.ndarray) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``target``, ``source`` such that ``array[source]`` is ``array`` moved by ``-offset``
    onto ``target`` (voxel x of the target reads voxel x + offset)."""
    target = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip(offset, shape))
    source = tuple(slice(max(0, d), n - max(0, -d)) for d, n in zip(offset, shape))
    return target, source


def erode(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Binary erosion of ``mask`` by a symmetric ``structure`` (outside = background)."""
    return _by_shifts(mask, structure, eroding=True)


def dilate(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Binary dilation of ``mask`` by a symmetric ``structure``."""
    return _by_shifts(mask, structure, eroding=False)


def _by_shifts(mask: np.ndarray, structure: np.ndarray, eroding: bool) -> np.ndarray:
    """Erosion (AND of the shifted views; voxels whose neighbour lies outside are cleared) or
    dilation (OR), by scipy above MAX_SHIFTS offsets."""
    offsets = _offsets(structure)
    if len(offsets) > MAX_SHIFTS:
        operation = ndimage.binary_erosion if eroding else ndimage.binary_dilation
        return operation(mask, structure=structure)
    combine = np.logical_and if eroding else np.logical_or
    result = mask.copy()
    for offset in offsets:
        target, source = _views(mask.shape, offset)
        combine(result[target], mask[source], out=result[target])
        for axis, (d, n) in enumerate(zip(offset, mask.shape) if eroding else ()):
            if d:
                edge = [slice(None)] * mask.ndim
                edge[axis] = slice(n - d, None) if d > 0 else slice(0, -d)
                result[tuple(edge)] = False
    return result


def opening(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Erosion then dilation by ``structure`` (scipy's ``binary_opening``)."""
    return dilate(erode(mask, structure), structure)


def fill_holes(mask: np.ndarray, plane_axis: int | None = None) -> np.ndarray:
    """``mask`` with its holes filled: in 3D, or (``plane_axis``) in every plane across that axis."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    faces = list(range(mask.ndim))
    if plane_axis is not None:  # background connected within each plane only, bordered by the plane's edges
        index = [1] * mask.ndim
        for offset in (0, 2):
            index[plane_axis] = offset
            structure[tuple(index)] = False
        faces.remove(plane_axis)
    background, count = ndimage.label(~mask, structure=structure)
    if count == 0:
        return mask.copy()
    outside = np.zeros(count + 1, dtype=bool)
    for axis in faces:
        for end in (0, -1):
            outside[np.take(background, end, axis=axis)] = True
    outside[0] = True  # label 0: the mask itself
    return mask | ~outside[background]
