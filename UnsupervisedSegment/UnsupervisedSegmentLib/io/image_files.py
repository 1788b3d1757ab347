"""Reading input images into channels and writing label maps and volumes.

NIfTI goes through :mod:`nifti1` (the header as nibabel reads and writes it) and nibabel,
imported only for files that header reader leaves to it; NRRD, NHDR, MHA/MHD, 2D pictures (PNG, JPEG, TIFF, BMP) and
DICOM series (a folder, see :mod:`dicom`) through SimpleITK. A 2D picture becomes a
single-slice volume; the colours of an RGB image become separate channels (``<name>_r``,
``<name>_g``, ``<name>_b``).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import UserInputError, first_line
from ..core.grid import LPS_TO_RAS
from ..core.lazy import lazy_module
from ..core.volume import Channel, Grid, component_names
from .declared_size import check_declared_size, check_series_size, is_gzip
from .dicom import choose_series, read_series, series_name
from .nifti1 import header_bytes
from .nifti_gz import read_nifti_gz

sitk = lazy_module("SimpleITK")
nib = lazy_module("nibabel")

#: zlib level of written volumes: label maps compress well already at the fastest level (nibabel's too).
COMPRESSION_LEVEL = 1
NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SUPPORTED = "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), PNG, JPEG, TIFF, BMP, or a folder of DICOM files"

#: Flips LPS (ITK's world) to RAS (nibabel's and Slicer's world), and back.


def image_stem(path: str | Path) -> str:
    """File name without its image suffix: ``t1_contrast.nii.gz`` -> ``t1_contrast``."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES + ITK_SUFFIXES + PICTURE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def read_channels(path: str | Path, name: str | None = None, series: Sequence[str] = (), occurrence: int = 0) -> list[Channel]:
    """Read one image file or DICOM folder as one channel (scalar) or several (RGB colours).

    For a folder holding several DICOM series, ``series`` (UIDs) chooses: the ``occurrence``-th
    of its series listed there (see :func:`dicom.choose_series`). A series is named after its
    description unless ``name`` is given. Raises UserInputError for a missing, unreadable, 4D
    or non-image file, and a folder without (or with an unchosen one of several) DICOM series.
    """
    path = require_input(path)
    if path.is_dir():
        chosen = choose_series(path, series, occurrence)
        check_series_size(chosen.files, path)
        name = name or series_name(chosen, path)
        array, grid = _itk_array(read_series(chosen), path)
    elif path.name.lower().endswith(NIFTI_SUFFIXES):
        check_declared_size(path)
        array, grid = _read_nifti(path)
    else:
        check_declared_size(path)
        array, grid = _read_with_itk(path)
    name = name or image_stem(path)
    if array.ndim == 3:
        return [Channel(name, array, grid, str(path))]
    return [
        Channel(channel_name, np.asfortranarray(array[..., c]), grid, str(path))
        for c, channel_name in enumerate(component_names(name, array.shape[3]))
    ]


def require_input(path: str | Path) -> Path:
    """``path`` as a Path when it is a file or folder; UserInputError when there is nothing there."""
    path = Path(path)
    if not (path.is_file() or path.is_dir()):
        raise UserInputError(f"input file not found: {path}")
    return path


def _read_nifti(path: Path) -> tuple[np.ndarray, Grid]:
    """Read a NIfTI file as a float32 (i, j, k) array and its grid."""
    try:
        if is_gzip(path):  # by content: a gzip file named .nii reads as well
            array, affine = read_nifti_gz(path)
        else:
            image = nib.load(str(path))
            array, affine = np.asarray(image.dataobj, dtype=np.float32), image.affine
    except (nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError, OSError, EOFError, zlib.error,
            ValueError) as error:
        raise UserInputError(f"cannot read {path} as NIfTI ({first_line(error)}); is it a valid image file?") from None
    array = _as_3d(array, path)
    return array, Grid(array.shape[:3], affine)


def _read_with_itk(path: Path) -> tuple[np.ndarray, Grid]:
    """Read an NRRD/MetaImage volume or a 2D picture as a float32 (i, j, k[, c]) array and its grid."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise UserInputError(f"cannot read {path}: not an image file in a supported format ({SUPPORTED})") from None
    return _itk_array(image, path)


def _itk_array(image: sitk.Image, path: Path) -> tuple[np.ndarray, Grid]:
    """A SimpleITK image as a float32 (i, j, k[, c]) array and its grid; 4D and higher refused."""
    dimension = image.GetDimension()
    if dimension > 3:
        raise UserInputError(f"{path} is {dimension}D; give each input as one 2D or 3D image")
    components = image.GetNumberOfComponentsPerPixel()
    array = sitk.GetArrayFromImage(image).astype(np.float32)  # (k, j, i[, c]) or (j, i[, c])
    if components == 4 and dimension == 2:
        array = array[..., :3]  # RGBA picture: the alpha channel is not an intensity
    if components == 1:
        array = array[..., np.newaxis]
    if dimension == 2:
        array = array[np.newaxis]
    array = array.transpose(2, 1, 0, 3)  # (i, j, k, c), a view in storage order (i fastest): no copy
    if array.shape[3] == 1:
        array = array[..., 0]
    return array, Grid(array.shape[:3], _itk_affine_ras(image))


def _itk_affine_ras(image: sitk.Image) -> np.ndarray:
    """IJK-to-RAS affine of a 2D or 3D SimpleITK image."""
    dimension = image.GetDimension()
    direction = np.eye(3)
    direction[:dimension, :dimension] = np.asarray(image.GetDirection()).reshape(dimension, dimension)
    spacing = np.ones(3)
    spacing[:dimension] = image.GetSpacing()
    origin = np.zeros(3)
    origin[:dimension] = image.GetOrigin()
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing
    affine[:3, 3] = origin
    return LPS_TO_RAS @ affine


def _as_3d(array: np.ndarray, path: Path) -> np.ndarray:
    """Drop trailing singleton axes; a 2D slice gets a k axis; refuse real 4D data."""
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3:
        raise UserInputError(
            f"{path} is {array.ndim}D with shape {array.shape}; give each input as one 3D volume "
            "(split a 4D series into separate files)"
        )
    return array


def voxel_bytes(array: np.ndarray) -> memoryview:
    """The voxels of an (i, j, k[, c]) array as bytes, i fastest (a view when Fortran-ordered)."""
    return memoryview(np.asfortranarray(array).T.reshape(-1)).cast("B")


def write_nifti(array: np.ndarray, grid: Grid, path: str | Path) -> None:
    """Write an (i, j, k[, c]) array on ``grid`` as a NIfTI-1 file (gzip level 1 for ``.gz``, as
    nibabel): the file ``nib.save`` writes, header byte for byte, without importing nibabel."""
    array = np.asarray(array)
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    head = header_bytes(array, grid.affine)
    compressed = str(path).lower().endswith(".gz")
    with (gzip.open(path, "wb", compresslevel=COMPRESSION_LEVEL) if compressed else open(path, "wb")) as file:
        file.write(head)
        file.write(voxel_bytes(array))  # i fastest, no copy
