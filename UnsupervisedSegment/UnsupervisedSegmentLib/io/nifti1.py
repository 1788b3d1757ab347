"""The NIfTI-1 header read and written as nibabel does, without importing nibabel.

nibabel takes a tenth of a second to import (it pulls in urllib and http), as long as reading
four compressed inputs; a run needs only the header of its plain NIfTI-1 files. :func:`layout`
parses the 348-byte header and gives the voxels' shape, type, offset, scaling and the affine
nibabel's ``get_best_affine`` would (the sform when its code is set, else the qform), or None
for anything it leaves to nibabel: NIfTI-2, a header nibabel would repair (unknown transform
codes, a qfac other than ±1, non-positive voxel sizes, an offset inside the header), neither
transform set, data types other than plain integers and floats. :func:`header_bytes` builds the
header nibabel writes for ``nib.save(nib.Nifti1Image(array, affine))`` with millimetre units:
the same bytes, which the tests check field by field against nibabel itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The NIfTI-1 header, 348 bytes (nifti1.h).
HEADER = np.dtype([
    ("sizeof_hdr", "i4"), ("data_type", "S10"), ("db_name", "S18"), ("extents", "i4"),
    ("session_error", "i2"), ("regular", "S1"), ("dim_info", "u1"), ("dim", "i2", (8,)),
    ("intent_p1", "f4"), ("intent_p2", "f4"), ("intent_p3", "f4"), ("intent_code", "i2"),
    ("datatype", "i2"), ("bitpix", "i2"), ("slice_start", "i2"), ("pixdim", "f4", (8,)),
    ("vox_offset", "f4"), ("scl_slope", "f4"), ("scl_inter", "f4"), ("slice_end", "i2"),
    ("slice_code", "u1"), ("xyzt_units", "u1"), ("cal_max", "f4"), ("cal_min", "f4"),
    ("slice_duration", "f4"), ("toffset", "f4"), ("glmax", "i4"), ("glmin", "i4"),
    ("descrip", "S80"), ("aux_file", "S24"), ("qform_code", "i2"), ("sform_code", "i2"),
    ("quatern_b", "f4"), ("quatern_c", "f4"), ("quatern_d", "f4"),
    ("qoffset_x", "f4"), ("qoffset_y", "f4"), ("qoffset_z", "f4"),
    ("srow_x", "f4", (4,)), ("srow_y", "f4", (4,)), ("srow_z", "f4", (4,)),
    ("intent_name", "S16"), ("magic", "S4"),
])
#: Header, then the four bytes saying there are no extensions: where a written file's voxels start.
DATA_OFFSET = 352
#: NIfTI data type codes of plain integers and floats.
DATATYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8",
             1280: "u8"}
#: Transform codes the standard defines (unknown, scanner, aligned, Talairach, MNI).
TRANSFORM_CODES = range(5)
#: Millimetres (and no time unit) in xyzt_units.
MM = 2
#: nibabel's tolerance for a quaternion whose b, c, d have a norm of about 1 (w taken as 0).
QUATERNION_THRESHOLD = np.finfo(np.float32).eps * 3


@dataclass(frozen=True)
class Layout:
    """Where and how a NIfTI-1 file holds its voxels, and their affine (voxel to RAS mm)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int
    slope: float | None
    inter: float | None
    affine: np.ndarray


def layout(head: bytes) -> Layout | None:
    """The layout of the NIfTI-1 file starting with ``head``, as nibabel reads it; None where
    nibabel should decide (see the module docstring)."""
    if len(head) < HEADER.itemsize:
        return None
    order = next((o for o in "<>" if np.frombuffer(head, f"{o}i4", 1)[0] == HEADER.itemsize), None)
    if order is None:
        return None
    header = np.frombuffer(head, HEADER.newbyteorder(order), 1)[0]
    ndim = int(header["dim"][0])
    code = int(header["datatype"])
    if header["magic"] != b"n+1" or not 1 <= ndim <= 7 or code not in DATATYPES:
        return None
    shape = tuple(int(d) for d in header["dim"][1:ndim + 1])
    offset = int(header["vox_offset"])
    if min(shape) <= 0 or offset < DATA_OFFSET or shape[:3] == (27307, 1, 6):  # the last: FreeSurfer's ico7
        return None
    slope, inter = float(header["scl_slope"]), float(header["scl_inter"])
    if slope == 0 or not np.isfinite(slope):
        slope = inter = None
    elif not np.isfinite(inter):
        return None
    affine = _best_affine(header)
    if affine is None:
        return None
    return Layout(shape, np.dtype(DATATYPES[code]).newbyteorder(order), offset, slope, inter, affine)


def _best_affine(header: np.void) -> np.ndarray | None:
    """The sform when its code is set, else the qform when its code is set (nibabel's choice)."""
    sform_code, qform_code = int(header["sform_code"]), int(header["qform_code"])
    if sform_code not in TRANSFORM_CODES or qform_code not in TRANSFORM_CODES:
        return None
    if sform_code:
        affine = np.eye(4)
        affine[:3] = np.stack([header["srow_x"], header["srow_y"], header["srow_z"]])
        return affine
    if not qform_code:
        return None
    zooms = header["pixdim"][1:4].copy()
    qfac = header["pixdim"][0]
    if not np.all(zooms > 0) or qfac not in (-1, 1):
        return None
    bcd = np.array([header["quatern_b"], header["quatern_c"], header["quatern_d"]], dtype=np.longdouble)
    w2 = 1.0 - bcd @ bcd  # in nibabel's precision: the longest float
    if abs(w2) < QUATERNION_THRESHOLD:
        w2 = 0.0
    elif w2 < 0:
        return None
    zooms[-1] *= qfac
    affine = np.eye(4)
    affine[:3, :3] = _rotation(np.sqrt(w2), *bcd) @ np.diag(zooms)
    affine[:3, 3] = [header["qoffset_x"], header["qoffset_y"], header["qoffset_z"]]
    return affine


def _rotation(w: float, x: float, y: float, z: float) -> np.ndarray:
    """The rotation matrix of a quaternion (nibabel's ``quat2mat``)."""
    norm = w * w + x * x + y * y + z * z
    if norm < np.finfo(float).eps:
        return np.eye(3)
    s = 2.0 / norm
    X, Y, Z = x * s, y * s, z * s
    wX, wY, wZ, xX, xY, xZ, yY, yZ, zZ = w * X, w * Y, w * Z, x * X, x * Y, x * Z, y * Y, y * Z, z * Z
    return np.array([[1.0 - (yY + zZ), xY - wZ, xZ + wY],
                     [xY + wZ, 1.0 - (xX + zZ), yZ - wX],
                     [xZ - wY, yZ + wX, 1.0 - (xX + yY)]])


def _quaternion(rotation: np.ndarray) -> np.ndarray:
    """The unit quaternion (w >= 0) of a rotation matrix (nibabel's ``mat2quat``)."""
    (xx, yx, zx), (xy, yy, zy), (xz, yz, zz) = rotation
    k = np.array([[xx - yy - zz, 0, 0, 0],
                  [yx + xy, yy - xx - zz, 0, 0],
                  [zx + xz, zy + yz, zz - xx - yy, 0],
                  [yz - zy, zx - xz, xy - yx, xx + yy + zz]]) / 3.0
    values, vectors = np.linalg.eigh(k)
    q = vectors[[3, 0, 1, 2], np.argmax(values)]
    return -q if q[0] < 0 else q


def header_bytes(array: np.ndarray, affine: np.ndarray) -> bytes:
    """The header (and no-extension flag) nibabel writes for ``array`` on ``affine`` in mm: the
    sform (code aligned) and, with code unknown, the qform nearest to it."""
    dtype = np.dtype(array.dtype)
    code = next((c for c, name in DATATYPES.items() if np.dtype(name) == dtype.newbyteorder("=")), None)
    if code is None or not 1 <= array.ndim <= 7:
        raise ValueError(f"no NIfTI-1 header for a {array.ndim}D array of {dtype}")
    header = np.zeros((), HEADER.newbyteorder("<"))
    header["sizeof_hdr"], header["magic"], header["vox_offset"] = HEADER.itemsize, b"n+1", DATA_OFFSET
    header["dim"] = [array.ndim, *array.shape] + [1] * (7 - array.ndim)
    header["datatype"], header["bitpix"] = code, dtype.itemsize * 8
    header["scl_slope"], header["scl_inter"] = 1.0, 0.0
    header["xyzt_units"], header["sform_code"] = MM, 2
    affine = np.asarray(affine, dtype=np.float64)
    header["srow_x"], header["srow_y"], header["srow_z"] = affine[0], affine[1], affine[2]
    zooms = np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0))
    rotation = affine[:3, :3] / zooms
    qfac = 1.0 if np.linalg.det(rotation) > 0 else -1.0
    rotation[:, -1] *= qfac
    left, _, right = np.linalg.svd(rotation)
    quaternion = _quaternion(left @ right)
    header["pixdim"] = [qfac, *zooms] + [1.0] * 4
    header["quatern_b"], header["quatern_c"], header["quatern_d"] = quaternion[1:]
    header["qoffset_x"], header["qoffset_y"], header["qoffset_z"] = affine[:3, 3]
    return header.tobytes() + b"\0" * (DATA_OFFSET - HEADER.itemsize)
