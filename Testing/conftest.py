"""Shared fixtures: the bundled sample data and synthetic phantoms with known ground truth."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "Resources" / "SampleData"
SAMPLE_NAMES = ("t1", "t1_contrast", "flair", "adc")

from UnsupervisedSegmentLib.core.volume import Channel, Grid

PHANTOM_AFFINE = np.diag([-1.2, 1.2, 2.5, 1.0])


def make_phantom(shape=(40, 36, 12), n_classes: int = 3, noise: float = 8.0, channels: int = 2, seed: int = 0):
    """An easy phantom: concentric shells of ``n_classes`` tissues inside a zero background.

    Returns (list of (I, J, K) float32 arrays, ground-truth labels 0..n_classes).
    """
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(i**2 + j**2 + (k * 0.8) ** 2)
    truth = np.zeros(shape, dtype=np.uint8)
    for c, r in enumerate(np.linspace(0.9, 0.3, n_classes)):
        truth[radius < r] = c + 1
    arrays = []
    for channel in range(channels):
        means = np.array([0.0] + [100.0 + 60.0 * c * (1 + 0.3 * channel) for c in range(n_classes)])
        image = means[truth] + rng.normal(0, noise, shape) * (truth > 0)
        arrays.append(np.where(truth > 0, np.maximum(image, 1.0), 0.0).astype(np.float32))
    return arrays, truth


def phantom_channels(**kwargs) -> tuple[list[Channel], np.ndarray]:
    """The phantom as engine channels named c0, c1, ... and its ground truth."""
    arrays, truth = make_phantom(**kwargs)
    grid = Grid(truth.shape, PHANTOM_AFFINE)
    return [Channel(f"c{n}", array, grid) for n, array in enumerate(arrays)], truth


def save_nifti(array: np.ndarray, path: Path, affine: np.ndarray = PHANTOM_AFFINE) -> Path:
    """Write an array as NIfTI and return its path."""
    nib.save(nib.Nifti1Image(array, affine), str(path))
    return path


@pytest.fixture
def phantom_files(tmp_path: Path) -> tuple[list[Path], np.ndarray]:
    """The phantom's two channels as NIfTI files, and its ground truth."""
    arrays, truth = make_phantom()
    return [save_nifti(a, tmp_path / f"c{n}.nii.gz") for n, a in enumerate(arrays)], truth


@pytest.fixture(scope="session")
def sample_paths() -> list[Path]:
    """The bundled CPTAC-GBM sample: T1, T1 post-contrast, FLAIR, ADC."""
    return [SAMPLE_DIR / f"{name}.nii.gz" for name in SAMPLE_NAMES]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean arrays."""
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))
