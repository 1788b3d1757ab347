"""Whether the module can run with the chosen inputs, and what the user should know about them:
the reason Apply is disabled (shown as its tooltip) and notes (resampling, lesion evidence).
Qt-free; runs on every parameter change, so it reads only node metadata and names, never voxels.

Inside Slicer only (``slicer.i18n`` is not in the slicer-core wheel).
"""

from __future__ import annotations

from slicer.i18n import tr as _

from ..core.grid import overlaps
from ..core.roles import EVIDENCE_ROLES, channel_role, check_lesion_inputs
from ..tissue.model import REFERENCE_ROLES
from .logic import volume_grid
from .parameters import MaskSource, UnsupervisedSegmentParameterNode, uses_automatic_clusters


def ordered_input_volumes(parameters: UnsupervisedSegmentParameterNode, scene) -> list:
    """The input volumes still in ``scene``, in scene order (as the selector lists them): the first one
    defines the output grid. Volumes deleted from the scene (None in the parameter node) are left out."""
    return in_scene_order(parameters.inputVolumes, scene)


def in_scene_order(volumes: list, scene) -> list:
    """The ``volumes`` still in ``scene`` (None: deleted), in scene order."""
    volumes = [volume for volume in volumes if volume is not None]
    order = {scene.GetNthNode(index).GetID(): index for index in range(scene.GetNumberOfNodes())}
    return sorted((volume for volume in volumes if volume.GetID() in order), key=lambda volume: order[volume.GetID()])


def check_inputs(parameters: UnsupervisedSegmentParameterNode, volumes: list) -> tuple[str, list[str]]:
    """Why Apply cannot run yet on ``volumes`` ("" if it can), and notes on the inputs."""
    if not volumes:
        return _("Select at least one input volume."), []
    if any(volume.GetImageData() is None for volume in volumes):
        return _("An input volume has no voxels."), []
    if parameters.maskSource == MaskSource.Segment and not (parameters.maskSegmentation and parameters.maskSegmentID):
        return _("Select the segment to use as mask."), []
    if uses_automatic_clusters(parameters) and parameters.minimumClusters > parameters.maximumClusters:
        return _("The minimum number of clusters to try is larger than the maximum."), []
    if parameters.tissueClasses and not any(channel_role(volume.GetName()) in REFERENCE_ROLES for volume in volumes):
        return _("Brain tissue classes need an input volume named like T1 (or T1c, T2, FLAIR): rename it in the Data "
                 "module."), []
    if parameters.findLesion:
        try:
            check_lesion_inputs([volume.GetName() for volume in volumes], parameters.lesionType.value)
        except ValueError:
            return _("Lesion finding ({kind}) needs input volumes named like FLAIR (or T2 with T1) for a tumour or "
                     "MS, DWI or ADC for a stroke (for example flair, t2, t1, dwi, adc): rename them in the Data "
                     "module.").format(kind=parameters.lesionType.label()), []
    problem, notes = grid_problem_and_notes(volumes)
    if parameters.findLesion and not problem:
        notes.append(_("Lesion finding uses {names}.").format(names=", ".join(lesion_evidence(volumes))))
    return problem, notes


def lesion_evidence(volumes: list) -> list[str]:
    """The input volumes whose names make them lesion evidence (FLAIR, T2, DWI, ADC), with their role."""
    roles = ((volume.GetName(), channel_role(volume.GetName())) for volume in volumes)
    return [f"{name} ({role})" for name, role in roles if role in EVIDENCE_ROLES]


def grid_problem_and_notes(volumes: list) -> tuple[str, list[str]]:
    """Refuse inputs that do not overlap the first one; note those that will be resampled."""
    notes = []
    try:
        reference = volume_grid(volumes[0])
        for volume in volumes[1:]:
            grid = volume_grid(volume)
            if grid.same_as(reference):
                continue
            if not overlaps(grid, reference):
                return _("Input {name} does not overlap {first}: register the images first.").format(
                    name=volume.GetName(), first=volumes[0].GetName()), []
            notes.append(_("{name} is on another voxel grid: it will be resampled (linear) onto the grid of {first}.")
                         .format(name=volume.GetName(), first=volumes[0].GetName()))
    except ValueError as error:
        return str(error), []
    return "", notes


def check_comparison(baseline: list, follow_up: list) -> str:
    """Why Compare cannot run yet ("" if it can): the baseline is the input volumes, the follow-up as many others."""
    if not baseline:
        return _("Select the baseline visit's volumes as input volumes.")
    if not follow_up:
        return _("Select the follow-up visit's volumes.")
    if len(follow_up) != len(baseline):
        return _("Select as many follow-up volumes ({follow}) as input volumes ({baseline}), the same sequences.").format(
            follow=len(follow_up), baseline=len(baseline))
    if any(volume is other for volume in follow_up for other in baseline):
        return _("A follow-up volume is also an input volume: select the later visit's volumes.")
    if any(volume.GetImageData() is None for volume in baseline + follow_up):
        return _("A volume has no voxels.")
    if not any(channel_role(volume.GetName()) in ("flair", "t2") for volume in baseline):
        return _("Comparing visits needs a volume named like FLAIR (or T2) among the input volumes: rename it in the "
                 "Data module.")
    return ""


def comparison_text(output) -> str:
    """What a comparison tells the user: the change volumes and lesion counts, then the notes."""
    from ..change.visits import NEW, SHRINKING

    comparison = output.comparison
    new, shrinking = comparison.volume_ml(NEW), comparison.volume_ml(SHRINKING)
    counts = comparison.lesion_counts()
    summary = _("Done: {new:.2f} mL new or enlarging, {shrinking:.2f} mL shrinking or resolved; lesions: {new_count} new, "
                "{enlarging} enlarging, {shrinking_count} shrinking, {resolved} resolved, {stable} stable.").format(
        new=new, shrinking=shrinking, new_count=counts["new"], enlarging=counts["enlarging"],
        shrinking_count=counts["shrinking"], resolved=counts["resolved"], stable=counts["stable"])
    return "\n".join([summary, *output.messages])


def result_text(output) -> str:
    """What a run tells the user: the segments made, then warnings and notes (k chosen, lesion decision)."""
    result = output.result
    if result.lesion is None:
        summary = _("Done: {count} segments.")
    else:
        summary = _("Done: {count} segments; the last one is the lesion found automatically.")
    return "\n".join([summary.format(count=len(result.segments)), *output.messages, *result.notes])
