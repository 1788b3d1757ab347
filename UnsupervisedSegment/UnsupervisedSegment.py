"""UnsupervisedSegment: segment co-registered images by clustering their voxel intensities (GMM/KMeans).

The module is a thin layer: the widget collects choices in a parameter node, the logic delegates
to the Qt-free :mod:`UnsupervisedSegmentLib.mrml.logic`, which runs the plain-Python engine.
"""

from __future__ import annotations

import enum
import importlib
import importlib.metadata
import importlib.util
import logging
import re
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLSegmentationNode, vtkMRMLTableNode, vtkMRMLVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

#: The oldest scikit-learn the engine works with (as in Resources/requirements.txt and pyproject.toml).
MINIMUM_SCIKIT_LEARN = "1.3"
#: Python packages the engine needs beyond what Slicer bundles (numpy, scipy, SimpleITK).
REQUIREMENTS = [f"scikit-learn>={MINIMUM_SCIKIT_LEARN}"]


class UnsupervisedSegment(ScriptedLoadableModule):
    """Module description shown in Slicer."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Unsupervised Segment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["UnsupervisedSegment contributors"]
        self.parent.helpText = _(
            "Segment one or more co-registered volumes (for example T1, T1 with contrast, FLAIR, ADC) "
            "into tissue classes by clustering the voxel intensities with a Gaussian mixture model or "
            "k-means, and measure the volume of every class. "
            '<a href="https://github.com/unsupervised-segment/SlicerUnsupervisedSegment#readme">Documentation</a>.'
        )
        self.parent.acknowledgementText = _(
            "Clustering by scikit-learn; display and statistics by 3D Slicer's Segmentations and "
            "Segment Statistics modules."
        )


#
# Parameter node
#


class Method(enum.Enum):
    """Clustering algorithm."""

    GMM = "gmm"
    KMeans = "kmeans"

    def label(self) -> str:
        return {Method.GMM: _("Gaussian mixture (GMM)"), Method.KMeans: _("k-means")}[self]


class MaskSource(enum.Enum):
    """Which voxels are clustered."""

    NonZero = "nonzero"
    Otsu = "otsu"
    Segment = "segment"
    NoMask = "none"

    def label(self) -> str:
        return {
            MaskSource.NonZero: _("Non-zero in all inputs"),
            MaskSource.Otsu: _("Brighter than Otsu threshold of the first input"),
            MaskSource.Segment: _("Segment of a segmentation"),
            MaskSource.NoMask: _("None (all voxels)"),
        }[self]


class Scaling(enum.Enum):
    """Per-feature intensity scaling before clustering."""

    NoScaling = "none"
    Standard = "standard"
    Robust = "robust"

    def label(self) -> str:
        return {
            Scaling.NoScaling: _("None"),
            Scaling.Standard: _("Standard (z-score)"),
            Scaling.Robust: _("Robust (median, IQR)"),
        }[self]


class CovarianceType(enum.Enum):
    """Shape of the GMM's cluster covariances."""

    Full = "full"
    Diagonal = "diag"
    Tied = "tied"
    Spherical = "spherical"

    def label(self) -> str:
        return {
            CovarianceType.Full: _("Full"),
            CovarianceType.Diagonal: _("Diagonal"),
            CovarianceType.Tied: _("Tied"),
            CovarianceType.Spherical: _("Spherical"),
        }[self]


class Denoise(enum.Enum):
    """Denoising of every input before clustering."""

    NoDenoising = "none"
    Curvature = "curvature"
    Median = "median"
    Gaussian = "gaussian"

    def label(self) -> str:
        return {
            Denoise.NoDenoising: _("None"),
            Denoise.Curvature: _("Curvature flow (edge preserving)"),
            Denoise.Median: _("Median (3x3x3 voxels)"),
            Denoise.Gaussian: _("Gaussian (1 mm)"),
        }[self]


class Neighbourhood(enum.Enum):
    """Voxels that count as neighbours in the spatial (MRF) prior."""

    Faces = 6
    All = 26

    def label(self) -> str:
        return {
            Neighbourhood.Faces: _("6 (faces)"),
            Neighbourhood.All: _("26 (faces, edges and corners)"),
        }[self]


class LesionType(enum.Enum):
    """The kind of lesion automatic lesion finding looks for."""

    Auto = "auto"
    Tumour = "tumour"
    MS = "ms"
    Stroke = "stroke"

    def label(self) -> str:
        return {
            LesionType.Auto: _("Automatic (decided from the images)"),
            LesionType.Tumour: _("Tumour (FLAIR/T2-bright mass)"),
            LesionType.MS: _("Multiple sclerosis (small FLAIR-bright foci)"),
            LesionType.Stroke: _("Acute stroke (DWI-bright, ADC-dark)"),
        }[self]


@parameterNodeWrapper
class UnsupervisedSegmentParameterNode:
    """The module's choices, saved with the scene."""

    inputVolumes: list[vtkMRMLVolumeNode]
    maskSource: MaskSource = MaskSource.NonZero
    maskSegmentation: vtkMRMLSegmentationNode
    maskSegmentID: str = ""
    method: Method = Method.GMM
    numberOfClusters: Annotated[int, WithinRange(2, 20)] = 3
    automaticClusters: bool = False
    minimumClusters: Annotated[int, WithinRange(2, 20)] = 2
    maximumClusters: Annotated[int, WithinRange(2, 20)] = 6
    scaling: Scaling = Scaling.NoScaling
    covarianceType: CovarianceType = CovarianceType.Full
    seed: Annotated[int, WithinRange(0, 2**31 - 1)] = 123
    biasCorrection: bool = False
    denoise: Denoise = Denoise.NoDenoising
    mrfBeta: Annotated[float, WithinRange(0.0, 5.0)] = 0.0
    mrfNeighbourhood: Neighbourhood = Neighbourhood.Faces
    findLesion: bool = False
    lesionType: LesionType = LesionType.Auto
    outputSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


def _versionNumbers(version: str) -> tuple[int, ...]:
    """``"1.3.2"`` -> (1, 3, 2); pre-release and local suffixes are ignored."""
    return tuple(int(number) for number in re.findall(r"\d+", version.split("+")[0])[:3])


def _slicerPackaging():
    """``slicer.packaging`` with ``pip_ensure`` (Slicer >= 5.12), else None."""
    try:
        packaging = importlib.import_module("slicer.packaging")
    except ImportError:
        return None
    return packaging if hasattr(packaging, "pip_ensure") else None


#
# Widget
#


class UnsupervisedSegmentWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: inputs, mask, clustering options, outputs, Apply, results."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/UnsupervisedSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = UnsupervisedSegmentLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        # Neither widget has a parameter node connector: synchronised by hand.
        self.ui.inputVolumesSelector.connect("checkedNodesChanged()", self.onInputVolumesChanged)
        self.ui.maskSegmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onMaskSegmentChanged)
        self.ui.maskSegmentSelector.connect("currentSegmentChanged(QString)", self.onMaskSegmentChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.findLesionCheckBox.connect("toggled(bool)", self.onFindLesionToggled)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Use the scene's parameter node; preselect the loaded volumes the first time."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolumes:
            volumes = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            self._parameterNode.inputVolumes = [v for v in volumes if not v.IsA("vtkMRMLLabelMapVolumeNode")]

    def setParameterNode(self, parameterNode: UnsupervisedSegmentParameterNode | None) -> None:
        """Connect the GUI to ``parameterNode`` (disconnect from the previous one)."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = parameterNode
        if self._parameterNode:
            # connectGui() returns no tag before Slicer 5.10 (so disconnectGui could not disconnect):
            # connectParametersToGui() returns it in every release.
            self._parameterNodeGuiTag = self._parameterNode.connectParametersToGui(self._parameterWidgets())
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
            self.updateGUIFromParameterNode()

    def _parameterWidgets(self) -> dict:
        """Parameter name -> widget, for the widgets of the .ui that name one (``SlicerParameterName``)."""
        widgets = (widget for widget in vars(self.ui).values() if hasattr(widget, "property"))
        return {widget.property("SlicerParameterName"): widget for widget in widgets if widget.property("SlicerParameterName")}

    def updateGUIFromParameterNode(self, caller=None, event=None) -> None:
        """Sync the hand-connected widgets, option visibility and the Apply button."""
        parameters = self._parameterNode
        if parameters is None:
            return
        selector = self.ui.inputVolumesSelector
        wasBlocked = selector.blockSignals(True)
        volumes = self.logic.orderedInputVolumes(parameters)
        for node in (selector.nodeFromIndex(index) for index in range(selector.nodeCount())):
            checked = any(node is volume for volume in volumes)
            selector.setCheckState(node, qt.Qt.Checked if checked else qt.Qt.Unchecked)
        selector.blockSignals(wasBlocked)
        wasBlocked = self.ui.maskSegmentSelector.blockSignals(True)
        self.ui.maskSegmentSelector.setCurrentNode(parameters.maskSegmentation)
        self.ui.maskSegmentSelector.setCurrentSegmentID(parameters.maskSegmentID)
        self.ui.maskSegmentSelector.blockSignals(wasBlocked)
        self.ui.maskSegmentSelector.enabled = parameters.maskSource == MaskSource.Segment
        self.ui.covarianceTypeComboBox.enabled = parameters.method == Method.GMM
        self.ui.automaticClustersCheckBox.enabled = parameters.method == Method.GMM
        automatic = self.logic.usesAutomaticClusters(parameters)
        self.ui.numberOfClustersSpinBox.enabled = not automatic
        self.ui.minimumClustersSpinBox.enabled = automatic
        self.ui.maximumClustersSpinBox.enabled = automatic
        self.ui.mrfNeighbourhoodComboBox.enabled = parameters.mrfBeta > 0
        self.ui.lesionTypeComboBox.enabled = parameters.findLesion

        problem, notes = self.logic.checkInputs(parameters)
        self.ui.inputNotesLabel.text = "\n".join(notes)
        self.ui.inputNotesLabel.visible = bool(notes)
        self.ui.applyButton.enabled = not problem
        self.ui.applyButton.toolTip = problem or _("Cluster the input volumes into segments")

    def onInputVolumesChanged(self) -> None:
        if self._parameterNode:
            self._parameterNode.inputVolumes = list(self.ui.inputVolumesSelector.checkedNodes())

    def onMaskSegmentChanged(self, *args) -> None:
        if self._parameterNode:
            with slicer.util.NodeModify(self._parameterNode):
                self._parameterNode.maskSegmentation = self.ui.maskSegmentSelector.currentNode()
                self._parameterNode.maskSegmentID = self.ui.maskSegmentSelector.currentSegmentID() or ""

    def onFindLesionToggled(self, checked: bool) -> None:
        """Ticking lesion finding switches to the settings it works best with (as the command line does)."""
        if checked and self._parameterNode:
            self.logic.applyLesionPreset(self._parameterNode)

    def onApplyButton(self) -> None:
        """Install scikit-learn if needed, run the clustering and show the results."""
        with slicer.util.tryWithErrorDisplay(_("Unsupervised segmentation failed."), waitCursor=True):
            self.logic.ensureDependencies()
            progressDialog = slicer.util.createProgressDialog(
                parent=slicer.util.mainWindow(), windowTitle=_("Unsupervised Segment"),
                labelText=_("Starting..."), value=0, maximum=0,
            )
            try:
                output = self.logic.processParameterNode(
                    self._parameterNode, progress=lambda message: self._showProgress(progressDialog, message)
                )
            finally:
                progressDialog.close()
            self.showResults(output)

    @staticmethod
    def _showProgress(dialog, message: str) -> None:
        dialog.labelText = message
        slicer.app.processEvents()

    def showResults(self, output) -> None:
        """Segmentation over the first input in the slice views, surfaces in 3D, the table beside them."""
        slicer.util.setSliceViewerLayers(background=self.logic.orderedInputVolumes(self._parameterNode)[0], fit=True)
        layoutManager = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(output.table_node.GetID())
        applicationLogic.PropagateTableSelection()
        layoutManager.threeDWidget(0).threeDView().resetFocalPoint()
        self.ui.statisticsTableView.setMRMLTableNode(output.table_node)
        self.ui.resultLabel.text = self.logic.resultText(output)


#
# Logic
#


class UnsupervisedSegmentLogic(ScriptedLoadableModuleLogic):
    """Runs the segmentation on MRML nodes; usable from Python without the widget.

    The scene and the Segmentations module logic default to Slicer's; pass others to use the
    logic on another scene.
    """

    def __init__(self, scene=None, segmentationsLogic=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene or slicer.mrmlScene
        self.segmentationsLogic = segmentationsLogic or slicer.modules.segmentations.logic()

    def getParameterNode(self) -> UnsupervisedSegmentParameterNode:
        return UnsupervisedSegmentParameterNode(super().getParameterNode())

    @staticmethod
    def scikitLearnProblem() -> str:
        """Why the installed scikit-learn cannot be used ("" if it can): missing, or older than the engine needs."""
        if importlib.util.find_spec("sklearn") is None:
            return _("scikit-learn is not installed")
        try:
            version = importlib.metadata.version("scikit-learn")
        except importlib.metadata.PackageNotFoundError:
            return _("scikit-learn is not installed")
        if _versionNumbers(version) < _versionNumbers(MINIMUM_SCIKIT_LEARN):
            return _("scikit-learn {version} is installed; {minimum} or newer is needed").format(
                version=version, minimum=MINIMUM_SCIKIT_LEARN)
        return ""

    @classmethod
    def ensureDependencies(cls, skipInTesting: bool = True) -> None:
        """Install or upgrade scikit-learn on first use: ``slicer.packaging.pip_ensure`` where it exists
        (Slicer >= 5.12), else ``slicer.util.pip_install``. The user is asked first, except in testing mode
        (no one to answer; Slicer's confirmation dialogs answer Cancel there), where the install is skipped
        if ``skipInTesting``.

        :raises RuntimeError: if the user declines, or if scikit-learn is still missing or too old afterwards.
        """
        problem = cls.scikitLearnProblem()
        if not problem:
            return
        testing = slicer.app.testingEnabled()
        if skipInTesting and testing:
            logging.info(f"Testing mode: not installing {REQUIREMENTS} ({problem})")
            return
        packaging = _slicerPackaging()
        if packaging is not None:
            packaging.pip_ensure(REQUIREMENTS, requester="UnsupervisedSegment", skip_in_testing=False,
                                 prompt_install=not testing)
        else:
            if not testing and not slicer.util.confirmOkCancelDisplay(
                _("Unsupervised Segment needs the Python package {requirement} ({problem}), which will be downloaded "
                  "and installed now. This can take a minute.").format(requirement=REQUIREMENTS[0], problem=problem),
                windowTitle=_("Install scikit-learn"),
            ):
                raise RuntimeError(_("scikit-learn is required: installation cancelled."))
            slicer.util.pip_install(REQUIREMENTS)
        importlib.invalidate_caches()
        problem = cls.scikitLearnProblem()
        if problem:
            raise RuntimeError(_("Installing {requirement} did not succeed ({problem}). Install it from the Python "
                                 "console with slicer.util.pip_install('{requirement}') and restart Slicer.")
                               .format(requirement=REQUIREMENTS[0], problem=problem))

    @staticmethod
    def applyLesionPreset(parameters: UnsupervisedSegmentParameterNode) -> None:
        """Fixed k = 6 and the MRF prior (beta 1) unless an MRF strength is already chosen."""
        from UnsupervisedSegmentLib.core.options import LESION_PRESET

        parameters.automaticClusters = False
        parameters.numberOfClusters = LESION_PRESET["clusters"]
        if parameters.mrfBeta == 0:
            parameters.mrfBeta = LESION_PRESET["mrf_beta"]

    @staticmethod
    def usesAutomaticClusters(parameters: UnsupervisedSegmentParameterNode) -> bool:
        """Whether the number of clusters is chosen by BIC (asked for, and the method is GMM)."""
        return parameters.automaticClusters and parameters.method == Method.GMM

    def orderedInputVolumes(self, parameters: UnsupervisedSegmentParameterNode) -> list:
        """The input volumes still in the scene, in scene order (as the selector lists them): the first one
        defines the output grid. Volumes deleted from the scene (None in the parameter node) are left out."""
        volumes = [volume for volume in parameters.inputVolumes if volume is not None]
        order = {self.scene.GetNthNode(index).GetID(): index for index in range(self.scene.GetNumberOfNodes())}
        return sorted((volume for volume in volumes if volume.GetID() in order), key=lambda volume: order[volume.GetID()])

    def checkInputs(self, parameters: UnsupervisedSegmentParameterNode) -> tuple[str, list[str]]:
        """Why Apply cannot run yet ("" if it can) and notes on the inputs (resampling, lesion evidence)."""
        volumes = self.orderedInputVolumes(parameters)
        if not volumes:
            return _("Select at least one input volume."), []
        if any(volume.GetImageData() is None for volume in volumes):
            return _("An input volume has no voxels."), []
        if parameters.maskSource == MaskSource.Segment and not (parameters.maskSegmentation and parameters.maskSegmentID):
            return _("Select the segment to use as mask."), []
        if self.usesAutomaticClusters(parameters) and parameters.minimumClusters > parameters.maximumClusters:
            return _("The minimum number of clusters to try is larger than the maximum."), []
        from UnsupervisedSegmentLib.lesion.roles import check_lesion_inputs

        evidence = self.lesionEvidence(volumes)
        try:
            if parameters.findLesion:
                check_lesion_inputs([volume.GetName() for volume in volumes], parameters.lesionType.value)
        except ValueError:
            return _("Lesion finding ({kind}) needs input volumes named like FLAIR (or T2 with T1) for a tumour or "
                     "MS, DWI or ADC for a stroke (for example flair, t2, t1, dwi, adc): rename them in the Data "
                     "module.").format(kind=parameters.lesionType.label()), []
        problem, notes = self._gridProblemAndNotes(volumes)
        if parameters.findLesion and not problem:
            notes.append(_("Lesion finding uses {names}.").format(names=", ".join(evidence)))
        return problem, notes

    @staticmethod
    def lesionEvidence(volumes) -> list[str]:
        """The input volumes whose names make them lesion evidence (FLAIR, T2, DWI, ADC), with their role."""
        from UnsupervisedSegmentLib.lesion.roles import EVIDENCE_ROLES, channel_role

        roles = ((volume.GetName(), channel_role(volume.GetName())) for volume in volumes)
        return [f"{name} ({role})" for name, role in roles if role in EVIDENCE_ROLES]

    @staticmethod
    def _gridProblemAndNotes(volumes) -> tuple[str, list[str]]:
        """Refuse inputs that do not overlap the first one; note those that will be resampled."""
        from UnsupervisedSegmentLib.core import grid
        from UnsupervisedSegmentLib.mrml import logic as mrml_logic

        notes = []
        try:
            reference = mrml_logic.volume_grid(volumes[0])
            for volume in volumes[1:]:
                volumeGrid = mrml_logic.volume_grid(volume)
                if volumeGrid.same_as(reference):
                    continue
                if not grid.overlaps(volumeGrid, reference):
                    return _("Input {name} does not overlap {first}: register the images first.").format(
                        name=volume.GetName(), first=volumes[0].GetName()), []
                notes.append(_("{name} is on another voxel grid: it will be resampled (linear) onto the grid of {first}.")
                             .format(name=volume.GetName(), first=volumes[0].GetName()))
        except ValueError as error:
            return str(error), []
        return "", notes

    def segmentationOptions(self, parameters: UnsupervisedSegmentParameterNode):
        """The engine's ``SegmentationOptions`` for the parameter node's choices."""
        from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions

        automatic = self.usesAutomaticClusters(parameters)
        return SegmentationOptions(
            method=parameters.method.value,
            n_clusters=parameters.numberOfClusters,
            auto_clusters=(parameters.minimumClusters, parameters.maximumClusters) if automatic else None,
            mask="none" if parameters.maskSource == MaskSource.Segment else parameters.maskSource.value,
            scaling=parameters.scaling.value,
            covariance_type=parameters.covarianceType.value,
            seed=parameters.seed,
            bias_correction=parameters.biasCorrection,
            denoise=parameters.denoise.value,
            mrf_beta=parameters.mrfBeta,
            mrf_neighbourhood=parameters.mrfNeighbourhood.value,
            lesion=parameters.findLesion,
            lesion_type=parameters.lesionType.value,
        )

    def processParameterNode(self, parameters: UnsupervisedSegmentParameterNode, progress=None):
        """Run :meth:`process` with the parameter node's choices; remember the output nodes in it."""
        useSegment = parameters.maskSource == MaskSource.Segment
        output = self.process(
            self.orderedInputVolumes(parameters), self.segmentationOptions(parameters),
            parameters.outputSegmentation, parameters.outputTable,
            (parameters.maskSegmentation, parameters.maskSegmentID) if useSegment else None, progress,
        )
        with slicer.util.NodeModify(parameters):
            parameters.outputSegmentation = output.segmentation_node
            parameters.outputTable = output.table_node
        return output

    def process(self, inputVolumes, options=None, outputSegmentation=None, outputTable=None,
                maskSegment=None, progress=None):
        """Cluster ``inputVolumes`` into ``outputSegmentation`` (replacing its segments) and ``outputTable``.

        :param options: ``SegmentationOptions`` (defaults: GMM, 3 clusters, non-zero mask).
        :param maskSegment: ``(segmentationNode, segmentID)`` restricting the clustered voxels.
        :returns: ``mrml_logic.MRMLSegmentationOutput`` (nodes, engine result, messages).
        :raises UserInputError: for invalid inputs (shown to the user by the widget).
        """
        from UnsupervisedSegmentLib.mrml import logic as mrml_logic
        from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions

        output = mrml_logic.segment_volume_nodes(
            inputVolumes, options or SegmentationOptions(), self.scene, self.segmentationsLogic,
            outputSegmentation, outputTable, maskSegment, progress or logging.info,
        )
        for message in output.messages + output.result.notes:
            logging.info(message)
        return output

    @staticmethod
    def resultText(output) -> str:
        """What the run tells the user: the segments made, then warnings and notes (k chosen, lesion decision)."""
        result = output.result
        if result.lesion is None:
            summary = _("Done: {count} segments.")
        else:
            summary = _("Done: {count} segments; the last one is the lesion found automatically.")
        return "\n".join([summary.format(count=len(result.segments)), *output.messages, *result.notes])

    @staticmethod
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


#
# Test
#


class UnsupervisedSegmentTest(ScriptedLoadableModuleTest):
    """Self-test on synthetic volumes made in the scene (no network)."""

    #: Synthetic phantom: background 0, "tissue" box, "lesion" cube inside it (i, j, k voxels).
    SHAPE = (40, 36, 12)
    SPACING = (1.5, 1.5, 3.0)
    LESION = (slice(14, 22), slice(12, 20), slice(4, 8))
    TISSUE = (slice(4, 36), slice(4, 32), slice(2, 10))

    def setUp(self):
        """A clean scene, and scikit-learn (installed if missing: ctest runs the test_* methods without runTest)."""
        slicer.mrmlScene.Clear()
        try:
            UnsupervisedSegmentLogic.ensureDependencies(skipInTesting=False)
        except Exception as error:
            self.skipTest(f"scikit-learn {MINIMUM_SCIKIT_LEARN} or newer is needed and could not be installed: {error}")

    def runTest(self):
        for test in (
            self.test_SegmentsAndVolumes,
            self.test_RerunReplacesSegments,
            self.test_InputsNotModified,
            self.test_DifferentGridResampled,
            self.test_NonOverlappingRefused,
            self.test_SegmentStatisticsAgree,
            self.test_LesionSegment,
        ):
            self.setUp()
            test()

    # helpers

    def _phantom(self, name: str, values: tuple[float, float, float], origin=(0.0, 0.0, 0.0), spacing=None):
        """A volume with ``values`` = (background, tissue, lesion) on the phantom grid, plus mild noise."""
        import numpy as np

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
        from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions

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
        from UnsupervisedSegmentLib.core.errors import UserInputError

        t1 = self._phantom("t1", (0.0, 40.0, 80.0))
        far = self._phantom("flair", (0.0, 60.0, 140.0), origin=(1000.0, 0.0, 0.0))
        with self.assertRaises(UserInputError) as raised:
            UnsupervisedSegmentLogic().process([t1, far], self._options())
        self.assertIn("does not overlap", str(raised.exception))
        self.delayDisplay("Test passed")

    def test_SegmentStatisticsAgree(self):
        self.delayDisplay("Volumes agree with the Segment Statistics module")
        output = UnsupervisedSegmentLogic().process(self._inputs(), self._options())
        from UnsupervisedSegmentLib.mrml.logic import segment_id

        volumes = UnsupervisedSegmentLogic.segmentStatisticsVolumesCm3(output.segmentation_node)
        for row in output.result.statistics:
            self.assertAlmostEqual(volumes[segment_id(row["label"])], row["volume_ml"], places=4)
        self.delayDisplay("Test passed")

    def test_LesionSegment(self):
        self.delayDisplay("Automatic lesion finding adds a yellow Lesion segment and its table row")
        from UnsupervisedSegmentLib.core.palette import LESION_COLOR, LESION_NAME
        from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions

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
