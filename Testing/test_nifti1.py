"""The NIfTI-1 header without nibabel: the same bytes as nibabel writes, the same layout as it reads."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest
from UnsupervisedSegmentLib.io.nifti1 import DATA_OFFSET, header_bytes, layout


def random_affine(rng: np.random.Generator, flip: bool, shear: float = 0.0) -> np.ndarray:
    """A rotation (with a flip of one axis or not), anisotropic voxels, an origin and a shear."""
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if (np.linalg.det(rotation) < 0) != flip:
        rotation[:, 0] *= -1
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(rng.uniform(0.4, 3.0, 3))
    affine[0, 1] += shear
    affine[:3, 3] = rng.uniform(-200, 200, 3)
    return affine


def nibabel_bytes(array: np.ndarray, affine: np.ndarray) -> bytes:
    """What ``nib.save`` writes for ``array`` on ``affine`` with millimetre units."""
    image = nib.Nifti1Image(array, affine)
    image.header.set_xyzt_units("mm")
    return image.to_bytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 5, 3), (4, 5, 3, 2)])
def test_the_header_written_is_nibabels_byte_for_byte(dtype, shape):
    rng = np.random.default_rng(abs(hash((np.dtype(dtype).str, shape))) % 2**32)
    array = np.zeros(shape, dtype)
    for affine in (np.diag([-1.0, -1.0, 1.0, 1.0]), random_affine(rng, False), random_affine(rng, True),
                   random_affine(rng, True, shear=0.3), np.diag([0.7, 0.7, 5.0, 1.0])):
        assert header_bytes(array, affine) == nibabel_bytes(array, affine)[:DATA_OFFSET]


def test_no_header_for_types_nifti_cannot_hold():
    with pytest.raises(ValueError, match="no NIfTI-1 header"):
        header_bytes(np.zeros((2, 2, 2), np.complex64), np.eye(4))


def header_of(array: np.ndarray, affine: np.ndarray, **fields) -> bytes:
    """nibabel's header for ``array`` with some fields overwritten (a stand-in for other writers)."""
    header = nib.Nifti1Image(array, affine).header
    for name, value in fields.items():
        if name != "vox_offset":
            header[name] = value
    stream = io.BytesIO()
    header.write_to(stream)
    head = bytearray(stream.getvalue())
    if "vox_offset" in fields:  # set after writing: nibabel refuses to write an offset inside the header
        head[108:112] = np.float32(fields["vox_offset"]).tobytes()
    return bytes(head)


def assert_layout_is_nibabels(head: bytes) -> None:
    found = layout(head)
    header = nib.Nifti1Header.from_fileobj(io.BytesIO(head))
    assert found is not None
    assert found.shape == header.get_data_shape() and found.dtype == header.get_data_dtype()
    assert found.offset == header.get_data_offset() and (found.slope, found.inter) == header.get_slope_inter()
    np.testing.assert_array_equal(found.affine, header.get_best_affine())


def test_layout_from_the_sform_and_from_the_qform_as_nibabel():
    rng = np.random.default_rng(3)
    for flip in (False, True):
        affine = random_affine(rng, flip)
        array = np.zeros((6, 7, 8), np.int16)
        assert_layout_is_nibabels(header_of(array, affine))
        assert_layout_is_nibabels(header_of(array, affine, sform_code=0, qform_code=1))
        assert_layout_is_nibabels(header_of(array, affine, scl_slope=2.5, scl_inter=-7.0))
        assert_layout_is_nibabels(header_of(array, affine, scl_slope=0.0))
        assert_layout_is_nibabels(header_of(array, affine, vox_offset=1024))
    quarter_turn = np.array([[0.0, -1.0, 0.0, 4.0], [1.0, 0.0, 0.0, -2.0], [0.0, 0.0, 2.0, 1.0], [0, 0, 0, 1]])
    assert_layout_is_nibabels(header_of(np.zeros((3, 3, 3), np.float32), quarter_turn, sform_code=0, qform_code=2))
    assert_layout_is_nibabels(header_of(np.zeros((3, 3, 3), np.uint8), np.diag([-1.0, 1.0, 1.0, 1.0]),
                                        sform_code=0, qform_code=1))  # a quaternion with w = 0


def test_layout_of_a_big_endian_header():
    header = nib.Nifti1Header(endianness=">")
    header.set_data_shape((5, 4, 3))
    header.set_data_dtype(np.float32)
    header.set_sform(np.diag([2.0, 2.0, 3.0, 1.0]), code=1)
    header["vox_offset"] = DATA_OFFSET
    stream = io.BytesIO()
    header.write_to(stream)
    assert layout(stream.getvalue()).dtype == np.dtype(">f4")
    assert_layout_is_nibabels(stream.getvalue())


@pytest.mark.parametrize("fields", [
    {"sform_code": 0, "qform_code": 0},  # neither transform: nibabel's base affine
    {"sform_code": 7},  # an unknown code, which nibabel repairs
    {"sform_code": 0, "qform_code": 1, "pixdim": [0.0, 1, 1, 1, 1, 1, 1, 1]},  # qfac 0, repaired too
    {"sform_code": 0, "qform_code": 1, "pixdim": [1.0, -1, 1, 1, 1, 1, 1, 1]},
    {"vox_offset": 200.0},  # inside the header
    {"datatype": 128, "bitpix": 24},  # RGB
    {"magic": b"ni1"},  # a header beside its data (.hdr/.img)
])
def test_unusual_headers_are_left_to_nibabel(fields):
    assert layout(header_of(np.zeros((3, 3, 3), np.int16), np.eye(4), **fields)) is None


def test_not_a_nifti1_header():
    assert layout(b"\0" * 100) is None
    assert layout(nib.Nifti2Image(np.zeros((2, 2, 2), np.int16), np.eye(4)).to_bytes()) is None
