"""Voxels compressed once, written into several gzip files.

A run writes its label map twice, as ``labels.nii.gz`` and inside ``segmentation.seg.nrrd``,
with the same voxel bytes (i fastest). :func:`deflate_voxels` compresses them once; each file
is then an ordinary single-member gzip stream: an optional prefix (the NIfTI header) as
deflate blocks ending in a sync flush (byte-aligned, not final), the shared deflate data,
and the gzip trailer. The voxels' back-references point only within the voxels, so the
stream decodes as if compressed in one go.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

import numpy as np

#: zlib level of written volumes: label maps compress well already at the fastest level (nibabel's too).
COMPRESSION_LEVEL = 1


@dataclass(frozen=True)
class DeflatedVoxels:
    """The raw deflate data of an array's voxels (i fastest), with the array's dtype and bytes
    and the zlib level they were compressed at."""

    dtype: np.dtype
    raw: memoryview
    data: bytes
    level: int


def voxel_bytes(array: np.ndarray) -> memoryview:
    """The voxels of an (i, j, k[, c]) array as bytes, i fastest (a view when Fortran-ordered)."""
    return memoryview(np.asfortranarray(array).T.reshape(-1)).cast("B")


def deflate_voxels(array: np.ndarray, level: int = COMPRESSION_LEVEL) -> DeflatedVoxels:
    """Compress the voxels of ``array`` once, for :func:`gzip_stream`."""
    raw = voxel_bytes(array)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)  # -15: raw deflate, no container
    return DeflatedVoxels(array.dtype, raw, compressor.compress(raw) + compressor.flush(), level)


def gzip_stream(voxels: DeflatedVoxels, prefix: bytes = b"") -> bytes:
    """A gzip file whose content is ``prefix`` (compressed at the voxels' level) followed by the voxels."""
    level = voxels.level
    head = b""
    if prefix:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        head = compressor.compress(prefix) + compressor.flush(zlib.Z_SYNC_FLUSH)
    crc = zlib.crc32(voxels.raw, zlib.crc32(prefix))
    size = (len(prefix) + len(voxels.raw)) & 0xFFFFFFFF
    extra_flags = 4 if level == 1 else 2 if level == 9 else 0  # as Python's gzip: fastest / best
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", int(time.time())) + bytes((extra_flags, 255))
    return header + head + voxels.data + struct.pack("<II", crc, size)
