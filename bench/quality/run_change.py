"""Lesion-change benchmark (a script, not a test): both longitudinal MS patients, each sequence set.

Runs ``compare`` (UnsupervisedSegmentLib.change.visits.compare_visits: our own rigid registration)
on the raw scans of the two visits, read in place from ../shared/data (never copied), maps the change
map from the baseline FLAIR grid onto the database's common grid with its transform
(study1_FLAIR_to_common_space.txt) and scores it against the expert change mask (new or enlarging AND
shrinking or resolved lesions). Beside it, the plain baseline the issue names: the difference of the two
visits' robust-z FLAIR (median, MAD of the brain) after the same registration, one fixed threshold.
Then what each change parameter does on both patients. Writes bench/quality/change_results.md.

    .venv/bin/python bench/quality/run_change.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "UnsupervisedSegment"))

from sweep import one_at_a_time  # noqa: E402
from UnsupervisedSegmentLib.change import detection  # noqa: E402
from UnsupervisedSegmentLib.change.visits import VisitComparison, brain_of, compare_visits  # noqa: E402
from UnsupervisedSegmentLib.core.grid import to_itk_image  # noqa: E402
from UnsupervisedSegmentLib.io.loading import load_inputs  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
HERE = Path(__file__).resolve().parent
PATIENTS = ("01", "03")
SEQUENCE_SETS = (("FLAIR",), ("FLAIR", "T2W"), ("FLAIR", "T1W", "T2W"))
PLAIN_Z = 2.0
FULL = np.ones((3, 3, 3), bool)
#: (parameter, values) tried one at a time, the others at their defaults.
PARAMETERS = (("CHANGE_NOISE_SDS", (4.0, 6.0, 8.0)), ("MIN_CHANGE_Z", (0.5, 1.0, 1.5)), ("LESION_Z", (0.5, 1.0, 2.0)),
              ("EDGE_Z", (0.0, 0.5, 1.0)),
              ("CHANGE_RIM_MM", (0.5, 1.5, 3.0)), ("SEED_MARGIN", (0.0, 0.25, 0.5)),
              ("SMOOTH_MM", (0.0, 0.7, 1.5)), ("NEIGHBOUR_MM", (0.0, 2.5)), ("SLICEWISE", (False, True)))


def folder(patient: str) -> Path:
    return DATA / f"open-ms-longitudinal-patient{patient}"


def visits(patient: str, sequences: tuple[str, ...]):
    """Both visits' channels, the sequences both visits have."""
    names = [s for s in sequences if all((folder(patient) / f"study{v}_{s}.nii.gz").exists() for v in (1, 2))]
    labels = [s.lower().rstrip("w") for s in names]
    return [load_inputs([folder(patient) / f"study{v}_{s}.nii.gz" for s in names], labels).channels for v in (1, 2)]


def on_common_grid(change: np.ndarray, comparison: VisitComparison, patient: str) -> tuple[np.ndarray, np.ndarray]:
    """(our change > 0, the expert change mask) on the database's common grid."""
    expert = sitk.ReadImage(str(folder(patient) / "change_gt_common_space.nii.gz"))
    transform = sitk.ReadTransform(str(folder(patient) / "study1_FLAIR_to_common_space.txt"))
    ours = sitk.Resample(to_itk_image(change.astype(np.uint8), comparison.grid), expert, transform, sitk.sitkNearestNeighbor)
    return sitk.GetArrayFromImage(ours) > 0, sitk.GetArrayFromImage(expert) > 0


def scores(found: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, lesions of the expert mask touched / all, found lesions touching none, volume error."""
    parts, n = ndimage.label(truth, FULL)
    hit = len(set(np.unique(parts[found])) - {0})
    ours, m = ndimage.label(found, FULL)
    false = len(set(range(1, m + 1)) - set(np.unique(ours[truth])))
    return {"dice": 2 * (found & truth).sum() / max(1, found.sum() + truth.sum()), "hit": hit, "lesions": n,
            "false": false, "volume_error": (found.sum() - truth.sum()) / max(1, truth.sum())}


def plain_difference(comparison: VisitComparison, baseline) -> np.ndarray:
    """|robust z(follow-up) - robust z(baseline)| > PLAIN_Z in the baseline's brain (FLAIR, after our registration)."""
    brain = brain_of(baseline)

    def robust_z(values: np.ndarray) -> np.ndarray:
        median = np.median(values[brain])
        mad = np.median(np.abs(values[brain] - median)) * 1.4826
        return (values - median) / mad

    difference = robust_z(np.asarray(comparison.registered_follow_up.data)) - robust_z(np.asarray(baseline[0].data))
    return brain & (np.abs(difference) > PLAIN_Z)


def row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def formatted(patient: str, label: str, s: dict[str, float], seconds: float | str) -> str:
    return row([patient, label, f"{s['dice']:.3f}", f"{s['hit']}/{s['lesions']}", s["false"],
                f"{s['volume_error']:+.0%}", seconds])


def main() -> None:
    lines = ["# Lesion change between two visits (longitudinal MS patients 01 and 03)", "",
             "Command: `.venv/bin/python bench/quality/run_change.py`. Our own rigid registration of the raw scans;",
             "the change map mapped onto the database's common grid with its transform and scored against the expert",
             "change mask (both new/enlarging and shrinking/resolved). Lesions found: expert lesions touched; false:",
             "our change components touching no expert lesion; volume error: (ours - expert) / expert.", "",
             "| patient | method | Dice | expert lesions found | false lesions | volume error | s |",
             "|---|---|---|---|---|---|---|"]
    means: dict[str, list[float]] = {}
    cache = {}
    for sequences in SEQUENCE_SETS:
        for patient in PATIENTS:
            baseline, follow_up = visits(patient, sequences)
            start = time.perf_counter()
            comparison = compare_visits(baseline, follow_up)
            seconds = time.perf_counter() - start
            label = "compare, " + " + ".join(c.name for c in baseline)
            result = scores(*on_common_grid(comparison.change > 0, comparison, patient))
            means.setdefault(" + ".join(sequences), []).append(result["dice"])
            lines.append(formatted(patient, label, result, f"{seconds:.1f}"))
            print(lines[-1], flush=True)
            if sequences == ("FLAIR",):
                cache[patient] = (baseline, follow_up)
                plain = scores(*on_common_grid(plain_difference(comparison, baseline), comparison, patient))
                lines.append(formatted(patient, f"plain robust-z FLAIR difference > {PLAIN_Z:g}", plain, "–"))
                means.setdefault("plain", []).append(plain["dice"])
                print(lines[-1], flush=True)
    lines += ["", "Mean Dice over both patients: " + "; ".join(f"{k} {np.mean(v):.3f}" for k, v in means.items()), "",
              "## What each parameter does (FLAIR alone; the others at their defaults)", "",
              "| parameter | value | Dice 01 | Dice 03 | mean | lesions found 01 / 03 | false lesions 01 / 03 |",
              "|---|---|---|---|---|---|---|"]
    for name, value, default in one_at_a_time(detection, PARAMETERS):
        results = []
        for patient in PATIENTS:
            comparison = compare_visits(*cache[patient])
            results.append(scores(*on_common_grid(comparison.change > 0, comparison, patient)))
        lines.append(row([name, f"{value}{' (default)' if default else ''}", *(f"{r['dice']:.3f}" for r in results),
                          f"{np.mean([r['dice'] for r in results]):.3f}",
                          " / ".join(f"{r['hit']}/{r['lesions']}" for r in results),
                          " / ".join(str(r["false"]) for r in results)]))
        print(lines[-1], flush=True)
    (HERE / "change_results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'change_results.md'}")


if __name__ == "__main__":
    main()
