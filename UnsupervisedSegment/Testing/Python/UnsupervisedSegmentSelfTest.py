"""The module's self-test: what "Reload and Test" runs (through ``UnsupervisedSegmentTest`` of the module
file) and the ctest that ``slicer_add_python_unittest`` registers. Synthetic volumes made in the scene, no
network; volumes checked against Slicer's labelmap export and the Segment Statistics module.
"""

from __future__ import annotations

import numpy as np
import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.options import SegmentationOptions
from UnsupervisedSegmentLib.core.palette import LESION_COLOR, LESION_NAME, segment_id

from UnsupervisedSegment import UnsupervisedSegmentLogic


def segmentStatisticsVolumesCm3(segmentationNode) -> dict[str, float]:
    """Volume (cm³) of every segment, visible or not, by the Segment Statistics module."""
    import SegmentStatistics

    statisticsLogic = SegmentStatistics.SegmentStatisticsLogic()
    parameterNode = statisticsLogic.getParameterNode()
    parameterNode.SetParameter("Segmentation", segmentationNode.GetID())
    parameterNode.SetParameter("visibleSegmentsOnly", "False")
    statisticsLogic.computeStatistics()
    statistics = statisticsLogic.getStatistics()
    return {
        segmentID: statistics[segmentID, "LabelmapSegmentStatisticsPlugin.volume_cm3"]
        for segmentID in statistics["SegmentIDs"]
    }


class UnsupervisedSegmentSelfTest(ScriptedLoadableModuleTest):
    """Self-test on synthetic volumes made in the scene (no network)."""

    #: Synthetic phantom: background 0, "tissue" box, "lesion" cube inside it (i, j, k voxels).
    SHAPE = (40, 36, 12)
    SPACING = (1.5, 1.5, 3.0)
    LESION = (slice(14, 22), slice(12, 20), slice(4, 8))
    TISSUE = (slice(4, 36), slice(4, 32), slice(2, 10))

    def setUp(self):
        """A clean scene (ctest runs the test_* methods without runTest, each after setUp)."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (
            self.test_SegmentsAndVolumes,
            self.test_RerunReplacesSegments,
            self.test_InputsNotModified,
            self.test_DifferentGridResampled,
            self.test_NonOverlappingRefused,
            self.test_SegmentStatisticsAgree,
            self.test_LesionSegment,
            self.test_CompareTwoVisits,
        ):
            self.setUp()
            test()

    # helpers

    def _phantom(self, name: str, values: tuple[float, float, float], origin=(0.0, 0.0, 0.0), spacing=None):
        """A volume with ``values`` = (background, tissue, lesion) on the phantom grid, plus mild noise."""
        rng = np.random.default_rng(len(name))
        voxels = np.full(self.SHAPE, values[0], dtype=np.float32)
        voxels[self.TISSUE] = values[1]
        voxels[self.LESION] = values[2]
        voxels[voxels > 0] += rng.normal(0.0, 1.0, int(np.count_nonzero(voxels > 0))).astype(np.float32)
        ijkToRAS = np.diag([*(spacing or self.SPACING), 1.0])
        ijkToRAS[:3, 3] = origin
        # slicer.util arrays are indexed (k, j, i)
        return slicer.util.addVolumeFromArray(np.transpose(voxels, (2, 1, 0)).copy(), ijkToRAS, name)

    def _inputs(self):
        return [self._phantom("t1", (0.0, 40.0, 80.0)), self._phantom("flair", (0.0, 60.0, 140.0))]

    def _expectedVoxels(self) -> tuple[int, int]:
        lesion = 8 * 8 * 4
        return 32 * 28 * 8 - lesion, lesion

    def _options(self):
        return SegmentationOptions(method="gmm", n_clusters=2, mask="nonzero", seed=7)

    @staticmethod
    def _segmentVoxelCounts(segmentationNode, referenceVolume) -> dict[str, int]:
        """Voxels per segment, read back through Slicer's labelmap export."""
        counts = {}
        segmentation = segmentationNode.GetSegmentation()
        for index in range(segmentation.GetNumberOfSegments()):
            segmentID = segmentation.GetNthSegmentID(index)
            voxels = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentID, referenceVolume)
            counts[segmentID] = int((voxels > 0).sum())
        return counts

    # tests

    def test_SegmentsAndVolumes(self):
        self.delayDisplay("Segments, voxel counts, volumes and table")
        inputs = self._inputs()
        output = UnsupervisedSegmentLogic().process(inputs, self._options())
        segmentation = output.segmentation_node.GetSegmentation()
        self.assertEqual(segmentation.GetNumberOfSegments(), 2)
        self.assertEqual([segmentation.GetNthSegment(i).GetName() for i in range(2)], ["Cluster 1", "Cluster 2"])
        tissue, lesion = self._expectedVoxels()
        counts = self._segmentVoxelCounts(output.segmentation_node, inputs[0])
        self.assertEqual(counts, {"Segment_1": tissue, "Segment_2": lesion})
        voxelVolume = self.SPACING[0] * self.SPACING[1] * self.SPACING[2]
        table = output.table_node
        self.assertEqual(table.GetNumberOfRows(), 2)
        for row, expected in enumerate((tissue, lesion)):
            self.assertEqual(int(table.GetCellText(row, 2)), expected)
            self.assertAlmostEqual(float(table.GetCellText(row, 3)), expected * voxelVolume, places=2)
            self.assertAlmostEqual(float(table.GetCellText(row, 4)), expected * voxelVolume / 1000.0, places=4)
        self.assertAlmostEqual(float(table.GetCellText(1, 5)), 80.0, delta=0.5)  # mean t1 in the lesion
        self.assertTrue(output.segmentation_node.GetSegmentation().ContainsRepresentation("Closed surface"))
        self.delayDisplay("Test passed")

    def test_RerunReplacesSegments(self):
        self.delayDisplay("Re-running into the same outputs replaces the segments")
        inputs = self._inputs()
        logic = UnsupervisedSegmentLogic()
        first = logic.process(inputs, self._options())
        nodeCount = slicer.mrmlScene.GetNumberOfNodes()
        second = logic.process(inputs, self._options(), first.segmentation_node, first.table_node)
        self.assertIs(second.segmentation_node, first.segmentation_node)
        self.assertEqual(second.segmentation_node.GetSegmentation().GetNumberOfSegments(), 2)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), nodeCount)
        self.delayDisplay("Test passed")

    def test_InputsNotModified(self):
        self.delayDisplay("Input volumes are not modified")
        inputs = self._inputs()
        before = [slicer.util.arrayFromVolume(volume).copy() for volume in inputs]
        modified = [volume.GetMTime() for volume in inputs]
        UnsupervisedSegmentLogic().process(inputs, self._options())
        for volume, voxels, mtime in zip(inputs, before, modified):
            self.assertTrue((slicer.util.arrayFromVolume(volume) == voxels).all())
            self.assertEqual(volume.GetMTime(), mtime)
        self.delayDisplay("Test passed")

    def test_DifferentGridResampled(self):
        self.delayDisplay("An input on another grid is resampled onto the first input's grid")
        t1 = self._phantom("t1", (0.0, 40.0, 80.0))
        # The same phantom at half the in-plane resolution covers the same space.
        coarse = self._phantom("flair", (0.0, 60.0, 140.0), spacing=self.SPACING)
        coarse.SetSpacing(3.0, 3.0, 3.0)
        coarse.SetOrigin(0.75, 0.75, 0.0)
        output = UnsupervisedSegmentLogic().process([t1, coarse], self._options())
        self.assertTrue(any("resampled" in message for message in output.messages))
        self.assertEqual(output.result.labels.shape, self.SHAPE)
        self.delayDisplay("Test passed")

    def test_NonOverlappingRefused(self):
        self.delayDisplay("Non-overlapping inputs are refused with a clear message")
        t1 = self._phantom("t1", (0.0, 40.0, 80.0))
        far = self._phantom("flair", (0.0, 60.0, 140.0), origin=(1000.0, 0.0, 0.0))
        with self.assertRaises(UserInputError) as raised:
            UnsupervisedSegmentLogic().process([t1, far], self._options())
        self.assertIn("does not overlap", str(raised.exception))
        self.delayDisplay("Test passed")

    def test_SegmentStatisticsAgree(self):
        self.delayDisplay("Volumes agree with the Segment Statistics module")
        output = UnsupervisedSegmentLogic().process(self._inputs(), self._options())
        volumes = segmentStatisticsVolumesCm3(output.segmentation_node)
        for row in output.result.statistics:
            self.assertAlmostEqual(volumes[segment_id(row["label"])], row["volume_ml"], places=4)
        self.delayDisplay("Test passed")

    def test_LesionSegment(self):
        self.delayDisplay("Automatic lesion finding adds a yellow Lesion segment and its table row")
        flair = self._phantom("flair", (0.0, 60.0, 140.0))
        t1c = self._phantom("t1c", (0.0, 40.0, 80.0))
        options = SegmentationOptions(method="gmm", n_clusters=2, mask="nonzero", seed=7, lesion=True)
        output = UnsupervisedSegmentLogic().process([flair, t1c], options)
        segmentation = output.segmentation_node.GetSegmentation()
        self.assertEqual([segmentation.GetNthSegment(i).GetName() for i in range(3)], ["Cluster 1", "Cluster 2", LESION_NAME])
        for component, expected in zip(segmentation.GetSegment("Segment_3").GetColor(), LESION_COLOR):
            self.assertAlmostEqual(component, expected, places=5)
        tissue, lesion = self._expectedVoxels()
        counts = self._segmentVoxelCounts(output.segmentation_node, flair)
        self.assertEqual(sum(counts.values()), tissue + lesion)
        self.assertAlmostEqual(counts["Segment_3"], lesion, delta=0.05 * lesion)  # a few bright noise voxels beside it
        self.assertEqual(output.table_node.GetCellText(2, 0), LESION_NAME)
        self.assertEqual(int(output.table_node.GetCellText(2, 2)), counts["Segment_3"])
        text = UnsupervisedSegmentLogic.resultText(output)
        self.assertIn("the last one is the lesion found automatically", text)
        self.assertIn("lesion type", text)
        self.assertIn("flair as flair", text)
        self.delayDisplay("Test passed")

    def _headVisit(self, name: str, lesionCentresMm, origin=(0.0, 0.0, 0.0), seed: int = 0):
        """A brain-like ellipsoid (grey matter shell, white matter inside) on a 2 mm grid, 5 mm lesions at
        ``lesionCentresMm`` (voxel coordinates x 2 mm), the grid's origin at ``origin`` (the head moved)."""
        shape, spacing = (64, 72, 48), 2.0
        i, j, k = np.indices(shape).astype(np.float32) * spacing
        centre = np.asarray(shape) * spacing / 2
        radius = np.sqrt(((i - centre[0]) / 54) ** 2 + ((j - centre[1]) / 64) ** 2 + ((k - centre[2]) / 42) ** 2)
        voxels = np.zeros(shape, np.float32)
        voxels[radius < 1.0] = 330.0
        voxels[radius < 0.85] = 300.0
        for lesion in lesionCentresMm:
            voxels[np.sqrt((i - lesion[0]) ** 2 + (j - lesion[1]) ** 2 + (k - lesion[2]) ** 2) < 5.0] = 620.0
        inside = voxels > 0
        voxels[inside] += np.random.default_rng(seed).normal(0.0, 12.0, int(inside.sum())).astype(np.float32)
        ijkToRAS = np.diag([spacing, spacing, spacing, 1.0])
        ijkToRAS[:3, 3] = origin
        return slicer.util.addVolumeFromArray(np.transpose(np.maximum(voxels, 0), (2, 1, 0)).copy(), ijkToRAS, name)

    def test_CompareTwoVisits(self):
        self.delayDisplay("Two visits: the follow-up moved and with a new lesion; the change segmentation and table")
        stable, new = (50.0, 60.0, 48.0), (80.0, 90.0, 52.0)
        baseline = self._headVisit("visit1 FLAIR", [stable])
        followUp = self._headVisit("visit2 FLAIR", [stable, new], origin=(4.0, -3.0, 2.0), seed=1)
        output = UnsupervisedSegmentLogic().compareVisits([baseline], [followUp])
        segmentation = output.segmentation_node.GetSegmentation()
        self.assertEqual([segmentation.GetNthSegment(i).GetName() for i in range(3)],
                         ["New or enlarging", "Shrinking or resolved", "Stable lesion"])
        changes = [lesion.change for lesion in output.comparison.lesions]
        self.assertEqual(sorted(changes), ["new", "stable"])
        sphereMl = 4 / 3 * np.pi * 5.0 ** 3 / 1000
        newLesion = output.comparison.lesions[changes.index("new")]
        self.assertAlmostEqual(newLesion.new_ml, sphereMl, delta=0.5 * sphereMl)
        table = output.table_node
        self.assertEqual(table.GetCellText(table.GetNumberOfRows() - 1, 0), "total")
        self.assertEqual(output.registered_volume_node.GetImageData().GetDimensions(), baseline.GetImageData().GetDimensions())
        self.assertIn("Done:", UnsupervisedSegmentLogic.comparisonText(output))
        self.delayDisplay("Test passed")

