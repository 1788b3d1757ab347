"""Overlap and distance metrics between a predicted and a reference binary mask.

Empty masks: Dice and Jaccard are 1 when both masks are empty and 0 when only one is;
the 95th-percentile Hausdorff distance is 0 when both are empty and NaN (undefined) when
only one is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..core.volume import MM3_PER_ML


def _pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool arrays of one shape."""
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} and {ref.shape}")
    return pred, ref


def _spacing(spacing: Sequence[float], ndim: int) -> tuple[float, ...]:
    """The spacing as a float tuple, checked against the number of dimensions."""
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim or not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must be {ndim} positive numbers, not {spacing}")
    return spacing


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice coefficient 2|P∩R| / (|P| + |R|)."""
    pred, ref = _pair(pred, ref)
    total = int(pred.sum()) + int(ref.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(pred & ref)) / total


def jaccard(pred: np.ndarray, ref: np.ndarray) -> float:
    """Jaccard index |P∩R| / |P∪R|."""
    pred, ref = _pair(pred, ref)
    union = int(np.count_nonzero(pred | ref))
    return 1.0 if union == 0 else int(np.count_nonzero(pred & ref)) / union


def volume_difference_ml(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> float:
    """Predicted minus reference volume in mL."""
    pred, ref = _pair(pred, ref)
    voxel_ml = float(np.prod(_spacing(spacing, pred.ndim))) / MM3_PER_ML
    return (int(pred.sum()) - int(ref.sum())) * voxel_ml


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of the mask with a face neighbour outside it (or on the array border)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def hausdorff95_mm(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> float:
    """Symmetric 95th-percentile surface distance in mm.

    The 95th percentile of the pooled distances from each surface voxel of one mask to the
    nearest surface voxel of the other, in both directions (as MedPy's ``hd95``).
    """
    pred, ref = _pair(pred, ref)
    spacing = _spacing(spacing, pred.ndim)
    if not pred.any() and not ref.any():
        return 0.0
    if not pred.any() or not ref.any():
        return float("nan")
    pred_surface, ref_surface = _surface(pred), _surface(ref)
    to_ref = ndimage.distance_transform_edt(~ref_surface, sampling=spacing)[pred_surface]
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)[ref_surface]
    return float(np.percentile(np.concatenate([to_ref, to_pred]), 95))


def evaluate(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Dice, Jaccard, volumes and their difference (mL) and HD95 (mm) of ``pred`` against ``ref``."""
    pred, ref = _pair(pred, ref)
    voxel_ml = float(np.prod(_spacing(spacing, pred.ndim))) / MM3_PER_ML
    return {
        "dice": dice(pred, ref),
        "jaccard": jaccard(pred, ref),
        "volume_pred_ml": int(pred.sum()) * voxel_ml,
        "volume_ref_ml": int(ref.sum()) * voxel_ml,
        "volume_difference_ml": volume_difference_ml(pred, ref, spacing),
        "hausdorff95_mm": hausdorff95_mm(pred, ref, spacing),
    }
