"""N4 bias-field correction and denoising on phantoms with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from UnsupervisedSegmentLib.engine.preprocessing import correct_bias_field, denoise

SPACING = (1.0, 1.0, 2.0)


def biased_phantom(noise: float = 2.0, seed: int = 0):
    """A two-class ellipsoid (100 outside, 150 inside) times a smooth bias field, with noise."""
    rng = np.random.default_rng(seed)
    shape = (64, 64, 40)
    grid = np.indices(shape, dtype=float)
    centre = np.array(shape, dtype=float)[:, None, None, None] / 2
    radius = np.sqrt((((grid - centre) / centre) ** 2).sum(axis=0))
    head, inner = radius < 0.9, radius < 0.45
    bias = np.exp(0.3 * (grid[0] - 32) / 32 + 0.2 * ((grid[2] - 20) / 20) ** 2)
    image = (np.where(inner, 150.0, 100.0) * bias + rng.normal(0, noise, shape)) * head
    return image.astype(np.float32), head, inner, head & ~inner & (radius < 0.8)


def variation(image: np.ndarray, region: np.ndarray) -> float:
    """Coefficient of variation inside a region."""
    return float(image[region].std() / image[region].mean())


def test_n4_removes_a_known_multiplicative_bias_field():
    image, head, inner, outer = biased_phantom()
    before = image.copy()
    corrected = correct_bias_field(image, head, SPACING)
    np.testing.assert_array_equal(image, before)
    assert corrected.dtype == np.float32 and corrected.shape == image.shape
    for region in (inner, outer):
        assert variation(corrected, region) < 0.4 * variation(image, region)
    contrast = corrected[inner].mean() / corrected[outer].mean()
    assert contrast == pytest.approx(1.5, rel=0.1)
    assert corrected[head].mean() == pytest.approx(image[head].mean(), rel=0.1)


def test_n4_default_mask_is_the_positive_voxels():
    image, head, inner, _ = biased_phantom()
    corrected = correct_bias_field(image, None, SPACING)
    assert variation(corrected, inner) < 0.4 * variation(image, inner)


def test_n4_refuses_z_scored_intensities_but_tolerates_a_few_negatives():
    image, head, _, _ = biased_phantom()
    z = (image - image[head].mean()) / image[head].std()
    with pytest.raises(ValueError, match="negative"):
        correct_bias_field(z, head, SPACING)
    image[head & (np.arange(image.size).reshape(image.shape) % 500 == 0)] = -1.0  # interpolation overshoot
    assert np.isfinite(correct_bias_field(image, head, SPACING)).all()


def test_denoising_keeps_the_axis_order_and_the_spacing():
    impulse = np.zeros((21, 17, 13), dtype=np.float32)
    impulse[10, 8, 6] = 1.0
    smoothed = denoise(impulse, (1.0, 1.0, 4.0), "gaussian", sigma_mm=2.0)
    assert np.unravel_index(smoothed.argmax(), smoothed.shape) == (10, 8, 6)
    # one voxel along k is 4 mm, along i 1 mm: the blur reaches farther along i
    assert smoothed[11, 8, 6] > smoothed[10, 8, 7]
    assert smoothed[11, 8, 6] == pytest.approx(smoothed[10, 9, 6], rel=1e-3)


@pytest.mark.parametrize("method", ["curvature", "median", "gaussian"])
def test_every_method_reduces_noise_in_a_flat_region(method):
    rng = np.random.default_rng(0)
    image = (100 + rng.normal(0, 10, (24, 24, 16))).astype(np.float32)
    before = image.copy()
    result = denoise(image, SPACING, method)
    np.testing.assert_array_equal(image, before)
    assert result.dtype == np.float32 and result.shape == image.shape
    assert result[4:-4, 4:-4, 4:-4].std() < 0.7 * image.std()


@pytest.mark.parametrize("method", ["curvature", "median", "gaussian"])
def test_masked_denoising_keeps_the_dark_background_out_of_the_edge(method):
    rng = np.random.default_rng(1)
    i, j, k = np.meshgrid(*[np.arange(n) - n // 2 for n in (32, 32, 20)], indexing="ij")
    brain = i**2 + j**2 + (2 * k) ** 2 < 12**2
    image = np.where(brain, 100 + rng.normal(0, 5, brain.shape), 0.0).astype(np.float32)
    before = image.copy()
    edge = brain & ~np.pad(brain[1:-1, 1:-1, 1:-1] & brain[2:, 1:-1, 1:-1] & brain[:-2, 1:-1, 1:-1]
                           & brain[1:-1, 2:, 1:-1] & brain[1:-1, :-2, 1:-1], 1)
    plain = denoise(image, SPACING, method)
    masked = denoise(image, SPACING, method, mask=brain)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(masked[~brain], image[~brain])  # only the masked voxels change
    assert plain[edge].mean() < 90  # unmasked: the background darkens the rim
    assert abs(masked[edge].mean() - 100) < 3


def test_median_removes_an_isolated_spike():
    image = np.full((9, 9, 9), 5.0, dtype=np.float32)
    image[4, 4, 4] = 1000.0
    assert denoise(image, SPACING, "median").max() == 5.0


def test_bad_parameters_raise_value_errors():
    image, head, _, _ = biased_phantom()
    with pytest.raises(ValueError, match="method"):
        denoise(image, SPACING, "bilateral")
    with pytest.raises(ValueError, match="spacing"):
        denoise(image, (1.0, 1.0), "median")
    with pytest.raises(ValueError, match="3D"):
        denoise(image[0], (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="radius"):
        denoise(image, SPACING, "median", radius=0)
    with pytest.raises(ValueError, match="mask shape"):
        correct_bias_field(image, head[:10], SPACING)
    with pytest.raises(ValueError, match="> 0"):
        correct_bias_field(image, ~head, SPACING)
    with pytest.raises(ValueError, match="shrink_factor"):
        correct_bias_field(image, head, SPACING, shrink_factor=0)
    with pytest.raises(ValueError, match="iterations"):
        correct_bias_field(image, head, SPACING, iterations=())
