"""Comparing a segmentation file with a reference file: the measures of :mod:`metrics`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.image_files import read_channels
from ..io.loading import resample_mask
from .metrics import evaluate


def selected(labels: np.ndarray, values: Sequence[int] | None) -> np.ndarray:
    """Voxels holding one of ``values`` (every voxel > 0 when None)."""
    return labels > 0 if not values else np.isin(np.rint(labels), values)


def compare_files(prediction: str | Path, reference: str | Path, prediction_labels: Sequence[int] | None = None,
                  reference_labels: Sequence[int] | None = None) -> dict[str, float]:
    """Dice, Jaccard, volumes, volume difference (mL) and HD95 (mm) of a prediction against a reference.

    The prediction is put on the reference's grid (nearest neighbour) when the grids differ.
    """
    reference_channel = read_channels(reference, "reference")[0]
    prediction_channel = read_channels(prediction, "prediction")[0]
    predicted = resample_mask(selected(prediction_channel.data, prediction_labels).astype(np.float32),
                              prediction_channel, reference_channel.grid, str(prediction))
    return evaluate(predicted, selected(reference_channel.data, reference_labels), reference_channel.grid.spacing)
