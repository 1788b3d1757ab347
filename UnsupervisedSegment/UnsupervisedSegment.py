"""UnsupervisedSegment: segment co-registered images by clustering their voxel intensities (GMM/KMeans).

The module file is thin: the module description, the widget (the only Qt code), a logic that delegates
to the Qt-free MRML layer of :mod:`UnsupervisedSegmentLib` (parameters, input checks, segmentation), and
the test class that runs the self-test of ``Testing/Python/UnsupervisedSegmentSelfTest.py``.
Nothing outside what Slicer bundles is imported: the engine needs no package installation.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin
from UnsupervisedSegmentLib.core.options import SegmentationOptions
from UnsupervisedSegmentLib.mrml.input_checks import (
    check_comparison,
    check_inputs,
    comparison_text,
    in_scene_order,
    ordered_input_volumes,
    result_text,
)
from UnsupervisedSegmentLib.mrml.logic import MRMLSegmentationOutput, segment_volume_nodes
from UnsupervisedSegmentLib.mrml.parameters import (  # noqa: F401 - the parameter node's enums, for scripts and tests
    CovarianceType,
    Denoise,
    LesionType,
    MaskSource,
    Method,
    Neighbourhood,
    Scaling,
    UnsupervisedSegmentParameterNode,
    apply_lesion_preset,
    segmentation_options,
    uses_automatic_clusters,
)
from UnsupervisedSegmentLib.mrml.visits import MRMLComparisonOutput, compare_volume_nodes

#: The self-test, shipped with the module (CMakeLists.txt) and registered as a ctest.
SELF_TEST_FILE = Path(__file__).parent / "Testing" / "Python" / "UnsupervisedSegmentSelfTest.py"


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
            "Clustering by the project's own GMM and k-means engine (scikit-learn's estimator API); display "
            "and statistics by 3D Slicer's Segmentations and Segment Statistics modules."
        )


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
        self.ui.followUpVolumesSelector.connect("checkedNodesChanged()", self.onFollowUpVolumesChanged)
        self.ui.compareButton.connect("clicked(bool)", self.onCompareButton)
        self.ui.findLesionCheckBox.connect("toggled(bool)", self.onFindLesionToggled)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def onReload(self) -> None:
        """Reload the Lib as well: Slicer's reload button re-reads only this file, which imports the Lib afresh."""
        for name in [name for name in sys.modules if name.split(".")[0] == "UnsupervisedSegmentLib"]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

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
        self._checkVolumes(self.ui.inputVolumesSelector, self.logic.orderedInputVolumes(parameters))
        self._checkVolumes(self.ui.followUpVolumesSelector, self.logic.orderedFollowUpVolumes(parameters))
        wasBlocked = self.ui.maskSegmentSelector.blockSignals(True)
        self.ui.maskSegmentSelector.setCurrentNode(parameters.maskSegmentation)
        self.ui.maskSegmentSelector.setCurrentSegmentID(parameters.maskSegmentID)
        self.ui.maskSegmentSelector.blockSignals(wasBlocked)
        self.ui.maskSegmentSelector.enabled = parameters.maskSource == MaskSource.Segment
        clustering = not parameters.tissueClasses  # the tissue model has its own three classes
        self.ui.methodComboBox.enabled = clustering
        self.ui.covarianceTypeComboBox.enabled = clustering and parameters.method == Method.GMM
        self.ui.automaticClustersCheckBox.enabled = clustering and parameters.method == Method.GMM
        automatic = clustering and self.logic.usesAutomaticClusters(parameters)
        self.ui.numberOfClustersSpinBox.enabled = clustering and not automatic
        self.ui.minimumClustersSpinBox.enabled = automatic
        self.ui.maximumClustersSpinBox.enabled = automatic
        self.ui.mrfNeighbourhoodComboBox.enabled = parameters.mrfBeta > 0 or parameters.tissueClasses
        self.ui.lesionTypeComboBox.enabled = parameters.findLesion

        problem, notes = self.logic.checkInputs(parameters)
        self.ui.inputNotesLabel.text = "\n".join(notes)
        self.ui.inputNotesLabel.visible = bool(notes)
        self.ui.applyButton.enabled = not problem
        self.ui.applyButton.toolTip = problem or _("Cluster the input volumes into segments")
        problem = self.logic.checkComparison(parameters)
        self.ui.compareButton.enabled = not problem
        self.ui.compareButton.toolTip = problem or _("Find the lesions that are new, enlarging, shrinking or resolved "
                                                     "since the baseline")

    @staticmethod
    def _checkVolumes(selector, volumes: list) -> None:
        """Check exactly ``volumes`` in a checkable volume selector, without signalling it back."""
        wasBlocked = selector.blockSignals(True)
        for node in (selector.nodeFromIndex(index) for index in range(selector.nodeCount())):
            checked = any(node is volume for volume in volumes)
            selector.setCheckState(node, qt.Qt.Checked if checked else qt.Qt.Unchecked)
        selector.blockSignals(wasBlocked)

    def onInputVolumesChanged(self) -> None:
        if self._parameterNode:
            self._parameterNode.inputVolumes = list(self.ui.inputVolumesSelector.checkedNodes())

    def onFollowUpVolumesChanged(self) -> None:
        if self._parameterNode:
            self._parameterNode.followUpVolumes = list(self.ui.followUpVolumesSelector.checkedNodes())

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
        """Run the clustering and show the results; errors are shown in one place."""
        self._runWithProgress(_("Unsupervised segmentation failed."), self.logic.processParameterNode, self.showResults)

    def onCompareButton(self) -> None:
        """Compare the follow-up with the baseline (the input volumes) and show the change; errors in one place."""
        self._runWithProgress(_("Comparing the two visits failed."), self.logic.processComparison, self.showComparison)

    def _runWithProgress(self, failure: str, process, show) -> None:
        """``process(parameterNode, progress)`` behind a progress dialog, then ``show(output)``; an error is shown
        once, with ``failure`` as its title."""
        with slicer.util.tryWithErrorDisplay(failure, waitCursor=True):
            progressDialog = slicer.util.createProgressDialog(
                parent=slicer.util.mainWindow(), windowTitle=_("Unsupervised Segment"),
                labelText=_("Starting..."), value=0, maximum=0,
            )
            try:
                output = process(self._parameterNode, progress=lambda message: self._showProgress(progressDialog, message))
            finally:
                progressDialog.close()
            show(output)

    @staticmethod
    def _showProgress(dialog, message: str) -> None:
        dialog.labelText = message
        slicer.app.processEvents()

    def showResults(self, output) -> None:
        """Segmentation over the first input in the slice views, surfaces in 3D, the table beside them."""
        slicer.util.setSliceViewerLayers(background=self.logic.orderedInputVolumes(self._parameterNode)[0], fit=True)
        self._showTable(output.table_node)
        slicer.app.layoutManager().threeDWidget(0).threeDView().resetFocalPoint()
        self.ui.resultLabel.text = self.logic.resultText(output)

    def showComparison(self, output: MRMLComparisonOutput) -> None:
        """The baseline with the registered follow-up over it and the change in the slice views; the lesion table."""
        baseline = self.logic.orderedInputVolumes(self._parameterNode)[0]
        slicer.util.setSliceViewerLayers(background=baseline, foreground=output.registered_volume_node,
                                         foregroundOpacity=0.0, fit=True)
        self._showTable(output.table_node)
        self.ui.compareResultLabel.text = self.logic.comparisonText(output)

    def _showTable(self, tableNode) -> None:
        """The four-up layout with the table view showing ``tableNode``, and the module's table view too."""
        slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        applicationLogic = slicer.app.applicationLogic()
        applicationLogic.GetSelectionNode().SetActiveTableID(tableNode.GetID())
        applicationLogic.PropagateTableSelection()
        self.ui.statisticsTableView.setMRMLTableNode(tableNode)


#
# Logic
#


class UnsupervisedSegmentLogic(ScriptedLoadableModuleLogic):
    """Runs the segmentation on MRML nodes; usable from Python without the widget.

    The scene and the Segmentations module logic default to Slicer's; pass others to use the
    logic on another scene. Everything it does is in :mod:`UnsupervisedSegmentLib.mrml`.
    """

    applyLesionPreset = staticmethod(apply_lesion_preset)
    usesAutomaticClusters = staticmethod(uses_automatic_clusters)
    segmentationOptions = staticmethod(segmentation_options)
    resultText = staticmethod(result_text)
    comparisonText = staticmethod(comparison_text)

    def __init__(self, scene=None, segmentationsLogic=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene or slicer.mrmlScene
        self.segmentationsLogic = segmentationsLogic or slicer.modules.segmentations.logic()

    def getParameterNode(self) -> UnsupervisedSegmentParameterNode:
        return UnsupervisedSegmentParameterNode(super().getParameterNode())

    def orderedInputVolumes(self, parameters: UnsupervisedSegmentParameterNode) -> list:
        """The input volumes in scene order: the first one defines the output grid."""
        return ordered_input_volumes(parameters, self.scene)

    def orderedFollowUpVolumes(self, parameters: UnsupervisedSegmentParameterNode) -> list:
        """The follow-up visit's volumes in scene order."""
        return in_scene_order(parameters.followUpVolumes, self.scene)

    def checkComparison(self, parameters: UnsupervisedSegmentParameterNode) -> str:
        """Why Compare cannot run yet ("" if it can)."""
        return check_comparison(self.orderedInputVolumes(parameters), self.orderedFollowUpVolumes(parameters))

    def processComparison(self, parameters: UnsupervisedSegmentParameterNode, progress=None) -> MRMLComparisonOutput:
        """Run :meth:`compareVisits` on the input volumes (baseline) and the follow-up volumes; remember the outputs."""
        output = self.compareVisits(self.orderedInputVolumes(parameters), self.orderedFollowUpVolumes(parameters),
                                    parameters.changeSegmentation, parameters.changeTable, progress)
        with slicer.util.NodeModify(parameters):
            parameters.changeSegmentation = output.segmentation_node
            parameters.changeTable = output.table_node
        return output

    def compareVisits(self, baselineVolumes, followUpVolumes, outputSegmentation=None, outputTable=None,
                      progress=None) -> MRMLComparisonOutput:
        """Register ``followUpVolumes`` onto ``baselineVolumes`` (paired by sequence name) and find the lesion change.

        :raises UserInputError: for invalid inputs or a registration that failed (shown to the user by the widget).
        """
        output = compare_volume_nodes(baselineVolumes, followUpVolumes, self.scene, outputSegmentation, outputTable,
                                      progress or logging.info)
        for message in output.messages:
            logging.info(message)
        return output

    def checkInputs(self, parameters: UnsupervisedSegmentParameterNode) -> tuple[str, list[str]]:
        """Why Apply cannot run yet ("" if it can) and notes on the inputs (resampling, lesion evidence)."""
        return check_inputs(parameters, self.orderedInputVolumes(parameters))

    def processParameterNode(self, parameters: UnsupervisedSegmentParameterNode, progress=None) -> MRMLSegmentationOutput:
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

    def process(self, inputVolumes, options: SegmentationOptions | None = None, outputSegmentation=None,
                outputTable=None, maskSegment=None, progress=None) -> MRMLSegmentationOutput:
        """Cluster ``inputVolumes`` into ``outputSegmentation`` (replacing its segments) and ``outputTable``.

        :param options: ``SegmentationOptions`` (defaults: GMM, 3 clusters, non-zero mask).
        :param maskSegment: ``(segmentationNode, segmentID)`` restricting the clustered voxels.
        :raises UserInputError: for invalid inputs (shown to the user by the widget).
        """
        output = segment_volume_nodes(
            inputVolumes, options or SegmentationOptions(), self.scene, self.segmentationsLogic,
            outputSegmentation, outputTable, maskSegment, progress or logging.info,
        )
        for message in output.messages + output.result.notes:
            logging.info(message)
        return output


#
# Test
#


def selfTestModule():
    """``Testing/Python/UnsupervisedSegmentSelfTest.py``, imported afresh (as "Reload and Test" expects)."""
    spec = importlib.util.spec_from_file_location(SELF_TEST_FILE.stem, SELF_TEST_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[SELF_TEST_FILE.stem] = module
    spec.loader.exec_module(module)
    return module


class UnsupervisedSegmentTest(ScriptedLoadableModuleTest):
    """What "Reload and Test" runs: every test of the self-test, on synthetic volumes (no network)."""

    def runTest(self):
        selfTestModule().UnsupervisedSegmentSelfTest().runTest()
