"""The Slicer module's parameter node: its choices as enums with translated labels, saved with the
scene, and how they become the engine's :class:`~UnsupervisedSegmentLib.core.options.SegmentationOptions`.

Inside Slicer only (``slicer.parameterNodeWrapper`` and ``slicer.i18n`` are not in the slicer-core wheel).
"""

from __future__ import annotations

import enum
from typing import Annotated

from slicer import vtkMRMLSegmentationNode, vtkMRMLTableNode, vtkMRMLVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper

from ..core.options import LESION_PRESET, SegmentationOptions


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
    tissueClasses: bool = False
    findLesion: bool = False
    lesionType: LesionType = LesionType.Auto
    outputSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode
    followUpVolumes: list[vtkMRMLVolumeNode]
    changeSegmentation: vtkMRMLSegmentationNode
    changeTable: vtkMRMLTableNode


def uses_automatic_clusters(parameters: UnsupervisedSegmentParameterNode) -> bool:
    """Whether the number of clusters is chosen by BIC (asked for, and the method is GMM)."""
    return parameters.automaticClusters and parameters.method == Method.GMM


def apply_lesion_preset(parameters: UnsupervisedSegmentParameterNode) -> None:
    """What lesion finding works best with (as ``--lesion`` on the command line): fixed k = 6 and the
    MRF prior (beta 1), unless an MRF strength is already chosen."""
    parameters.automaticClusters = False
    parameters.numberOfClusters = LESION_PRESET["clusters"]
    if parameters.mrfBeta == 0:
        parameters.mrfBeta = LESION_PRESET["mrf_beta"]


def segmentation_options(parameters: UnsupervisedSegmentParameterNode) -> SegmentationOptions:
    """The engine's options for the parameter node's choices (a segment mask is passed apart)."""
    automatic = uses_automatic_clusters(parameters) and not parameters.tissueClasses
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
        tissue=parameters.tissueClasses,
    )
