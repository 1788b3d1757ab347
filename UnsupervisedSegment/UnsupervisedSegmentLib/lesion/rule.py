"""Automatic lesion finding in brain MRI: tumour, multiple sclerosis (MS) or acute stroke.

The rule works voxel by voxel on the (pre-processed) input channels, not on the clusters, so it
does not depend on the number of clusters or on the clustering engine.

The rule
--------
1. **Channel roles.** Each input channel's name is lower-cased and stripped of spaces, ``_``,
   ``-`` and ``.``; it gets the first role of ``ROLE_ALIASES`` (checked in the order flair, adc,
   dwi, t1c, t2, t1) one of whose aliases it *contains*, starting a word of the name or after a
   character that is not a letter (``visit2 T1`` is T1, not ``visi[t2]``): ``T2_FLAIR`` -> flair, ``ADC`` -> adc,
   ``DWI`` / ``trace`` / ``b1000`` -> dwi, ``T1_contrast`` / ``T1c`` / ``T1Gd`` -> t1c, ``T2w``
   -> t2, ``T1`` -> t1. Names matching nothing get no role and are not used by the rule.
2. **Brain and healthy tissue.** When the mask holds background (some of its voxels below
   Otsu's threshold of a CSF-dark reference channel, the first of FLAIR, DWI, T1, T1c, lie on
   the image border: a whole-head image), *tissue* is the mask above that threshold (background,
   skull and most CSF fall below it); otherwise it is the whole mask. The *brain* is the largest 26-connected part
   of the tissue after a 2 mm morphological opening (which cuts scalp and neck from the brain
   in whole-head images), its holes (ventricles) filled. Lesion evidence is looked for only
   deeper than ``RIM_MM`` (3 mm) from the brain's outer surface: the bright rim of an imperfect skull strip,
   dura and residual scalp are never taken (holes of the mask inside the brain, e.g. ventricles a
   skull-stripped scan holds at or below 0, are no surface).
3. **Normalisation.** Each channel is expressed as ``z = (value - peak) / spread``, where the
   peak is the mode of its histogram in the tissue (normal grey and white matter dominate) and
   the spread is the peak's half width at half maximum on its bright side / 1.177 (its SD were
   it Gaussian): the bright side holds grey matter, which is a little brighter than white matter
   on FLAIR, T2 and DWI, so normal cortex stays below the lesion thresholds. Both ignore the
   tails (CSF, lesion), so raw, normalised and z-scored inputs give the same z.
4. **Evidence.** *Hyperintense*: FLAIR (or, without FLAIR, T2 where T1 is not CSF-dark:
   z(T1) > ``CSF_T1_Z``; CSF is bright on T2, so T2 is never used without FLAIR or T1);
   a voxel is hyperintense when z > ``LOW_Z`` (2). T1c is not evidence: what it alone shows
   bright (vessels, choroid plexus, dura) is never taken, and on the development cases adding
   T1c-bright voxels next to the mass lowered Dice (bench/quality/results.md).
   *Restricted diffusion* (:mod:`lesion.diffusion`): DWI as z against the normal parenchyma
   around each voxel (its regional brightness, cerebellum and susceptibility artefacts, taken out),
   brighter than its left-right mirror counterpart, with ADC not raised above ADC's tissue peak by
   more than 2 spreads (not CSF, not T2 shine-through; a small infarct's ADC, raised by the CSF
   around it, is kept). The *ischaemic core* is DWI z > ``LOW_Z`` with ADC below 0.62 ×
   10⁻³ mm²/s; it never counts as normal parenchyma. The ADC unit is read from the magnitude of its tissue
   peak (normal brain ≈ 0.8 × 10⁻³ mm²/s: a peak of 100..5000 means 10⁻⁶ mm²/s, 0.1..5 means
   10⁻³ mm²/s, 10⁻⁴..5 × 10⁻³ means mm²/s); an ADC in no such unit (e.g. z-scored) counts as low
   below z = -``HIGH_Z``. With ADC alone, the core is the evidence; with DWI alone, the core is
   DWI z > ``HIGH_Z`` and no ADC condition applies.
5. **Per lesion type.**
   - *tumour*: the hyperintense voxels are opened with a 2 mm ball (thin bridges to
     normal bright structures are cut); the largest opened component, grown back by 2 mm within
     the hyperintense voxels, is the mass; its enclosed holes (necrosis, and an enhancing rim
     that is not FLAIR-bright) are filled in 3D and per slice across the coarsest axis.
   - *ms*: what the brain tissue model cannot explain (:func:`ms_rule`): FLAIR (or T2) against
     the brighter normal tissue the model finds, bias field removed; foci next to white matter,
     grown (with T1) by one voxel where FLAIR is too bright for the voxel's own tissue class.
   - *stroke*: every 26-connected focus of restricted-diffusion voxels with local DWI z > ``LOW_Z``
     (2) is kept when at least ``MIN_FOCUS_VOXELS`` (3) of its voxels reach z > ``HIGH_Z`` (3.5)
     (hysteresis): embolic foci down to 3 voxels are kept, noise is not. With DWI and ADC, a focus
     thick enough to have an interior must show clearly low ADC in a fifth of its voxels (susceptibility
     pile-up is DWI-bright with normal diffusion); each focus then grows by its one-voxel partial-volume
     edge (:mod:`lesion.diffusion`, rules 4 and 5).
   - *auto* decides, and says why in the notes: stroke when DWI or ADC is given and there is
     neither FLAIR nor T2, or when DWI and ADC show at least ``STROKE_MIN_ML`` (1 mL) of
     ischaemic core (foci of DWI z > ``LOW_Z`` against the whole brain with ADC below 0.62 × 10⁻³
     mm²/s: a cellular tumour, DWI-bright with ADC hardly below normal, is not a stroke); otherwise
     tumour when the largest hyperintense component left by an opening that spans a slice either side
     (:func:`largest_mass_ml`) is at least ``TUMOUR_MIN_CORE_ML`` (5 mL, a mass), else MS (scattered foci).
6. **Nothing found** is a result: an empty mask, and the description says so.

Limits
------
- A lesion that is not hyperintense on FLAIR/T2 (or DWI-bright/ADC-dark) is missed: T1-only
  black holes, a necrotic core open to the brain surface, haemorrhage.
- Lesions within 3 mm of the brain surface (cortical MS lesions, superficial tumour edges) are
  missed; hole filling also fills CSF or tissue a tumour encloses.
- Normal FLAIR-bright tissue (the corticospinal tracts, septum, periventricular caps) in a focus
  reaching z > 3.5 is found as MS; a tumefactive MS plaque of 5 mL or more is called a tumour,
  and multifocal small metastases are called MS by ``auto``.
- The healthy peak assumes normal tissue dominates the brain: a lesion of a third of the brain
  or a strong bias field (use ``--bias-correction``) shifts it.
- T2 without FLAIR relies on T1 to tell lesion from CSF; ADC alone (no DWI) also finds any
  tissue with ADC below the threshold (e.g. noise in thin slices).
- Stroke: infarcts mirrored on both sides (bilateral, or crossing the midline) are found only
  where one side is brighter; an infarct whose ADC has pseudo-normalised (subacute) is missed.
- Names are matched by substring: a T1-weighted FLAIR named ``t1_flair`` counts as FLAIR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..core.lazy import lazy_module
from ..core.parallel import parallel
from ..core.roles import channel_role, check_lesion_inputs
from ..core.volume import MM3_PER_ML, Channel, Grid, bounding_box, masked_rows, new_volume, set_masked_rows
from ..engine.histogram import histogram
from ..engine.masking import otsu_threshold
from ..engine.morphology import FACES, FULL, ball, deeper_than, dilate, fill_holes, opening
from ..engine.preprocessing import correct_bias_field
from ..tissue.model import HWHM_PER_SD, TissueResult, channel_bias_field, segment_tissue
from . import diffusion

ndimage = lazy_module("scipy.ndimage")  # used only when a lesion is looked for

#: The normal-tissue peak's histogram (:func:`healthy_peak`): bins over the 0.5-99.5 % range, its smoothing SD in bins.
PEAK_BINS = 256
PEAK_SMOOTHING_BINS = 2.0
#: Hyperintensity (z above the healthy peak) a lesion voxel must reach, and a focus somewhere.
LOW_Z = 2.0
HIGH_Z = 3.5
#: T1 z below which a voxel is CSF-dark (used only when T2 stands in for FLAIR).
CSF_T1_Z = -2.0
#: Ischaemic-core ADC threshold in 10⁻³ mm²/s, and how to recognise the unit from the tissue peak.
ADC_CORE_1E3 = 0.62
ADC_UNITS: tuple[tuple[float, float, float, str], ...] = (
    (100.0, 5000.0, 1000.0, "10^-6 mm^2/s"), (0.1, 5.0, 1.0, "10^-3 mm^2/s"), (1e-4, 5e-3, 1e-3, "mm^2/s"))
RIM_MM = 3.0
OPENING_MM = 2.0
MIN_FOCUS_VOXELS = 3
#: MS: z against grey matter on FLAIR for a focus (LOW) and its seeds (HIGH); distance to white matter
#: (bench/quality/lesion_results.md shows each across the development cases).
MS_LOW_Z = 1.5
MS_HIGH_Z = 3.0
NEAR_WM_MM = 2.0
#: The tissue model is used when grey and white matter each hold at least this share of the brain.
MIN_TISSUE_SHARE = 0.1

TUMOUR_MIN_CORE_ML = 5.0
STROKE_MIN_ML = 1.0
#: Share of the crop's faces a whole head's background covers (see :func:`holds_background`).
BACKGROUND_FACE_SHARE = 0.1


@dataclass(frozen=True)
class LesionResult:
    """The lesion mask, the lesion type used, and how the rule reached it."""

    mask: np.ndarray
    lesion_type: str
    description: str


def healthy_peak(values: np.ndarray) -> tuple[float, float]:
    """Mode and spread (half width at half maximum on the bright side / 1.177) of ``values``' main peak: a
    histogram of ``PEAK_BINS`` bins over the 0.5-99.5 % range, smoothed by ``PEAK_SMOOTHING_BINS`` of them."""
    low, high = np.percentile(values, [0.5, 99.5])
    if not high > low:
        return float(low), 0.0
    counts, edges = histogram(values, PEAK_BINS, low, high)  # bins of whole intensity steps: no comb
    counts = ndimage.gaussian_filter1d(counts, PEAK_SMOOTHING_BINS * (high - low) / PEAK_BINS / (edges[1] - edges[0]))
    centres = (edges[:-1] + edges[1:]) / 2
    top = int(np.argmax(counts))
    above = np.nonzero(counts[top:] < counts[top] / 2)[0]
    right = centres[top + above[0]] if above.size else centres[-1]
    return float(centres[top]), float(right - centres[top]) / HWHM_PER_SD


def largest_components(candidate: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of ``candidate`` (all False when it is empty)."""
    components, n = ndimage.label(candidate, structure=FULL)
    if n == 0:
        return candidate.copy()
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == np.argmax(sizes)


def foci(candidate: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Hysteresis: face-connected parts of ``candidate`` holding at least MIN_FOCUS_VOXELS ``seeds`` voxels.

    Face neighbours, not all 26: at a low level (z 1.5 passes 7 % of normal voxels, more in noisy or thin-pixel
    scans and in bright cortex) scattered noise voxels that touch at edges and corners join into networks
    spanning the brain (26-connected site percolation sets in at about 10 % of voxels, face-connected at 31 %),
    and one seed then carries the whole network in as one lesion."""
    components, n = ndimage.label(candidate, structure=FACES)
    keep = np.bincount(components[seeds & candidate], minlength=n + 1) >= MIN_FOCUS_VOXELS
    keep[0] = False
    return keep[components]


def fill_enclosed_holes(candidate: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Holes filled in 3D, then in 2D within each slice across the axis of coarsest spacing.

    Computed in the candidate's bounding box with one voxel of margin (the same result, faster).
    """
    if not candidate.any():
        return np.zeros_like(candidate)
    box = tuple(slice(max(side.start - 1, 0), side.stop + 1) for side in bounding_box(candidate))
    result = np.zeros_like(candidate)
    result[box] = _fill_holes_3d_then_2d(candidate[box], spacing)
    return result


def _fill_holes_3d_then_2d(candidate: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """:func:`fill_enclosed_holes` on an array whose border is background or the volume's border."""
    axis = len(spacing) - 1 - int(np.argmax(np.asarray(spacing)[::-1]))  # ties: the last axis
    return fill_holes(fill_holes(candidate), plane_axis=axis)


@dataclass
class Evidence:
    """The channels as z-maps inside the search region, cropped to the mask's bounding box."""

    z: dict[str, np.ndarray]
    brain: np.ndarray
    outline: np.ndarray  # the brain with the mask's holes inside it filled: its surface is the brain's
    images: dict[str, np.ndarray]
    spacing: tuple[float, float, float]
    adc_low: np.ndarray | None
    notes: list[str]
    left_right_axis: int = 0
    cache: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)

    def deeper_than(self, radius_mm: float) -> np.ndarray:
        """Brain voxels farther than ``radius_mm`` from the brain's outer surface (not from the mask's holes inside
        it: dark CSF that resampling took to zero or below in a skull-stripped scan, beside periventricular lesions)."""
        return deeper_than(self.outline, radius_mm, self.spacing) & self.brain

    @cached_property
    def search(self) -> np.ndarray:
        """Where lesions are looked for: deeper than ``RIM_MM`` from the brain's outer surface (computed once)."""
        return self.deeper_than(RIM_MM)

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in mL."""
        return float(np.prod(self.spacing)) / MM3_PER_ML

    def hyperintense(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Voxels bright on FLAIR (or on T2 where T1 is not CSF-dark) and their z, None without such channels."""
        if "flair" in self.z:
            return self.search & (self.z["flair"] > LOW_Z), self.z["flair"]
        if "t2" in self.z and "t1" in self.z:
            not_csf = self.z["t1"] > CSF_T1_Z
            return self.search & not_csf & (self.z["t2"] > LOW_Z), np.where(not_csf, self.z["t2"], 0)
        return None

    @cached_property
    def adc_peak(self) -> tuple[float, float]:
        """ADC's tissue peak and spread in the brain (computed once)."""
        return healthy_peak(self.images["adc"][self.brain])

    def restricted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Candidate, seed and edge voxels of restricted diffusion, None without DWI or ADC (computed once)."""
        if "dwi" not in self.z and self.adc_low is None:
            return None
        if "dwi" not in self.z:
            core = self.search & self.adc_low
            return core, core, core
        if "restricted" not in self.cache:
            self.cache["restricted"] = self._dwi_bright()
        return self.cache["restricted"]

    def _dwi_bright(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """DWI-bright voxels against local parenchyma and the mirror side, ADC not elevated above its tissue peak:
        candidates (z > ``LOW_Z``), seeds (z > ``HIGH_Z``) and a focus's edge (z > ``diffusion.EDGE_Z``)."""
        dwi = self.images["dwi"]
        core = (self.z["dwi"] > LOW_Z) & (self.adc_low if self.adc_low is not None else self.z["dwi"] > HIGH_Z)
        contrast = diffusion.local_contrast(dwi, self.brain & (self.z["dwi"] > -LOW_Z), core, self.spacing)
        self.notes.append(f"DWI as z against normal parenchyma within {diffusion.LOCAL_MM:g} mm")
        allowed = self.search.copy()
        if "adc" in self.images:
            peak, spread = self.adc_peak
            allowed &= self.images["adc"] < peak + diffusion.ADC_ELEVATED_SPREADS * spread
        anatomy = np.minimum(self.z["dwi"], np.float32(LOW_Z))  # the mirror aligns anatomy, not bright lesions
        asymmetric = diffusion.asymmetric(anatomy, contrast, self.brain, self.spacing, self.left_right_axis, self.notes)
        if asymmetric is not None:
            allowed &= asymmetric
        return (allowed & (contrast > LOW_Z), allowed & (contrast > HIGH_Z),
                allowed & (contrast > diffusion.EDGE_Z))


def image_border(box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    """True on the voxels of the cropped ``box`` that lie on the outer faces of an image of ``shape``."""
    border = np.zeros(tuple(b.stop - b.start for b in box), dtype=bool)
    for axis, (extent, size) in enumerate(zip(box, shape)):
        faces = [0] * (extent.start == 0) + [-1] * (extent.stop == size)
        for face in faces:
            index = [slice(None)] * len(box)
            index[axis] = face
            border[tuple(index)] = True
    return border


def brain_regions(mask: np.ndarray, channels: Mapping[str, np.ndarray], spacing: Sequence[float],
                  roles: Mapping[str, str], border: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Healthy-tissue voxels, the brain (largest opened tissue part, holes filled, within the mask), its
    outline (the same before the mask's own holes are cut out), and how it was found.

    Dark voxels (below Otsu's threshold of a CSF-dark channel) are left out only when the mask holds
    background (a whole-head image): :func:`holds_background`.
    """
    reference = next((name for role in ("flair", "dwi", "t1", "t1c") for name, r in roles.items() if r == role), None)
    tissue, how = mask.copy(), "the mask (no background in it)"
    if reference is not None:
        values = channels[reference]
        threshold = otsu_threshold(values[np.isfinite(values)])
        above = values > threshold
        if holds_background(mask & ~above, mask & (values < threshold / 2), border):
            tissue &= above
            how = f"the mask above Otsu's threshold of {reference} (background, skull and CSF left out)"
    opened = opening(tissue, ball(OPENING_MM, spacing))
    outline = fill_holes(largest_components(opened) if opened.any() else tissue)
    brain = outline & mask
    return tissue & brain, brain, outline, how


def holds_background(dark: np.ndarray, very_dark: np.ndarray, border: np.ndarray) -> bool:
    """Whether the (cropped) mask holds background: some ``dark`` mask voxels (below Otsu's threshold) on the
    image border or, where the mask does not reach that border (a second input's smaller field of view cut it),
    ``very_dark`` ones (below half of it: noise, not CSF or a darker tissue) on at least ``BACKGROUND_FACE_SHARE``
    of the crop's faces. A skull-stripped brain touches its box's faces at a few points; a whole head's noisy
    background covers them."""
    if border.any():
        return bool((dark & border).any())
    faces = image_border(tuple(slice(0, n) for n in dark.shape), dark.shape)  # every face of the crop
    return bool(np.count_nonzero(very_dark & faces) >= BACKGROUND_FACE_SHARE * np.count_nonzero(faces))


def adc_low_voxels(adc: np.ndarray, tissue: np.ndarray, notes: list[str]) -> np.ndarray:
    """Voxels of ischaemic-core ADC, the unit read from the magnitude of the tissue peak."""
    peak, spread = healthy_peak(adc[tissue])
    for low, high, per_1e3, unit in ADC_UNITS:
        if low <= abs(peak) <= high:
            threshold = ADC_CORE_1E3 * per_1e3
            notes.append(f"ADC tissue peak {peak:.4g}, read as {unit}: ischaemic core below {threshold:.4g}")
            return adc < threshold
    notes.append(f"ADC tissue peak {peak:.4g} is in no physical unit: core below the peak - {HIGH_Z:g} spreads")
    return adc < peak - HIGH_Z * spread


def gather_evidence(channels: Mapping[str, np.ndarray], mask: np.ndarray, spacing: tuple[float, float, float],
                    border: np.ndarray, left_right_axis: int = 0) -> Evidence:
    """Roles, brain, search region and per-role z-maps (first channel of each role)."""
    roles: dict[str, str] = {}
    for name in channels:
        role = channel_role(name)
        if role is not None and role not in roles.values():
            roles[name] = role
    tissue, brain, outline, how = brain_regions(mask, channels, spacing, roles, border)
    notes = [f"brain: {how}, largest part after a {OPENING_MM:g} mm opening, "
             f"{brain.sum() * np.prod(spacing) / MM3_PER_ML:.0f} mL; search deeper than {RIM_MM:g} mm"]

    def z_map(name: str) -> tuple[float, float, np.ndarray | None]:
        """The healthy peak and spread of a channel, and its z-map (None if constant)."""
        data = np.asarray(channels[name], dtype=np.float32)
        peak, spread = healthy_peak(data[tissue])
        return peak, spread, (data - np.float32(peak)) / np.float32(spread) if spread > 0 else None

    scored = [name for name, role in roles.items() if role != "adc"]
    maps = dict(zip(scored, parallel(z_map, scored)))  # one channel per core: numpy releases the GIL
    z: dict[str, np.ndarray] = {}
    adc_low = None
    for name, role in roles.items():
        if role == "adc":
            adc_low = adc_low_voxels(np.asarray(channels[name], dtype=np.float32), tissue, notes)
            continue
        peak, spread, z_values = maps[name]
        if z_values is None:
            notes.append(f"{name} is constant in the brain and was ignored")
            continue
        z[role] = z_values
        notes.append(f"{name} as {role}: healthy peak {peak:.4g}, spread {spread:.3g}")
    images = {role: np.asarray(channels[name], dtype=np.float32) for name, role in roles.items()}
    return Evidence(z, brain, outline, images, spacing, adc_low, notes, left_right_axis)


def tumour_mass(evidence: Evidence, hyperintense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The main hyperintense mass after the opening (and its core before growing back), computed once."""
    if "mass" not in evidence.cache:
        structure = ball(OPENING_MM, evidence.spacing)
        core = opening(hyperintense, structure)
        if core.any():
            core = largest_components(core)
            evidence.cache["mass"] = (dilate(core, structure) & hyperintense, core)
        else:
            evidence.cache["mass"] = (core, core)
    return evidence.cache["mass"]


def tumour_rule(evidence: Evidence, hyperintense: np.ndarray) -> np.ndarray:
    """Main mass with its enclosed necrosis (and enhancing rim, which the mass encloses or overlaps)."""
    lesion, _ = tumour_mass(evidence, hyperintense)
    return fill_enclosed_holes(lesion, evidence.spacing) if lesion.any() else lesion


def stroke_rule(evidence: Evidence, candidate: np.ndarray, seeds: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Foci of restricted diffusion (hysteresis); with DWI and ADC, a focus with an interior only when ADC is
    clearly low in enough of it (:func:`diffusion.restricted_foci`); then each focus grown by its partial-volume
    edge: the face neighbours in ``edge``."""
    lesion = foci(candidate, seeds)
    if "dwi" in evidence.images and "adc" in evidence.images:
        peak, spread = evidence.adc_peak
        lesion = diffusion.restricted_foci(lesion, evidence.images["adc"] < peak - spread, evidence.spacing,
                                           evidence.notes)
    return lesion | (dilate(lesion, FACES) & edge)


def connected_seeds(seeds: np.ndarray) -> np.ndarray:
    """The seeds in 26-connected groups of at least ``MIN_FOCUS_VOXELS``: a real focus is bright in
    neighbouring voxels, noise in scattered ones."""
    components, n = ndimage.label(seeds, structure=FULL)
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    sizes[0] = 0
    return (sizes >= MIN_FOCUS_VOXELS)[components]


def brain_tissue_found(tissue: TissueResult) -> bool:
    """Whether the tissue model found grey and white matter: each at least ``MIN_TISSUE_SHARE`` of the brain
    (about 40 % each in an adult brain; a phantom of two intensities gives a few per cent to one of them)."""
    shares = np.bincount(tissue.labels, minlength=4)[2:] / max(1, tissue.labels.size)
    return bool((shares >= MIN_TISSUE_SHARE).all())


def n4_corrected(evidence: Evidence, role: str) -> np.ndarray:
    """The ``role`` image with its bias field removed by N4 inside the brain: on raw whole-head scans the field
    exceeds FLAIR's grey-white contrast (about 10 %) and the tissue model's own tilt cannot follow it. As it
    is where N4 cannot fit (normalised or z-scored data, too few slices); a corrected image changes little."""
    try:
        return correct_bias_field(evidence.images[role], evidence.brain, evidence.spacing)
    except ValueError:
        evidence.notes.append(f"MS: {role} not N4-corrected (not raw intensities, or too small): used as it is")
        return evidence.images[role]


def ms_rule(evidence: Evidence) -> np.ndarray:
    """MS: what the brain tissue model cannot explain on FLAIR (or T2), next to white matter.

    Both channels are N4-corrected first (:func:`n4_corrected`). The tissue model (:mod:`tissue.model`, on
    T1, else on FLAIR or T2 itself) finds grey and white matter in the brain; what is left of FLAIR's bias
    field is removed (from the tissue the model found), and FLAIR is expressed as a z-score against the
    brighter of grey and white matter (grey matter on FLAIR and T2): the peak of its histogram, and the
    half width of the peak's bright side, which mixed CSF voxels do not widen, so normal cortex stays
    below (that spread kept between half and all of the whole brain's). Foci of z > ``MS_LOW_Z`` holding
    a 26-connected group of ``MIN_FOCUS_VOXELS`` voxels of z > ``MS_HIGH_Z`` are lesions when they touch
    the white matter grown by ``NEAR_WM_MM`` (periventricular, deep and juxtacortical lesions;
    not FLAIR-bright cortex, vessels or flow artefacts away from it). With the model on T1 (or T1c), each
    lesion then grows by one voxel into its face neighbours whose FLAIR exceeds the normal peak of their own
    T1 tissue class by ``MS_LOW_Z`` (as LST's lesion growth: a lesion's partial-volume rim in white matter
    is darker than grey matter yet too bright for white matter). Where the model tells no grey from white
    matter, :func:`untyped_foci`."""
    bright = "flair" if "flair" in evidence.images else "t2"
    reference = next(role for role in ("t1", "t1c", bright) if role in evidence.images)
    grid = Grid(evidence.brain.shape, np.diag([*evidence.spacing, 1.0]))
    reference_image = n4_corrected(evidence, reference)
    tissue = segment_tissue([Channel(reference, reference_image, grid)], evidence.brain)
    bright_image = reference_image if bright == reference else n4_corrected(evidence, bright)
    if not brain_tissue_found(tissue):
        return untyped_foci(evidence, bright, bright_image, reference)
    # what is left of the bright channel's bias field, from the tissue the model found
    values = masked_rows(bright_image, evidence.brain).astype(np.float64)
    values /= channel_bias_field(values, tissue.fractions, evidence.brain, evidence.spacing)
    class_peaks = {label: healthy_peak(values[tissue.labels == label]) for label in (2, 3)
                   if np.count_nonzero(tissue.labels == label) >= 100}
    if not class_peaks:
        evidence.notes.append("too little grey or white matter for the MS rule: no lesion")
        return np.zeros_like(evidence.search)
    # between half and all of the whole brain's spread: a tissue peak narrower than the noise is a histogram
    # spike; one wider than the brain's (which holds both tissues) is a class the model mixed with its neighbour
    # (a noisy T1 gives grey matter white-matter voxels, whose FLAIR widens and lowers the class's peak)
    brain_spread = healthy_peak(values)[1]
    class_peaks = {label: (peak, float(np.clip(spread, 0.5 * brain_spread, brain_spread)))
                   for label, (peak, spread) in class_peaks.items()}
    median, spread = max(class_peaks.values())  # the brighter normal tissue (grey matter on FLAIR and T2)
    if spread <= 0:
        return np.zeros_like(evidence.search)
    z = new_volume(evidence.brain.shape, np.float32)
    set_masked_rows(z, evidence.brain, ((values - median) / spread).astype(np.float32))
    white = new_volume(evidence.brain.shape, bool)
    set_masked_rows(white, evidence.brain, tissue.labels == 3)
    candidate = evidence.search & (z > MS_LOW_Z)
    if bright == "t2":  # CSF is bright on T2: what the model, or T1's darkness, calls CSF is explained
        csf = new_volume(evidence.brain.shape, bool)
        set_masked_rows(csf, evidence.brain, tissue.fractions[:, 0] > 0.5)
        candidate &= ~csf & (evidence.z["t1"] > CSF_T1_Z)
    lesion = foci(candidate, connected_seeds(candidate & (z > MS_HIGH_Z)))
    components, n = ndimage.label(lesion, structure=FULL)
    touching = np.zeros(n + 1, bool)
    touching[np.unique(components[dilate(white, ball(NEAR_WM_MM, evidence.spacing)) & lesion])] = True
    touching[0] = False
    corrected = " (N4-corrected)" if bright_image is not evidence.images[bright] else ""
    evidence.notes.append(f"MS: tissue model on {reference}{corrected}; {bright} against its brighter normal tissue: "
                          f"peak {median:.4g}, spread {spread:.3g}; foci z > {MS_LOW_Z:g} with {MIN_FOCUS_VOXELS} "
                          f"connected voxels z > {MS_HIGH_Z:g}, touching white matter grown by {NEAR_WM_MM:g} mm")
    lesion = touching[components]
    if reference == bright:  # classes of the bright channel itself: no independent tissue to grow by
        return lesion
    evidence.notes.append(f"MS: lesions grown by one voxel into face neighbours brighter on {bright} than their own "
                          f"{reference} tissue class by z > {MS_LOW_Z:g}")
    too_bright = class_z(values, tissue.labels, class_peaks, evidence.brain) > MS_LOW_Z
    return lesion | (dilate(lesion, FACES) & evidence.search & too_bright)


def untyped_foci(evidence: Evidence, bright: str, bright_image: np.ndarray, reference: str) -> np.ndarray:
    """MS foci where the tissue model told no grey from white matter (FLAIR of thick slices, whose one peak
    holds both; a phantom; an unusual sequence): the N4-corrected ``bright`` channel as z against the brain's
    healthy peak (both tissues), foci z > ``LOW_Z`` holding ``MIN_FOCUS_VOXELS`` connected voxels z > ``HIGH_Z``,
    T2's CSF (dark on T1) left out; no white-matter test (none was found). Without N4, a raw scan's bias field
    widens the peak until no lesion stands out of it. The MS rule's own levels (against the brighter tissue
    alone) over-segment here: bench/quality/lesion_results.md.
    """
    peak, spread = healthy_peak(bright_image[evidence.brain])
    evidence.notes.append(f"MS: no grey and white matter told apart on {reference}: {bright} (N4-corrected) against "
                          f"the brain's healthy peak {peak:.4g}, spread {spread:.3g}; foci z > {LOW_Z:g} with "
                          f"{MIN_FOCUS_VOXELS} connected voxels z > {HIGH_Z:g}")
    if not spread > 0:
        return np.zeros_like(evidence.search)
    z = (bright_image - np.float32(peak)) / np.float32(spread)
    candidate = evidence.search & (z > LOW_Z)
    if bright == "t2":
        candidate &= evidence.z["t1"] > CSF_T1_Z
    return foci(candidate, connected_seeds(candidate & (z > HIGH_Z)))


def class_z(values: np.ndarray, labels: np.ndarray, class_peaks: Mapping[int, tuple[float, float]],
            brain: np.ndarray) -> np.ndarray:
    """Each brain voxel's z against the normal peak of its own tissue class (grey or white matter; others -inf)."""
    rows = np.full(values.shape, -np.inf, dtype=np.float32)
    for label, (peak, spread) in class_peaks.items():
        inside = labels == label
        rows[inside] = (values[inside] - peak) / spread
    z = new_volume(brain.shape, np.float32)
    z.fill(-np.inf)
    set_masked_rows(z, brain, rows)
    return z


def largest_mass_ml(evidence: Evidence, hyperintense: np.ndarray) -> float:
    """The volume of the largest hyperintense mass that is thick in every direction: what is left after an
    opening by a ball of ``OPENING_MM``, or of the coarsest voxel size where that is larger, so that the ball
    spans a slice either side. On thick slices a 2 mm ball spans none, and thin confluent MS lesions, merged
    across a few slices by partial volume, passed for a mass (patient 19 averaged to 3 mm: 5.5 mL, a 'tumour')."""
    if max(evidence.spacing) <= OPENING_MM:  # the tumour rule's own opening: its mass, computed once
        core = tumour_mass(evidence, hyperintense)[1]
    else:
        core = opening(hyperintense, ball(max(evidence.spacing), evidence.spacing))
    components, n = ndimage.label(core, structure=FULL)
    return float(np.bincount(components.ravel())[1:].max()) * evidence.voxel_ml if n else 0.0


def decide_type(evidence: Evidence) -> tuple[str, str]:
    """The lesion type ``auto`` chooses, and why."""
    bright = evidence.hyperintense()
    if bright is None:
        return "stroke", "DWI/ADC given without usable FLAIR (or T2 with T1)"
    if "dwi" in evidence.z and evidence.adc_low is not None:
        core = evidence.adc_low & evidence.search
        volume = foci(core & (evidence.z["dwi"] > LOW_Z), core & (evidence.z["dwi"] > HIGH_Z)).sum() * evidence.voxel_ml
        if volume >= STROKE_MIN_ML:
            return "stroke", f"{volume:.1f} mL of ischaemic core (DWI-bright and ADC-low, >= {STROKE_MIN_ML:g} mL)"
    largest = largest_mass_ml(evidence, bright[0])
    if largest >= TUMOUR_MIN_CORE_ML:
        return "tumour", f"one hyperintense mass of {largest:.1f} mL (>= {TUMOUR_MIN_CORE_ML:g} mL)"
    return "ms", f"no hyperintense mass of {TUMOUR_MIN_CORE_ML:g} mL or more (largest {largest:.1f} mL): scattered foci"


def find_lesion(
    channels: Mapping[str, np.ndarray], mask: np.ndarray, spacing: Sequence[float], lesion_type: str = "auto",
    left_right_axis: int = 0,
) -> LesionResult:
    """Lesion mask of the given type (or the one ``auto`` decides) from named channels (rule: module docstring).

    ``channels`` maps channel names to (I, J, K) intensity arrays on one grid; ``mask`` holds
    the voxels that may be brain; ``spacing`` is the voxel size in mm; ``left_right_axis`` is the
    array axis closest to the patient's left-right (the stroke rule compares the two sides).
    """
    mask = np.asarray(mask, dtype=bool)
    if any(np.shape(data) != mask.shape for data in channels.values()):
        raise ValueError("the mask and every channel must have the same shape")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers, not {spacing}")
    check_lesion_inputs(list(channels), lesion_type)
    if not mask.any():
        raise ValueError("the mask is empty")
    box = bounding_box(mask)
    # C-ordered copies of the box: elementwise operations on arrays of one layout are several times faster
    cropped = {name: np.ascontiguousarray(np.asarray(data)[box]) for name, data in channels.items()}
    inside = np.ascontiguousarray(mask[box])
    if not all(np.isfinite(data[inside]).all() for data in cropped.values()):
        raise ValueError("a channel has NaN or infinite values inside the mask")
    evidence = gather_evidence(cropped, inside, spacing, image_border(box, mask.shape), left_right_axis)
    if lesion_type == "auto":
        chosen, why = decide_type(evidence)
        reason = f"decided automatically: {why}"
    else:
        chosen, reason = lesion_type, "chosen by the user"
    lesion = np.zeros_like(evidence.search)
    found = evidence.restricted() if chosen == "stroke" else evidence.hyperintense()
    if found is not None and chosen == "stroke":
        lesion = stroke_rule(evidence, *found)
    elif found is not None:
        lesion = tumour_rule(evidence, found[0]) if chosen == "tumour" else ms_rule(evidence)
    full = new_volume(mask.shape, bool)
    full[box] = lesion & inside
    return LesionResult(full, chosen, describe(chosen, reason, full[box], spacing, evidence.notes))


def describe(lesion_type: str, reason: str, lesion: np.ndarray, spacing: Sequence[float], notes: list[str]) -> str:
    """A human-readable account of the rule's decision."""
    _, n = ndimage.label(lesion[bounding_box(lesion)], structure=FULL)  # labelling only the lesion's box
    volume = lesion.sum() * float(np.prod(spacing)) / MM3_PER_ML
    found = f"{volume:.1f} mL in {n} component(s)" if n else "no lesion found (empty Lesion segment, 0 mL)"
    lines = [f"lesion type {lesion_type} ({reason}); {found}"]
    return "\n".join(lines + notes)
