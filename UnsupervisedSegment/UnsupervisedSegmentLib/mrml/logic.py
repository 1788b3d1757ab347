"""The Qt-free MRML side of the Slicer module: volume nodes in, a segmentation and a table out.

Imports only Slicer's MRML classes, VTK, numpy and the engine, so it runs inside Slicer and,
through the ``slicer-core`` wheel, in plain Python (tests, previews). The scene and the
Segmentations module logic are passed in; inside Slicer they are ``slicer.mrmlScene`` and
``slicer.modules.segmentations.logic()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..core.errors import UserInputError
from ..core.grid import align_channels
from ..core.palette import segment_id
from ..core.volume import Channel, Grid, component_names
from ..engine.statistics import statistics_columns

if TYPE_CHECKING:  # the pipeline (the whole engine) is imported when a segmentation runs
    from ..core.options import SegmentationOptions
    from ..core.palette import Segment
    from ..pipeline.segmentation import SegmentationResult

#: Statistics table columns: engine key -> (column title, unit).
FIXED_COLUMNS = {
    "segment": ("Segment", ""),
    "label": ("Label", ""),
    "voxels": ("Voxel count", "voxels"),
    "volume_mm3": ("Volume [mm3]", "mm3"),
    "volume_ml": ("Volume [cm3]", "cm3 (mL)"),
}


@dataclass
class MRMLSegmentationOutput:
    """What one run produced: the output nodes, the engine result and messages for the user."""

    segmentation_node: slicer.vtkMRMLSegmentationNode
    table_node: slicer.vtkMRMLTableNode
    result: SegmentationResult
    messages: list[str] = field(default_factory=list)


def matrix_to_array(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """4x4 numpy copy of a VTK matrix."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def array_to_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    """VTK matrix from a 4x4 array."""
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def parent_to_world(node: slicer.vtkMRMLTransformableNode) -> np.ndarray:
    """The 4x4 linear transform from the node's coordinates to world; refuses warping transforms."""
    transform = node.GetParentTransformNode()
    if transform is None:
        return np.eye(4)
    if not transform.IsTransformToWorldLinear():
        raise UserInputError(
            f"input {node.GetName()!r} is under a non-linear transform; harden the transform first"
        )
    matrix = vtk.vtkMatrix4x4()
    transform.GetMatrixTransformToWorld(matrix)
    return matrix_to_array(matrix)


def volume_grid(volume_node: slicer.vtkMRMLVolumeNode) -> Grid:
    """The node's voxel grid in world RAS (IJK-to-RAS composed with linear parent transforms)."""
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    shape = volume_node.GetImageData().GetDimensions()
    return Grid(shape, parent_to_world(volume_node) @ matrix_to_array(ijk_to_ras))


def voxel_array(volume_node: slicer.vtkMRMLVolumeNode) -> np.ndarray:
    """A float copy of the voxels indexed (i, j, k, component); the node is not touched."""
    return voxel_array_from_image(volume_node.GetImageData())


def voxel_array_from_image(image: vtk.vtkImageData) -> np.ndarray:
    """A float copy of an image's voxels indexed (i, j, k, component)."""
    scalars = image.GetPointData().GetScalars()
    components = scalars.GetNumberOfComponents()
    values = numpy_support.vtk_to_numpy(scalars).reshape(tuple(reversed(image.GetDimensions())) + (components,))
    return np.transpose(values, (2, 1, 0, 3)).astype(np.float32)


def channels_from_volume_nodes(volume_nodes: Sequence[slicer.vtkMRMLVolumeNode]) -> list[Channel]:
    """One channel per scalar volume, one per colour component of an RGB/vector volume."""
    if not volume_nodes:
        raise UserInputError("select at least one input volume")
    channels, used = [], set()
    for node in volume_nodes:
        if node is None or node.GetImageData() is None:
            raise UserInputError("an input volume has no image data; load or select another volume")
        grid, values = volume_grid(node), voxel_array(node)
        for index, channel_name in enumerate(component_names(node.GetName() or node.GetID(), values.shape[3])):
            # a view of the fresh copy, in VTK's memory order (as nibabel gives files): no transposing copy
            channels.append(Channel(_unique(channel_name, used), values[..., index], grid, node.GetID()))
    return channels


def _unique(name: str, used: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... if taken; remembers the result in ``used``."""
    candidate, count = name, 1
    while candidate in used:
        count += 1
        candidate = f"{name} ({count})"
    used.add(candidate)
    return candidate


def mask_from_segment(
    segmentation_node: slicer.vtkMRMLSegmentationNode,
    segment_id_: str,
    reference_volume_node: slicer.vtkMRMLVolumeNode,
    segmentations_logic: slicer.vtkSlicerSegmentationsModuleLogic,
) -> np.ndarray:
    """Boolean (i, j, k) mask of one segment on the reference volume's grid."""
    if segmentation_node is None or not segment_id_ or not segmentation_node.GetSegmentation().GetSegment(segment_id_):
        raise UserInputError("select the mask segmentation and the segment to use as mask")
    scene = segmentation_node.GetScene()
    existing = {scene.GetNthNode(index).GetID() for index in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "UnsupervisedSegment temporary mask")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id_)
        exported = segmentations_logic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, labelmap, reference_volume_node,
            slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY,
        )
        if not exported or labelmap.GetImageData() is None:
            raise UserInputError(f"could not put segment {segment_id_!r} on the grid of the first input")
        return voxel_array(labelmap)[..., 0] > 0
    finally:  # the labelmap and what the export made for it (display node, colour table)
        created = [scene.GetNthNode(index) for index in range(scene.GetNumberOfNodes())]
        for node in created:
            if node.GetID() not in existing:
                scene.RemoveNode(node)


def image_from_array(array: np.ndarray, image: vtk.vtkImageData | None = None) -> vtk.vtkImageData:
    """Fill ``image`` (a new vtkImageData if None) with a copy of an (i, j, k[, component]) array."""
    image = image or vtk.vtkImageData()
    components = array.shape[3] if array.ndim == 4 else 1
    image.SetDimensions(*array.shape[:3])
    image.AllocateScalars(numpy_support.get_vtk_array_type(array.dtype), components)
    voxels = np.transpose(array.reshape(array.shape[:3] + (components,)), (2, 1, 0, 3)).reshape(-1, components)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = voxels.squeeze(axis=1) if components == 1 else voxels
    return image


def labels_image(labels: np.ndarray, ijk_to_ras: np.ndarray) -> slicer.vtkOrientedImageData:
    """A label map as an oriented image, from an (i, j, k) array and its local IJK-to-RAS matrix."""
    image = image_from_array(labels, slicer.vtkOrientedImageData())
    image.SetImageToWorldMatrix(array_to_matrix(ijk_to_ras))
    return image


def write_segments(
    segmentation_node: slicer.vtkMRMLSegmentationNode,
    labels: np.ndarray,
    segments: Sequence[Segment],
    reference_volume_node: slicer.vtkMRMLVolumeNode,
) -> None:
    """Replace the node's segments by one per engine segment, sharing one label map layer.

    ``labels`` is indexed on the reference volume's grid; the segmentation takes that
    volume's geometry and parent transform.
    """
    ijk_to_ras = vtk.vtkMatrix4x4()
    reference_volume_node.GetIJKToRASMatrix(ijk_to_ras)
    image = labels_image(labels, matrix_to_array(ijk_to_ras))
    was_modifying = segmentation_node.StartModify()
    try:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
        segmentation_node.SetAndObserveTransformNodeID(reference_volume_node.GetTransformNodeID())
        segmentation = segmentation_node.GetSegmentation()
        segmentation.RemoveAllSegments()
        segmentation.SetSourceRepresentationName(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName())
        for engine_segment in segments:
            segment = slicer.vtkSegment()
            segment.SetName(engine_segment.name)
            segment.SetColor(*engine_segment.color)
            segment.SetLabelValue(engine_segment.label)
            segment.AddRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName(), image)
            segmentation.AddSegment(segment, segment_id(engine_segment.label))
    finally:
        segmentation_node.EndModify(was_modifying)


def volume_node_from_channel(scene: slicer.vtkMRMLScene, channel: Channel) -> slicer.vtkMRMLScalarVolumeNode:
    """A scalar volume node holding a copy of the channel's voxels on its grid."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", channel.name)
    node.SetIJKToRASMatrix(array_to_matrix(channel.grid.affine))
    node.SetAndObserveImageData(image_from_array(np.nan_to_num(channel.data).astype(np.float32)))
    node.CreateDefaultDisplayNodes()
    return node


def show_segmentation(segmentation_node: slicer.vtkMRMLSegmentationNode) -> None:
    """Display as fill and outline in slice views and as closed surfaces in 3D."""
    segmentation_node.CreateDefaultDisplayNodes()
    display = segmentation_node.GetDisplayNode()
    display.SetVisibility(True)
    display.SetVisibility2DFill(True)
    display.SetVisibility2DOutline(True)
    display.SetVisibility3D(True)
    display.SetPreferredDisplayRepresentationName3D(slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName())
    use_fast_surface_conversion(segmentation_node.GetSegmentation())
    segmentation_node.CreateClosedSurfaceRepresentation()


def use_fast_surface_conversion(segmentation: slicer.vtkSegmentation) -> None:
    """The fastest closed surfaces that still show every segment: flying edges without smoothing
    and without normals (on a brain, 10-20 times faster than Slicer's default smoothed surfaces;
    raise the smoothing in the Segmentations module if wanted). Surface nets ("Conversion method"
    1) are not used: they lost a segment enclosed by another in the 3D preview test. Parameters
    are set by the names the release's converter gives them, where it has them."""
    rule = slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule
    parameters = {"GetSmoothingFactorParameterName": "0.0", "GetComputeSurfaceNormalsParameterName": "0"}
    for getter, value in parameters.items():
        if hasattr(rule, getter):
            segmentation.SetConversionParameter(getattr(rule, getter)(), value)


def write_statistics_table(
    table_node: slicer.vtkMRMLTableNode, statistics: Sequence[dict[str, object]], channel_names: Sequence[str]
) -> None:
    """Replace the table's content by one row per segment (counts, volumes, per-input means and stds)."""
    columns = []
    for key in statistics_columns(channel_names):
        kind = vtk.vtkStringArray if key == "segment" else (
            vtk.vtkIntArray if key in ("label", "voxels") else vtk.vtkDoubleArray)
        columns.append((key, *_column_title(key), kind))
    fill_table(table_node, statistics, columns)


def fill_table(table_node: slicer.vtkMRMLTableNode, rows: Sequence[dict[str, object]],
               columns: Sequence[tuple[str, str, str, type]]) -> None:
    """Replace the table's content: one column per (row key, title, unit, VTK array class), one row per row;
    text columns get ``str(value)``, numeric ones the value (an empty cell: NaN)."""
    was_modifying = table_node.StartModify()
    try:
        table_node.RemoveAllColumns()
        for key, title, unit, kind in columns:
            column, text = kind(), kind is vtk.vtkStringArray
            column.SetName(title)
            for row in rows:
                value = row[key]
                column.InsertNextValue(str(value) if text else float("nan") if value == "" else value)
            table_node.AddColumn(column)
            table_node.SetColumnUnitLabel(title, unit)
        _use_column_titles_as_headers(table_node)
    finally:
        table_node.EndModify(was_modifying)


def _use_column_titles_as_headers(table_node: slicer.vtkMRMLTableNode) -> None:
    """Show column titles as headers: ``SetUseColumnTitleAsColumnHeader`` from Slicer 5.6.1, the same
    setting's older name ``SetUseColumnNameAsColumnHeader`` in 5.6.0."""
    if hasattr(table_node, "SetUseColumnTitleAsColumnHeader"):
        table_node.SetUseColumnTitleAsColumnHeader(True)
    else:
        table_node.SetUseColumnNameAsColumnHeader(True)


def _column_title(key: str) -> tuple[str, str]:
    """Table column title and unit of an engine statistics key."""
    if key in FIXED_COLUMNS:
        return FIXED_COLUMNS[key]
    statistic, channel = key.split("_", 1)
    return f"{statistic.capitalize()} {channel}", ""


def segment_volume_nodes(
    volume_nodes: Sequence[slicer.vtkMRMLVolumeNode],
    options: SegmentationOptions,
    scene: slicer.vtkMRMLScene,
    segmentations_logic: slicer.vtkSlicerSegmentationsModuleLogic,
    segmentation_node: slicer.vtkMRMLSegmentationNode | None = None,
    table_node: slicer.vtkMRMLTableNode | None = None,
    mask_segment: tuple[slicer.vtkMRMLSegmentationNode, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> MRMLSegmentationOutput:
    """Cluster the input volumes and write the segments and their statistics into the scene.

    Inputs on other grids are resampled onto the first input's grid; the input nodes are not
    modified. Given output nodes are reused (their content replaced), missing ones created.
    ``mask_segment`` (segmentation node, segment ID) replaces ``options.mask``.
    Raises UserInputError for the user's mistakes.
    """
    from ..pipeline.segmentation import segment_channels

    report = progress or (lambda message: None)
    report("reading the input volumes")
    channels, messages = align_channels(channels_from_volume_nodes(volume_nodes))
    reference = volume_nodes[0]
    mask = None
    if mask_segment is not None:
        mask = mask_from_segment(mask_segment[0], mask_segment[1], reference, segmentations_logic)
    result = segment_channels(channels, options, mask=mask, progress=report)
    messages += result.warnings
    report("writing the segmentation")
    if segmentation_node is None:
        segmentation_node = scene.AddNewNodeByClass(
            "vtkMRMLSegmentationNode", scene.GenerateUniqueName(f"{reference.GetName()} clusters")
        )
    write_segments(segmentation_node, result.labels, result.segments, reference)
    show_segmentation(segmentation_node)
    if table_node is None:
        table_node = scene.AddNewNodeByClass(
            "vtkMRMLTableNode", scene.GenerateUniqueName(f"{segmentation_node.GetName()} statistics")
        )
    write_statistics_table(table_node, result.statistics, result.channel_names)
    return MRMLSegmentationOutput(segmentation_node, table_node, result, messages)
