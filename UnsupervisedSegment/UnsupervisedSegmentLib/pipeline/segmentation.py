"""The segmentation pipeline: mask, features, scaling, clustering, labels and statistics.

Works on channels already in memory and on one grid; file reading and writing live in
:mod:`image_files` and :mod:`outputs`, so the Slicer module and the command line share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..core.errors import UserInputError
from ..core.option_checks import check_options, check_workload
from ..core.options import TISSUE_MRF_BETA, SegmentationOptions
from ..core.palette import LESION_COLOR, LESION_NAME, TISSUE_COLORS, TISSUE_NAMES, Segment, segment_color, segment_name
from ..core.roles import check_lesion_inputs
from ..core.volume import Channel, Grid, masked_rows, new_volume, set_masked_rows
from ..engine.clustering import ClusterModel, make_backend
from ..engine.features import feature_matrix, scale_features
from ..engine.masking import build_mask
from ..engine.model_selection import select_n_clusters_bic
from ..engine.mrf import regularise_masked
from ..engine.preprocessing import correct_bias_field, denoise
from ..engine.statistics import segment_statistics
from ..lesion.rule import LesionResult, find_lesion
from ..tissue.model import TissueModel, segment_tissue

Progress = Callable[[str], None]


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
    model: ClusterModel | TissueModel
    posteriors: np.ndarray | None = None
    lesion: np.ndarray | None = None
    lesion_type: str | None = None
    bic: dict[int, float] | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def channel_names(self) -> list[str]:
        """Names of the inputs (one per channel), in order."""
        return [channel.name for channel in self.channels]

    @property
    def quantised(self) -> np.ndarray:
        """(i, j, k, channel) volume where each voxel takes its cluster's mean intensity; 0 outside.

        Computed when asked for (it is as large as all inputs together)."""
        return quantise(self.labels, self.statistics, self.channel_names)

    @property
    def n_clusters(self) -> int:
        """Number of clusters fitted (chosen by BIC when automatic)."""
        return int(self.model.n_clusters)

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
    check_options(options)
    report = progress or (lambda message: None)
    grid = channels[0].grid
    if not all(channel.grid.same_as(grid) for channel in channels):
        raise ValueError("channels must share one grid: call grid.align_channels first")
    if options.lesion:
        try:
            check_lesion_inputs([channel.name for channel in channels], options.lesion_type)
        except ValueError as error:
            raise UserInputError(str(error)) from None
    voxel_mask, warnings = build_mask(channels, options.mask, mask)
    report(f"mask: {np.count_nonzero(voxel_mask)} voxels")
    check_workload(options, int(np.count_nonzero(voxel_mask)), len(channels), voxel_mask.size)
    clustered = preprocess_channels(channels, voxel_mask, options, report)
    features, feature_names, feature_warnings = feature_matrix(clustered, voxel_mask)
    warnings += feature_warnings
    scaled = scale_features(features, options.scaling, feature_names)
    if options.tissue:
        model, masked_labels, posteriors, notes = tissue_classes(clustered, voxel_mask, options, report)
        n_clusters, bic = model.n_clusters, None
        segments = [Segment(label, name, color) for label, (name, color) in enumerate(zip(TISSUE_NAMES, TISSUE_COLORS), 1)]
    else:
        n_clusters, bic = choose_n_clusters(scaled, options, report)
        model = ClusterModel(options.method, n_clusters, covariance_type=options.covariance_type,
                             random_state=options.seed, engine=options.engine)
        report(f"clustering {scaled.shape[0]} voxels x {scaled.shape[1]} features ({options.method}, k={n_clusters})")
        cluster_index = model.fit_predict(scaled)
        if not model.converged_:
            warnings.append(f"the {options.method} fit did not converge in {model.n_iter_} iterations")
        cluster_index, posteriors = spatial_posteriors(model, scaled, voxel_mask, grid, options, report, cluster_index)
        masked_labels = (cluster_index + 1).astype(np.uint8 if n_clusters < 254 else np.uint16)
        segments = [Segment(label, segment_name(label), segment_color(label)) for label in range(1, n_clusters + 1)]
        notes = [f"k = {n_clusters} chosen by BIC among {sorted(bic)}"] if bic else []
    lesion = lesion_type = None
    if options.lesion:
        report("finding the lesion")
        found = lesion_mask(voxel_mask, clustered, options.lesion_type)
        lesion, lesion_type, description = found.mask, found.lesion_type, found.description
        notes.append(f"lesion: {description}")
        masked_labels[masked_rows(lesion, voxel_mask)] = n_clusters + 1  # the lesion lies inside the mask
        segments.append(Segment(n_clusters + 1, LESION_NAME, LESION_COLOR))
    labels = new_volume(grid.shape, masked_labels.dtype)
    set_masked_rows(labels, voxel_mask, masked_labels)
    raw_features = len(feature_names) == len(channels) and all(a is b for a, b in zip(clustered, channels))
    statistics = segment_statistics(labels, {s.label: s.name for s in segments}, channels, grid.voxel_volume_mm3,
                                    inside_values=features if raw_features else None, inside_labels=masked_labels)
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
        posteriors=posteriors if options.posteriors else None,
        lesion=lesion,
        lesion_type=lesion_type,
        bic=bic,
        warnings=warnings,
        notes=notes,
    )


def tissue_classes(channels: Sequence[Channel], mask: np.ndarray, options: SegmentationOptions, report: Progress,
                   ) -> tuple[TissueModel, np.ndarray, np.ndarray | None, list[str]]:
    """The brain tissue model's labels (1 CSF, 2 GM, 3 WM) of the masked voxels, its fractions as
    (I, J, K, 3) posteriors when asked for, and its notes."""
    beta = options.mrf_beta or TISSUE_MRF_BETA
    report(f"brain tissue classes (partial volume, bias field, MRF beta={beta:g})")
    found = segment_tissue(channels, mask, beta=beta, neighbourhood=options.mrf_neighbourhood)
    posteriors = _volume(found.fractions, mask, mask.shape + (3,)) if options.posteriors else None
    return TissueModel(found.fit), found.labels, posteriors, found.notes


def spatial_posteriors(
    model: ClusterModel, scaled: np.ndarray, mask: np.ndarray, grid: Grid, options: SegmentationOptions,
    report: Progress, cluster_index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cluster index of each masked voxel and the (I, J, K, k) posteriors, MRF-regularised when asked.

    Without the MRF prior the fitted ``cluster_index`` stands, and posteriors are computed only
    when requested (GMM); None otherwise.
    """
    shape = grid.shape + (model.n_clusters,)
    if options.mrf_beta > 0:
        report(f"spatial regularisation (MRF, beta={options.mrf_beta:g}, {options.mrf_neighbourhood}-neighbourhood)")
        masked = regularise_masked(model.class_log_likelihood(scaled), mask, options.mrf_beta,
                                   options.mrf_neighbourhood, spacing=grid.spacing)
        return masked.argmax(axis=1), _volume(masked, mask, shape) if options.posteriors else None
    if options.posteriors and options.method == "gmm":
        return cluster_index, _volume(model.predict_proba(scaled), mask, shape)
    return cluster_index, None


def _volume(rows: np.ndarray, mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(I, J, K, k) float32 volume holding ``rows`` (n, k) at the mask's voxels, 0 elsewhere."""
    volume = new_volume(shape, np.float32)
    set_masked_rows(volume, mask, rows)
    return volume


def lesion_mask(mask: np.ndarray, channels: Sequence[Channel], lesion_type: str) -> LesionResult:
    """The automatic lesion (see :mod:`lesion`; possibly empty) and the rule's account of its decision."""
    try:
        grid = channels[0].grid
        found = find_lesion({c.name: c.data for c in channels}, mask, grid.spacing, lesion_type, grid.left_right_axis)
    except ValueError as error:  # e.g. NaN inside the mask
        raise UserInputError(str(error)) from None
    return found


def preprocess_channels(channels: Sequence[Channel], mask: np.ndarray, options: SegmentationOptions,
                        report: Progress) -> list[Channel]:
    """Copies of the channels with the bias field removed and/or denoised, as the options ask."""
    if not options.bias_correction and options.denoise == "none":
        return list(channels)
    processed = []
    for channel in channels:
        data = channel.data
        if options.bias_correction:
            report(f"bias-field correction (N4) of {channel.name}")
            try:
                data = correct_bias_field(data, mask, channel.grid.spacing)
            except ValueError as error:  # e.g. z-scored intensities, which N4 cannot model
                raise UserInputError(f"input {channel.name!r}: {error}") from None
        if options.denoise != "none":
            report(f"denoising ({options.denoise}) {channel.name}")
            try:
                data = denoise(data, channel.grid.spacing, options.denoise, mask=mask)
            except ValueError as error:  # e.g. an image too thin for the filter
                raise UserInputError(f"input {channel.name!r}: {error}") from None
        processed.append(replace(channel, data=data))
    return processed


def choose_n_clusters(scaled: np.ndarray, options: SegmentationOptions, report: Progress) -> tuple[int, dict[int, float] | None]:
    """The number of clusters: fixed, or the lowest BIC in ``options.auto_clusters`` (GMM)."""
    if options.auto_clusters is None:
        return options.n_clusters, None
    low, high = options.auto_clusters
    report(f"choosing k by BIC among {low}..{high}")
    best, bic = select_n_clusters_bic(
        scaled, range(low, high + 1), options.covariance_type, options.seed,
        make_model=lambda k: make_backend("gmm", k, options.covariance_type, options.seed, options.engine),
    )
    return best, bic


def quantise(labels: np.ndarray, statistics: Sequence[dict[str, object]], names: Sequence[str]) -> np.ndarray:
    """(i, j, k, channel) volume where each voxel takes its cluster's mean intensity; 0 outside.

    Segments without voxels (an empty Lesion segment) have rows in ``statistics`` and none in ``labels``.
    """
    top = max([int(labels.max())] + [int(row["label"]) for row in statistics])
    table = np.zeros((top + 1, len(names)), dtype=np.float32)
    for row in statistics:
        table[int(row["label"])] = np.nan_to_num([row[f"mean_{name}"] for name in names])
    return table[labels]
