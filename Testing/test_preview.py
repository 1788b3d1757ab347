"""Offscreen previews drawn by Slicer's segmentation displayable managers (slicer-core + VTK)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
slicer = pytest.importorskip("slicer")
Image = pytest.importorskip("PIL.Image")

from UnsupervisedSegmentLib.core.grid import align_channels  # noqa: E402
from UnsupervisedSegmentLib.core.output_files import PREVIEW_3D_FILE, PREVIEW_AXIAL_FILE  # noqa: E402
from UnsupervisedSegmentLib.core.volume import Channel, Grid  # noqa: E402
from UnsupervisedSegmentLib.mrml import logic as mrml_logic  # noqa: E402
from UnsupervisedSegmentLib.mrml.headless import HeadlessSlicer  # noqa: E402
from UnsupervisedSegmentLib.mrml.preview import render_previews  # noqa: E402
from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions, segment_channels  # noqa: E402

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
SIZE = (400, 400)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(int)


def has_colour(image: np.ndarray, colour, tolerance: int = 30, minimum: int = 20) -> bool:
    """At least ``minimum`` pixels within ``tolerance`` of an RGB colour (0-1 floats)."""
    target = np.round(np.asarray(colour) * 255).astype(int)
    return int(np.count_nonzero(np.abs(image - target).max(axis=1) <= tolerance)) >= minimum


@pytest.fixture(scope="module")
def sample_previews(tmp_path_factory):
    """The sample's four inputs segmented by the engine (k=3) and previewed."""
    nib = pytest.importorskip("nibabel")
    channels = []
    for name in ("t1", "t1_contrast", "flair", "adc"):
        image = nib.load(SAMPLE_DIR / f"{name}.nii.gz")
        grid = Grid(image.shape, image.affine)
        channels.append(Channel(name, np.asarray(image.dataobj, dtype=np.float32), grid))
    channels, _ = align_channels(channels)
    result = segment_channels(channels, SegmentationOptions())
    out = tmp_path_factory.mktemp("previews")
    return result, render_previews(result, out, background=channels[2], size=SIZE)


def test_previews_written(sample_previews):
    _, paths = sample_previews
    assert [p.name for p in paths] == [PREVIEW_3D_FILE, PREVIEW_AXIAL_FILE]
    for path in paths:
        assert Image.open(path).size == SIZE


def test_axial_overlay_shows_every_segment(sample_previews):
    result, paths = sample_previews
    axial = pixels(paths[1])
    for segment in result.segments:  # outlines are drawn in the segment's own colour
        assert has_colour(axial, segment.color), segment.name
    assert np.count_nonzero(axial.max(axis=1) > 40) > 0.1 * len(axial)  # background volume visible


def test_3d_view_shows_surfaces(sample_previews):
    result, paths = sample_previews
    view = pixels(paths[0])
    assert np.count_nonzero(view.min(axis=1) < 230) > 0.05 * len(view)  # not just the white background
    smallest = min(result.segments, key=lambda s: int(np.count_nonzero(result.labels == s.label)))
    assert has_colour(view, smallest.color, tolerance=60), smallest.name  # drawn opaque, the others see-through


def test_preview_from_segmentation_file(tmp_path):
    """A ``.seg.nrrd`` written by Slicer's storage node, over a background image file."""
    app = HeadlessSlicer.create()
    background = app.load_volume(SAMPLE_DIR / "flair.nii.gz")
    labels = np.zeros(background.GetImageData().GetDimensions(), np.uint8)
    labels[60:200, 60:200, 8:24] = 1
    labels[100:140, 100:140, 12:20] = 2
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    from UnsupervisedSegmentLib.core.palette import Segment

    segments = [Segment(1, "outer", (0.2, 0.4, 0.9)), Segment(2, "inner", (0.9, 0.1, 0.1))]
    mrml_logic.write_segments(node, labels, segments, background)
    storage = app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "boxes.seg.nrrd"))
    assert storage.WriteData(node)
    paths = render_previews(tmp_path / "boxes.seg.nrrd", tmp_path / "out", background=SAMPLE_DIR / "flair.nii.gz", size=SIZE)
    assert has_colour(pixels(paths[1]), (0.9, 0.1, 0.1))
    assert has_colour(pixels(paths[0]), (0.9, 0.1, 0.1), tolerance=60)


def test_file_without_background_refused(tmp_path):
    with pytest.raises(ValueError, match="background"):
        render_previews(tmp_path / "missing.seg.nrrd", tmp_path)


def test_3d_style_puts_the_lesion_in_focus_on_smoothed_surfaces(tmp_path):
    """The Lesion segment, when there is one, is opaque and the others faint; surfaces are smoothed as
    Slicer does by default (the 3D preview, not Apply, which keeps its fast unsmoothed surfaces)."""
    from UnsupervisedSegmentLib.core.palette import LESION_COLOR, LESION_NAME, Segment
    from UnsupervisedSegmentLib.mrml import preview

    labels = np.zeros((30, 30, 20), np.uint8)
    labels[2:28, 2:28, 2:18] = 1
    labels[8:12, 8:12, 8:12] = 2  # the smallest segment is not the lesion
    labels[15:25, 15:25, 5:15] = 3
    segments = [Segment(1, "Cluster 1", (0.1, 0.4, 0.7)), Segment(2, "Cluster 2", (0.2, 0.6, 0.2)),
                Segment(3, LESION_NAME, LESION_COLOR)]
    app = HeadlessSlicer.create()
    grid = Grid(labels.shape, np.eye(4))
    reference = mrml_logic.volume_node_from_channel(app.scene, Channel("t1", labels.astype(np.float32), grid))
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "preview")
    mrml_logic.write_segments(node, labels, segments, reference)
    mrml_logic.show_segmentation(node)
    preview.smooth_surfaces(node)
    rule = slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule
    assert float(node.GetSegmentation().GetConversionParameter(rule.GetSmoothingFactorParameterName())) == 0.5
    focus = preview._style_for_preview(node)
    display = node.GetDisplayNode()
    assert node.GetSegmentation().GetSegment(focus).GetName() == LESION_NAME
    opacities = {node.GetSegmentation().GetSegment(s).GetName(): display.GetSegmentOpacity3D(s)
                 for s in node.GetSegmentation().GetSegmentIDs()}
    assert opacities[LESION_NAME] == 1.0 and max(v for k, v in opacities.items() if k != LESION_NAME) <= 0.1
    assert preview._caption(node, focus).startswith(f"{LESION_NAME}: 1.0 mL")
    for segment_id in node.GetSegmentation().GetSegmentIDs():
        lesion = node.GetSegmentation().GetSegment(segment_id).GetName() == LESION_NAME
        assert (display.GetSegmentOpacity2DFill(segment_id) > 0) == lesion  # on the slice: only the lesion filled
    assert preview._slice_offset(node, focus, reference) == pytest.approx(5.0)  # the lesion's fullest slice (k 5..14)
    bounds = [0.0] * 6
    reference.GetRASBounds(bounds)
    assert preview._slice_offset(node, None, reference) == pytest.approx((bounds[4] + bounds[5]) / 2)
    app.scene.Clear(True)



def test_tissue_classes_are_cut_away_in_3d_only():
    """Brain tissue classes: a 3D-only copy with CSF, grey and white matter removed in the anterior-superior
    quarter (white matter shows inside grey matter), CSF translucent; the Lesion kept whole; the slice views
    keep the whole segmentation."""
    from types import SimpleNamespace

    from UnsupervisedSegmentLib.core.palette import LESION_COLOR, LESION_NAME, TISSUE_COLORS, TISSUE_NAMES, Segment
    from UnsupervisedSegmentLib.mrml import preview

    labels = np.zeros((40, 40, 40), np.uint8)
    labels[2:38, 2:38, 2:38] = 1
    labels[5:35, 5:35, 5:35] = 2
    labels[10:30, 10:30, 10:30] = 3
    labels[22:26, 22:26, 22:26] = 4  # a lesion in the quarter that is cut away
    segments = [Segment(n + 1, name, colour) for n, (name, colour) in enumerate(zip(TISSUE_NAMES, TISSUE_COLORS))]
    segments.append(Segment(4, LESION_NAME, LESION_COLOR))
    grid = Grid(labels.shape, np.eye(4))
    result = SimpleNamespace(labels=labels, segments=segments, grid=grid)
    app = HeadlessSlicer.create()
    reference = mrml_logic.volume_node_from_channel(app.scene, Channel("t1", labels.astype(np.float32), grid))
    node = preview._tissue_cut_away(app, result, reference)
    display = node.GetDisplayNode()
    assert not display.GetVisibility2D() and display.GetVisibility3D()
    segmentation = node.GetSegmentation()
    by_name = {segmentation.GetSegment(s).GetName(): s for s in segmentation.GetSegmentIDs()}
    assert display.GetSegmentOpacity3D(by_name["CSF"]) < 0.5 and display.GetSegmentOpacity3D(by_name["White matter"]) == 1.0
    kept = {}
    for name, segment_id in by_name.items():
        labelmap = slicer.vtkOrientedImageData()
        node.GetBinaryLabelmapRepresentation(segment_id, labelmap)
        kept[name] = int(np.count_nonzero(mrml_logic.voxel_array_from_image(labelmap)))
    assert kept[LESION_NAME] == 4 ** 3  # whole
    assert 0 < kept["White matter"] < np.count_nonzero(labels == 3)  # a quarter removed
    assert preview._tissue_cut_away(app, SimpleNamespace(labels=labels, segments=segments[3:], grid=grid), reference) is None
    app.scene.Clear(True)
