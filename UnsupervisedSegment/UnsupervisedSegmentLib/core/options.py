"""What a segmentation run is asked to do: its options and the values each may take.

Plain data with no heavy import, so the command line can check a request before loading the
engine or reading any file (see :mod:`option_checks`).
"""

from __future__ import annotations

from dataclasses import dataclass

METHODS = ("gmm", "kmeans")
COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")
ENGINES = ("fast", "sklearn")
SCALINGS = ("none", "standard", "robust")
NEIGHBOURHOODS = (6, 26)
#: Rules that choose the clustered voxels (the alternative is a mask file or segment).
MASK_RULES = ("nonzero", "otsu", "none")
DENOISE_METHODS = ("curvature", "median", "gaussian")
#: What lesion finding uses for the clustering shown next to the lesion unless told otherwise: six
#: clusters and the MRF prior with the textbook Potts weight 1 (the lesion rule itself works on the
#: images voxel by voxel, see :mod:`lesion`).
LESION_PRESET: dict[str, object] = {"clusters": 6, "mrf_beta": 1.0}
#: The MRF weight of the brain tissue model when none is asked for (bench/quality/tissue_results.md).
TISSUE_MRF_BETA = 0.3
#: The lesion types; ``auto`` decides among the others from the evidence.
LESION_TYPES = ("auto", "tumour", "ms", "stroke")


@dataclass(frozen=True)
class SegmentationOptions:
    """What to cluster and how; the defaults follow the lesson (GMM, k=3, non-zero mask).

    ``auto_clusters`` (min, max) picks k by BIC in that range (GMM), replacing ``n_clusters``.
    ``mrf_beta`` > 0 adds the Potts prior (0 = the lesson's voxel-wise result); ``lesion``
    turns on automatic lesion finding (see :mod:`lesion`) of ``lesion_type`` (auto, tumour, ms,
    stroke), which needs named inputs: its voxels become the segment "Lesion", label k + 1, and
    leave their clusters; no lesion found gives an empty Lesion segment and a note. ``tissue``
    replaces the clustering by the brain tissue model (segments CSF, Grey matter, White matter;
    see :mod:`tissue.model`), whose MRF weight is ``mrf_beta``, or ``TISSUE_MRF_BETA`` when 0.
    """

    method: str = "gmm"
    n_clusters: int = 3
    mask: str = "nonzero"
    scaling: str = "none"
    covariance_type: str = "full"
    seed: int = 123
    engine: str = "fast"
    posteriors: bool = False
    auto_clusters: tuple[int, int] | None = None
    bias_correction: bool = False
    denoise: str = "none"
    mrf_beta: float = 0.0
    mrf_neighbourhood: int = 6
    lesion: bool = False
    lesion_type: str = "auto"
    tissue: bool = False
