"""Which lesion voxels changed between two visits on one grid (the follow-up already registered).

The rule
--------
1. **Each visit's brain and lesions** come from the lesion rule (:mod:`lesion.rule`): its brain, its
   z-maps against normal tissue, and the MS rule's lesions (FLAIR or T2 hyperintense foci that the
   brain tissue model cannot explain).
2. **One intensity scale.** The change is read on FLAIR (else T2), as z against normal tissue, both
   visits smoothed by ``SMOOTH_MM`` (scans of different resolution and noise look alike). The
   follow-up's z is mapped onto the baseline's by their quantiles inside the shared brain (a scanner,
   coil or protocol change alters contrast, not only scale), then a differential bias field, the
   difference of normal-looking voxels smoothed over ``BIAS_MM``, is removed, and (``SLICEWISE``) each
   slice's median difference across the coarsest axis: multi-slice scans differ slice by slice (slab
   profile, the outer slices of the field of view).
3. **Change.** With d = follow-up - baseline, a voxel is *new or enlarging* when d exceeds the pair's
   change threshold: ``CHANGE_NOISE_SDS`` robust SDs of d in the brain (the pair's own noise: scanner,
   registration and resampling differences; at least ``MIN_CHANGE_Z``),
   the follow-up is lesion-bright (z > ``LESION_Z``) and the baseline was not CSF-dark (z >
   ``CSF_Z``: a ventricle edge moved by the registration is not a lesion); *shrinking or resolved*
   symmetrically. With T2 beside FLAIR, T2 must change in the same direction (T1 is not used here: MS
   lesions are often as dark on T1 as CSF). Only 26-connected foci with the lesion rule's ``MIN_FOCUS_VOXELS``
   voxels of |d| > threshold + ``SEED_MARGIN`` are kept, and only deeper than ``CHANGE_RIM_MM`` from the brain's
   outer surface: less than the lesion rule's 3 mm, which keeps a skull strip's bright rim and the dura out of
   one visit's lesions; in a difference both visits have them, and a juxtacortical lesion that appeared is kept.
   Each focus kept then takes in its partial-volume edge (as the lesion rules' one-voxel rim): the 26-neighbours
   whose plain difference (no neighbour tolerance) passes the threshold and reaches half the focus's median change
   (a voxel at least half lesion), and whose brighter visit lies above normal tissue's centre (z > ``EDGE_Z``),
   though not lesion-bright.
4. **Lesions at each visit.** A voxel the MS rule finds at both visits and that did not change is a
   *stable* lesion voxel, in 26-connected groups of at least the rule's ``MIN_FOCUS_VOXELS`` (one found
   at a single visit without a significant change is noise at the rule's threshold); the baseline's
   lesion is the stable and shrinking voxels, the follow-up's the stable and new.

The thresholds are in units of the baseline's normal-tissue spread; bench/quality/run_change.py
shows what each does on every development pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..core.lazy import lazy_module
from ..core.volume import bounding_box
from ..engine.morphology import FULL
from ..engine.smoothing import smooth, smooth_within
from ..lesion.rule import Evidence, foci, gather_evidence, image_border, ms_rule

ndimage = lazy_module("scipy.ndimage")

SMOOTH_MM = 0.7
BIAS_MM = 15.0
CHANGE_NOISE_SDS = 6.0
MIN_CHANGE_Z = 0.5
SEED_MARGIN = 0.5
LESION_Z = 1.0
EDGE_Z = 0.0
CHANGE_RIM_MM = 1.5
CSF_Z = -1.5
NORMAL_Z = 2.0
NEIGHBOUR_MM = 2.5
SLICEWISE = True
MIN_SLICE_VOXELS = 100
QUANTILES = np.linspace(0.5, 99.5, 199)


@dataclass(frozen=True)
class ChangeMaps:
    """Boolean maps on the baseline grid, and how they were found."""

    new: np.ndarray
    shrinking: np.ndarray
    stable: np.ndarray
    notes: list[str]

    @property
    def baseline_lesion(self) -> np.ndarray:
        """The lesion at the baseline: stable and shrinking voxels."""
        return self.stable | self.shrinking

    @property
    def follow_up_lesion(self) -> np.ndarray:
        """The lesion at the follow-up: stable and new voxels."""
        return self.stable | self.new


def match_quantiles(values: np.ndarray, reference: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``values`` mapped so that their quantiles in ``region`` equal ``reference``'s; beyond the outer quantiles
    (where lesions lie) the map goes on straight, with the slope of a line fitted through all of them."""
    source = np.percentile(values[region], QUANTILES)
    target = np.percentile(reference[region], QUANTILES)
    slope = np.polyfit(source, target, 1)[0] if np.ptp(source) > 0 else 1.0
    mapped = np.interp(values, source, target)
    mapped += np.where(values > source[-1], (values - source[-1]) * slope, 0.0)
    mapped += np.where(values < source[0], (values - source[0]) * slope, 0.0)
    return mapped.astype(np.float32)


def matched_difference(base: np.ndarray, follow: np.ndarray, brain: np.ndarray,
                       spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed baseline, follow-up on the baseline's scale (quantiles, differential bias), and their difference."""
    base, follow = smooth(base, SMOOTH_MM, spacing), smooth(follow, SMOOTH_MM, spacing)
    follow = match_quantiles(follow, base, brain)
    normal = brain & (np.abs(base) < NORMAL_Z) & (np.abs(follow) < NORMAL_Z)
    follow = follow - smooth_within(follow - base, normal, BIAS_MM, spacing)
    if SLICEWISE:
        follow = follow - slice_offsets(follow - base, normal, int(np.argmax(spacing)))
    return base, follow, follow - base


def slice_offsets(difference: np.ndarray, normal: np.ndarray, axis: int) -> np.ndarray:
    """The median difference of the normal voxels of each slice across ``axis`` (0 where a slice has none), broadcast:
    multi-slice scans differ from visit to visit slice by slice (slab profile, the FOV's outer slices)."""
    moved = np.moveaxis(difference, axis, 0)
    inside = np.moveaxis(normal, axis, 0)
    medians = np.array([np.median(d[m]) if np.count_nonzero(m) >= MIN_SLICE_VOXELS else 0.0 for d, m in zip(moved, inside)],
                       dtype=np.float32)
    shape = [1, 1, 1]
    shape[axis] = -1
    return medians.reshape(shape)


def change_threshold(difference: np.ndarray, search: np.ndarray) -> float:
    """The pair's change threshold: ``CHANGE_NOISE_SDS`` robust SDs (1.4826 MAD) of ``difference`` in ``search``
    (almost all of it unchanged tissue), at least ``MIN_CHANGE_Z``."""
    values = difference[search]
    if values.size == 0:
        return MIN_CHANGE_Z
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return max(MIN_CHANGE_Z, CHANGE_NOISE_SDS * spread)


def tolerant_differences(before: np.ndarray, after: np.ndarray,
                         spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """How much brighter the follow-up is than the baseline's brightest neighbour, and the baseline than the
    follow-up's: a lesion edge moved by a voxel (registration, partial volume) is no change. Neighbours lie
    within ``NEIGHBOUR_MM`` along each axis (thick slices: none across them)."""
    size = [3 if s <= NEIGHBOUR_MM else 1 for s in spacing]
    return (after - ndimage.maximum_filter(before, size=size), before - ndimage.maximum_filter(after, size=size))


def with_edge(focus: np.ndarray, change: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """``focus`` and its 26-neighbours in ``edge`` whose ``change`` is at least half their focus's median change:
    the partial-volume boundary of a changing lesion, its voxels at least half lesion."""
    components, n = ndimage.label(focus, structure=FULL)
    if n == 0:
        return focus
    half = np.zeros(n + 1, dtype=np.float32)
    half[1:] = 0.5 * np.asarray(ndimage.median(change[focus], components[focus], np.arange(1, n + 1)), dtype=np.float32)
    level = ndimage.maximum_filter(np.where(focus, half[components], -np.inf).astype(np.float32), size=3)
    return focus | (edge & np.isfinite(level) & (change >= level))


def evidence_of(channels: Mapping[str, np.ndarray], mask: np.ndarray, spacing: tuple[float, float, float],
                border: np.ndarray) -> tuple[Evidence, np.ndarray]:
    """A visit's lesion evidence and its MS-rule lesions."""
    evidence = gather_evidence(channels, mask, spacing, border)
    return evidence, ms_rule(evidence)


def detect_change(baseline: Mapping[str, np.ndarray], follow_up: Mapping[str, np.ndarray], mask: np.ndarray,
                  spacing: tuple[float, float, float]) -> ChangeMaps:
    """The change maps of two visits on one grid (rule: module docstring); ``mask`` holds both visits' voxels."""
    box = bounding_box(mask)
    border = image_border(box, mask.shape)
    inside = np.ascontiguousarray(mask[box])
    base, base_lesion = evidence_of(_crop(baseline, box), inside, spacing, border)
    follow, follow_lesion = evidence_of(_crop(follow_up, box), inside, spacing, border)
    role = "flair" if "flair" in base.z and "flair" in follow.z else "t2"
    brain = base.brain & follow.brain
    search = base.deeper_than(CHANGE_RIM_MM) & follow.deeper_than(CHANGE_RIM_MM)
    before, after, difference = matched_difference(base.z[role], follow.z[role], brain, spacing)
    brighter, darker = tolerant_differences(before, after, spacing)
    threshold = change_threshold(difference, search)
    notes = [f"change read on {role}: smoothed {SMOOTH_MM:g} mm, follow-up matched to baseline by quantiles, "
             f"differential bias over {BIAS_MM:g} mm removed; |change| > {threshold:.2f} baseline spreads "
             f"({CHANGE_NOISE_SDS:g} robust SDs of the difference in the brain, at least {MIN_CHANGE_Z:g})"]
    brightening, darkening = search & (before > CSF_Z), search & (after > CSF_Z)
    if role == "flair" and "t2" in base.z and "t2" in follow.z:
        t2_difference = matched_difference(base.z["t2"], follow.z["t2"], brain, spacing)[2]
        brightening, darkening = brightening & (t2_difference > 0), darkening & (t2_difference < 0)
        notes.append("T2 at both visits: it must change the same way")
    seed = threshold + SEED_MARGIN
    new = with_edge(foci(brightening & (brighter > threshold) & (after > LESION_Z), brighter > seed), difference,
                    brightening & (difference > threshold) & (after > EDGE_Z))
    shrinking = with_edge(foci(darkening & (darker > threshold) & (before > LESION_Z), darker > seed), -difference,
                          darkening & (-difference > threshold) & (before > EDGE_Z))
    unchanged = base_lesion & follow_lesion & ~new & ~shrinking
    stable = foci(unchanged, unchanged)  # a smaller fragment is no lesion (it made a new lesion 'enlarging')
    new, shrinking, stable = (_uncrop(part, box, mask.shape) for part in (new, shrinking, stable))
    return ChangeMaps(new, shrinking, stable, notes + base.notes[-1:] + follow.notes[-1:])


def _crop(channels: Mapping[str, np.ndarray], box: tuple[slice, ...]) -> dict[str, np.ndarray]:
    """C-ordered float32 copies of the channels' ``box``."""
    return {name: np.ascontiguousarray(np.asarray(data, np.float32)[box]) for name, data in channels.items()}


def _uncrop(part: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    """A cropped map back on the full grid."""
    full = np.zeros(shape, dtype=bool)
    full[box] = part
    return full
