"""Writing a run's outputs into a folder atomically: all files or none.

Every file is first written into a hidden temporary folder inside the output folder, then
renamed into place once all of them are complete; an error on the way removes the
temporary folder, leaving the output folder as it was.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..core.errors import UserInputError
from ..core.output_files import (
    LABELS_FILE,
    LESION_FILE,
    POSTERIORS_FILE,
    QUANTISED_FILE,
    REPORT_FILE,
    RUN_FILES,
    SEGMENTATION_FILE,
    STATISTICS_FILE,
)
from ..engine.statistics import statistics_columns
from ..io.image_files import write_nifti
from ..io.segfile import write_seg_nrrd
from ..pipeline.segmentation import SegmentationResult
from .planar import area_rows, is_planar, write_planar_pictures


@contextlib.contextmanager
def atomic_output_dir(directory: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success move its files into ``directory`` (removing the files of a
    previous run that this one does not write), else drop it. An OSError while writing (no space,
    file too large, permission denied, read-only) becomes a one-line UserInputError."""
    directory = Path(directory)
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unsupervised-segment-", dir=directory))
    except OSError as error:
        raise UserInputError(f"cannot write into output folder {directory}: {error.strerror}") from None
    try:
        yield staging
        with folder_lock(directory):  # another run into the same folder moves its files before or after, never between
            written = sorted(staging.iterdir())
            for stale in RUN_FILES - {path.name for path in written}:  # a previous run's file this run does not write
                (directory / stale).unlink(missing_ok=True)
            for path in written:
                os.replace(path, directory / path.name)
    except OSError as error:  # a full disk, a quota, a permission, a folder where a file should be
        where = directory / Path(error.filename).name if error.filename else directory  # the final path, not staging's
        raise UserInputError(f"cannot write {where}: "
                             f"{error.strerror or error}; free some space or choose another --output-dir "
                             "(nothing was written)") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


@contextlib.contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` (a POSIX advisory lock on the folder; none where there is no fcntl)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the moves are still one file at a time
        yield
        return
    handle = os.open(directory, os.O_RDONLY)  # the folder itself is locked: no lock file is left in it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def write_statistics_csv(rows: Sequence[dict[str, object]], columns: Sequence[str], path: str | Path) -> None:
    """Write the per-segment statistics as CSV with the given columns."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _format(value) for key, value in row.items()})


def _format(value: object) -> object:
    """Floats with enough digits, everything else as it is."""
    return f"{value:.6g}" if isinstance(value, float) else value


def write_outputs(
    result: SegmentationResult,
    directory: str | Path,
    *,
    report: bool = True,
    quantised: bool = False,
    extra: Callable[[SegmentationResult, Path], None] | None = None,
) -> list[Path]:
    """Write a result's files into ``directory`` atomically; return their final paths.

    ``extra(result, staging_dir)`` may add more files to the same atomic set.
    """
    planar = is_planar(result.grid)
    with atomic_output_dir(directory) as staging, ThreadPoolExecutor(max_workers=1) as writer:
        # the compressed volumes are written on a thread beside the rest (zlib releases the GIL)
        volumes = [writer.submit(write_label_files, result, staging)]
        if result.posteriors is not None:
            volumes.append(writer.submit(write_nifti, result.posteriors, result.grid, staging / POSTERIORS_FILE))
        if result.lesion is not None:
            volumes.append(writer.submit(write_nifti, result.lesion.astype(np.uint8), result.grid,
                                         staging / LESION_FILE))
        if quantised:
            volumes.append(writer.submit(lambda: write_nifti(_squeeze_channels(result.quantised), result.grid,
                                                             staging / QUANTISED_FILE)))
        if planar:  # photos and 2D slices: areas, and pictures a person can open
            rows = area_rows(result)
            write_statistics_csv(rows, list(rows[0]), staging / STATISTICS_FILE)
            write_planar_pictures(result, staging, quantised=quantised)
        else:
            write_statistics_csv(result.statistics, statistics_columns(result.channel_names), staging / STATISTICS_FILE)
        if report:  # the 2D picture report needs matplotlib: imported only here
            if planar:
                from .picture_report import save_picture_report as save_report
            else:
                from .diagnostics import save_report
            save_report(result, staging / REPORT_FILE)
        if extra is not None:
            extra(result, staging)
        for volume in volumes:
            volume.result()  # the writer's error, if any, is raised here
        names = sorted(path.name for path in staging.iterdir())
    return [Path(directory) / name for name in names]


def write_label_files(result: SegmentationResult, directory: Path) -> None:
    """labels.nii.gz and segmentation.seg.nrrd."""
    write_nifti(result.labels, result.grid, directory / LABELS_FILE)
    write_seg_nrrd(result.labels, result.grid, result.segments, directory / SEGMENTATION_FILE)


def _squeeze_channels(volume: np.ndarray) -> np.ndarray:
    """A one-channel (i, j, k, 1) volume as (i, j, k)."""
    return volume[..., 0] if volume.shape[-1] == 1 else volume
