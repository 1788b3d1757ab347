"""Voxels deflated once and written into several gzip files (labels.nii.gz, segmentation.seg.nrrd)."""

from __future__ import annotations

import gzip
import zlib

import nibabel as nib
import numpy as np
import pytest
from UnsupervisedSegmentLib.core.volume import Grid
from UnsupervisedSegmentLib.io.deflated import deflate_voxels, gzip_stream, voxel_bytes
from UnsupervisedSegmentLib.io.image_files import write_nifti
from UnsupervisedSegmentLib.io.nifti_gz import read_nifti_gz

GRID = Grid((7, 5, 3), np.diag([0.5, 0.5, 2.0, 1.0]))


def labels(dtype: type = np.uint8) -> np.ndarray:
    values = np.random.default_rng(1).integers(0, 5, GRID.shape).astype(dtype)
    values[2:5, 1:4, :] = 3  # runs the compressor can refer back to
    return np.asfortranarray(values)


@pytest.mark.parametrize("prefix", [b"", b"header bytes " * 40])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_stream_is_one_gzip_member_of_prefix_and_voxels(prefix, dtype):
    array = labels(dtype)
    stream = gzip_stream(deflate_voxels(array), prefix)
    inflater = zlib.decompressobj(31)
    content = inflater.decompress(stream)
    assert inflater.eof and not inflater.unused_data  # one member, CRC and length checked
    assert content == prefix + bytes(voxel_bytes(array)) == gzip.decompress(stream)


def test_empty_volume_gives_a_valid_stream():
    empty = np.zeros((0, 3, 2), dtype=np.uint8)
    assert gzip.decompress(gzip_stream(deflate_voxels(empty), b"head")) == b"head"


def test_nifti_from_shared_voxels_holds_what_the_streamed_writer_writes(tmp_path):
    array = labels()
    write_nifti(array, GRID, tmp_path / "streamed.nii.gz")
    write_nifti(array, GRID, tmp_path / "shared.nii.gz", deflate_voxels(array))
    assert gzip.decompress((tmp_path / "shared.nii.gz").read_bytes()) == gzip.decompress(
        (tmp_path / "streamed.nii.gz").read_bytes())
    image = nib.load(tmp_path / "shared.nii.gz")
    assert image.get_data_dtype() == np.uint8 and np.array_equal(np.asarray(image.dataobj), array)
    voxels, affine = read_nifti_gz(tmp_path / "shared.nii.gz")
    assert np.array_equal(voxels, array) and np.allclose(affine, GRID.affine)


def test_voxels_of_another_type_are_compressed_again(tmp_path):
    array = labels(np.uint16)
    write_nifti(array.astype(np.uint8), GRID, tmp_path / "other.nii.gz", deflate_voxels(array))
    assert np.array_equal(np.asarray(nib.load(tmp_path / "other.nii.gz").dataobj), array)
