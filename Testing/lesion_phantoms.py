"""Synthetic head phantoms with known lesions, for the lesion tests and bench/quality (no real data).

A head: background noise, scalp, a dark skull, a CSF shell, grey-matter cortex, white matter and
two CSF ventricles, with raw-scanner-like intensities per sequence and Gaussian noise. A lesion
may be a tumour (a FLAIR-bright mass with a dark necrotic core), MS (many small FLAIR-bright foci
in white matter) or an acute stroke (DWI-bright, ADC-dark region).
"""

from __future__ import annotations

import numpy as np

BACKGROUND, SCALP, SKULL, CSF, GM, WM, LESION, NECROSIS = range(8)
#: Mean intensity per class (order as above) per sequence; ADC in 10⁻⁶ mm²/s.
MEANS = {
    "flair": [0, 400, 30, 100, 330, 300, 620, 150],
    "t1": [0, 600, 30, 150, 350, 450, 280, 150],
    "t1c": [0, 620, 30, 150, 360, 460, 500, 150],
    "t2": [0, 400, 30, 1200, 340, 300, 700, 900],
    "dwi": [0, 200, 30, 150, 530, 500, 600, 200],
    "adc": [0, 900, 30, 3000, 850, 750, 1100, 2500],
}
#: An acute infarct: bright on DWI, dark on ADC, hardly visible on FLAIR yet.
STROKE_MEANS = {"flair": 390, "t1": 330, "t1c": 340, "t2": 500, "dwi": 1100, "adc": 430}
NOISE = 20.0
SPACING = (1.5, 1.5, 1.5)


def ellipsoid(shape: tuple[int, int, int], centre, radii_mm, spacing=SPACING) -> np.ndarray:
    """Boolean ellipsoid of radii in mm about a centre in voxels."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) * s / r) ** 2 for g, c, s, r in zip(grid, centre, spacing, radii_mm)) <= 1


def head_phantom(lesion: str = "none", seed: int = 0, shape: tuple[int, int, int] = (80, 96, 72)):
    """(class map, truth lesion mask, brain mask incl. CSF): the lesion is ``none``, ``tumour``, ``ms`` or ``stroke``."""
    rng = np.random.default_rng(seed)
    centre = [n / 2 for n in shape]
    classes = np.zeros(shape, dtype=np.uint8)
    for tissue, radii in ((SCALP, (58, 70, 52)), (SKULL, (54, 66, 48)), (CSF, (49, 61, 43)),
                          (GM, (47, 59, 41)), (WM, (42, 54, 36))):
        classes[ellipsoid(shape, centre, radii)] = tissue
    for side in (-1, 1):
        classes[ellipsoid(shape, [centre[0] + side * 6, centre[1], centre[2] + 3], (5, 18, 8))] = CSF
    truth = np.zeros(shape, dtype=bool)
    white = classes == WM
    if lesion == "tumour":
        where = [centre[0] - 16, centre[1] + 10, centre[2] - 4]
        truth = ellipsoid(shape, where, (16, 18, 14)) & (classes >= GM)
        classes[truth] = LESION
        classes[ellipsoid(shape, where, (6, 7, 6))] = NECROSIS
    elif lesion == "ms":
        candidates = np.argwhere(white)
        for index in rng.choice(len(candidates), 40, replace=False):
            radius = rng.uniform(1.2, 3.2)  # 5..50 voxels of 1.5 mm
            focus = ellipsoid(shape, candidates[index], (radius * 1.5,) * 3) & white
            truth |= focus
        classes[truth] = LESION
    elif lesion == "stroke":
        where = [centre[0] + 18, centre[1] - 12, centre[2]]
        truth = ellipsoid(shape, where, (12, 16, 12)) & (classes >= GM)
    brain = (classes >= CSF)
    return classes, truth, brain, rng


def head_images(classes: np.ndarray, truth: np.ndarray, rng: np.random.Generator, sequences=("flair", "t1", "t2"),
                stroke: bool = False, adc_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Noisy images per sequence (float32, magnitude: never below 0); ADC multiplied by ``adc_scale``."""
    images = {}
    for sequence in sequences:
        means = np.asarray(MEANS[sequence], dtype=np.float32)[classes]
        if stroke:
            means[truth] = STROKE_MEANS[sequence]
        noisy = np.abs(means + rng.normal(0, NOISE * (3 if sequence == "adc" else 1), classes.shape))
        images[sequence] = (noisy * (adc_scale if sequence == "adc" else 1.0)).astype(np.float32)
    return images


def skull_stripped(images: dict[str, np.ndarray], brain: np.ndarray) -> dict[str, np.ndarray]:
    """The images with everything outside the brain set to 0, as skull-stripping tools write them."""
    return {name: np.where(brain, image, 0).astype(np.float32) for name, image in images.items()}


def diffusion_phantom(stroke_radii_mm=(12, 16, 12), artefact: bool = False, bias: bool = False,
                      shine_through: bool = False, pile_up: bool = False):
    """(images, mask, truth) of a skull-stripped DWI + ADC head: a stroke right of the centre, optionally a
    bright pair of regions placed symmetrically on both sides (like the DWI's susceptibility artefacts near
    the temporal poles, ADC a little low), a smooth DWI bias field along the head's axis, T2 shine-through
    on the left (vasogenic oedema: DWI-bright from its long T2, ADC raised; not an infarct), and a
    susceptibility pile-up low on the left (DWI as bright as the infarct, ADC normal tissue's; not an infarct)."""
    classes, _, brain, rng = head_phantom("stroke", seed=2)
    centre = np.asarray(classes.shape) / 2
    truth = ellipsoid(classes.shape, centre + (14, -8, 0), stroke_radii_mm) & (classes >= GM)
    images = skull_stripped(head_images(classes, truth, rng, ("dwi", "adc"), stroke=True), brain)
    if artefact:
        for side in (-1, 1):
            region = ellipsoid(classes.shape, centre + (side * 22, 18, -12), (6, 6, 6)) & (classes >= GM)
            images["dwi"][region] *= 1.6
            images["adc"][region] = 650 + rng.normal(0, 20, int(region.sum()))
    if shine_through:
        oedema = ellipsoid(classes.shape, centre + (-16, 12, 4), (10, 10, 10)) & (classes >= GM)
        images["dwi"][oedema] = STROKE_MEANS["dwi"] + rng.normal(0, NOISE, int(oedema.sum()))
        images["adc"][oedema] = MEANS["adc"][LESION] + rng.normal(0, 3 * NOISE, int(oedema.sum()))
    if pile_up:
        region = ellipsoid(classes.shape, centre + (-20, 16, -14), (6, 8, 5)) & (classes >= GM)
        images["dwi"][region] = STROKE_MEANS["dwi"] + rng.normal(0, NOISE, int(region.sum()))
    if bias:
        images["dwi"] *= np.exp(np.linspace(-0.3, 0.3, classes.shape[2]))[None, None, :].astype(np.float32)
    return images, np.logical_and.reduce([image > 0 for image in images.values()]), truth


#: The lesions of a pair of visits: name -> (centre offset from the head's centre in voxels, radius in mm at
#: the baseline, radius at the follow-up; 0: absent).
VISIT_LESIONS = {"stable": ((-14, -20, 0), 4.5, 4.5), "enlarging": ((14, -20, 0), 3.0, 5.0),
                 "resolved": ((-14, 22, -4), 4.5, 0.0), "new": ((14, 22, -4), 0.0, 4.5)}
#: How the head moved between the visits: degrees about the S axis, mm; and the follow-up scanner's scale.
VISIT_ROTATION_DEGREES = 6.0
VISIT_SHIFT_MM = (4.0, -3.0, 5.0)
VISIT_INTENSITY = (1.3, 20.0)
FOLLOW_UP_SPACING = (1.5, 1.5, 2.0)


def visit_classes(shape=(80, 96, 72), visit: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A head's class map at visit 0 (baseline) or 1 (follow-up) in the baseline's voxels, and each lesion's mask."""
    classes, _, _, _ = head_phantom("none", shape=shape)
    centre = np.array(shape) / 2
    white = classes == WM
    masks = {}
    for name, (offset, *radii) in VISIT_LESIONS.items():
        radius = radii[visit]
        masks[name] = ellipsoid(shape, centre + offset, (radius,) * 3) & white if radius else np.zeros(shape, bool)
        classes[masks[name]] = LESION
    return classes, masks


def visit_pair(sequences=("flair", "t1"), seed: int = 0):
    """((baseline images, baseline affine), (follow-up images, follow-up affine), baseline lesion masks,
    follow-up lesion masks in baseline voxels): the follow-up head rotated and shifted, on a coarser grid,
    at another intensity scale, with its own noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    base_classes, base_masks = visit_classes(visit=0)
    follow_classes, follow_masks = visit_classes(visit=1)
    base_affine = np.diag([*SPACING, 1.0])
    angle = np.radians(VISIT_ROTATION_DEGREES)
    motion = np.eye(4)
    motion[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    centre_mm = np.array(base_classes.shape) * SPACING / 2
    motion[:3, 3] = centre_mm - motion[:3, :3] @ centre_mm + VISIT_SHIFT_MM
    follow_affine = np.diag([*FOLLOW_UP_SPACING, 1.0])
    follow_shape = tuple(int(n * s / f) for n, s, f in zip(base_classes.shape, SPACING, FOLLOW_UP_SPACING))
    to_baseline_voxels = np.linalg.inv(base_affine) @ np.linalg.inv(motion) @ follow_affine
    moved = ndimage.affine_transform(follow_classes, to_baseline_voxels[:3, :3], offset=to_baseline_voxels[:3, 3],
                                     output_shape=follow_shape, order=0, mode="constant", cval=BACKGROUND)
    scale, shift = VISIT_INTENSITY
    base_images = head_images(base_classes, np.zeros_like(base_masks["new"]), rng, sequences)
    follow_images = {name: image * scale + shift * (image > 0)
                     for name, image in head_images(moved, np.zeros(follow_shape, bool), rng, sequences).items()}
    return (base_images, base_affine), (follow_images, follow_affine), base_masks, follow_masks
