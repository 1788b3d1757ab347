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


def _ellipsoid(shape: tuple[int, int, int], centre, radii_mm, spacing=SPACING) -> np.ndarray:
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
        classes[_ellipsoid(shape, centre, radii)] = tissue
    for side in (-1, 1):
        classes[_ellipsoid(shape, [centre[0] + side * 6, centre[1], centre[2] + 3], (5, 18, 8))] = CSF
    truth = np.zeros(shape, dtype=bool)
    white = classes == WM
    if lesion == "tumour":
        where = [centre[0] - 16, centre[1] + 10, centre[2] - 4]
        truth = _ellipsoid(shape, where, (16, 18, 14)) & (classes >= GM)
        classes[truth] = LESION
        classes[_ellipsoid(shape, where, (6, 7, 6))] = NECROSIS
    elif lesion == "ms":
        candidates = np.argwhere(white)
        for index in rng.choice(len(candidates), 40, replace=False):
            radius = rng.uniform(1.2, 3.2)  # 5..50 voxels of 1.5 mm
            focus = _ellipsoid(shape, candidates[index], (radius * 1.5,) * 3) & white
            truth |= focus
        classes[truth] = LESION
    elif lesion == "stroke":
        where = [centre[0] + 18, centre[1] - 12, centre[2]]
        truth = _ellipsoid(shape, where, (12, 16, 12)) & (classes >= GM)
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
