"""The files of a comparison of two visits, written atomically into one folder."""

from __future__ import annotations

from pathlib import Path

from ..change.visits import CHANGE_SEGMENTS, LESION_COLUMNS, VisitComparison, lesion_rows
from ..core.output_files import CHANGE_FILE, LESIONS_TABLE, REGISTERED_FOLLOW_UP_FILE, REPORT_FILE, SEGMENTATION_FILE
from ..io.image_files import write_nifti
from ..io.segfile import write_seg_nrrd
from .change_report import save_change_report
from .outputs import atomic_output_dir, write_statistics_csv


def write_comparison(comparison: VisitComparison, directory: str | Path) -> list[Path]:
    """change.nii.gz, segmentation.seg.nrrd, lesions.csv, report.png and registered_follow_up.nii.gz; their paths."""
    with atomic_output_dir(directory) as staging:
        write_nifti(comparison.change, comparison.grid, staging / CHANGE_FILE)
        write_seg_nrrd(comparison.labels, comparison.grid, CHANGE_SEGMENTS, staging / SEGMENTATION_FILE)
        write_statistics_csv(lesion_rows(comparison), LESION_COLUMNS, staging / LESIONS_TABLE)
        write_nifti(comparison.registered_follow_up.data, comparison.grid, staging / REGISTERED_FOLLOW_UP_FILE)
        save_change_report(comparison, staging / REPORT_FILE)
        names = sorted(path.name for path in staging.iterdir())
    return [Path(directory) / name for name in names]
