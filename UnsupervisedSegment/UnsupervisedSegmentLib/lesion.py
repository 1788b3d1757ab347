"""Automatic lesion finding: which clusters of a brain MRI segmentation form the lesion.

The rule
--------
1. **Channel roles.** Each input channel's name is lower-cased and stripped of spaces, ``_``,
   ``-`` and ``.``; it gets the first role of ``ROLE_ALIASES`` (checked in the order flair, t1c,
   t2, t1, adc) one of whose aliases it *contains*, e.g. ``T2_FLAIR`` -> flair,
   ``Flair_subtrMeanDivStd`` -> flair, ``T1_contrast`` / ``T1c`` / ``T1Gd`` / ``T1CE`` -> t1c,
   ``T2w`` -> t2, ``T1`` -> t1, ``ADC`` -> adc. Names matching nothing get no role.
   The *evidence* roles are flair and t2 (oedema and tumour are hyperintense) and t1c
   (enhancing tumour is hyperintense). T1 and ADC are clustered but not used by the rule.
   Without any flair, t2 or t1c channel the rule refuses with a ``ValueError``.
2. **Reference.** For every evidence channel, the brain's intensity distribution is summarised
   robustly over the whole mask: its median and its robust standard deviation
   (1.4826 × median absolute deviation). Both shift little as long as the lesion is a minority
   of the mask, do not depend on the number of clusters or on which tissue happens to be the
   largest cluster, and work for raw, normalised or z-scored intensities alike.
3. **Selecting clusters.** A cluster's score on a channel is (its mean − the brain median) /
   the robust SD. *All* clusters scoring at least ``z_threshold`` (default 2) on at least one
   evidence channel are lesion clusters: oedema/tumour via FLAIR or T2, enhancing tumour via
   T1c. The largest cluster is taken to be normal tissue and is never selected. With the
   default, normal grey and white matter score within about ±1, lesion clusters 3 or more.
4. **Cleaning.** The union of the lesion clusters gets its enclosed holes filled, first in 3D,
   then in 2D within each slice across the axis of coarsest spacing (the last axis when the
   voxels are isotropic): a necrotic core, dark on FLAIR and T1c, belongs to the whole tumour
   when the rim encloses it, even if the core opens out of plane. Then 26-connected components
   are kept when they are at least ``min_component_ml`` (default 0.5 mL, a sphere of about
   1 cm) and at least ``min_component_fraction`` (default 0.1) of the largest component's
   volume.

Limits
------
- It finds what is *hyperintense* on FLAIR/T2/T1c. A lesion that is not (e.g. a hypointense
  T1-only lesion, or a necrotic core open to the brain surface) is missed; other hyperintense
  tissue (residual scalp, fat or dura from an imperfect brain mask, vessels and choroid plexus
  on T1c, periventricular white-matter disease or CSF-flow artefacts on FLAIR) is found
  when it forms a large enough component.
- It only chooses among the clusters it is given: with too few clusters (e.g. 3) a small
  lesion shares a cluster with normal tissue and is missed or diluted. Recommended: 6 clusters
  (CSF, grey matter, white matter, oedema, enhancing tumour, necrosis) with the MRF prior
  (beta 1); see bench/quality/results.md.
- The relative size filter keeps one dominant lesion and its large satellites; small separate
  foci (multiple metastases, multiple sclerosis) need ``min_component_fraction=0``.
- Hole filling also fills normal tissue or CSF that the lesion encloses in a slice.
- Without T1c, enhancing tumour is found only where it is also bright on FLAIR/T2; with T1c
  alone, oedema is missed.
- The reference assumes the mask is (mostly) brain: a mask with much background, skull or
  scalp shifts the median and the robust SD.
- Names are matched by substring: a T1-weighted FLAIR named ``t1_flair`` counts as FLAIR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .lazy import lazy_module

ndimage = lazy_module("scipy.ndimage")  # used only when a lesion is looked for

from .options import LESION_PRESET  # noqa: F401 - the preset is part of the lesion rule

MM3_PER_ML = 1000.0
#: Channel roles and the name fragments that give them, in matching order.
ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "flair": ("flair",),
    "t1c": ("t1c", "t1gd", "t1+c", "t1+gd", "t1wce", "t1post", "ct1", "postcontrast", "gad"),
    "t2": ("t2",),
    "t1": ("t1",),
    "adc": ("adc",),
}
#: Roles whose hyperintensity is evidence of a lesion.
EVIDENCE_ROLES = ("flair", "t2", "t1c")
ROBUST_SD_PER_MAD = 1.4826


@dataclass(frozen=True)
class LesionResult:
    """The lesion mask and how the rule reached it."""

    mask: np.ndarray
    clusters: tuple[int, ...]
    scores: dict[int, dict[str, float]]
    description: str


def channel_role(name: str) -> str | None:
    """The role (flair, t1c, t2, t1, adc) of a channel name, or None."""
    key = re.sub(r"[\s_.\-]", "", name.lower())
    return next((role for role, aliases in ROLE_ALIASES.items() if any(a in key for a in aliases)), None)


def _robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and robust SD (1.4826 MAD, or the SD when the MAD is 0) of ``values``."""
    median = float(np.median(values))
    scale = ROBUST_SD_PER_MAD * float(np.median(np.abs(values - median)))
    return median, scale if scale > 0 else float(np.std(values))


def cluster_scores(
    labels: np.ndarray, mask: np.ndarray, channels: Mapping[str, np.ndarray]
) -> tuple[dict[int, dict[str, float]], dict[int, int], list[str]]:
    """Each cluster's z-score per evidence channel, its voxel count, and notes on skipped channels."""
    inside = labels[mask]
    clusters, counts = np.unique(inside, return_counts=True)
    scores: dict[int, dict[str, float]] = {int(c): {} for c in clusters}
    notes = []
    for name, data in channels.items():
        if channel_role(name) not in EVIDENCE_ROLES:
            continue
        values = np.asarray(data, dtype=np.float64)[mask]
        if not np.isfinite(values).all():
            raise ValueError(f"channel {name!r} has NaN or infinite values inside the mask")
        median, scale = _robust_location_scale(values)
        if not scale > 0:
            notes.append(f"{name} is constant inside the mask and was ignored")
            continue
        sums = np.bincount(np.searchsorted(clusters, inside), weights=values, minlength=len(clusters))
        for cluster, total, count in zip(clusters, sums, counts):
            scores[int(cluster)][name] = float((total / count - median) / scale)
    return scores, dict(zip(clusters.tolist(), counts.tolist())), notes


def fill_enclosed_holes(candidate: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Holes filled in 3D, then in 2D within each slice across the axis of coarsest spacing.

    Computed in the candidate's bounding box with one voxel of margin (the same result, faster).
    """
    occupied = [np.flatnonzero(candidate.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    if not occupied[0].size:
        return np.zeros_like(candidate)
    box = tuple(slice(max(index[0] - 1, 0), index[-1] + 2) for index in occupied)
    result = np.zeros_like(candidate)
    result[box] = _fill_holes_3d_then_2d(candidate[box], spacing)
    return result


def _fill_holes_3d_then_2d(candidate: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """:func:`fill_enclosed_holes` on an array whose border is background or the volume's border."""
    filled = ndimage.binary_fill_holes(candidate)
    axis = len(spacing) - 1 - int(np.argmax(np.asarray(spacing)[::-1]))  # ties: the last axis
    slices = [ndimage.binary_fill_holes(plane) for plane in np.moveaxis(filled, axis, 0)]
    return np.moveaxis(np.stack(slices), 0, axis)


def clean_components(
    candidate: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    min_component_ml: float,
    min_component_fraction: float,
    fill_holes: bool = True,
) -> np.ndarray:
    """Fill enclosed holes, then keep 26-connected components large enough in absolute and relative size."""
    lesion = fill_enclosed_holes(candidate, spacing) & mask if fill_holes else candidate & mask
    components, n = ndimage.label(lesion, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return lesion
    voxel_ml = float(np.prod(spacing)) / MM3_PER_ML
    sizes_ml = np.bincount(components.ravel())[1:] * voxel_ml
    large = (sizes_ml >= min_component_ml) & (sizes_ml >= min_component_fraction * sizes_ml.max())
    keep = np.concatenate([[False], large])
    return keep[components]


def find_lesion(
    labels: np.ndarray,
    mask: np.ndarray,
    channels: Mapping[str, np.ndarray],
    spacing: Sequence[float],
    z_threshold: float = 2.0,
    min_component_ml: float = 0.5,
    min_component_fraction: float = 0.1,
    fill_holes: bool = True,
) -> LesionResult:
    """Lesion mask from a clustering: the hyperintense clusters, cleaned (rule in the module docstring).

    ``labels`` (I, J, K) holds a cluster id per voxel inside ``mask``; ``channels`` maps channel
    names to (I, J, K) intensity arrays; ``spacing`` is the voxel size in mm.
    """
    mask = np.asarray(mask, dtype=bool)
    labels = np.asarray(labels)
    if labels.shape != mask.shape or any(np.shape(data) != mask.shape for data in channels.values()):
        raise ValueError("labels, mask and every channel must have the same shape")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers, not {spacing}")
    if not z_threshold > 0:
        raise ValueError(f"z_threshold must be > 0, not {z_threshold!r}")
    if not min_component_ml >= 0 or not 0 <= min_component_fraction <= 1:
        raise ValueError("min_component_ml must be >= 0 and min_component_fraction between 0 and 1")
    if not mask.any():
        raise ValueError("the mask is empty")
    roles = {name: channel_role(name) for name in channels}
    if not any(role in EVIDENCE_ROLES for role in roles.values()):
        raise ValueError(
            "automatic lesion finding needs a FLAIR, T2 or T1 post-contrast channel, named e.g. 'flair', "
            f"'t2' or 't1c' (see ROLE_ALIASES); got {sorted(channels)}"
        )
    scores, counts, notes = cluster_scores(labels, mask, channels)
    tissue = max(counts, key=counts.get)
    chosen = tuple(c for c, z in scores.items() if c != tissue and z and max(z.values()) >= z_threshold)
    candidate = mask & np.isin(labels, chosen)
    lesion = clean_components(candidate, mask, spacing, min_component_ml, min_component_fraction, fill_holes)
    description = _describe(scores, counts, tissue, chosen, roles, z_threshold, notes, lesion, spacing)
    return LesionResult(lesion, chosen, scores, description)


def _describe(
    scores: dict[int, dict[str, float]],
    counts: dict[int, int],
    tissue: int,
    chosen: tuple[int, ...],
    roles: dict[str, str | None],
    z_threshold: float,
    notes: list[str],
    lesion: np.ndarray,
    spacing: tuple[float, float, float],
) -> str:
    """A human-readable account of the rule's decision."""
    used = ", ".join(f"{name} as {role}" for name, role in roles.items() if role in EVIDENCE_ROLES)
    lines = [f"Evidence channels: {used}. Threshold: cluster mean >= brain median + {z_threshold:g} robust SD."]
    for cluster, z in scores.items():
        detail = ", ".join(f"{name} {value:+.1f}" for name, value in z.items())
        verdict = "LESION" if cluster in chosen else "not lesion"
        verdict = "largest cluster: normal tissue" if cluster == tissue else verdict
        lines.append(f"cluster {cluster} ({counts[cluster]} voxels; z: {detail}): {verdict}")
    volume_ml = int(lesion.sum()) * float(np.prod(spacing)) / MM3_PER_ML
    lines.append(f"Lesion after hole filling and component filtering: {volume_ml:.1f} mL.")
    return "\n".join(lines + notes)
