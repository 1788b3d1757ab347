"""How a diffusion-weighted image (DWI) and its ADC tell an infarct from the DWI's normal bright spots.

1. **Local contrast.** EPI diffusion images are brighter in some regions for reasons other than
   ischaemia: coil sensitivity, the cerebellum, and susceptibility near air (temporal poles, the
   frontal base). Each voxel is divided by the local mean of normal parenchyma around it (a
   normalised convolution with a Gaussian of ``LOCAL_MM``); voxels further than ``OUTLIER_SPREADS``
   robust spreads from that mean are left out of it and the mean recomputed (``LOCAL_ITERATIONS``
   times), and the caller's ``excluded`` voxels (the ischaemic core) never enter it, so a large
   infarct is measured against the tissue around it, not against itself.
2. **Mirror.** Those artefacts are also nearly symmetric left-right, an infarct seldom is: the DWI (its
   bright outliers clipped, so that a large infarct does not pull its own mirror image onto itself) is
   flipped along the left-right axis and registered rigidly onto itself (SimpleITK, correlation,
   inside the brain), which gives each voxel its contralateral counterpart wherever the head's
   mid-plane lies. A voxel is *asymmetric* when its local contrast, smoothed by
   ``ASYMMETRY_SMOOTHING_MM`` (one voxel's noise does not decide), exceeds its counterpart's (the brightest
   within ``MIRROR_TOLERANCE_MM``) by ``ASYMMETRY_Z``. A mirror correlating less than
   ``MIN_MIRROR_CORRELATION`` with the image (a registration that failed) is not used, and the note says so.
3. **ADC not elevated.** A lesion voxel's ADC lies below its tissue peak + ``ADC_ELEVATED_SPREADS`` spreads:
   CSF and T2 shine-through (DWI-bright from a long T2, ADC well above normal tissue) are left out, while
   small cortical and subcortical infarcts, whose ADC partial volume with CSF raises towards normal, are kept.
4. **A focus with a core is restricted.** Partial volume explains a normal ADC only at a focus's edge: a focus
   thick enough to have an interior (voxels whose neighbours at the finest voxel size all belong to it: the
   six face neighbours on cubic voxels, the four in-plane ones on thick slices) is kept only when at
   least ``RESTRICTED_SHARE`` of its voxels have ADC clearly low (below the tissue peak by one spread, where
   normal tissue has at most a sixth of its voxels, by noise). Susceptibility pile-up near the skull base
   (temporal poles, frontal base) is as DWI-bright as an infarct, but with normal ADC throughout; so is T2
   shine-through.
5. **Partial-volume edge.** Each focus kept grows by one voxel into its face neighbours of local contrast
   above ``EDGE_Z`` (and ADC not elevated, asymmetric): an infarct's boundary voxels are part tissue and show
   part of its contrast (as the MS rule's one-voxel rim).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.grid import quiet_itk, to_itk_image
from ..core.lazy import lazy_module
from ..core.volume import Grid
from ..engine.morphology import FULL, ball, erode
from ..engine.registration import register_rigid_images
from ..engine.smoothing import smooth, smooth_within

ndimage = lazy_module("scipy.ndimage")
sitk = lazy_module("SimpleITK")

LOCAL_MM = 6.0
OUTLIER_SPREADS = 2.5
LOCAL_ITERATIONS = 3
MIRROR_TOLERANCE_MM = 2.0
ASYMMETRY_Z = 1.0
ASYMMETRY_SMOOTHING_MM = 1.0
MIN_MIRROR_CORRELATION = 0.2
ADC_ELEVATED_SPREADS = 2.0
RESTRICTED_SHARE = 0.2
EDGE_Z = 1.5
#: Mirror registration's levels: times coarser, smoothing in mm.
SHRINK_FACTORS = (2, 1)
SMOOTHING_MM = (2.0, 0.0)


def local_contrast(dwi: np.ndarray, parenchyma: np.ndarray, excluded: np.ndarray,
                   spacing: Sequence[float]) -> np.ndarray:
    """DWI as z against the local mean of normal ``parenchyma`` (``excluded`` voxels never in it)."""
    inlier = parenchyma & ~excluded
    for _ in range(LOCAL_ITERATIONS):
        ratio = dwi / np.maximum(smooth_within(dwi, inlier, LOCAL_MM, spacing), np.float32(1e-6))
        centre = float(np.median(ratio[parenchyma]))
        spread = 1.4826 * float(np.median(np.abs(ratio[parenchyma] - centre)))
        if not spread > 0:
            return np.zeros_like(dwi, dtype=np.float32)
        inlier = parenchyma & ~excluded & (np.abs(ratio - centre) < OUTLIER_SPREADS * spread)
    return ((ratio - centre) / spread).astype(np.float32)


def _itk(values: np.ndarray, spacing: Sequence[float]) -> sitk.Image:
    """An (i, j, k) array as an ITK image with the given spacing (the caller's box: no position needed)."""
    grid = Grid(values.shape, np.diag([*spacing, 1.0]))
    return sitk.Cast(to_itk_image(np.asarray(values, dtype=np.float32), grid), sitk.sitkFloat32)


def mirror_transform(image: np.ndarray, brain: np.ndarray, spacing: Sequence[float], axis: int) -> sitk.Transform:
    """The rigid transform registering ``image`` flipped along ``axis`` onto ``image`` inside ``brain``."""
    inside = np.where(brain, image - image[brain].min(), 0)  # the background darkest, whatever the scale
    fixed, moving = _itk(inside, spacing), _itk(np.flip(inside, axis), spacing)
    mask = sitk.Cast(_itk(brain, spacing), sitk.sitkUInt8)
    return register_rigid_images(fixed, moving, mask, "correlation", SHRINK_FACTORS, SMOOTHING_MM)


def mirrored(values: np.ndarray, transform: sitk.Transform, spacing: Sequence[float], axis: int) -> np.ndarray:
    """``values`` at each voxel's contralateral counterpart (0 outside the image)."""
    reference = _itk(values, spacing)
    moving = _itk(np.flip(values, axis), spacing)
    resampled = sitk.Resample(moving, reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(resampled).transpose(2, 1, 0)


def asymmetric(anatomy: np.ndarray, contrast: np.ndarray, brain: np.ndarray, spacing: Sequence[float], axis: int,
               notes: list[str]) -> np.ndarray | None:
    """Voxels whose local ``contrast`` exceeds their contralateral counterparts', None when no mirror was found.

    The mirror is registered on ``anatomy``: the DWI with its bright outliers clipped, so that a large
    lesion does not pull its own mirror image onto itself."""
    try:
        with quiet_itk():
            transform = mirror_transform(anatomy, brain, spacing, axis)
    except RuntimeError:  # ITK: too few slices for its levels, or no overlap left to register
        notes.append("DWI mirror could not be registered (too few slices or voxels): symmetry not used")
        return None
    agreement = float(np.corrcoef(anatomy[brain], mirrored(anatomy, transform, spacing, axis)[brain])[0, 1])
    if not agreement >= MIN_MIRROR_CORRELATION:
        notes.append(f"DWI mirror correlates {agreement:.2f} with the image (< {MIN_MIRROR_CORRELATION:g}): "
                     "symmetry not used")
        return None
    notes.append(f"DWI left-right mirror registered (correlation {agreement:.2f}): lesion voxels are brighter "
                 f"than their counterparts by {ASYMMETRY_Z:g} spreads")
    contrast = smooth(contrast, ASYMMETRY_SMOOTHING_MM, spacing)
    counterpart = ndimage.maximum_filter(mirrored(contrast, transform, spacing, axis),
                                         footprint=ball(MIRROR_TOLERANCE_MM, spacing))
    return contrast - counterpart > ASYMMETRY_Z


def restricted_foci(lesion: np.ndarray, adc_clearly_low: np.ndarray, spacing: Sequence[float],
                    notes: list[str]) -> np.ndarray:
    """The 26-connected foci of ``lesion`` without an interior, and those with one whose voxels are
    ``adc_clearly_low`` in at least ``RESTRICTED_SHARE`` (rule 4 of the module docstring)."""
    components, n = ndimage.label(lesion, structure=FULL)
    if n == 0:
        return lesion
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    low = np.bincount(components[adc_clearly_low & lesion], minlength=n + 1)
    has_interior = np.bincount(components[erode(lesion, ball(min(spacing), spacing))], minlength=n + 1) > 0
    keep = ~has_interior | (low >= RESTRICTED_SHARE * sizes)
    keep[0] = False
    if not keep[1:].all():
        dropped = int(n - np.count_nonzero(keep[1:]))
        notes.append(f"stroke: {dropped} DWI-bright focus/foci with an interior left out: fewer than "
                     f"{RESTRICTED_SHARE:.0%} of the voxels with ADC clearly low (normal diffusion: an artefact)")
    return keep[components]
