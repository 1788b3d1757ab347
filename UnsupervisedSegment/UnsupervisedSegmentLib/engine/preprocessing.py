"""Intensity preprocessing with SimpleITK: N4 bias-field correction and edge-preserving denoising.

Arrays are indexed (i, j, k) and ``spacing`` is the voxel size in mm along i, j, k; SimpleITK
images are indexed (k, j, i), so arrays are transposed on the way in and out. Inputs are never
modified; results are new float32 arrays on the same grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.lazy import lazy_module

sitk = lazy_module("SimpleITK")

from ..core.options import DENOISE_METHODS

#: Above this fraction of negative voxels in the mask, an image is taken not to be a raw MR image.
MAX_NEGATIVE_FRACTION = 0.01


def _to_sitk(array: np.ndarray, spacing: Sequence[float]) -> sitk.Image:
    """An (i, j, k) array as a float32 SimpleITK image with the given spacing."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array, dtype=np.float32).transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing))
    return image


def _from_sitk(image: sitk.Image) -> np.ndarray:
    """A SimpleITK image as an (i, j, k) float32 array."""
    return np.asarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0), dtype=np.float32)  # storage order


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
    iterations: Sequence[int] = (50, 50, 50),
) -> np.ndarray:
    """N4 bias-field corrected copy of ``image`` (float32).

    N4 is fitted on the voxels of ``mask`` (default: the whole image) that are > 0, on the
    image shrunk by ``shrink_factor``; the log bias field is then evaluated at full resolution,
    shifted to a mean of 0 over those voxels (so the overall intensity level is kept) and divided
    out everywhere. N4 models a multiplicative field on raw magnitude images: when more than 1 %
    of the mask is negative (e.g. z-scored data) it raises a ``ValueError``; undo such a
    normalisation first. A few negative voxels (interpolation overshoot) are corrected as the rest.
    Each entry of ``iterations`` is one fitting level, each level doubling the B-spline control
    points; the default three levels end at about a quarter of the image between control points
    (~5 cm in a brain), smooth enough not to absorb a tumour of a few cm into the field, which a
    fourth level partly does (measured on the tumour phantom of bench/quality).
    """
    spacing = _check(image, spacing)
    if int(shrink_factor) != shrink_factor or shrink_factor < 1:
        raise ValueError(f"shrink_factor must be an integer >= 1, not {shrink_factor!r}")
    if len(iterations) == 0 or any(int(n) != n or n < 1 for n in iterations):
        raise ValueError(f"iterations must be a non-empty sequence of positive integers, not {iterations!r}")
    values = np.asarray(image, dtype=np.float32)
    mask = np.ones(values.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {values.shape}")
    negative = float(np.mean(values[mask] < 0)) if mask.any() else 0.0
    if negative > MAX_NEGATIVE_FRACTION:
        raise ValueError(
            f"N4 bias-field correction needs raw, non-negative intensities; {negative:.0%} of the voxels "
            "inside the mask are negative (normalised or z-scored data?)"
        )
    mask = mask & (values > 0)
    if not mask.any():
        raise ValueError("no voxel inside the mask is > 0: nothing to fit the bias field to")
    source = _to_sitk(values, spacing)
    mask_image = sitk.Cast(_to_sitk(mask, spacing), sitk.sitkUInt8)
    planar = values.shape[2] == 1
    if planar:  # a photo or a 2D slice: N4 in 2D
        source, mask_image = source[:, :, 0], mask_image[:, :, 0]
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(n) for n in iterations])
    factor = [min(int(shrink_factor), size) for size in source.GetSize()]
    try:
        corrector.Execute(sitk.Shrink(source, factor), sitk.Shrink(mask_image, factor))
    except RuntimeError:  # e.g. too few voxels along an axis for the B-spline field
        raise ValueError(f"N4 cannot fit a bias field to this {'x'.join(map(str, values.shape))} image; "
                         "leave out the bias-field correction") from None
    field = corrector.GetLogBiasFieldAsImage(source)
    log_bias = _from_sitk(sitk.JoinSeries(field) if planar else field)
    log_bias -= np.float32(log_bias[mask].mean())
    return values / np.exp(log_bias)


def denoise(
    image: np.ndarray,
    spacing: Sequence[float],
    method: str = "curvature",
    *,
    mask: np.ndarray | None = None,
    iterations: int = 5,
    radius: int = 1,
    sigma_mm: float = 1.0,
) -> np.ndarray:
    """Denoised copy of ``image`` (float32) by curvature flow, median or Gaussian smoothing.

    ``curvature``: ``iterations`` steps of curvature flow (smooths along intensity contours,
    blurring edges less than a Gaussian) with the stable time step 0.0625 × (smallest spacing)²;
    ``median``: median over a box of ``radius`` voxels each side; ``gaussian``: recursive
    Gaussian of ``sigma_mm`` millimetres. With a ``mask``, only voxels inside it change, and the
    filter sees the outside filled from the nearby inside (:func:`fill_outside`), so the dark
    background does not bleed into the edge of the masked region.
    """
    spacing = _check(image, spacing)
    planar = np.shape(image)[2] == 1
    try:
        source = _to_sitk(image if mask is None else fill_outside(image, mask, spacing), spacing)
        if planar:  # a photo or a 2D slice: filtered in 2D
            source = source[:, :, 0]
        filtered = _denoised(source, method, iterations, radius, sigma_mm)
    except RuntimeError:  # e.g. the Gaussian needs 4 voxels along every axis
        raise ValueError(f"{method} denoising cannot filter this {'x'.join(map(str, np.shape(image)))} image "
                         "(too few voxels along an axis); use another method or none") from None
    result = _from_sitk(sitk.JoinSeries(filtered) if planar else filtered)
    return result if mask is None else np.where(mask, result, np.asarray(image, dtype=np.float32))


#: Width (mm) of the Gaussian that extends the masked region's intensities outwards.
FILL_SIGMA_MM = 2.0


def fill_outside(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """``image`` inside ``mask``; outside, the Gaussian-weighted mean of the nearby inside voxels
    (normalised convolution), or the inside mean far from the mask (and everywhere outside in an
    image too thin for the Gaussian). float32."""
    weight = mask.astype(np.float32)
    inside = np.where(mask, np.asarray(image, dtype=np.float32), 0.0).astype(np.float32)
    planar = np.shape(image)[2] == 1

    def smooth(volume: np.ndarray) -> np.ndarray:
        source = _to_sitk(volume, spacing)
        if planar:
            return _from_sitk(sitk.JoinSeries(sitk.SmoothingRecursiveGaussian(source[:, :, 0], FILL_SIGMA_MM)))
        return _from_sitk(sitk.SmoothingRecursiveGaussian(source, FILL_SIGMA_MM))

    mean = float(inside[mask].mean()) if mask.any() else 0.0
    filled = np.full(weight.shape, mean, dtype=np.float32)
    try:
        total, mass = smooth(inside), smooth(weight)
    except RuntimeError:  # too few voxels along an axis for the Gaussian: the inside mean everywhere
        return np.where(mask, inside, filled)
    near = mass > 1e-3
    filled[near] = total[near] / mass[near]
    return np.where(mask, inside, filled).astype(np.float32)


def _denoised(source: sitk.Image, method: str, iterations: int, radius: int, sigma_mm: float) -> sitk.Image:
    """``source`` (2D or 3D) filtered by one of the denoising methods (see :func:`denoise`)."""
    if method == "curvature":
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, not {iterations!r}")
        time_step = 0.0625 * min(source.GetSpacing()) ** 2
        return sitk.CurvatureFlow(source, timeStep=time_step, numberOfIterations=int(iterations))
    if method == "median":
        if int(radius) != radius or radius < 1:
            raise ValueError(f"radius must be an integer >= 1, not {radius!r}")
        return sitk.Median(source, [int(radius)] * source.GetDimension())
    if method == "gaussian":
        if not sigma_mm > 0:
            raise ValueError(f"sigma_mm must be > 0, not {sigma_mm!r}")
        return sitk.SmoothingRecursiveGaussian(source, float(sigma_mm))
    raise ValueError(f"unknown denoising method {method!r}; use one of {', '.join(DENOISE_METHODS)}")
