"""Reading a gzip-compressed NIfTI file quickly: what most inputs are.

zlib inflates the file in pieces of 1 MB (the allocator reuses their memory: few fresh pages)
and each piece of voxels is converted straight into the float32 result, which numpy backs with
huge pages. Pieces that size keep per-call costs and, with files read on two threads, the GIL
hand-overs between pieces small: four 18 MB files take 0.11 s on two cores instead of 0.2 s
with 64 kB pieces, at about the same page faults. No
copy of the whole decompressed file is ever made: ``gzip.decompress`` builds one in a growing
bytes object, at some 9,000 page faults per file, which cost a fresh process more time than the
decompression itself, and nibabel then copies it again. :mod:`nifti1` parses the header (nibabel,
a tenth of a second to import, is imported only for the files it leaves to nibabel). zlib
releases the GIL, so files are read in parallel. Anything unusual (scaled voxels, a header
larger than HEAD_BYTES, a header :mod:`nifti1` leaves to nibabel, several gzip members, a length
that does not match the header) goes
through nibabel's own reading of the whole file, so the values are always nibabel's.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from ..core.lazy import lazy_module
from .nifti1 import layout

nib = lazy_module("nibabel")

#: Decompressed bytes per zlib call: small enough for the allocator to reuse the same memory,
#: large enough that per-call costs and GIL hand-overs are negligible.
PIECE_BYTES = 1 << 20
#: Decompressed bytes from which the header (and its extensions) is parsed.
HEAD_BYTES = 1 << 20


def read_nifti_gz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The voxels (float32, as stored: 3D or more, Fortran order) and the voxel-to-RAS affine of
    a .nii.gz file."""
    raw = path.read_bytes()
    inflater = zlib.decompressobj(31)  # 31: gzip container
    head = inflater.decompress(raw, HEAD_BYTES)
    if inflater.unused_data:  # the first gzip member ends within the header: several members
        return _read_whole(raw)
    found = layout(head)
    if found is None or found.offset > len(head) or found.slope not in (None, 1.0) or found.inter not in (None, 0.0):
        return _read_whole(raw)
    shape, dtype, offset = found.shape, found.dtype, found.offset
    out = np.empty(int(np.prod(shape)), dtype=np.float32)
    filled, carry = 0, head[offset:]
    pending = inflater.unconsumed_tail
    while True:
        count = min(len(carry) // dtype.itemsize, out.size - filled)
        np.copyto(out[filled:filled + count], np.frombuffer(carry, dtype=dtype, count=count), casting="unsafe")
        filled, carry = filled + count, carry[count * dtype.itemsize:]
        piece = b"" if filled == out.size or inflater.eof else inflater.decompress(pending, PIECE_BYTES)
        if not piece:
            break
        carry, pending = carry + piece, inflater.unconsumed_tail
    if not inflater.eof:
        inflater.decompress(pending)  # the rest of the stream (trailing bytes are ignored, as nibabel does)
    if filled != out.size or not inflater.eof or inflater.unused_data:
        return _read_whole(raw)  # truncated, several gzip members, ...: nibabel decides
    return out.reshape(shape, order="F"), found.affine


def _header(head: bytes) -> nib.Nifti1Header:
    """The NIfTI-1 or NIfTI-2 header at the start of the decompressed file."""
    if head[344:348] == b"n+1\0":
        return nib.Nifti1Header.from_fileobj(io.BytesIO(head))
    if head[4:8] == b"n+2\0":
        return nib.Nifti2Header.from_fileobj(io.BytesIO(head))
    raise nib.filebasedimages.ImageFileError("no NIfTI-1 or NIfTI-2 header")


def _read_whole(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The voxels and affine as nibabel reads the whole decompressed file."""
    data = gzip.decompress(raw)
    header = _header(data[:HEAD_BYTES])
    image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    image = image_class.from_bytes(data)
    return np.asarray(image.dataobj, dtype=np.float32), image.affine
