"""Intensity preprocessing with SimpleITK: N4 bias-field correction and edge-preserving denoising.

Arrays are indexed (i, j, k) and ``spacing`` is the voxel size in mm along i, j, k; SimpleITK
images are indexed (k, j, i), so arrays are transposed on the way in and out. Inputs are never
modified; results are new float32 arrays on the same grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

DENOISE_METHODS = ("curvature", "median", "gaussian")


def _to_sitk(array: np.ndarray, spacing: Sequence[float]) -> sitk.Image:
    """An (i, j, k) array as a float32 SimpleITK image with the given spacing."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array, dtype=np.float32).transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing))
    return image


def _from_sitk(image: sitk.Image) -> np.ndarray:
    """A SimpleITK image as an (i, j, k) float32 array."""
    return np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0), dtype=np.float32)


def _check(image: np.ndarray, spacing: Sequence[float]) -> tuple[float, float, float]:
    """Validate a 3D image and its spacing; the spacing as a float triple."""
    if np.ndim(image) != 3:
        raise ValueError(f"image must be 3D, not of shape {np.shape(image)}")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers, not {spacing}")
    return spacing


def correct_bias_field(
    image: np.ndarray,
    mask: np.ndarray | None,
    spacing: Sequence[float],
    shrink_factor: int = 4,
    iterations: Sequence[int] = (50, 50, 30, 20),
) -> np.ndarray:
    """N4 bias-field corrected copy of ``image`` (float32).

    N4 is fitted inside ``mask`` (default: voxels > 0) on the image shrunk by ``shrink_factor``;
    the log bias field is then evaluated at full resolution and divided out everywhere. N4
    models a multiplicative field, so intensities must be positive: if the mask holds values
    <= 0 (e.g. z-scored data), the image is shifted to be positive for the fit and shifted back
    afterwards, which only approximates the physical model.
    """
    spacing = _check(image, spacing)
    if int(shrink_factor) != shrink_factor or shrink_factor < 1:
        raise ValueError(f"shrink_factor must be an integer >= 1, not {shrink_factor!r}")
    if len(iterations) == 0 or any(int(n) != n or n < 1 for n in iterations):
        raise ValueError(f"iterations must be a non-empty sequence of positive integers, not {iterations!r}")
    values = np.asarray(image, dtype=np.float32)
    mask = values > 0 if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {values.shape}")
    if not mask.any():
        raise ValueError("the mask for bias-field correction is empty")
    inside = values[mask]
    low, high = float(inside.min()), float(inside.max())
    offset = 0.0 if low > 0 else (high - low) * 0.01 - low
    shifted = _to_sitk(values + np.float32(offset), spacing)
    mask_image = _to_sitk(mask.astype(np.float32), spacing)
    mask_image = sitk.Cast(mask_image, sitk.sitkUInt8)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(n) for n in iterations])
    factor = [int(shrink_factor)] * 3
    corrector.Execute(sitk.Shrink(shifted, factor), sitk.Shrink(mask_image, factor))
    log_bias = _from_sitk(corrector.GetLogBiasFieldAsImage(shifted))
    return ((values + np.float32(offset)) / np.exp(log_bias) - np.float32(offset)).astype(np.float32)


def denoise(
    image: np.ndarray,
    spacing: Sequence[float],
    method: str = "curvature",
    *,
    iterations: int = 5,
    radius: int = 1,
    sigma_mm: float = 1.0,
) -> np.ndarray:
    """Denoised copy of ``image`` (float32) by curvature flow, median or Gaussian smoothing.

    ``curvature``: ``iterations`` steps of curvature flow (edge preserving) with the stable time
    step 0.0625 * (smallest spacing)²; ``median``: median over a box of ``radius`` voxels each side;
    ``gaussian``: recursive Gaussian of ``sigma_mm`` millimetres.
    """
    spacing = _check(image, spacing)
    source = _to_sitk(image, spacing)
    if method == "curvature":
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, not {iterations!r}")
        time_step = 0.0625 * min(spacing) ** 2
        return _from_sitk(sitk.CurvatureFlow(source, timeStep=time_step, numberOfIterations=int(iterations)))
    if method == "median":
        if int(radius) != radius or radius < 1:
            raise ValueError(f"radius must be an integer >= 1, not {radius!r}")
        return _from_sitk(sitk.Median(source, [int(radius)] * 3))
    if method == "gaussian":
        if not sigma_mm > 0:
            raise ValueError(f"sigma_mm must be > 0, not {sigma_mm!r}")
        return _from_sitk(sitk.SmoothingRecursiveGaussian(source, float(sigma_mm)))
    raise ValueError(f"unknown denoising method {method!r}; use one of {', '.join(DENOISE_METHODS)}")
