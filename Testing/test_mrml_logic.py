"""The Qt-free MRML logic on Slicer's real MRML library (slicer-core): nodes in, nodes out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vtk

slicer = pytest.importorskip("slicer")

from UnsupervisedSegmentLib.core.errors import UserInputError  # noqa: E402
from UnsupervisedSegmentLib.core.palette import LESION_COLOR, LESION_NAME, segment_color, segment_name  # noqa: E402
from UnsupervisedSegmentLib.mrml import logic as mrml_logic  # noqa: E402
from UnsupervisedSegmentLib.mrml.headless import HeadlessSlicer  # noqa: E402
from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions  # noqa: E402

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
PHANTOM_SPACING = (1.5, 1.5, 3.0)
TISSUE = (slice(4, 36), slice(4, 32), slice(2, 10))
LESION = (slice(14, 22), slice(12, 20), slice(4, 8))
TWO_CLUSTERS = SegmentationOptions(method="gmm", n_clusters=2, seed=7)


def add_volume(app: HeadlessSlicer, name: str, voxels: np.ndarray, ijk_to_ras: np.ndarray, vector: bool = False):
    """A volume node holding ``voxels`` (i, j, k[, c]) on ``ijk_to_ras``."""
    node = app.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode" if vector else "vtkMRMLScalarVolumeNode", name)
    node.SetIJKToRASMatrix(mrml_logic.array_to_matrix(ijk_to_ras))
    node.SetAndObserveImageData(mrml_logic.image_from_array(voxels.astype(np.float32)))
    return node


def phantom(values: tuple[float, float, float], seed: int) -> np.ndarray:
    """Background, tissue and lesion intensities with a little noise inside."""
    voxels = np.full((40, 36, 12), values[0], np.float32)
    voxels[TISSUE] = values[1]
    voxels[LESION] = values[2]
    noise = np.random.default_rng(seed).normal(0, 1, voxels.shape).astype(np.float32)
    return np.where(voxels > 0, voxels + noise, 0).astype(np.float32)


def phantom_affine(origin=(0.0, 0.0, 0.0), spacing=PHANTOM_SPACING) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


@pytest.fixture
def app() -> HeadlessSlicer:
    app = HeadlessSlicer.create()
    yield app
    app.scene.Clear(True)


@pytest.fixture
def phantom_inputs(app):
    return [
        add_volume(app, "t1", phantom((0, 40, 80), 1), phantom_affine()),
        add_volume(app, "flair", phantom((0, 60, 140), 2), phantom_affine()),
    ]


def run(app, volumes, options=TWO_CLUSTERS, **kwargs) -> mrml_logic.MRMLSegmentationOutput:
    return mrml_logic.segment_volume_nodes(volumes, options, app.scene, app.segmentations_logic, **kwargs)


def exported_counts(app, segmentation_node, reference) -> dict[str, int]:
    """Voxels of every segment, read back through Slicer's labelmap export."""
    segmentation = segmentation_node.GetSegmentation()
    counts = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        counts[segment_id] = int(np.count_nonzero(
            mrml_logic.mask_from_segment(segmentation_node, segment_id, reference, app.segmentations_logic)
        ))
    return counts


def table_rows(table_node) -> list[dict[str, str]]:
    columns = [table_node.GetColumnName(c) for c in range(table_node.GetNumberOfColumns())]
    return [
        {name: table_node.GetCellText(row, c) for c, name in enumerate(columns)}
        for row in range(table_node.GetNumberOfRows())
    ]


@pytest.fixture(scope="module")
def sample_run():
    """The bundled four-input sample, loaded by Slicer's storage nodes and segmented once (k=3)."""
    app = HeadlessSlicer.create()
    volumes = [app.load_volume(SAMPLE_DIR / f"{name}.nii.gz") for name in ("t1", "t1_contrast", "flair", "adc")]
    before = [mrml_logic.voxel_array(volume).copy() for volume in volumes]
    output = run(app, volumes, SegmentationOptions())
    yield app, volumes, before, output
    app.scene.Clear(True)


def test_sample_segments_names_colours_and_surfaces(sample_run):
    app, volumes, _, output = sample_run
    segmentation = output.segmentation_node.GetSegmentation()
    assert [segmentation.GetNthSegmentID(i) for i in range(3)] == ["Segment_1", "Segment_2", "Segment_3"]
    for index, engine_segment in enumerate(output.result.segments):
        segment = segmentation.GetNthSegment(index)
        assert segment.GetName() == engine_segment.name == segment_name(index + 1)
        assert segment.GetColor() == pytest.approx(segment_color(index + 1))
        surface = vtk.vtkPolyData()
        output.segmentation_node.GetClosedSurfaceRepresentation(segmentation.GetNthSegmentID(index), surface)
        assert surface.GetNumberOfPoints() > 100
    display = output.segmentation_node.GetDisplayNode()
    assert display.GetVisibility2DFill() and display.GetVisibility2DOutline() and display.GetVisibility3D()


def test_sample_voxel_counts_match_engine_labels(sample_run):
    app, volumes, _, output = sample_run
    counts = exported_counts(app, output.segmentation_node, volumes[0])
    labels = output.result.labels
    assert counts == {f"Segment_{k}": int(np.count_nonzero(labels == k)) for k in (1, 2, 3)}


def test_sample_table_volumes_and_means(sample_run):
    app, volumes, _, output = sample_run
    voxel_mm3 = float(np.prod(volumes[0].GetSpacing()))
    rows = table_rows(output.table_node)
    assert list(rows[0])[:5] == ["Segment", "Label", "Voxel count", "Volume [mm3]", "Volume [cm3]"]
    assert "Mean flair" in rows[0] and "Mean adc" in rows[0]
    assert output.table_node.GetColumnUnitLabel("Volume [cm3]") == "cm3 (mL)"
    for row, statistics in zip(rows, output.result.statistics):
        voxels = int(row["Voxel count"])
        assert voxels == statistics["voxels"]
        assert float(row["Volume [mm3]"]) == pytest.approx(voxels * voxel_mm3, rel=1e-5)
        assert float(row["Volume [cm3]"]) == pytest.approx(voxels * voxel_mm3 / 1000, rel=1e-5)
        assert float(row["Mean flair"]) == pytest.approx(statistics["mean_flair"], rel=1e-5)


def test_sample_inputs_untouched_and_geometry_is_first_inputs(sample_run):
    app, volumes, before, output = sample_run
    for volume, voxels in zip(volumes, before):
        np.testing.assert_array_equal(mrml_logic.voxel_array(volume), voxels)
    assert output.segmentation_node.GetNodeReference(
        slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    ) is volumes[0]
    assert output.result.grid.same_as(mrml_logic.volume_grid(volumes[0]))


def test_seg_nrrd_written_by_storage_node_and_read_back(sample_run, tmp_path):
    app, volumes, _, output = sample_run
    path = tmp_path / "clusters.seg.nrrd"
    storage = app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.WriteData(output.segmentation_node)
    loaded = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    reader = app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    reader.SetFileName(str(path))
    assert reader.ReadData(loaded)
    segmentation = loaded.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(3)] == ["Cluster 1", "Cluster 2", "Cluster 3"]
    assert exported_counts(app, loaded, volumes[0]) == exported_counts(app, output.segmentation_node, volumes[0])
    slicerio = pytest.importorskip("slicerio")
    names = [segment["name"] for segment in slicerio.read_segmentation(str(path), skip_voxels=True)["segments"]]
    assert names == ["Cluster 1", "Cluster 2", "Cluster 3"]


def test_phantom_volumes_exact(app, phantom_inputs):
    output = run(app, phantom_inputs)
    lesion = 8 * 8 * 4
    tissue = 32 * 28 * 8 - lesion
    assert exported_counts(app, output.segmentation_node, phantom_inputs[0]) == {"Segment_1": tissue, "Segment_2": lesion}
    rows = table_rows(output.table_node)
    voxel_mm3 = float(np.prod(PHANTOM_SPACING))
    assert [int(row["Voxel count"]) for row in rows] == [tissue, lesion]
    assert float(rows[1]["Volume [cm3]"]) == pytest.approx(lesion * voxel_mm3 / 1000)
    assert float(rows[1]["Mean t1"]) == pytest.approx(80, abs=0.5)


def test_rerun_replaces_segments_without_new_nodes(app, phantom_inputs):
    first = run(app, phantom_inputs)
    nodes = app.scene.GetNumberOfNodes()
    second = run(app, phantom_inputs, SegmentationOptions(n_clusters=3, seed=7),
                 segmentation_node=first.segmentation_node, table_node=first.table_node)
    assert second.segmentation_node is first.segmentation_node and second.table_node is first.table_node
    assert second.segmentation_node.GetSegmentation().GetNumberOfSegments() == 3
    assert second.table_node.GetNumberOfRows() == 3
    third = run(app, phantom_inputs, segmentation_node=first.segmentation_node, table_node=first.table_node)
    assert third.segmentation_node.GetSegmentation().GetNumberOfSegments() == 2
    assert app.scene.GetNumberOfNodes() == nodes


def test_inputs_on_other_grid_are_resampled(app):
    t1 = add_volume(app, "t1", phantom((0, 40, 80), 1), phantom_affine())
    # the same object sampled at twice the in-plane spacing, covering the same space
    coarse = phantom((0, 60, 140), 2)[::2, ::2, :]
    flair = add_volume(app, "flair", np.ascontiguousarray(coarse), phantom_affine((0.75, 0.75, 0), (3.0, 3.0, 3.0)))
    output = run(app, [t1, flair])
    assert any("resampled" in message for message in output.messages)
    assert output.result.labels.shape == (40, 36, 12)
    counts = exported_counts(app, output.segmentation_node, t1)
    assert counts["Segment_2"] == pytest.approx(8 * 8 * 4, rel=0.25)


def test_non_overlapping_inputs_refused(app):
    t1 = add_volume(app, "t1", phantom((0, 40, 80), 1), phantom_affine())
    far = add_volume(app, "flair", phantom((0, 60, 140), 2), phantom_affine((500.0, 0.0, 0.0)))
    nodes = app.scene.GetNumberOfNodes()
    with pytest.raises(UserInputError, match="does not overlap"):
        run(app, [t1, far])
    assert app.scene.GetNumberOfNodes() == nodes


def test_rgb_volume_gives_one_channel_per_colour(app):
    voxels = np.stack([phantom((0, 40, 80), 1), phantom((0, 60, 140), 2), phantom((0, 50, 20), 3)], axis=-1)
    rgb = add_volume(app, "photo", voxels, phantom_affine(), vector=True)
    channels = mrml_logic.channels_from_volume_nodes([rgb])
    assert [channel.name for channel in channels] == ["photo_r", "photo_g", "photo_b"]
    np.testing.assert_allclose(channels[2].data, voxels[..., 2])
    output = run(app, [rgb])
    assert [row["Segment"] for row in table_rows(output.table_node)] == ["Cluster 1", "Cluster 2"]


def test_duplicate_names_made_unique(app):
    a = add_volume(app, "scan", phantom((0, 40, 80), 1), phantom_affine())
    b = add_volume(app, "scan", phantom((0, 60, 140), 2), phantom_affine())
    assert [c.name for c in mrml_logic.channels_from_volume_nodes([a, b])] == ["scan", "scan (2)"]


def test_mask_segment_restricts_clustering(app, phantom_inputs):
    first = run(app, phantom_inputs)
    nodes = app.scene.GetNumberOfNodes()
    # cluster only inside the lesion segment of the first run: every labelled voxel lies in it
    output = run(app, phantom_inputs, mask_segment=(first.segmentation_node, "Segment_2"))
    assert np.count_nonzero(output.result.labels) == 8 * 8 * 4
    assert app.scene.GetNumberOfNodes() == nodes + 3  # segmentation, its display node, table: no temporary left


def test_missing_mask_segment_is_a_user_error(app, phantom_inputs):
    segmentation = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    with pytest.raises(UserInputError, match="segment"):
        run(app, phantom_inputs, mask_segment=(segmentation, "nope"))


def test_no_input_is_a_user_error(app):
    with pytest.raises(UserInputError, match="at least one"):
        run(app, [])


def test_transformed_first_input(app, phantom_inputs):
    transform = app.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = np.eye(4)
    shift[:3, 3] = (10.0, -5.0, 2.0)
    transform.SetMatrixTransformToParent(mrml_logic.array_to_matrix(shift))
    for volume in phantom_inputs:
        volume.SetAndObserveTransformNodeID(transform.GetID())
    output = run(app, phantom_inputs)
    assert output.segmentation_node.GetTransformNodeID() == transform.GetID()
    assert np.allclose(output.result.grid.affine[:3, 3], shift[:3, 3])
    assert exported_counts(app, output.segmentation_node, phantom_inputs[0])["Segment_2"] == 8 * 8 * 4


@pytest.fixture
def tumour_inputs(app):
    """Volumes named as Slicer shows them, "flair" and "t1c": the lesion cube is bright on both."""
    return [
        add_volume(app, "flair", phantom((0, 60, 140), 1), phantom_affine()),
        add_volume(app, "t1c", phantom((0, 40, 80), 2), phantom_affine()),
    ]


def test_lesion_segment_named_coloured_and_in_the_table(app, tumour_inputs):
    output = run(app, tumour_inputs, SegmentationOptions(n_clusters=2, seed=7, lesion=True))
    segmentation = output.segmentation_node.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(3)] == ["Cluster 1", "Cluster 2", LESION_NAME]
    lesion = segmentation.GetSegment("Segment_3")
    assert lesion.GetColor() == pytest.approx(LESION_COLOR) and lesion.GetLabelValue() == 3
    truth = np.zeros((40, 36, 12), bool)
    truth[LESION] = True
    found = output.result.lesion
    assert found[truth].all() and np.count_nonzero(found & ~truth) <= 5  # at most a few bright noise voxels beside it
    # the lesion's voxels left cluster 2, which is the lesion cube here
    counts = exported_counts(app, output.segmentation_node, tumour_inputs[0])
    assert counts["Segment_2"] == 0 and counts["Segment_3"] == np.count_nonzero(found)
    assert counts["Segment_1"] + counts["Segment_3"] == 32 * 28 * 8
    rows = table_rows(output.table_node)
    assert [row["Segment"] for row in rows] == ["Cluster 1", "Cluster 2", LESION_NAME]
    assert int(rows[2]["Voxel count"]) == np.count_nonzero(found)
    assert float(rows[2]["Mean flair"]) == pytest.approx(140, abs=1.0)
    assert any(note.startswith("lesion: lesion type") and "flair as flair" in note for note in output.result.notes)


def test_rerun_with_and_without_lesion_replaces_segments(app, tumour_inputs):
    with_lesion = SegmentationOptions(n_clusters=2, seed=7, lesion=True)
    first = run(app, tumour_inputs, with_lesion)
    nodes = app.scene.GetNumberOfNodes()
    outputs = {"segmentation_node": first.segmentation_node, "table_node": first.table_node}
    second = run(app, tumour_inputs, TWO_CLUSTERS, **outputs)
    segmentation = second.segmentation_node.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(2)] == ["Cluster 1", "Cluster 2"]
    assert segmentation.GetNumberOfSegments() == 2 and second.table_node.GetNumberOfRows() == 2
    assert exported_counts(app, second.segmentation_node, tumour_inputs[0])["Segment_2"] == 8 * 8 * 4
    third = run(app, tumour_inputs, with_lesion, **outputs)
    assert third.segmentation_node.GetSegmentation().GetNumberOfSegments() == 3 and third.table_node.GetNumberOfRows() == 3
    assert app.scene.GetNumberOfNodes() == nodes


def test_lesion_without_named_inputs_is_refused(app, phantom_inputs):
    phantom_inputs[1].SetName("pd")
    with pytest.raises(ValueError, match="named e.g. 'flair'"):
        run(app, phantom_inputs, SegmentationOptions(n_clusters=2, lesion=True))


def test_mrf_option_passes_through(app):
    """On a noisy phantom the MRF prior removes the speckle that voxel-wise labels leave."""
    clean = phantom((0, 40, 80), 1)
    noise = np.random.default_rng(3).normal(0, 12, clean.shape)
    volume = add_volume(app, "t1", np.where(clean > 0, np.maximum(clean + noise, 1), 0).astype(np.float32), phantom_affine())
    truth = np.zeros((40, 36, 12), np.uint8)
    truth[TISSUE] = 1
    truth[LESION] = 2
    progress = []
    plain = run(app, [volume]).result.labels
    smooth = run(app, [volume], SegmentationOptions(n_clusters=2, seed=7, mrf_beta=1.0, mrf_neighbourhood=26),
                 progress=progress.append).result.labels
    assert any("MRF, beta=1, 26-neighbourhood" in message for message in progress)
    assert np.count_nonzero(smooth != truth) < np.count_nonzero(plain != truth) / 10


def test_automatic_number_of_clusters(app):
    tissues = phantom((0, 40, 120), 1)
    tissues[4:12, 4:32, 2:10] += 40  # a slab of the tissue, apart from the lesion, brighter: three classes
    volume = add_volume(app, "t1", tissues, phantom_affine())
    output = run(app, [volume], SegmentationOptions(auto_clusters=(2, 5), seed=7))
    assert output.result.n_clusters == 3 and set(output.result.bic) == {2, 3, 4, 5}
    assert output.segmentation_node.GetSegmentation().GetNumberOfSegments() == 3
    assert output.table_node.GetNumberOfRows() == 3
    assert output.result.notes[0] == "k = 3 chosen by BIC among [2, 3, 4, 5]"
