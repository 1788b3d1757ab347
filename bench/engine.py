"""Benchmark of the fast clustering engine against scikit-learn (a script, not a test).

Runs side by side, in one process, ``FastGaussianMixture`` / ``FastKMeans`` and scikit-learn's
``GaussianMixture`` (float64) / ``KMeans(n_init="auto")`` on the bundled sample, on a seeded
BRATS-size phantom (4 channels) and on its first channel, and prints a markdown table: times and
their ratio, peak memory increments (tracemalloc, in a second run), adjusted Rand index against
scikit-learn, mean log-likelihood of each fit on all rows, and Dice per phantom class.

    /work/main/.venv/bin/python bench/engine.py            # full run
    /work/main/.venv/bin/python bench/engine.py --quick    # k = 4 on the phantoms only
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "UnsupervisedSegment"))

from UnsupervisedSegmentLib.engine.fast_gmm import FastGaussianMixture  # noqa: E402
from UnsupervisedSegmentLib.engine.fast_kmeans import FastKMeans  # noqa: E402

SEED = 0
SAMPLE_DIR = ROOT / "Resources" / "SampleData"
SAMPLE_CHANNELS = ("t1", "t1_contrast", "flair", "adc")
PHANTOM_SHAPE = (240, 240, 155)
#: Phantom class means per channel and noise SD: CSF, grey matter, white matter, lesion.
CLASS_MEANS = np.array(
    [
        [350.0, 400.0, 900.0, 1100.0],
        [600.0, 650.0, 700.0, 950.0],
        [720.0, 740.0, 620.0, 880.0],
        [950.0, 1250.0, 1250.0, 1150.0],
    ]
)
CLASS_SD = np.array([70.0, 55.0, 50.0, 80.0])
CLASS_NAMES = ("csf", "gm", "wm", "lesion")


@dataclass
class Dataset:
    """A feature matrix, optional ground truth labels and a name."""

    name: str
    x: np.ndarray
    truth: Optional[np.ndarray] = None


def smooth_field(points: np.ndarray, rng: np.random.Generator, wavelength: float, waves: int = 16) -> np.ndarray:
    """A smooth random field (sum of random plane waves) at ``points``, unit variance."""
    field = np.zeros(len(points), dtype=np.float32)
    for _ in range(waves):
        direction = rng.normal(size=3)
        frequency = 2 * np.pi / (wavelength * rng.uniform(0.7, 1.3)) * direction / np.linalg.norm(direction)
        field += np.cos(points @ frequency.astype(np.float32) + np.float32(rng.uniform(0, 2 * np.pi)))
    return (field - field.mean()) / field.std()


def phantom_mask() -> np.ndarray:
    """The phantom's brain: an ellipsoid in the BRATS-size (240, 240, 155) grid; rows of
    :func:`phantom` are its voxels in raster order."""
    grid = np.ogrid[tuple(slice(0, s) for s in PHANTOM_SHAPE)]
    centre = [s / 2 for s in PHANTOM_SHAPE]
    radii = (78.0, 98.0, 46.5)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0


def phantom(channels: int = 4, seed: int = SEED) -> Dataset:
    """A seeded BRATS-size phantom: ellipsoid brain mask, 4 classes incl. a ~1.3 % lesion.

    Tissue classes come from a smooth random field (20 / 40 / 40 %), the lesion from three
    spheres; each channel gets Gaussian noise and the same smooth multiplicative bias (± 5 %).
    """
    rng = np.random.default_rng(seed)
    centre = [s / 2 for s in PHANTOM_SHAPE]
    points = np.argwhere(phantom_mask()).astype(np.float32)
    tissue = smooth_field(points, rng, wavelength=60.0)
    truth = np.digitize(tissue, np.quantile(tissue, [0.2, 0.6]))
    for offset in ([30, 25, 10], [-35, 10, -12], [10, -40, 5]):
        truth[(((points - np.add(centre, offset)) / 11.5) ** 2).sum(1) <= 1.0] = 3
    bias = 1.0 + 0.05 * smooth_field(points, rng, wavelength=250.0, waves=4)
    x = np.empty((len(truth), channels), dtype=np.float32)
    for c in range(channels):
        noise = rng.standard_normal(len(truth), dtype=np.float32) * CLASS_SD[truth].astype(np.float32)
        x[:, c] = (CLASS_MEANS[truth, c].astype(np.float32) + noise) * bias
    return Dataset(f"phantom {channels}ch", x, truth)


def bundled_sample() -> Optional[Dataset]:
    """The bundled 4-channel sample, voxels where all channels are > 0 (None if absent)."""
    import nibabel as nib

    paths = [SAMPLE_DIR / f"{name}.nii.gz" for name in SAMPLE_CHANNELS]
    if not all(p.exists() for p in paths):
        return None
    volumes = [np.asarray(nib.load(str(p)).dataobj, dtype=np.float32) for p in paths]
    mask = np.logical_and.reduce([v > 0 for v in volumes])
    return Dataset("sample 4ch", np.stack([v[mask] for v in volumes], axis=1))


@dataclass
class Run:
    """Labels, seconds, peak memory increment (MB) and fit quality of one estimator run."""

    labels: np.ndarray
    seconds: float
    peak_mb: float
    quality: float


def measure(make: Callable[[], Any], x: np.ndarray, repeats: int) -> Run:
    """Median time of ``repeats`` fit_predict runs, then one traced run for the peak memory."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        model = make()
        labels = model.fit_predict(x)
        times.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    make().fit_predict(x)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    quality = model.score(x) if hasattr(model, "score_samples") else -model.inertia_ / len(x)
    return Run(labels, float(np.median(times)), peak / 2**20, float(quality))


def dice_per_class(truth: np.ndarray, labels: np.ndarray) -> list[float]:
    """Dice of each true class with the cluster matched to it (Hungarian on the overlaps)."""
    n_classes, n_clusters = truth.max() + 1, labels.max() + 1
    overlap = np.zeros((n_classes, n_clusters))
    np.add.at(overlap, (truth, labels), 1)
    rows, cols = linear_sum_assignment(-overlap)
    sizes_t, sizes_l = np.bincount(truth, minlength=n_classes), np.bincount(labels, minlength=n_clusters)
    dice = [0.0] * n_classes
    for r, c in zip(rows, cols):
        dice[r] = 2 * overlap[r, c] / (sizes_t[r] + sizes_l[c])
    return dice


def models(kind: str, k: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Factories of the scikit-learn and the fast estimator of ``kind`` ("GMM" or "KMeans")."""
    if kind == "GMM":
        return (lambda: GaussianMixture(k, covariance_type="full", random_state=SEED),
                lambda: FastGaussianMixture(k, covariance_type="full", random_state=SEED))
    if kind == "GMM sub=None":
        return (lambda: GaussianMixture(k, covariance_type="full", random_state=SEED),
                lambda: FastGaussianMixture(k, covariance_type="full", random_state=SEED, subsample=None))
    return (lambda: KMeans(k, n_init="auto", random_state=SEED),
            lambda: FastKMeans(k, random_state=SEED))


def row(data: Dataset, kind: str, k: int, reference: dict[tuple[str, int], Run]) -> str:
    """Benchmark one (dataset, method, k) and format a markdown table row."""
    make_sklearn, make_fast = models(kind, k)
    key = (kind.split()[0], k)
    if key not in reference:
        reference[key] = measure(make_sklearn, data.x.astype(np.float64), repeats=1)
    sk = reference[key]
    fast = measure(make_fast, data.x, repeats=3)
    ari = adjusted_rand_score(sk.labels, fast.labels)
    feature_mb = data.x.size * 4 / 2**20
    dice = "–"
    if data.truth is not None:
        fmt = lambda labels: "/".join(f"{d:.3f}" for d in dice_per_class(data.truth, labels))  # noqa: E731
        dice = f"{fmt(fast.labels)} ({fmt(sk.labels)})"
    return (
        f"| {data.name} | {len(data.x):,} | {kind} | {k} | {sk.seconds:.2f} | {fast.seconds:.3f} | "
        f"**{sk.seconds / fast.seconds:.1f}×** | {sk.peak_mb:.0f} | {fast.peak_mb:.0f} "
        f"({fast.peak_mb / feature_mb:.2f}×X32) | {ari:.4f} | {sk.quality:.5g} | {fast.quality:.5g} | {dice} |"
    )


HEADER = (
    "| data | voxels | method | k | sklearn s | fast s | speed-up | sklearn peak MB | fast peak MB "
    "(÷ float32 X) | ARI vs sklearn | sklearn fit | fast fit | Dice fast (sklearn), classes "
    + "/".join(CLASS_NAMES)
    + " |\n|" + "---|" * 14
)


def main() -> None:
    """Run the benchmark and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k = 4 on the phantoms only")
    args = parser.parse_args()
    ks = (4,) if args.quick else (2, 3, 4, 5)
    datasets = [] if args.quick else [bundled_sample()]
    four = phantom(4)
    one = Dataset("phantom 1ch", np.ascontiguousarray(four.x[:, :1]), four.truth)
    datasets += [four, one]
    print(
        "sklearn: GaussianMixture(float64) / KMeans(n_init='auto', float64), one run; fast: float32, "
        "median of 3 runs. Peak = tracemalloc increment during fit_predict. Fit: GMM mean "
        "log-likelihood per voxel (score), KMeans -inertia per voxel.\n"
    )
    print(HEADER, flush=True)
    for data in filter(None, datasets):
        reference: dict[tuple[str, int], Run] = {}
        for k in ks:
            kinds = ["GMM", "KMeans"] + (["GMM sub=None"] if data is four and k == 4 else [])
            for kind in kinds:
                print(row(data, kind, k, reference), flush=True)


if __name__ == "__main__":
    main()
