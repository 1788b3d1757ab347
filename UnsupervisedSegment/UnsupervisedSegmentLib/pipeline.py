"""The segmentation pipeline: mask, features, scaling, clustering, labels and statistics.

Works on channels already in memory and on one grid; file reading and writing live in
:mod:`image_files` and :mod:`outputs`, so the Slicer module and the command line share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .clustering import ClusterModel
from .features import feature_matrix, scale_features
from .masking import build_mask
from .palette import segment_color, segment_name
from .statistics import segment_statistics
from .volume import Channel, Grid

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SegmentationOptions:
    """What to cluster and how; the defaults follow the lesson (GMM, k=3, non-zero mask)."""

    method: str = "gmm"
    n_clusters: int = 3
    mask: str = "nonzero"
    scaling: str = "none"
    covariance_type: str = "full"
    seed: int = 123
    engine: str = "fast"
    posteriors: bool = False


@dataclass(frozen=True)
class Segment:
    """One output segment: the cluster's label value, name and display colour."""

    label: int
    name: str
    color: tuple[float, float, float]


@dataclass
class SegmentationResult:
    """Everything a segmentation run produces, on the first input's grid."""

    grid: Grid
    labels: np.ndarray
    mask: np.ndarray
    segments: list[Segment]
    statistics: list[dict[str, object]]
    channels: list[Channel]
    feature_names: list[str]
    features: np.ndarray
    model: ClusterModel
    quantised: np.ndarray
    posteriors: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def channel_names(self) -> list[str]:
        """Names of the inputs (one per channel), in order."""
        return [channel.name for channel in self.channels]

    @property
    def mask_voxels(self) -> int:
        """Number of voxels that were clustered."""
        return int(np.count_nonzero(self.mask))


def segment_channels(
    channels: Sequence[Channel],
    options: SegmentationOptions = SegmentationOptions(),
    mask: np.ndarray | None = None,
    progress: Progress | None = None,
) -> SegmentationResult:
    """Cluster the masked voxels of ``channels`` (all on one grid) into labelled segments.

    ``mask``, when given, replaces ``options.mask`` (voxels > 0 are kept). Inputs are not
    modified. Raises UserInputError for a user's mistake (empty mask, bad k, ...).
    """
    report = progress or (lambda message: None)
    grid = channels[0].grid
    if not all(channel.grid.same_as(grid) for channel in channels):
        raise ValueError("channels must share one grid: call grid.align_channels first")
    voxel_mask, warnings = build_mask(channels, options.mask, mask)
    report(f"mask: {np.count_nonzero(voxel_mask)} voxels")
    features, feature_names, feature_warnings = feature_matrix(channels, voxel_mask)
    warnings += feature_warnings
    scaled = scale_features(features, options.scaling, feature_names)
    model = ClusterModel(
        options.method,
        options.n_clusters,
        covariance_type=options.covariance_type,
        random_state=options.seed,
        engine=options.engine,
    )
    report(f"clustering {scaled.shape[0]} voxels x {scaled.shape[1]} features ({options.method}, k={options.n_clusters})")
    cluster_index = model.fit_predict(scaled)
    if not model.converged_:
        warnings.append(f"the {options.method} fit did not converge in {model.n_iter_} iterations")
    labels = np.zeros(grid.shape, dtype=np.uint8 if options.n_clusters < 255 else np.uint16)
    labels[voxel_mask] = cluster_index + 1
    segments = [Segment(label, segment_name(label), segment_color(label)) for label in range(1, options.n_clusters + 1)]
    statistics = segment_statistics(
        labels, {segment.label: segment.name for segment in segments}, channels, grid.voxel_volume_mm3
    )
    posteriors = None
    if options.posteriors and options.method == "gmm":
        posteriors = np.zeros(grid.shape + (options.n_clusters,), dtype=np.float32)
        posteriors[voxel_mask] = model.predict_proba(scaled)
    return SegmentationResult(
        grid=grid,
        labels=labels,
        mask=voxel_mask,
        segments=segments,
        statistics=statistics,
        channels=list(channels),
        feature_names=feature_names,
        features=features,
        model=model,
        quantised=quantise(labels, statistics, [channel.name for channel in channels]),
        posteriors=posteriors,
        warnings=warnings,
    )


def quantise(labels: np.ndarray, statistics: Sequence[dict[str, object]], names: Sequence[str]) -> np.ndarray:
    """(i, j, k, channel) volume where each voxel takes its cluster's mean intensity; 0 outside."""
    table = np.zeros((int(labels.max()) + 1, len(names)), dtype=np.float32)
    for row in statistics:
        table[int(row["label"])] = np.nan_to_num([row[f"mean_{name}"] for name in names])
    return table[labels]
