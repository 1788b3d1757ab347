"""Batch throughput: cases per minute with 1 and 2 local Dask workers on 8 copies of the sample.

Run: .venv/bin/python bench/batch.py [--cases 8] [--workers 1 2]
Each case is the demo's run (GMM, k=3, T1/T1c/FLAIR/ADC, report included); every setting
starts from an empty output folder so nothing is reused.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from UnsupervisedSegmentLib.cohort.batch import run_batch
from UnsupervisedSegmentLib.cohort.manifest import read_manifest
from UnsupervisedSegmentLib.cohort.runner import RunRequest

SAMPLE = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
INPUTS = {"t1": "t1.nii.gz", "t1c": "t1_contrast.nii.gz", "flair": "flair.nii.gz", "adc": "adc.nii.gz"}


def write_manifest(folder: Path, cases: int) -> Path:
    """A manifest listing ``cases`` copies of the bundled sample."""
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["case_id", *INPUTS])
        for n in range(cases):
            writer.writerow([f"sample{n:02d}", *(SAMPLE / name for name in INPUTS.values())])
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    arguments = parser.parse_args()
    print(f"{os.cpu_count()} cores, {arguments.cases} copies of the bundled sample (GMM k=3, 4 inputs, report on)\n")
    print("| workers | seconds | cases per minute | speed-up |")
    print("|---|---|---|---|")
    baseline = None
    with tempfile.TemporaryDirectory() as scratch:
        cases = read_manifest(write_manifest(Path(scratch), arguments.cases))
        for workers in arguments.workers:
            started = time.perf_counter()
            rows = run_batch(cases, Path(scratch) / f"out{workers}", RunRequest(), workers=workers)
            seconds = time.perf_counter() - started
            assert all(row["status"] == "done" for row in rows)
            rate = 60 * len(rows) / seconds
            baseline = baseline or rate
            print(f"| {workers} | {seconds:.1f} | {rate:.1f} | {rate / baseline:.2f}x |")


if __name__ == "__main__":
    main()
