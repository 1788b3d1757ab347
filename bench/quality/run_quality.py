"""Segmentation-quality benchmark (a script, not a test): MRF, N4 and the automatic lesion rule.

(a) Seeded synthetic brain phantoms (CSF, grey and white matter, optionally a tumour with
    oedema, enhancing rim and necrotic core) with Gaussian noise and a smooth multiplicative
    bias field: Dice per tissue class, and whole-tumour Dice of the lesion rule, for the plain
    GMM, +MRF, +N4 and +both.
(b) The BRATS 2013 development case, when ../shared/data/brats2013-dev-case exists (read in
    place, never copied): whole-tumour Dice of the automatic lesion rule next to the lesson
    recipe "lesion = the cluster with the highest mean FLAIR" (GMM and KMeans, k = 3).
(c) Timings of each option on that 240×240×155 case.
Every development case and sequence set of the lesion rule: bench/quality/run_lesion.py.

Clustering: scikit-learn GaussianMixture(k, covariance_type="full", random_state=123) on the
mask voxels, labels sorted by ascending mean of the first channel. Results go to
bench/quality/results.md (and stdout).

    /work/main/.venv/bin/python bench/quality/run_quality.py            # everything
    /work/main/.venv/bin/python bench/quality/run_quality.py --quick    # phantoms only, one seed
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "UnsupervisedSegment"))

from UnsupervisedSegmentLib.engine.mrf import mixture_log_likelihood, regularise_posteriors  # noqa: E402
from UnsupervisedSegmentLib.engine.preprocessing import correct_bias_field, denoise  # noqa: E402
from UnsupervisedSegmentLib.lesion.rule import find_lesion  # noqa: E402
from UnsupervisedSegmentLib.report.metrics import dice, evaluate  # noqa: E402

DEV_CASE = ROOT.parent / "shared" / "data" / "brats2013-dev-case"
RESULTS = Path(__file__).resolve().parent / "results.md"
SEED = 123
#: Recommended pipeline defaults for lesion finding (chosen on principles and phantoms).
LESION_K = 6
BETA = 1.0
NEIGHBOURHOOD = 6
MRF_ITERATIONS = 5
#: Strength of the phantoms' bias field (SD of its logarithm).
BIAS = 0.1
#: Tissue, tumour and oedema classes of the phantoms.
CSF, GM, WM, OEDEMA, ENHANCING, NECROSIS = range(1, 7)
#: Mean intensity of each phantom class (0 = background) per channel, roughly as in real scans.
PHANTOM_MEANS = {
    "t1": [0.0, 0.30, 0.60, 0.90, 0.50, 0.70, 0.30],
    "flair": [0.0, 0.25, 1.00, 0.85, 1.55, 1.35, 0.50],
    "t1c": [0.0, 0.30, 0.65, 0.90, 0.60, 1.50, 0.35],
}


def smooth_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / field.std()


def brain_phantom(
    rng: np.random.Generator, tumour: bool, shape: tuple[int, int, int] = (128, 160, 112)
) -> tuple[np.ndarray, np.ndarray]:
    """Truth labels (0 outside, CSF, GM, WM, oedema, enhancing, necrosis) and the brain mask."""
    grid = np.indices(shape, dtype=np.float32)
    centre = np.array(shape, dtype=np.float32)[:, None, None, None] / 2
    radii = np.array([54, 70, 48], dtype=np.float32)[:, None, None, None]
    depth = np.sqrt((((grid - centre) / radii) ** 2).sum(0)) * (1 + 0.03 * smooth_noise(shape, 8, rng))
    folds = 0.07 * smooth_noise(shape, 2.5, rng)
    truth = np.zeros(shape, dtype=np.uint8)
    truth[depth < 1.0] = CSF
    truth[depth < 0.95 + folds / 3] = GM
    truth[depth < 0.87 + folds] = WM
    for side in (-1, 1):
        for shift, radius, tissue in (([side * 16, -4, 0], [7, 11, 8], GM), ([side * 7, 5, 4], [4, 22, 9], CSF)):
            offset = (grid - centre - np.array(shift)[:, None, None, None]) / np.array(radius)[:, None, None, None]
            truth[(offset**2).sum(0) < 1] = tissue
    if tumour:
        where = centre[:, 0, 0, 0] + np.array([-26, 10, 8]) + rng.integers(-4, 5, 3)
        distance = np.sqrt(((grid - where[:, None, None, None]) ** 2).sum(0))
        bumpy = distance * (1 + 0.15 * smooth_noise(shape, 6, rng))
        truth[(bumpy < rng.uniform(18, 24)) & (truth > CSF)] = OEDEMA
        truth[bumpy < 11] = ENHANCING
        truth[bumpy < 8] = NECROSIS
    return truth, truth > 0


def phantom_images(
    truth: np.ndarray, names: tuple[str, ...], noise: float, bias: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Channels of a phantom: class means, partial volume, smooth multiplicative bias, Gaussian noise."""
    images = {}
    for name in names:
        clean = ndimage.gaussian_filter(np.asarray(PHANTOM_MEANS[name], dtype=np.float32)[truth], 0.6)
        field = np.exp(bias * smooth_noise(truth.shape, 30, rng))
        images[name] = ((clean * field + rng.normal(0, noise, truth.shape)) * (truth > 0)).astype(np.float32)
    return images


def fit_gmm(X: np.ndarray, k: int) -> GaussianMixture:
    """The benchmark's mixture: full covariances, seed 123, components sorted by the first channel's mean."""
    model = GaussianMixture(k, covariance_type="full", random_state=SEED).fit(X)
    order = np.argsort(model.means_[:, 0])
    model.weights_, model.means_ = model.weights_[order], model.means_[order]
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        setattr(model, name, getattr(model, name)[order])
    return model


def cluster(
    images: dict[str, np.ndarray], mask: np.ndarray, spacing: tuple[float, ...], k: int, beta: float
) -> np.ndarray:
    """Labels 0..k-1 inside the mask (-1 outside) from a GMM, regularised by the MRF when beta > 0."""
    X = np.stack([image[mask] for image in images.values()], axis=1).astype(np.float64)
    model = fit_gmm(X, k)
    labels = np.full(mask.shape, -1, dtype=np.int16)
    if beta == 0:
        labels[mask] = model.predict(X).astype(np.int16)
        return labels
    log_likelihood = np.zeros(mask.shape + (k,), dtype=np.float32)
    log_likelihood[mask] = mixture_log_likelihood(X, model.weights_, model.means_, model.covariances_)
    posteriors = regularise_posteriors(log_likelihood, mask, beta, NEIGHBOURHOOD, MRF_ITERATIONS, spacing)
    labels[mask] = posteriors[mask].argmax(axis=1).astype(np.int16)
    return labels


def preprocess(
    images: dict[str, np.ndarray], mask: np.ndarray, spacing: tuple[float, ...], n4: bool
) -> dict[str, np.ndarray]:
    """The channels, N4-corrected inside the mask when asked."""
    return {name: correct_bias_field(image, mask, spacing) if n4 else image for name, image in images.items()}


VARIANTS = {"plain GMM": (False, 0.0), "+MRF": (False, BETA), "+N4": (True, 0.0), "+N4 +MRF": (True, BETA)}


def phantom_tables(seeds: list[int]) -> list[str]:
    """Markdown tables for part (a)."""
    spacing = (1.0, 1.0, 1.0)
    lines = [
        "## (a) Synthetic brain phantoms",
        "",
        f"128×160×112 voxels of 1 mm, seeds {seeds}; Gaussian noise SD as given (class means 0.25–1.55),",
        f"multiplicative bias field exp({BIAS} × smooth unit-SD noise, ~30 mm scale). Mean Dice over seeds.",
        f"MRF: beta={BETA}, {NEIGHBOURHOOD}-neighbourhood, {MRF_ITERATIONS} mean-field iterations; N4: defaults.",
        "",
        "Tissue phantom (T1 + FLAIR, k = 3, labels by ascending T1 mean = CSF, GM, WM):",
        "",
        "| noise SD | variant | CSF | GM | WM |",
        "|---|---|---|---|---|",
    ]
    for noise in (0.05, 0.10):
        scores = {variant: [] for variant in VARIANTS}
        for seed in seeds:
            rng = np.random.default_rng(seed)
            truth, mask = brain_phantom(rng, tumour=False)
            images = phantom_images(truth, ("t1", "flair"), noise, BIAS, rng)
            for variant, (n4, beta) in VARIANTS.items():
                labels = cluster(preprocess(images, mask, spacing, n4), mask, spacing, 3, beta)
                scores[variant].append([dice(labels == c, truth == c + 1) for c in range(3)])
        for variant, rows in scores.items():
            means = np.mean(rows, axis=0)
            lines.append(f"| {noise} | {variant} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
            print(lines[-1], flush=True)
    lines += [
        "",
        "Tumour phantom (FLAIR + T1c, noise SD 0.08): whole-tumour Dice of the automatic lesion rule (lesion type",
        "auto; the rule works on the images, so only N4 changes it).",
        "",
        "| variant | whole-tumour Dice | type decided, per seed |",
        "|---|---|---|",
    ]
    for variant, n4 in (("plain", False), ("+N4", True)):
        scores, decided = [], []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            truth, mask = brain_phantom(rng, tumour=True)
            images = phantom_images(truth, ("flair", "t1c"), 0.08, BIAS, rng)
            result = find_lesion(preprocess(images, mask, spacing, n4), mask, spacing)
            scores.append(dice(result.mask, truth >= OEDEMA))
            decided.append(result.lesion_type)
        lines.append(f"| {variant} | {np.mean(scores):.3f} | {decided} |")
        print(lines[-1], flush=True)
    return lines


def load_dev_case() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, tuple[float, ...]]:
    """FLAIR and T1c, brain mask and whole-tumour truth of the development case, read in place."""
    import nibabel as nib

    def read(name: str) -> np.ndarray:
        return np.asarray(nib.load(str(DEV_CASE / f"{name}.nii.gz")).dataobj, dtype=np.float32)

    spacing = tuple(float(s) for s in nib.load(str(DEV_CASE / "brainmask.nii.gz")).header.get_zooms()[:3])
    images = {"flair": read("Flair_subtrMeanDivStd"), "t1c": read("T1c_subtrMeanDivStd")}
    return images, read("brainmask") > 0.5, read("OTMultiClass") > 0, spacing


def unnormalised(images: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """z-scored channels minus their constant outside value (the z-score of raw 0): raw / SD, for N4."""
    return {name: image - np.float32(np.median(image[~mask])) for name, image in images.items()}


def lesson_recipe(X: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """The lesson's lesion: the k = 3 cluster with the highest mean FLAIR (first channel)."""
    if method == "gmm":
        labels = GaussianMixture(3, covariance_type="full", random_state=SEED).fit_predict(X)
    else:
        labels = KMeans(3, n_init="auto", random_state=SEED).fit_predict(X)
    brightest = int(np.argmax([X[labels == c, 0].mean() for c in range(3)]))
    lesion = np.zeros(mask.shape, dtype=bool)
    lesion[mask] = labels == brightest
    return lesion


def timed(function, *args, **kwargs):
    """(result, seconds) of a call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def dev_case_tables() -> list[str]:
    """Markdown tables for parts (b) and (c)."""
    images, mask, truth, spacing = load_dev_case()
    X = np.stack([images["flair"][mask], images["t1c"][mask]], axis=1).astype(np.float64)
    lines = [
        "## (b) BRATS 2013 development case: whole-tumour Dice",
        "",
        f"FLAIR + T1c, z-scored, brain mask {int(mask.sum())} voxels, whole tumour {int(truth.sum())} voxels (1 mm).",
        "",
        "| method | Dice | Jaccard | HD95 (mm) | volume (mL, truth " + f"{truth.sum() / 1000:.1f}) | time (s) |",
        "|---|---|---|---|---|---|",
    ]

    def row(name: str, lesion: np.ndarray, seconds: float) -> None:
        scores = evaluate(lesion, truth, spacing)
        lines.append(
            f"| {name} | {scores['dice']:.3f} | {scores['jaccard']:.3f} | {scores['hausdorff95_mm']:.1f} | "
            f"{scores['volume_pred_ml']:.1f} | {seconds:.1f} |"
        )
        print(lines[-1], flush=True)

    for method in ("gmm", "kmeans"):
        lesion, seconds = timed(lesson_recipe, X, mask, method)
        row(f"lesson recipe: {method.upper()} k=3, highest-FLAIR cluster", lesion, seconds)
    result, seconds = timed(find_lesion, images, mask, spacing)
    row("automatic lesion rule (voxel-wise, lesion type auto; all cases: lesion_results.md)", result.mask, seconds)
    description = result.description
    start = time.perf_counter()
    corrected = preprocess(unnormalised(images, mask), mask, spacing, True)
    result = find_lesion(corrected, mask, spacing)
    row("automatic lesion rule after N4", result.mask, time.perf_counter() - start)
    lines += ["", "Rule's decision:", "", "```", description, "```", ""]
    lines += timing_table(images, mask, spacing, X)
    return lines


def timing_table(
    images: dict[str, np.ndarray], mask: np.ndarray, spacing: tuple[float, ...], X: np.ndarray
) -> list[str]:
    """Markdown table for part (c): seconds per option on the development case."""
    lines = ["## (c) Timings on the 240×240×155 case (2 CPU cores, seconds)", "", "| step | seconds |", "|---|---|"]
    for k in (3, LESION_K):
        model, seconds = timed(fit_gmm, X, k)
        lines.append(f"| GMM fit k={k} (2 channels, {len(X)} voxels) | {seconds:.1f} |")
        log_likelihood = np.zeros(mask.shape + (k,), dtype=np.float32)
        parameters = (model.weights_, model.means_, model.covariances_)
        log_likelihood[mask], seconds = timed(mixture_log_likelihood, X, *parameters)
        lines.append(f"| log-likelihood volume k={k} | {seconds:.1f} |")
        for neighbourhood in (6, 26):
            arguments = (log_likelihood, mask, BETA, neighbourhood, MRF_ITERATIONS, spacing)
            _, seconds = timed(regularise_posteriors, *arguments)
            lines.append(f"| MRF k={k}, {neighbourhood}-neighbourhood, {MRF_ITERATIONS} iterations | {seconds:.1f} |")
    _, seconds = timed(correct_bias_field, unnormalised(images, mask)["flair"], mask, spacing)
    lines.append(f"| N4 one channel (defaults: shrink 4, iterations 50/50/50) | {seconds:.1f} |")
    for method in ("curvature", "median", "gaussian"):
        _, seconds = timed(denoise, images["flair"], spacing, method)
        lines.append(f"| denoise one channel, {method} | {seconds:.1f} |")
    _, seconds = timed(find_lesion, images, mask, spacing)
    lines.append(f"| lesion rule | {seconds:.1f} |")
    for line in lines[4:]:
        print(line, flush=True)
    return lines + [""]


def main() -> None:
    """Run the benchmark and write results.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="phantoms only, one seed")
    args = parser.parse_args()
    lines = ["# Segmentation quality benchmark", "", f"Command: `{' '.join(['.venv/bin/python'] + sys.argv)}`", ""]
    lines += phantom_tables([0] if args.quick else [0, 1, 2]) + [""]
    if args.quick:
        lines.append("(quick run: development case skipped)")
    elif DEV_CASE.is_dir():
        lines += dev_case_tables()
    else:
        lines.append(f"(development case not found at {DEV_CASE}: parts (b) and (c) skipped)")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
