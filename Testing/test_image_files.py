"""Reading inputs: NIfTI, NRRD, 2D pictures (grey and RGB), and refusals of bad files."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PHANTOM_AFFINE, save_nifti
from PIL import Image
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.grid import to_itk_image
from UnsupervisedSegmentLib.core.volume import Grid
from UnsupervisedSegmentLib.io.image_files import image_stem, read_channels, write_nifti


def test_nifti_keeps_array_and_affine(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    [channel] = read_channels(save_nifti(array, tmp_path / "vol.nii.gz"))
    assert channel.name == "vol"
    np.testing.assert_array_equal(channel.data, array)
    np.testing.assert_allclose(channel.grid.affine, PHANTOM_AFFINE)
    assert channel.grid.spacing == pytest.approx((1.2, 1.2, 2.5))


@pytest.mark.parametrize("dtype, slope, inter", [("<i2", 1.0, 0.0), (">i2", 1.0, 0.0), ("u1", 1.0, 0.0),
                                                  ("<f4", 1.0, 0.0), (">f8", 1.0, 0.0), ("<i2", 0.5, -10.0)])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_nifti_voxels_are_read_as_nibabel_reads_them(tmp_path, dtype, slope, inter, suffix):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 200, size=(7, 6, 5)).astype(dtype)
    image = nib.Nifti1Image(values, PHANTOM_AFFINE)
    image.header.set_data_dtype(dtype)
    image.header.set_slope_inter(slope, inter)
    path = tmp_path / f"scan{suffix}"
    nib.save(image, str(path))
    channel = read_channels(path)[0]
    expected = nib.load(str(path))
    assert channel.data.dtype == np.float32
    np.testing.assert_array_equal(channel.data, np.asarray(expected.dataobj, dtype=np.float32))
    np.testing.assert_array_equal(channel.grid.affine, expected.affine)


def test_unusual_gzip_niftis_read_as_nibabel_reads_them(tmp_path):
    values = np.arange(7 * 6 * 5, dtype=np.int16).reshape(7, 6, 5)
    image = nib.Nifti1Image(values, PHANTOM_AFFINE)
    image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"an extension moves the voxels"))
    nib.save(image, str(tmp_path / "extended.nii.gz"))
    plain = nib.Nifti1Image(values, PHANTOM_AFFINE).to_bytes()
    (tmp_path / "members.nii.gz").write_bytes(gzip.compress(plain[:200]) + gzip.compress(plain[200:]))
    (tmp_path / "v2.nii.gz").write_bytes(gzip.compress(nib.Nifti2Image(values, PHANTOM_AFFINE).to_bytes()))
    for name in ("extended.nii.gz", "members.nii.gz", "v2.nii.gz"):
        channel = read_channels(tmp_path / name)[0]
        np.testing.assert_array_equal(channel.data, values.astype(np.float32))
        np.testing.assert_array_equal(channel.grid.affine, nib.load(str(tmp_path / name)).affine)


def test_nrrd_written_by_itk_reads_on_the_same_grid_as_nifti(tmp_path):
    array = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    affine = np.array([[0, -2.0, 0, 10], [1.5, 0, 0, -4], [0, 0, 3.0, 7], [0, 0, 0, 1]])
    grid = Grid(array.shape, affine)
    sitk.WriteImage(to_itk_image(array, grid), str(tmp_path / "vol.nrrd"))
    write_nifti(array, grid, tmp_path / "vol.nii.gz")
    [from_nrrd] = read_channels(tmp_path / "vol.nrrd")
    [from_nifti] = read_channels(tmp_path / "vol.nii.gz")
    np.testing.assert_array_equal(from_nrrd.data, from_nifti.data)
    np.testing.assert_allclose(from_nrrd.grid.affine, from_nifti.grid.affine, atol=1e-6)


def test_grey_png_is_a_single_slice_volume(tmp_path):
    picture = np.zeros((10, 16), dtype=np.uint8)  # rows (y) x columns (x)
    picture[2, 5] = 200
    Image.fromarray(picture).save(tmp_path / "slice.png")
    [channel] = read_channels(tmp_path / "slice.png")
    assert channel.data.shape == (16, 10, 1)
    assert channel.data[5, 2, 0] == 200


def test_rgb_picture_gives_one_channel_per_colour(tmp_path):
    picture = np.zeros((8, 9, 3), dtype=np.uint8)
    picture[..., 0], picture[..., 1], picture[..., 2] = 10, 20, 30
    Image.fromarray(picture).save(tmp_path / "photo.jpg", quality=100)
    channels = read_channels(tmp_path / "photo.jpg", name="photo")
    assert [c.name for c in channels] == ["photo_r", "photo_g", "photo_b"]
    assert [round(float(c.data.mean())) for c in channels] == [10, 20, 30]
    assert all(c.data.shape == (9, 8, 1) for c in channels)


def test_image_stem_strips_double_suffixes():
    assert image_stem("/a/t1_contrast.nii.gz") == "t1_contrast"
    assert image_stem("scan.seg.nrrd") == "scan.seg"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "not found"),
        (lambda p: (p.write_text("hello"), p)[1], "cannot read"),
        (lambda p: (p.with_suffix(".gz").write_bytes(gzip.compress(b"garbage")), p.with_suffix(".gz"))[1], "cannot read"),
    ],
    ids=["missing", "text-file", "garbage-gz"],
)
def test_bad_files_raise_one_line_user_errors(tmp_path, make, message):
    path = make(tmp_path / "input.nii")
    with pytest.raises(UserInputError, match=message) as caught:
        read_channels(path)
    assert "\n" not in str(caught.value)


def test_truncated_nifti_is_refused(tmp_path):
    good = save_nifti(np.ones((10, 10, 10), np.float32), tmp_path / "good.nii")
    bad = tmp_path / "bad.nii"
    bad.write_bytes(good.read_bytes()[:600])
    with pytest.raises(UserInputError, match="cannot read"):
        read_channels(bad)


def test_4d_input_is_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 3), np.float32), np.eye(4)), str(tmp_path / "series.nii.gz"))
    with pytest.raises(UserInputError, match="4D"):
        read_channels(tmp_path / "series.nii.gz")
