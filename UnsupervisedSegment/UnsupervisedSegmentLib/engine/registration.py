"""Rigid registration of two ITK images (SimpleITK): the settings the visit comparison and the DWI mirror share.

It starts from the images' centres of mass (moments), samples a fixed share of the fixed mask's voxels
with a fixed seed (the same images give the same transform), and optimises by regular-step gradient
descent over a pyramid of levels (times coarser, smoothing in mm).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.lazy import lazy_module

sitk = lazy_module("SimpleITK")

MUTUAL_INFORMATION_BINS = 32
SAMPLED_SHARE = 0.2
SAMPLING_SEED = 1
MAX_ITERATIONS = 200


def register_rigid_images(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image, metric: str,
                          shrink_factors: Sequence[int], smoothing_mm: Sequence[float]) -> sitk.Euler3DTransform:
    """The rigid transform mapping ``fixed`` points to ``moving`` points that best aligns them inside
    ``fixed_mask``; ``metric`` is ``"mutual information"`` (contrasts may differ) or ``"correlation"``."""
    transform = sitk.Euler3DTransform(sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS))
    method = sitk.ImageRegistrationMethod()
    if metric == "correlation":
        method.SetMetricAsCorrelation()
    else:
        method.SetMetricAsMattesMutualInformation(MUTUAL_INFORMATION_BINS)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLED_SHARE, SAMPLING_SEED)
    method.SetMetricFixedMask(fixed_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-4, MAX_ITERATIONS, relaxationFactor=0.6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(smoothing_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)
    return transform
