"""Two visits compared on MRML nodes (Qt-free): volume nodes of each visit in, a segmentation of the lesion
change, a table of lesions and the follow-up resampled onto the baseline out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import slicer
import vtk

from ..core.grid import align_channels
from ..core.volume import Channel
from .logic import channels_from_volume_nodes, fill_table, show_segmentation, volume_node_from_channel, write_segments

if TYPE_CHECKING:  # the change layer (registration, lesion rule) is imported when a comparison runs
    from ..change.visits import VisitComparison

#: Lesion table columns: (row key, title, unit, VTK array class).
LESION_TABLE_COLUMNS = (
    ("lesion", "Lesion", "", vtk.vtkStringArray), ("centre_r_mm", "Centre R [mm]", "mm", vtk.vtkDoubleArray),
    ("centre_a_mm", "Centre A [mm]", "mm", vtk.vtkDoubleArray), ("centre_s_mm", "Centre S [mm]", "mm", vtk.vtkDoubleArray),
    ("baseline_ml", "Baseline volume [cm3]", "cm3 (mL)", vtk.vtkDoubleArray),
    ("follow_up_ml", "Follow-up volume [cm3]", "cm3 (mL)", vtk.vtkDoubleArray),
    ("new_or_enlarging_ml", "New or enlarging [cm3]", "cm3 (mL)", vtk.vtkDoubleArray),
    ("shrinking_or_resolved_ml", "Shrinking or resolved [cm3]", "cm3 (mL)", vtk.vtkDoubleArray),
    ("change", "Change", "", vtk.vtkStringArray),
)


@dataclass
class MRMLComparisonOutput:
    """What one comparison produced: the output nodes, the comparison and messages for the user."""

    segmentation_node: slicer.vtkMRMLSegmentationNode
    table_node: slicer.vtkMRMLTableNode
    registered_volume_node: slicer.vtkMRMLScalarVolumeNode
    comparison: VisitComparison
    messages: list[str] = field(default_factory=list)


def compare_volume_nodes(
    baseline_nodes: Sequence[slicer.vtkMRMLVolumeNode],
    follow_up_nodes: Sequence[slicer.vtkMRMLVolumeNode],
    scene: slicer.vtkMRMLScene,
    segmentation_node: slicer.vtkMRMLSegmentationNode | None = None,
    table_node: slicer.vtkMRMLTableNode | None = None,
    progress: Callable[[str], None] | None = None,
) -> MRMLComparisonOutput:
    """Register the follow-up volumes onto the baseline (the first baseline volume is the output grid) and write
    the change segmentation, the lesion table and the registered follow-up into the scene. Input nodes are not
    modified; given output nodes are reused. Raises UserInputError for the user's mistakes."""
    from ..change.visits import CHANGE_SEGMENTS, compare_visits, lesion_rows

    report = progress or (lambda message: None)
    report("reading the volumes of both visits")
    baseline, messages = align_channels(channels_from_volume_nodes(baseline_nodes))
    follow_up, follow_messages = align_channels(channels_from_volume_nodes(follow_up_nodes))
    report("registering the follow-up onto the baseline and comparing")
    comparison = compare_visits(baseline, follow_up)
    report("writing the change segmentation")
    reference = baseline_nodes[0]
    if segmentation_node is None:
        segmentation_node = scene.AddNewNodeByClass(
            "vtkMRMLSegmentationNode", scene.GenerateUniqueName(f"{reference.GetName()} lesion change"))
    write_segments(segmentation_node, comparison.labels, CHANGE_SEGMENTS, reference)
    show_segmentation(segmentation_node)
    if table_node is None:
        table_node = scene.AddNewNodeByClass("vtkMRMLTableNode",
                                             scene.GenerateUniqueName(f"{segmentation_node.GetName()} lesions"))
    fill_table(table_node, lesion_rows(comparison), LESION_TABLE_COLUMNS)
    shown = scene.GetNodeByID(comparison.registered_follow_up.source) or follow_up_nodes[0]  # its FLAIR (else T2)
    registered = volume_node_from_channel(scene, Channel(scene.GenerateUniqueName(f"{shown.GetName()} registered"),
                                                         comparison.registered_follow_up.data, comparison.grid))
    registered.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
    return MRMLComparisonOutput(segmentation_node, table_node, registered, comparison,
                                messages + follow_messages + comparison.notes)
