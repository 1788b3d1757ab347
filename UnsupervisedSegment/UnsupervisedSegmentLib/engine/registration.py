"""Rigid registration of two ITK images (SimpleITK): the settings the visit comparison and the DWI mirror share.

It starts from the images' centres of mass (moments), or from the best of several starts (``STARTS``: the
centres of mass, the centres of the images' boxes, the scanner's own coordinates), each tried at the coarsest
level and the one with the best metric refined: a follow-up slab that cuts the head shifts its centre of mass
by centimetres, while two sessions in one scanner are often nearly aligned in its coordinates. It samples a
fixed share of the fixed mask's voxels with a fixed seed (the same images give the same transform), and
optimises by regular-step gradient descent over a pyramid of levels (times coarser, smoothing in mm).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.lazy import lazy_module

sitk = lazy_module("SimpleITK")

MUTUAL_INFORMATION_BINS = 32
SAMPLED_SHARE = 0.2
SAMPLING_SEED = 1
MAX_ITERATIONS = 200
#: The starting points tried by ``register_rigid_images(..., all_starts=True)``.
STARTS = ("centres of mass", "centres of the images", "scanner coordinates")


def starting_transform(fixed: sitk.Image, moving: sitk.Image, start: str) -> sitk.Euler3DTransform:
    """A rigid transform to start from, rotating about the fixed image's centre of mass."""
    moments = sitk.Euler3DTransform(sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS))
    if start == "centres of mass":
        return moments
    if start == "centres of the images":
        return sitk.Euler3DTransform(sitk.CenteredTransformInitializer(
            fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY))
    identity = sitk.Euler3DTransform()
    identity.SetCenter(moments.GetCenter())
    return identity


def optimised(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image, metric: str, transform: sitk.Transform,
              shrink_factors: Sequence[int], smoothing_mm: Sequence[float]) -> float:
    """Optimise ``transform`` in place over the given levels; the final metric value (lower is better)."""
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
    return float(method.GetMetricValue())


def register_rigid_images(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image, metric: str,
                          shrink_factors: Sequence[int], smoothing_mm: Sequence[float],
                          all_starts: bool = False) -> sitk.Euler3DTransform:
    """The rigid transform mapping ``fixed`` points to ``moving`` points that best aligns them inside
    ``fixed_mask``; ``metric`` is ``"mutual information"`` (contrasts may differ) or ``"correlation"``.
    With ``all_starts``, every one of ``STARTS`` is tried at the coarsest level and the best refined."""
    if not all_starts:
        transform = starting_transform(fixed, moving, STARTS[0])
    else:
        tried = [starting_transform(fixed, moving, start) for start in STARTS]
        values = [optimised(fixed, moving, fixed_mask, metric, transform, shrink_factors[:1], smoothing_mm[:1])
                  for transform in tried]
        transform = tried[values.index(min(values))]
    optimised(fixed, moving, fixed_mask, metric, transform, shrink_factors, smoothing_mm)
    return transform
