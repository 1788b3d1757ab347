"""MS lesion volume at both visits of the longitudinal patients, each visit on its own grid (a script, not a test).

The two visits of one patient are a year apart on other protocols (patient 01: 4 mm then 3 mm FLAIR slices;
patient 03: 0.57 then 0.72 mm pixels): what the rule finds should differ by about the expert's change, not by
the protocol. Raw whole-head scans read in place from ../shared/data (never copied), the mask > 0 in every input
(as ``run`` without --mask), ``find_lesion(..., "ms")``. The expert change mask's volume (new or enlarging and
shrinking or resolved, on the database's common grid) is the scale of a real difference. Writes
bench/quality/retest_results.md.

    .venv/bin/python bench/quality/run_retest.py
"""

from __future__ import annotations

import time

import numpy as np
from run_change import HERE, PATIENTS, folder  # it also puts UnsupervisedSegment on sys.path
from UnsupervisedSegmentLib.io.loading import load_inputs
from UnsupervisedSegmentLib.lesion.rule import find_lesion

SEQUENCE_SETS = (("FLAIR",), ("FLAIR", "T2W"))


def visit_lesion(patient: str, visit: int, sequences: tuple[str, ...]) -> tuple[float, str, float]:
    """Lesion mL at one visit on its own grid, the rule's note on the tissue model, seconds."""
    loaded = load_inputs([folder(patient) / f"study{visit}_{name}.nii.gz" for name in sequences],
                         [name.lower().rstrip("w") for name in sequences])
    images = {channel.name: np.nan_to_num(channel.data) for channel in loaded.channels}
    mask = np.all([image > 0 for image in images.values()], axis=0)
    spacing = loaded.channels[0].grid.spacing
    start = time.perf_counter()
    result = find_lesion(images, mask, spacing, "ms")
    seconds = time.perf_counter() - start
    note = next((line for line in result.description.splitlines() if line.startswith("MS:")), "")
    how = "tissue model" if "tissue model" in note else "no grey/white told apart"
    return float(result.mask.sum() * np.prod(spacing) / 1000), how, seconds


def expert_change_ml(patient: str) -> float:
    """The expert change mask's volume in mL."""
    import nibabel as nib

    image = nib.load(str(folder(patient) / "change_gt_common_space.nii.gz"))
    return float((np.asarray(image.dataobj) > 0).sum() * np.prod(image.header.get_zooms()[:3]) / 1000)


def main() -> None:
    lines = ["# MS lesion volume at both visits, each on its own grid (longitudinal patients 01 and 03)", "",
             "Command: `.venv/bin/python bench/quality/run_retest.py`. Raw whole-head scans, mask > 0 in every input,",
             "`find_lesion(..., \"ms\")`; the expert change mask's volume is the scale of a real difference.", "",
             "| patient | sequences | visit 1 mL | visit 2 mL | visit 2 / visit 1 | expert change mL "
             "| MS rule at visit 1 / 2 | s |",
             "|---|---|---|---|---|---|---|---|"]
    for patient in PATIENTS:
        if not folder(patient).is_dir():
            continue
        change_ml = expert_change_ml(patient)
        for sequences in SEQUENCE_SETS:
            runs = [visit_lesion(patient, visit, sequences) for visit in (1, 2)]
            (first, how1, s1), (second, how2, s2) = runs
            ratio = f"{second / first:.2f}" if first > 0 else "–"
            lines.append(f"| {patient} | {' + '.join(sequences)} | {first:.1f} | {second:.1f} | {ratio} | "
                         f"{change_ml:.1f} | {how1} / {how2} | {s1 + s2:.1f} |")
            print(lines[-1], flush=True)
    (HERE / "retest_results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'retest_results.md'}")


if __name__ == "__main__":
    main()
