"""A minimal MRML application without Slicer's desktop app: a scene and the core module logics.

Used where the ``slicer-core`` wheel stands in for Slicer (tests, offscreen previews). Inside
Slicer, ``slicer.mrmlScene`` and ``slicer.modules.<name>.logic()`` play these roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import slicer
import vtk


@dataclass
class HeadlessSlicer:
    """A scene wired to application, colour, volumes and segmentations logics."""

    scene: slicer.vtkMRMLScene
    app_logic: slicer.vtkSlicerApplicationLogic
    color_logic: slicer.vtkMRMLColorLogic
    volumes_logic: slicer.vtkSlicerVolumesLogic
    segmentations_logic: slicer.vtkSlicerSegmentationsModuleLogic

    @classmethod
    def create(cls, scene: slicer.vtkMRMLScene | None = None) -> HeadlessSlicer:
        """Set up the logics on ``scene`` (a new one if None), as Slicer's application does at start-up."""
        use_all_cores_in_vtk()
        scene = scene or slicer.vtkMRMLScene()
        app_logic = slicer.vtkSlicerApplicationLogic()
        app_logic.SetMRMLScene(scene)
        color_logic = slicer.vtkMRMLColorLogic()
        color_logic.SetMRMLApplicationLogic(app_logic)
        color_logic.SetMRMLScene(scene)
        color_logic.AddDefaultColorNodes()
        app_logic.SetModuleLogic("Colors", color_logic)
        volumes_logic = slicer.vtkSlicerVolumesLogic()
        volumes_logic.SetMRMLApplicationLogic(app_logic)
        volumes_logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic("Volumes", volumes_logic)
        segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
        segmentations_logic.SetMRMLApplicationLogic(app_logic)
        segmentations_logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic("Segmentations", segmentations_logic)
        return cls(scene, app_logic, color_logic, volumes_logic, segmentations_logic)

    def load_volume(self, path: str | Path, name: str | None = None) -> slicer.vtkMRMLVolumeNode:
        """Load an image file (NIfTI, NRRD, ...) as a volume node through Slicer's storage nodes."""
        node = self.volumes_logic.AddArchetypeVolume(str(path), name or _stem(path), 0)
        if node is None:
            raise OSError(f"could not load {path} as a volume")
        return node


def use_all_cores_in_vtk() -> None:
    """Run VTK's parallel filters (flying edges of the closed surfaces...) on every core, as in
    Slicer, whose VTK is built with the TBB back-end; a VTK that runs them sequentially (the
    slicer-core wheel's default) is switched to its thread back-end where it has one."""
    smp = vtk.vtkSMPTools
    if smp.GetBackend() == "Sequential":
        smp.SetBackend("STDThread")


def _stem(path: str | Path) -> str:
    """File name without extensions: ``t1.nii.gz`` -> ``t1``."""
    return Path(path).name.split(".")[0]
