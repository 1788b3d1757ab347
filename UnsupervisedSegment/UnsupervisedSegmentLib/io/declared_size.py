"""What an image file declares, checked before anything is allocated for it.

A header is a promise: a 300-byte NIfTI header may declare terabytes of voxels, a small PNG may
decode to gigapixels. Reading such a file would end in a MemoryError (or in the system killing the
process) after minutes. :func:`check_declared_size` reads only the header and refuses, in one line,
a file whose data would not fit in the memory the run may use (the budget of
:func:`core.option_checks.check_workload`), or whose file is too short for what it declares.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..core.errors import UserInputError
from ..core.lazy import lazy_module
from ..core.option_checks import GIB, MEMORY_SHARE, available_memory_bytes

sitk = lazy_module("SimpleITK")

#: Bytes per voxel a read costs on top of the file's own: the float32 copy the engine works on.
FLOAT_BYTES = 4


def nifti_declaration(head: bytes) -> tuple[tuple[int, ...], int, int] | None:
    """(shape, bytes per voxel, data offset) of a NIfTI-1 or NIfTI-2 header, None if ``head`` is neither."""
    for order in "<>":
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            bitpix = struct.unpack(order + "h", head[72:74])[0]
            offset = int(struct.unpack(order + "f", head[108:112])[0])
            break
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            bitpix = struct.unpack(order + "h", head[14:16])[0]
            dims = struct.unpack(order + "8q", head[16:80])
            offset = struct.unpack(order + "q", head[168:176])[0]
            break
    else:
        return None
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0:
        return None
    return tuple(int(d) for d in dims[1:ndim + 1]), max(1, bitpix // 8), max(offset, 0)


def check_declared_size(path: Path) -> None:
    """UserInputError (one line) when ``path`` declares more voxels than its file holds or than the
    run's memory can take; files whose header cannot be read are left to their reader."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti(path, is_gzip(path))
    else:
        _check_itk(path)


def is_gzip(path: Path) -> bool:
    """Whether the file starts with gzip's magic bytes (a gzip file named .nii is read as one)."""
    try:
        with open(path, "rb") as stream:
            return stream.read(2) == b"\x1f\x8b"
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror or error}; check that the file is readable") from None


def _check_nifti(path: Path, compressed: bool) -> None:
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as stream:
            head = stream.read(540)
    except (OSError, EOFError):
        return  # not gzip, unreadable: the reader says so
    declared = nifti_declaration(head)
    if declared is None:
        return
    shape, itemsize, offset = declared
    if any(size < 0 for size in shape):
        return
    data_bytes = int(np.prod(shape, dtype=np.float64)) * itemsize
    stored = path.stat().st_size
    if not compressed and offset + data_bytes > stored:  # (a .gz may hold several members: its length is not known)
        raise UserInputError(
            f"cannot read {path}: it declares {_shape(shape)} voxels ({_size(data_bytes)}) but holds only "
            f"{_size(max(stored - offset, 0))} of image data; the file is truncated or its header is wrong")
    _check_memory(path, shape, itemsize)


def check_series_size(files: tuple[str, ...], folder: Path) -> None:
    """UserInputError (one line) when a DICOM series' slices (rows x columns, from its first file's header,
    times the number of files) would not fit in the run's memory."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return  # the series reader says what is wrong
    size = tuple(int(s) for s in reader.GetSize())
    _check_memory(folder, (size[0], size[1], len(files), int(reader.GetNumberOfComponents())), FLOAT_BYTES)


def _check_itk(path: Path) -> None:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return  # not an image ITK knows: the reader says so
    shape = tuple(int(size) for size in reader.GetSize())
    _check_memory(path, (*shape, int(reader.GetNumberOfComponents())), FLOAT_BYTES)


def _check_memory(path: Path, shape: tuple[int, ...], itemsize: int) -> None:
    voxels = float(np.prod(shape, dtype=np.float64))
    needed = voxels * (itemsize + FLOAT_BYTES)
    available = available_memory_bytes()
    if available is not None and needed > MEMORY_SHARE * available:
        raise UserInputError(
            f"{path} declares {_shape(shape)} voxels, which need about {_size(needed)} of memory to read, more than the "
            f"{_size(MEMORY_SHARE * available)} this run may use; crop or downsample the image first")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(size) for size in shape)


def _size(nbytes: float) -> str:
    return f"{nbytes / GIB:.1f} GiB" if nbytes >= GIB / 10 else f"{nbytes / 2**20:.1f} MiB"
