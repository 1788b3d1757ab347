"""Which voxels are clustered: the foreground mask.

Rules: ``nonzero`` (the lesson's rule: voxel > 0 in every input), ``otsu`` (first input above
its Otsu threshold), ``none`` (every voxel), or a user's label/binary map (voxels > 0).
Voxels with a NaN or infinite value in any input are always left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..core.errors import UserInputError
from ..core.options import MASK_RULES
from ..core.parallel import parallel, shares
from ..core.volume import Channel


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1D array: maximises the between-class variance of a histogram."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts, dtype=np.float64)
    weight_high = weight_low[-1] - weight_low
    cumulative_mean = np.cumsum(counts * centres, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = cumulative_mean / weight_low
        mean_high = (cumulative_mean[-1] - cumulative_mean) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[1:][np.nanargmax(between[:-1])])


def rule_mask(channels: Sequence[Channel], rule: str) -> np.ndarray:
    """The mask a named rule gives, before non-finite voxels are removed."""
    if rule == "nonzero":
        return _all_channels(channels, lambda data: np.greater(data, 0))
    if rule == "otsu":
        first = channels[0].data
        finite = first[np.isfinite(first)]
        if finite.size == 0 or finite.min() == finite.max():
            raise UserInputError(f"cannot use the otsu mask: input {channels[0].name!r} has a single value")
        with np.errstate(invalid="ignore"):
            return first > otsu_threshold(finite)
    if rule == "none":
        return np.ones(channels[0].data.shape, dtype=bool, order="F")
    raise UserInputError(f"unknown mask rule {rule!r}; use one of {', '.join(MASK_RULES)} or a mask file")


def finite_mask(channels: Sequence[Channel]) -> np.ndarray | None:
    """True where every channel holds a finite number; None when they all do everywhere.

    A channel whose sum is finite holds only finite numbers (a NaN or an infinity, or an
    overflow, makes the sum non-finite), so the voxel-wise test runs only when one is not.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        sums = parallel(lambda channel: np.sum(channel.data, dtype=np.float64), channels)
    if all(np.isfinite(total) for total in sums):
        return None
    return _all_channels(channels, np.isfinite)


def _all_channels(channels: Sequence[Channel], test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``test`` of every channel, and-ed: the channels tested in pairs on the cores, each pair
    and-ed in place (a list of masks given to ``logical_and.reduce`` would first be stacked
    into one array, several times slower)."""

    def test_all(group: Sequence[Channel]) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            result = test(group[0].data)
            for channel in group[1:]:
                result &= test(channel.data)
        return result

    partial = parallel(test_all, shares(channels))  # numpy releases the GIL
    for other in partial[1:]:
        partial[0] &= other
    return partial[0]


def build_mask(
    channels: Sequence[Channel], rule: str = "nonzero", given: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """The foreground mask (``given`` > 0 when a mask array is given, else ``rule``) and warnings.

    Raises UserInputError when no voxel is left.
    """
    warnings = []
    mask = np.asarray(given) > 0 if given is not None else rule_mask(channels, rule)
    finite = finite_mask(channels)
    excluded = 0 if finite is None else int(finite.size - np.count_nonzero(finite))
    if excluded:
        mask = mask & finite
        warnings.append(
            f"{excluded} voxels hold NaN or infinite values (or lie outside a resampled input's field of view): "
            "left out of the mask"
        )
    if not mask.any():
        where = "the given mask is empty" if given is not None else f"mask rule {rule!r} selects no voxel"
        raise UserInputError(f"nothing to segment: {where}; check the inputs or use another mask (otsu or none)")
    return mask, warnings
