"""Voxel grids and image channels: the engine's in-memory representation of volumes.

Arrays are indexed (i, j, k) like nibabel; a grid's ``affine`` maps (i, j, k, 1) to
RAS millimetres, the same matrix as Slicer's IJKToRAS.

Voxel order: volumes are held in storage order (i fastest, then j, then k: Fortran order, as
NIfTI and NRRD files and VTK images store them), and the masked voxels of a volume are listed
in that same order (:func:`masked_rows`): one row of the feature matrix per voxel, i fastest.
Reading them in storage order is one forward pass over memory; numpy's ``volume[mask]``
walks in C order instead, ten times slower on a Fortran-ordered volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

#: Cubic millimetres in a millilitre (volumes are reported in mL).
MM3_PER_ML = 1000.0
#: Affine entries closer than this (in mm) count as the same grid.
GRID_TOLERANCE_MM = 1e-3
#: Suffixes of the channels of an RGB or RGBA image (other component counts are numbered).
COLOUR_SUFFIXES = {3: ("r", "g", "b"), 4: ("r", "g", "b", "a")}


@dataclass(frozen=True, eq=False)
class Grid:
    """A 3D voxel grid: its shape and its IJK-to-RAS affine."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "affine", np.asarray(self.affine, dtype=np.float64).reshape(4, 4))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along i, j and k."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def left_right_axis(self) -> int:
        """The voxel axis (0, 1 or 2) pointing closest to the patient's left-right (RAS x)."""
        return int(np.argmax(np.abs(self.affine[0, :3]) / np.asarray(self.spacing)))

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm³."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def same_as(self, other: Grid) -> bool:
        """True when both grids have the same shape and (within tolerance) affine."""
        return self.shape == other.shape and bool(
            np.allclose(self.affine, other.affine, atol=GRID_TOLERANCE_MM)
        )


@dataclass(frozen=True, eq=False)
class Channel:
    """One scalar image (an input volume, or one colour of an RGB image) on a grid."""

    name: str
    data: np.ndarray
    grid: Grid
    source: str = ""

    def __post_init__(self) -> None:
        if tuple(self.data.shape) != self.grid.shape:
            raise ValueError(
                f"channel {self.name!r}: array shape {self.data.shape} does not match grid {self.grid.shape}"
            )


def new_volume(shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """A zero-filled (i, j, k[, ...]) array in storage order (i fastest)."""
    return np.zeros(shape, dtype=dtype, order="F")


def _k_major(volume: np.ndarray) -> np.ndarray:
    """A (k, j, i[, ...]) view of an (i, j, k[, ...]) array: C-order indexing of it walks i fastest."""
    return volume.transpose((2, 1, 0) + tuple(range(3, volume.ndim)))


def masked_rows(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The values of ``volume`` (i, j, k[, c]) at the voxels of ``mask`` (i, j, k), one row per
    voxel, i fastest (see the module's voxel order).

    >>> masked_rows(np.arange(8).reshape((2, 2, 2), order="F"), np.ones((2, 2, 2), bool)).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    return _k_major(np.asarray(volume))[np.asarray(mask).T]


def set_masked_rows(volume: np.ndarray, mask: np.ndarray, rows: np.ndarray) -> None:
    """Write ``rows`` (in :func:`masked_rows` order) into ``volume`` at the voxels of ``mask``."""
    _k_major(volume)[np.asarray(mask).T] = rows


def bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """The smallest box holding every voxel of ``mask`` (empty slices if it has none), from one
    projection per axis: some 25 times faster than the coordinates of every voxel."""
    mask = np.asarray(mask, dtype=bool)
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(other for other in range(mask.ndim) if other != axis)))
        box.append(slice(int(present[0]), int(present[-1]) + 1) if len(present) else slice(0, 0))
    return tuple(box)


def component_names(name: str, count: int) -> list[str]:
    """Channel names of a ``count``-component image: ``name`` alone, colours, or numbered.

    >>> component_names("photo", 3)
    ['photo_r', 'photo_g', 'photo_b']
    >>> component_names("dwi", 2)
    ['dwi_0', 'dwi_1']
    """
    if count == 1:
        return [name]
    return [f"{name}_{suffix}" for suffix in COLOUR_SUFFIXES.get(count, range(count))]
