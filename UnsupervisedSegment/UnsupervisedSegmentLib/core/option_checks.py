"""Refusing impossible requests early: option checks before any file is read, size checks before clustering.

:func:`check_options` needs only the options, so the command line, the batch mode and the
Slicer module refuse a bad request at once. :func:`check_workload` runs once the mask is
known: at least k voxels to cluster, and an estimate of the memory the run needs against the
memory available; :func:`check_comparison_workload` does the same for a comparison of two visits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .errors import UserInputError
from .options import (
    COVARIANCE_TYPES,
    DENOISE_METHODS,
    ENGINES,
    LESION_TYPES,
    METHODS,
    NEIGHBOURHOODS,
    SCALINGS,
    SegmentationOptions,
)

#: The most clusters one run may ask for. Beyond this the fitted clusters are unstable slivers
#: and both engines' time and memory grow linearly with k for no segmentation use.
MAX_CLUSTERS = 64
#: Share of the available memory a run may plan to use (numpy temporaries come on top).
MEMORY_SHARE = 0.8
GIB = 1024**3
#: Peak bytes of a comparison of two visits per voxel of the baseline's grid, and per voxel for each input
#: beyond the first (measured: 83 with FLAIR alone, 108 with FLAIR + T2 on the longitudinal MS patients;
#: rounded up).
COMPARISON_BYTES_PER_VOXEL = 120
COMPARISON_BYTES_PER_EXTRA_INPUT = 32
#: Seeds numpy and scikit-learn accept.
MAX_SEED = 2**32 - 1


def check_options(options: SegmentationOptions) -> None:
    """Raise UserInputError for any option outside its documented range (reads no file)."""
    _check_choice("method", options.method, METHODS)
    _check_choice("covariance type", options.covariance_type, COVARIANCE_TYPES)
    _check_choice("engine", options.engine, ENGINES)
    _check_choice("scaling", options.scaling, SCALINGS)
    _check_choice("denoising", options.denoise, ("none", *DENOISE_METHODS))
    _check_choice("MRF neighbourhood", options.mrf_neighbourhood, NEIGHBOURHOODS)
    _check_choice("lesion type", options.lesion_type, LESION_TYPES)
    if options.tissue and options.auto_clusters is not None:
        raise UserInputError("--tissue gives three tissue classes: leave out -k auto")
    if options.auto_clusters is None:
        _check_cluster_count(options.n_clusters, "the number of clusters")
    else:
        low, high = options.auto_clusters
        if options.method != "gmm":
            raise UserInputError("the automatic number of clusters (-k auto, BIC) needs the Gaussian mixture method (--method gmm)")
        _check_cluster_count(low, "the smallest number of clusters to try (--k-range MIN)")
        _check_cluster_count(high, "the largest number of clusters to try (--k-range MAX)")
        if low > high:
            raise UserInputError(f"the range of clusters to try must be MIN <= MAX, not {low}..{high}")
    if isinstance(options.seed, bool) or not isinstance(options.seed, int) or not 0 <= options.seed <= MAX_SEED:
        raise UserInputError(f"the random seed must be a whole number from 0 to {MAX_SEED}, not {options.seed}")
    beta = options.mrf_beta
    if not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
        raise UserInputError(f"the MRF strength (--mrf-beta) must be a finite number >= 0 (0 = off), not {beta}")


def check_names(names: Sequence[str] | None) -> None:
    """Input names (--names) must not be empty (the inputs' own names are checked once read)."""
    if any(not name.strip() for name in names or ()):
        raise UserInputError("--names: an input name is empty; give every input a name")


def largest_k(options: SegmentationOptions) -> int:
    """The largest number of clusters the run will fit."""
    return options.auto_clusters[1] if options.auto_clusters is not None else options.n_clusters


def check_workload(options: SegmentationOptions, masked_voxels: int, channels: int, grid_voxels: int) -> None:
    """Raise UserInputError when the mask holds fewer voxels than clusters, or the run needs more memory than is free."""
    k = largest_k(options)
    if masked_voxels < k:
        raise UserInputError(f"cannot make {k} clusters from the {masked_voxels} voxels in the mask; use fewer clusters or a larger mask")
    check_memory(estimated_memory_bytes(options, masked_voxels, channels, grid_voxels), "this run",
                 f"{masked_voxels} voxels x {channels} inputs, k={k}",
                 "use fewer clusters, a tighter mask, or a smaller image")


def estimated_memory_bytes(options: SegmentationOptions, masked_voxels: int, channels: int, grid_voxels: int) -> int:
    """A generous estimate of the peak memory of a run: volumes, feature matrix, clustering and MRF arrays."""
    k = largest_k(options)
    volumes = grid_voxels * (8 * channels + 4)  # inputs (float32), processed copies, labels and mask
    features = masked_voxels * channels * 16 + masked_voxels * 16  # float32 + float64 scaled copy, label vectors
    per_cluster = 24 if options.engine == "sklearn" else 8  # scikit-learn keeps (n, k) float64 arrays
    clustering = masked_voxels * k * per_cluster
    spatial = grid_voxels * k * 4 * 4 if options.mrf_beta > 0 or (options.posteriors and options.method == "gmm") else 0
    return int(volumes + features + clustering + spatial)


def check_comparison_workload(grid_voxels: int, inputs: int, first_input: str) -> None:
    """Raise UserInputError when comparing two visits on a baseline grid of ``grid_voxels`` voxels with
    ``inputs`` sequences each would need more memory than is free."""
    needed = grid_voxels * (COMPARISON_BYTES_PER_VOXEL + COMPARISON_BYTES_PER_EXTRA_INPUT * max(0, inputs - 1))
    check_memory(needed, "comparing these visits",
                 f"{grid_voxels} voxels on the grid of the baseline's {first_input}, {inputs} sequences",
                 "resample the baseline to coarser voxels, crop it to the head, or compare fewer sequences")


def check_memory(needed: int, what: str, sizes: str, remedy: str) -> None:
    """Raise UserInputError, with the figures, when ``needed`` bytes exceed ``MEMORY_SHARE`` of the available memory."""
    available = available_memory_bytes()
    if available is not None and needed > MEMORY_SHARE * available:
        raise UserInputError(f"{what} needs about {needed / GIB:.1f} GiB of memory but only {available / GIB:.1f} GiB "
                             f"is available ({sizes}); {remedy}")


def available_memory_bytes() -> int | None:
    """Memory available to a new allocation (Linux: MemAvailable; elsewhere psutil's), or None where unknown.

    /proc/meminfo is read first: importing psutil costs more than the rest of the check."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _check_cluster_count(value: object, what: str) -> None:
    """A number of clusters: a whole number in 2..MAX_CLUSTERS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_CLUSTERS:
        raise UserInputError(
            f"{what} must be a whole number of at least 2 and at most {MAX_CLUSTERS} (this engine's limit), not {value}"
        )


def _check_choice(what: str, value: object, choices: tuple) -> None:
    """One of the allowed values."""
    if value not in choices:
        raise UserInputError(f"unknown {what} {value!r}; use one of {', '.join(str(c) for c in choices)}")
