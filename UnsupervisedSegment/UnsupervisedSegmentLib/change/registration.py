"""Rigid registration of a follow-up scan onto its baseline (SimpleITK), and resampling through it.

The metric is Mattes mutual information (the visits may differ in contrast and scale), sampled in
the baseline's brain grown by ``MASK_MARGIN_MM``: the neck and jaw move between sessions, the skull
does not move against the brain. Three levels (4, 2, 1 times coarser, smoothed by 2, 1, 0 mm) start
from the best of three starts (the centres of mass, of the images, the scanner's coordinates; see
:mod:`engine.registration`), so a head moved by centimetres or turned by tens of degrees is found, and so
is a follow-up slab that cuts the brain.
Random sampling uses a fixed seed: the same pair gives the same transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.grid import to_itk_image
from ..core.lazy import lazy_module
from ..core.volume import Channel, Grid
from ..engine.morphology import ball, dilate
from ..engine.registration import register_rigid_images

sitk = lazy_module("SimpleITK")

MASK_MARGIN_MM = 5.0
SHRINK_FACTORS = (4, 2, 1)
SMOOTHING_MM = (2.0, 1.0, 0.0)


@dataclass(frozen=True)
class RigidTransform:
    """Maps baseline physical points (LPS mm, as ITK) to follow-up points: a rotation and a translation."""

    transform: sitk.Euler3DTransform

    @property
    def rotation_degrees(self) -> float:
        """The rotation's angle in degrees."""
        matrix = np.asarray(self.transform.GetMatrix()).reshape(3, 3)
        return float(np.degrees(np.arccos(np.clip((np.trace(matrix) - 1) / 2, -1.0, 1.0))))

    @property
    def translation_mm(self) -> float:
        """How far the brain's centre moves, in mm."""
        centre = np.asarray(self.transform.GetCenter())
        return float(np.linalg.norm(np.asarray(self.transform.TransformPoint(tuple(centre))) - centre))


def register_rigid(baseline: Channel, follow_up: Channel, baseline_brain: np.ndarray) -> RigidTransform:
    """The rigid transform that best aligns ``follow_up`` to ``baseline`` within the baseline's brain."""
    fixed = sitk.Cast(to_itk_image(baseline.data, baseline.grid), sitk.sitkFloat32)
    moving = sitk.Cast(to_itk_image(follow_up.data, follow_up.grid), sitk.sitkFloat32)
    region = dilate(baseline_brain, ball(MASK_MARGIN_MM, baseline.grid.spacing))
    fixed_mask = to_itk_image(region.astype(np.uint8), baseline.grid)
    transform = register_rigid_images(fixed, moving, fixed_mask, "mutual information", SHRINK_FACTORS, SMOOTHING_MM,
                                      all_starts=True)
    return RigidTransform(transform)


def resample_through(channel: Channel, target: Grid, transform: RigidTransform, order: int = 1) -> np.ndarray:
    """``channel`` on the ``target`` grid through ``transform`` (linear, or nearest for ``order`` 0); 0 outside it."""
    reference = to_itk_image(np.zeros(target.shape, dtype=np.uint8), target)
    moving = to_itk_image(np.asarray(channel.data, dtype=np.float32), channel.grid)
    interpolator = sitk.sitkLinear if order == 1 else sitk.sitkNearestNeighbor
    resampled = sitk.Resample(moving, reference, transform.transform, interpolator, 0.0, sitk.sitkFloat32)
    return np.asfortranarray(sitk.GetArrayFromImage(resampled).transpose(2, 1, 0))
