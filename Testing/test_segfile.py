"""The .seg.nrrd output, read back by slicerio and by Slicer's own segmentation storage node."""

from __future__ import annotations

import numpy as np
import slicerio
from UnsupervisedSegmentLib.core.palette import Segment
from UnsupervisedSegmentLib.core.volume import Grid
from UnsupervisedSegmentLib.io.segfile import segment_extents, write_seg_nrrd

GRID = Grid((6, 5, 4), np.array([[-1.5, 0, 0, 20], [0, 1.5, 0, -10], [0, 0, 3, 5], [0, 0, 0, 1]]))
SEGMENTS = [Segment(1, "Cluster 1", (0.1, 0.2, 0.3)), Segment(2, "Cluster 2", (1.0, 0.5, 0.0)), Segment(3, "Cluster 3", (0.0, 0.0, 1.0))]


def labels_fixture() -> np.ndarray:
    labels = np.zeros(GRID.shape, dtype=np.uint8)
    labels[1:3, 1:4, 0:2] = 1
    labels[4, 0:5, 3] = 2  # label 3 is absent: an empty segment
    return labels


def test_extents_are_inclusive_ijk_boxes():
    assert segment_extents(labels_fixture()) == {1: "1 2 1 3 0 1", 2: "4 4 0 4 3 3"}


def test_slicerio_reads_back_names_colours_labels_and_voxels(tmp_path):
    labels = labels_fixture()
    path = tmp_path / "out.seg.nrrd"
    write_seg_nrrd(labels, GRID, SEGMENTS, path)
    segmentation = slicerio.read_segmentation(str(path))
    segments = segmentation["segments"]
    assert [s["name"] for s in segments] == ["Cluster 1", "Cluster 2", "Cluster 3"]
    assert [s["labelValue"] for s in segments] == [1, 2, 3]
    np.testing.assert_allclose(segments[1]["color"], (1.0, 0.5, 0.0))
    voxels = segmentation["voxels"]
    assert voxels.shape == GRID.shape
    for value in (1, 2, 3):
        assert np.count_nonzero(voxels == value) == np.count_nonzero(labels == value)
    np.testing.assert_allclose(np.asarray(segmentation["ijkToLPS"]), np.diag([-1, -1, 1, 1]) @ GRID.affine, atol=1e-6)


def test_slicer_segmentation_storage_node_reads_it(tmp_path):
    import slicer

    labels = labels_fixture()
    path = tmp_path / "out.seg.nrrd"
    write_seg_nrrd(labels, GRID, SEGMENTS, path)
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 3
    assert [segmentation.GetNthSegment(n).GetName() for n in range(3)] == ["Cluster 1", "Cluster 2", "Cluster 3"]
    assert segmentation.GetSegment("Segment_2").GetLabelValue() == 2
