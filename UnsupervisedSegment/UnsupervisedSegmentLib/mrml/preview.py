"""Offscreen pictures of a result, drawn by Slicer's own segmentation display code.

The segmentation goes into a MRML scene (slicer-core) and is rendered by Slicer's displayable
managers (``vtkMRMLSegmentationsDisplayableManager3D`` / ``...2D``) in offscreen VTK windows,
as Slicer's 3D and Red slice views do: closed surfaces in 3D, fill and outline over the
background volume on an axial slice. Needs an offscreen OpenGL context: set
``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` (or OSMesa) on machines without a display.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import slicer
import vtk

from ..core.output_files import PREVIEW_3D_FILE, PREVIEW_AXIAL_FILE
from ..core.palette import LESION_NAME, TISSUE_NAMES
from ..core.volume import Channel
from ..pipeline.segmentation import SegmentationResult
from . import logic as mrml_logic
from .headless import HeadlessSlicer

#: 3D opacity of every segment but the one in focus (the Lesion, else the smallest): faint context.
OUTER_SEGMENT_OPACITY_3D = 0.06
#: Closed surfaces smoothed as Slicer does by default (the fast conversion of Apply does not smooth).
PREVIEW_SMOOTHING = "0.5"
#: The 3D camera frames the segment in focus, and at least this share of the whole brain's extent.
CONTEXT_SHARE = 0.6
FILL_OPACITY_2D = 0.4
#: Brain tissue classes in 3D: cut away in front and above (down to this far below the brain's centre), CSF
#: translucent, grey and white matter opaque.
CUT_BELOW_CENTRE_MM = 10.0
CUT_AWAY_OPACITY = {"CSF": 0.25, "Grey matter": 1.0, "White matter": 1.0}
CUT_AWAY_CAPTION = "CSF, grey and white matter, cut away in front and above"
#: With a Lesion segment, the other segments on the axial slice: outline only, faint.
CONTEXT_OUTLINE_OPACITY_2D = 0.3

MANAGERS_3D = (
    "vtkMRMLCameraDisplayableManager",
    "vtkMRMLViewDisplayableManager",
    "vtkMRMLSegmentationsDisplayableManager3D",
)
MANAGERS_2D = ("vtkMRMLSegmentationsDisplayableManager2D",)


def render_previews(
    result: SegmentationResult | str | Path,
    output_dir: str | Path,
    background: Channel | str | Path | None = None,
    size: tuple[int, int] = (800, 800),
) -> list[Path]:
    """Write ``preview_3d.png`` and ``preview_axial.png`` into ``output_dir``; return their paths.

    ``result`` is an engine result or a ``.seg.nrrd`` file; ``background`` (the volume under
    the axial overlay) is a channel on the result's grid or an image file.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    app = HeadlessSlicer.create()
    background_node = _background_node(app, background, result)
    segmentation_node = _segmentation_node(app, result, background_node)
    focus = _style_for_preview(segmentation_node)
    cut_away = _tissue_cut_away(app, result, background_node) if isinstance(result, SegmentationResult) else None
    if cut_away is not None:  # the tissue classes in 3D from the cut-away copy; the slice from the whole
        segmentation_node.GetDisplayNode().SetVisibility3D(False)
    for factory in (
        slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance(),
        slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance(),
    ):
        factory.SetMRMLApplicationLogic(app.app_logic)
    app.app_logic.SetSliceLogics(vtk.vtkCollection())
    app.app_logic.SetViewLogics(vtk.vtkCollection())
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(app.scene, True)
    paths = [output_dir / PREVIEW_3D_FILE, output_dir / PREVIEW_AXIAL_FILE]
    caption = _caption(segmentation_node, focus)
    if cut_away is not None:
        lesion = focus is not None and segmentation_node.GetSegmentation().GetSegment(focus).GetName() == LESION_NAME
        caption = (caption.split(" (")[0] + "; " if lesion else "") + CUT_AWAY_CAPTION
        focus = focus if lesion else None
    _render_3d(app, paths[0], size, _framing(segmentation_node, focus), caption)
    bounds = _surfaces_bounds(segmentation_node) or _ras_bounds(background_node)
    centre = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, _slice_offset(segmentation_node, focus, background_node)]
    width = 1.1 * max(bounds[1] - bounds[0], bounds[3] - bounds[2], 1.0)
    _render_axial(app, centre, width, background_node, paths[1], size)
    app.scene.Clear(True)
    return paths


def _tissue_cut_away(app: HeadlessSlicer, result: SegmentationResult,
                     reference: slicer.vtkMRMLVolumeNode) -> slicer.vtkMRMLSegmentationNode | None:
    """For brain tissue classes: a 3D-only copy of the segmentation with the tissue classes cut away in the
    anterior-superior quarter of the brain (facing the camera), so white matter shows inside grey matter inside
    CSF; the Lesion is kept whole and opaque. None when the result has no tissue classes."""
    tissue = [segment.label for segment in result.segments if segment.name in TISSUE_NAMES]
    if not tissue:
        return None
    labels = np.array(result.labels, copy=True)
    inside = labels > 0
    indices = np.indices(labels.shape, dtype=np.float32).reshape(3, -1)
    ras = (result.grid.affine[:3, :3] @ indices + result.grid.affine[:3, 3:4]).reshape(3, *labels.shape)
    centre = [float(np.mean(ras[axis][inside])) for axis in range(3)]
    wedge = (ras[1] > centre[1]) & (ras[2] > centre[2] - CUT_BELOW_CENTRE_MM)
    labels[wedge & np.isin(labels, tissue)] = 0
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "preview cut-away")
    mrml_logic.write_segments(node, labels, result.segments, reference)
    mrml_logic.show_segmentation(node)
    smooth_surfaces(node)
    display = node.GetDisplayNode()
    display.SetVisibility2D(False)
    segmentation = node.GetSegmentation()
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        display.SetSegmentOpacity3D(segment_id, CUT_AWAY_OPACITY.get(segmentation.GetSegment(segment_id).GetName(), 1.0))
    return node


def _background_node(
    app: HeadlessSlicer, background: Channel | str | Path | None, result: SegmentationResult | str | Path
) -> slicer.vtkMRMLScalarVolumeNode:
    """The volume shown under the overlay (zeros on the result's grid when none is given)."""
    if isinstance(background, (str, Path)):
        return app.load_volume(background)
    if background is None:
        if not isinstance(result, SegmentationResult):
            raise ValueError("a background volume is needed to preview a segmentation file")
        background = Channel("background", np.zeros(result.grid.shape, np.float32), result.grid)
    return mrml_logic.volume_node_from_channel(app.scene, background)


def _segmentation_node(
    app: HeadlessSlicer, result: SegmentationResult | str | Path, reference: slicer.vtkMRMLVolumeNode
) -> slicer.vtkMRMLSegmentationNode:
    """The result as a displayed segmentation node with closed surfaces."""
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "preview")
    if isinstance(result, SegmentationResult):
        if not mrml_logic.volume_grid(reference).same_as(result.grid):
            raise ValueError("the background channel must be on the result's grid")
        mrml_logic.write_segments(node, result.labels, result.segments, reference)
    else:
        storage = app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
        storage.SetFileName(str(result))
        if not storage.ReadData(node):
            raise OSError(f"could not read segmentation {result}")
    mrml_logic.show_segmentation(node)
    smooth_surfaces(node)
    return node


def smooth_surfaces(node: slicer.vtkMRMLSegmentationNode) -> None:
    """Closed surfaces made again with Slicer's default smoothing and normals (Apply keeps its fast ones)."""
    rule = slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule
    segmentation = node.GetSegmentation()
    for getter, value in (("GetSmoothingFactorParameterName", PREVIEW_SMOOTHING), ("GetComputeSurfaceNormalsParameterName", "1")):
        if hasattr(rule, getter):
            segmentation.SetConversionParameter(getattr(rule, getter)(), value)
    node.RemoveClosedSurfaceRepresentation()
    node.CreateClosedSurfaceRepresentation()


def _style_for_preview(segmentation_node: slicer.vtkMRMLSegmentationNode) -> str | None:
    """The segment in focus (returned) opaque in 3D, the others faint context; a lighter 2D fill.
    In focus: the Lesion segment when it is not empty (on the slice the others are then faint outlines),
    else the smallest non-empty segment."""
    display = segmentation_node.GetDisplayNode()
    display.SetOpacity2DFill(FILL_OPACITY_2D)
    segmentation = segmentation_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    sizes = {segment_id: _surface_area(segmentation_node, segment_id) for segment_id in ids}
    lesion = next((s for s in ids if segmentation.GetSegment(s).GetName() == LESION_NAME and sizes[s] > 0), None)
    focus = lesion or min((s for s in ids if sizes[s] > 0), key=sizes.get, default=None)
    for segment_id in ids:
        display.SetSegmentOpacity3D(segment_id, 1.0 if segment_id == focus else OUTER_SEGMENT_OPACITY_3D)
        if lesion is not None and segment_id != lesion:  # on the slice: the lesion over the image, the clusters faint
            display.SetSegmentOpacity2DFill(segment_id, 0.0)
            display.SetSegmentOpacity2DOutline(segment_id, CONTEXT_OUTLINE_OPACITY_2D)
    return focus


def _ras_bounds(node: slicer.vtkMRMLDisplayableNode) -> list[float]:
    """RAS bounds (xmin, xmax, ymin, ymax, zmin, zmax) of a node."""
    bounds = [0.0] * 6
    node.GetRASBounds(bounds)
    return bounds


def _surfaces_bounds(segmentation_node: slicer.vtkMRMLSegmentationNode) -> list[float] | None:
    """RAS bounds of all closed surfaces together; None if they are all empty."""
    append = vtk.vtkAppendPolyData()
    segmentation = segmentation_node.GetSegmentation()
    for index in range(segmentation.GetNumberOfSegments()):
        surface = vtk.vtkPolyData()
        segmentation_node.GetClosedSurfaceRepresentation(segmentation.GetNthSegmentID(index), surface)
        append.AddInputData(surface)
    append.Update()
    return list(append.GetOutput().GetBounds()) if append.GetOutput().GetNumberOfPoints() else None


def _surface_area(segmentation_node: slicer.vtkMRMLSegmentationNode, segment_id: str) -> float:
    """Area of a segment's closed surface (0 for an empty segment)."""
    surface = vtk.vtkPolyData()
    segmentation_node.GetClosedSurfaceRepresentation(segment_id, surface)
    if surface.GetNumberOfPoints() == 0:
        return 0.0
    mass = vtk.vtkMassProperties()
    mass.SetInputData(surface)
    return mass.GetSurfaceArea()


@contextmanager
def _offscreen_view(size: tuple[int, int], factory, managers: tuple[str, ...]) -> Iterator[tuple]:
    """An offscreen window whose top renderer is driven by ``managers``; torn down in order."""
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetMultiSamples(0)
    window.SetSize(*size)
    window.SetNumberOfLayers(2)
    background, renderer = vtk.vtkRenderer(), vtk.vtkRenderer()
    background.SetLayer(0)
    renderer.SetLayer(1)
    window.AddRenderer(background)
    window.AddRenderer(renderer)
    interactor = vtk.vtkGenericRenderWindowInteractor()
    interactor.SetRenderWindow(window)
    interactor.Initialize()
    for manager in managers:
        if not factory.IsDisplayableManagerRegistered(manager):
            factory.RegisterDisplayableManager(manager)
    group = slicer.vtkMRMLDisplayableManagerGroup()
    group.Initialize(factory, renderer)
    try:
        yield window, background, renderer, group
    finally:
        group.SetMRMLDisplayableNode(None)
        del group
        renderer.RemoveAllViewProps()
        background.RemoveAllViewProps()
        window.Finalize()


def _save(window: vtk.vtkRenderWindow, path: Path) -> None:
    """Render the window and write it as PNG."""
    window.Render()
    grabber = vtk.vtkWindowToImageFilter()
    grabber.SetInput(window)
    grabber.ReadFrontBufferOff()
    writer = vtk.vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputConnection(grabber.GetOutputPort())
    writer.Write()


def _framing(segmentation_node: slicer.vtkMRMLSegmentationNode, focus: str | None) -> list[float] | None:
    """RAS bounds the 3D camera frames: the focus segment's surface, grown to ``CONTEXT_SHARE`` of the whole."""
    whole = _surfaces_bounds(segmentation_node)
    if focus is None or whole is None:
        return whole
    surface = vtk.vtkPolyData()
    segmentation_node.GetClosedSurfaceRepresentation(focus, surface)
    bounds = list(surface.GetBounds())
    for axis in range(3):
        centre = (bounds[2 * axis] + bounds[2 * axis + 1]) / 2
        half = max(bounds[2 * axis + 1] - bounds[2 * axis], CONTEXT_SHARE * (whole[2 * axis + 1] - whole[2 * axis])) / 2
        bounds[2 * axis:2 * axis + 2] = [centre - half, centre + half]
    return bounds


def _caption(segmentation_node: slicer.vtkMRMLSegmentationNode, focus: str | None) -> str:
    """The focus segment's name and volume (its voxels, as in the statistics), for the 3D picture."""
    if focus is None:
        return ""
    labelmap = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(focus, labelmap)
    voxels = int(np.count_nonzero(mrml_logic.voxel_array_from_image(labelmap))) if labelmap.GetPointData().GetScalars() else 0
    matrix = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(matrix)
    voxel_mm3 = abs(np.linalg.det(mrml_logic.matrix_to_array(matrix)[:3, :3]))
    name = segmentation_node.GetSegmentation().GetSegment(focus).GetName()
    return f"{name}: {voxels * voxel_mm3 / 1000:.1f} mL (opaque; the other segments faint)"


def _render_3d(app: HeadlessSlicer, path: Path, size: tuple[int, int], framing: list[float] | None = None,
               caption: str = "") -> None:
    """The closed surfaces from the front-left, above, framed on ``framing`` (RAS bounds), with a caption."""
    factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
    with _offscreen_view(size, factory, MANAGERS_3D) as (window, background, renderer, group):
        background.SetBackground(1, 1, 1)
        logic = slicer.vtkMRMLViewLogic()
        logic.SetMRMLApplicationLogic(app.app_logic)
        app.app_logic.GetViewLogics().AddItem(logic)
        logic.SetMRMLScene(app.scene)
        view = logic.AddViewNode("1")
        view.SetBoxVisible(False)
        view.SetAxisLabelsVisible(False)
        group.SetMRMLDisplayableNode(view)
        camera = renderer.GetActiveCamera()
        camera.SetFocalPoint(0, 0, 0)
        camera.SetPosition(0, 1, 0)  # anterior
        camera.SetViewUp(0, 0, 1)
        camera.Azimuth(-35)
        camera.Elevation(25)
        if framing is not None:
            renderer.ResetCamera(framing)
        else:
            renderer.ResetCamera()
        camera.Zoom(1.2)
        renderer.ResetCameraClippingRange()
        if caption:
            text = vtk.vtkTextActor()
            text.SetInput(caption)
            text.GetTextProperty().SetFontSize(max(12, size[1] // 40))
            text.GetTextProperty().SetColor(0.1, 0.1, 0.1)
            text.SetDisplayPosition(10, 10)
            background.AddActor2D(text)
        _save(window, path)
        app.app_logic.GetViewLogics().RemoveAllItems()
        logic.SetMRMLScene(None)


def _render_axial(
    app: HeadlessSlicer,
    centre: list[float],
    width: float,
    background_node: slicer.vtkMRMLVolumeNode,
    path: Path,
    size: tuple[int, int],
) -> None:
    """The axial slice through ``centre`` (RAS mm), ``width`` mm wide: fill and outline over the background."""
    factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
    with _offscreen_view(size, factory, MANAGERS_2D) as (window, background, renderer, group):
        renderer.GetActiveCamera().ParallelProjectionOn()
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLApplicationLogic(app.app_logic)
        app.app_logic.GetSliceLogics().AddItem(logic)
        logic.SetMRMLScene(app.scene)
        slice_node = logic.AddSliceNode("Red")
        slice_node.SetOrientation("Axial")
        group.SetMRMLDisplayableNode(slice_node)
        logic.GetSliceCompositeNode().SetBackgroundVolumeID(background_node.GetID())
        logic.ResizeSliceNode(*size)
        logic.FitSliceToBackground()
        slice_node.SetFieldOfView(width, width * size[1] / size[0], slice_node.GetFieldOfView()[2])
        slice_node.JumpSliceByCentering(*centre)
        # In Slicer a CTK light-box manager draws the slice image under the managers' renderer.
        mapper = vtk.vtkImageMapper()
        mapper.SetColorWindow(255)
        mapper.SetColorLevel(127.5)
        mapper.SetInputConnection(logic.GetImageDataConnection())
        image_actor = vtk.vtkActor2D()
        image_actor.SetMapper(mapper)
        background.AddViewProp(image_actor)
        _save(window, path)
        app.app_logic.GetSliceLogics().RemoveAllItems()
        logic.SetMRMLScene(None)


def _slice_offset(
    segmentation_node: slicer.vtkMRMLSegmentationNode, segment_id: str | None, reference: slicer.vtkMRMLVolumeNode
) -> float:
    """Superior coordinate (mm) of the k-slice holding most of a segment, else of the volume centre."""
    image = slicer.vtkOrientedImageData()
    if segment_id and segmentation_node.GetBinaryLabelmapRepresentation(segment_id, image):
        extent = image.GetExtent()
        voxels = mrml_logic.voxel_array_from_image(image)[..., 0]
        if voxels.any():
            k = extent[4] + int(np.argmax(np.count_nonzero(voxels, axis=(0, 1))))
            centre = [(extent[0] + extent[1]) / 2.0, (extent[2] + extent[3]) / 2.0, float(k), 1.0]
            to_world = vtk.vtkMatrix4x4()
            image.GetImageToWorldMatrix(to_world)
            return to_world.MultiplyPoint(centre)[2]
    bounds = _ras_bounds(reference)
    return (bounds[4] + bounds[5]) / 2.0
