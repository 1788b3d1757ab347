"""Lesion-finding benchmark (a script, not a test): every development case and sequence set.

Runs the automatic lesion rule (UnsupervisedSegmentLib.lesion.rule.find_lesion, lesion type auto)
on the mask the command line builds by default (voxels > 0 in every input, or the case's mask
file), reads the images in place from ../shared/data (never copied), and writes
bench/quality/lesion_results.md (Dice, volume found vs reference, HD95, MS lesion-wise F1, CSF
taken) and bench/quality/cptac_lesion.png (the CPTAC lesson sample has no reference).

    .venv/bin/python bench/quality/run_lesion.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "UnsupervisedSegment"), str(ROOT / "Testing")]

from lesion_phantoms import SPACING, head_images, head_phantom  # noqa: E402
from UnsupervisedSegmentLib.core.volume import Channel, Grid  # noqa: E402
from UnsupervisedSegmentLib.engine.masking import build_mask  # noqa: E402
from UnsupervisedSegmentLib.lesion.rule import find_lesion, healthy_peak  # noqa: E402
from UnsupervisedSegmentLib.report.metrics import evaluate  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
HERE = Path(__file__).resolve().parent
#: case -> (folder, {role name: file stem}, reference stem or None, mask stem or None, reference labels' meaning)
CASES = {
    "BRATS 2013 pat0001 (z-scored, mask file)": ("brats2013-dev-case",
                                                {"flair": "Flair_subtrMeanDivStd", "t1c": "T1c_subtrMeanDivStd"},
                                                "OTMultiClass", "brainmask"),
    "TCGA DU-7294 (raw, no mask file)": ("tcga-du-7294", {"flair": "fla", "t1": "t1", "t1c": "t1c", "t2": "t2"},
                                         "reference_fusion", None),
    "MS patient19 (scanner scale, no mask file)": ("open-ms-patient19",
                                                   {"flair": "flair", "t1": "t1", "t1c": "t1c", "t2": "t2"},
                                                   "consensus", None),
    "CPTAC-GBM lesson sample (no reference)": ("cptac-gbm-lesson",
                                               {"flair": "flair", "t1": "t1", "t1c": "t1_contrast", "adc": "adc"}, None, None),
}
#: (case, sequences, mask rule when the case's mask file is not used)
CONFIGURATIONS = [
    ("BRATS 2013 pat0001 (z-scored, mask file)", ("flair", "t1c")),
    ("BRATS 2013 pat0001 (z-scored, mask file)", ("flair", "t1c"), "none"),
    ("TCGA DU-7294 (raw, no mask file)", ("flair", "t1", "t1c", "t2")),
    ("TCGA DU-7294 (raw, no mask file)", ("flair", "t1c")),
    ("TCGA DU-7294 (raw, no mask file)", ("flair",)),
    ("MS patient19 (scanner scale, no mask file)", ("flair", "t1", "t1c", "t2")),
    ("MS patient19 (scanner scale, no mask file)", ("flair", "t1")),
    ("MS patient19 (scanner scale, no mask file)", ("flair",)),
    ("CPTAC-GBM lesson sample (no reference)", ("flair", "t1", "t1c", "adc")),
]


def read(folder: str, stem: str) -> tuple[np.ndarray, tuple[float, ...]]:
    """A NIfTI image of the shared data as float32, and its voxel size."""
    import nibabel as nib

    image = nib.load(str(DATA / folder / f"{stem}.nii.gz"))
    return np.asarray(image.dataobj, dtype=np.float32), tuple(float(s) for s in image.header.get_zooms()[:3])


def default_mask(images: dict[str, np.ndarray], spacing, mask_file: np.ndarray | None, rule: str = "nonzero") -> np.ndarray:
    """The mask the command line uses: the mask file (> 0.5 for BRATS's float mask) or the rule (default: > 0 in every input)."""
    grid = Grid(next(iter(images.values())).shape, np.diag([*spacing, 1.0]))
    channels = [Channel(name, image, grid) for name, image in images.items()]
    given = None if mask_file is None else (mask_file > 0.5)
    return build_mask(channels, rule, given)[0]


def lesion_wise_f1(found: np.ndarray, truth: np.ndarray) -> float:
    """F1 of lesion detection: a reference lesion is detected, a found one is true, when they overlap (26-connected)."""
    structure = np.ones((3, 3, 3), dtype=bool)
    truth_parts, n_truth = ndimage.label(truth, structure)
    found_parts, n_found = ndimage.label(found, structure)
    if n_truth == 0 or n_found == 0:
        return 0.0
    recall = len(np.setdiff1d(np.unique(truth_parts[found]), [0])) / n_truth
    precision = len(np.setdiff1d(np.unique(found_parts[truth]), [0])) / n_found
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def csf_taken_ml(found: np.ndarray, truth: np.ndarray | None, images: dict[str, np.ndarray], mask: np.ndarray,
                 spacing) -> float:
    """Lesion voxels away (> 2 mm) from the reference that are darker than normal tissue on FLAIR (CSF-like)."""
    reference = np.zeros_like(found) if truth is None else ndimage.binary_dilation(truth, iterations=2)
    peak, spread = healthy_peak(images["flair"][mask])
    csf_like = images["flair"] < peak - 2 * spread
    return float((found & ~reference & csf_like).sum() * np.prod(spacing) / 1000)


def stroke_rows() -> list[tuple[str, dict[str, np.ndarray], np.ndarray, np.ndarray, tuple[float, ...]]]:
    """Whole-head stroke phantoms (lesion_phantoms): DWI + ADC (10⁻⁶ and mm²/s units) and with FLAIR."""
    rows = []
    for sequences, scale, name in ((("dwi", "adc"), 1.0, "DWI + ADC (1e-6 mm²/s)"),
                                   (("dwi", "adc"), 1e-6, "DWI + ADC (mm²/s)"),
                                   (("flair", "dwi", "adc"), 1.0, "FLAIR + DWI + ADC")):
        classes, truth, _, rng = head_phantom("stroke", seed=0)
        images = head_images(classes, truth, rng, sequences, stroke=True, adc_scale=scale)
        rows.append((f"synthetic stroke, whole head: {name}", images, truth, default_mask(images, SPACING, None), SPACING))
    return rows


def picture(images: dict[str, np.ndarray], lesion: np.ndarray, path: Path) -> None:
    """Axial FLAIR slices through the lesion with its outline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slices = np.nonzero(lesion.any(axis=(0, 1)))[0] if lesion.any() else np.array([lesion.shape[2] // 2])
    chosen = np.linspace(slices.min(), slices.max(), 4).round().astype(int)
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    for axis, k in zip(axes, chosen):
        axis.imshow(images["flair"][:, :, k].T, cmap="gray", origin="lower")
        if lesion[:, :, k].any():
            axis.contour(lesion[:, :, k].T, [0.5], colors="yellow", linewidths=1)
        axis.set_title(f"FLAIR, slice {k}")
        axis.axis("off")
    figure.suptitle(f"CPTAC-GBM lesson sample: Lesion (auto) {lesion.sum() * 1.0938 * 1.0938 * 5 / 1000:.1f} mL")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> None:
    """Run every configuration and write lesion_results.md."""
    lines = [
        "# Lesion finding on the development cases",
        "",
        "Command: `.venv/bin/python bench/quality/run_lesion.py` (lesion type auto; the mask the command line",
        "builds by default). Dice / HD95 against the reference's whole lesion (labels > 0); CSF taken: found voxels",
        "more than 2 mm from the reference and darker than normal tissue on FLAIR (peak - 2 spreads).",
        "",
        "| case | sequences | type decided | Dice | found mL | reference mL | HD95 mm | lesion-wise F1 | CSF taken mL | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    runs = []
    for case, roles, *rule in CONFIGURATIONS:
        folder, stems, reference, mask_stem = CASES[case]
        if not (DATA / folder).is_dir():
            lines.append(f"| {case} | {' + '.join(roles)} | (data not found) | | | | | | | |")
            continue
        images = {}
        for role in roles:
            images[role], spacing = read(folder, stems[role])
        truth = read(folder, reference)[0] > 0 if reference else None
        if rule:
            mask, name = default_mask(images, spacing, None, rule[0]), f"{case.split(' (')[0]} (no mask file: --mask {rule[0]})"
        else:
            mask, name = default_mask(images, spacing, read(folder, mask_stem)[0] if mask_stem else None), case
        runs.append((name, images, truth, mask, spacing))
    for name, images, truth, mask, spacing in runs + stroke_rows():
        start = time.perf_counter()
        result = find_lesion(images, mask, spacing, "auto")
        seconds = time.perf_counter() - start
        found_ml = result.mask.sum() * np.prod(spacing) / 1000
        csf = csf_taken_ml(result.mask, truth, images, mask, spacing) if "flair" in images else float("nan")
        cells = [name, " + ".join(images), result.lesion_type]
        if truth is None:
            cells += ["–", f"{found_ml:.1f}", "–", "–", "–"]
            picture(images, result.mask, HERE / "cptac_lesion.png")
        else:
            scores = evaluate(result.mask, truth, spacing)
            f1 = f"{lesion_wise_f1(result.mask, truth):.2f}" if name.startswith("MS") else "–"
            cells += [f"{scores['dice']:.3f}", f"{found_ml:.1f}", f"{truth.sum() * np.prod(spacing) / 1000:.1f}",
                      f"{scores['hausdorff95_mm']:.1f}", f1]
        cells += [f"{csf:.2f}" if csf == csf else "–", f"{seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
        print("   " + result.description.splitlines()[0], flush=True)
    lines += ["", "CPTAC picture: `cptac_lesion.png` (images: CPTAC-GBM, TCIA, CC BY; LearnToDiscover lesson, CC BY 4.0).", ""]
    (HERE / "lesion_results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'lesion_results.md'}")


if __name__ == "__main__":
    main()
