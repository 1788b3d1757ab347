"""One voxel order everywhere: volumes in storage order (i fastest) and masked voxels listed in it.

The feature matrix, the labels written back, the posteriors, the MRF's rows and the statistics
must all agree on which row is which voxel, whatever memory layout an input array has.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import phantom_channels, save_nifti
from UnsupervisedSegmentLib.core.grid import to_itk_image
from UnsupervisedSegmentLib.core.lazy import lazy_module
from UnsupervisedSegmentLib.core.options import SegmentationOptions
from UnsupervisedSegmentLib.core.volume import Channel, Grid, masked_rows, new_volume, set_masked_rows
from UnsupervisedSegmentLib.io.image_files import read_channels
from UnsupervisedSegmentLib.pipeline.segmentation import segment_channels

sitk = lazy_module("SimpleITK")


def test_masked_rows_walk_i_fastest_for_any_memory_layout():
    volume = np.arange(2 * 3 * 4).reshape((2, 3, 4), order="F")  # value = i + 2 j + 6 k
    mask = volume % 3 != 0
    expected = [v for v in range(24) if v % 3 != 0]
    assert masked_rows(volume, mask).tolist() == expected
    assert masked_rows(np.ascontiguousarray(volume), np.ascontiguousarray(mask)).tolist() == expected


def test_set_masked_rows_inverts_masked_rows_with_components():
    rng = np.random.default_rng(1)
    mask = rng.random((4, 5, 6)) > 0.4
    rows = rng.random((int(mask.sum()), 3)).astype(np.float32)
    volume = new_volume(mask.shape + (3,), np.float32)
    set_masked_rows(volume, mask, rows)
    np.testing.assert_array_equal(masked_rows(volume, mask), rows)
    assert not volume[~mask].any()


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd"])
def test_files_are_read_in_storage_order(tmp_path, suffix):
    data = np.random.default_rng(2).random((7, 6, 5)).astype(np.float32)
    path = tmp_path / f"image{suffix}"
    if suffix == ".nrrd":
        sitk.WriteImage(to_itk_image(data, Grid(data.shape, np.eye(4))), str(path))
    else:
        save_nifti(data, path)
    channel = read_channels(path)[0]
    np.testing.assert_array_equal(channel.data, data)
    assert channel.data.flags.f_contiguous  # masked_rows is then one forward pass


def segment_in_layout(layout: str):
    """The phantom's channels held in ``layout`` (F or C memory order), segmented with the MRF."""
    channels, _ = phantom_channels()
    channels = [Channel(c.name, np.asarray(c.data, order=layout), c.grid) for c in channels]
    return channels, segment_channels(channels, SegmentationOptions(n_clusters=3, mrf_beta=0.5, posteriors=True))


def test_the_memory_layout_of_the_inputs_does_not_change_the_result():
    (_, fortran), (_, c_order) = segment_in_layout("F"), segment_in_layout("C")
    np.testing.assert_array_equal(fortran.labels, c_order.labels)
    np.testing.assert_array_equal(fortran.features, c_order.features)


@pytest.mark.parametrize("layout", ["F", "C"])
def test_features_labels_posteriors_and_statistics_agree(layout):
    channels, result = segment_in_layout(layout)
    for column, channel in enumerate(channels):
        np.testing.assert_array_equal(result.features[:, column], masked_rows(channel.data, result.mask))
    labels = masked_rows(result.labels, result.mask)
    np.testing.assert_array_equal(masked_rows(result.posteriors, result.mask).argmax(axis=1) + 1, labels)
    for row in result.statistics:
        members = result.features[labels == row["label"]]
        assert row["voxels"] == len(members)
        assert row[f"mean_{channels[0].name}"] == pytest.approx(float(members[:, 0].mean()), rel=1e-6)
