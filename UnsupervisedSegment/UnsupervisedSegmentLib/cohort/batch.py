"""Cohort batch mode: every case of a manifest segmented in parallel with Dask distributed.

A local Dask cluster of ``workers`` processes by default, or an existing cluster given by its
scheduler address. Each case is written into a hidden ``.partial-*`` folder and renamed to
``<output>/<case_id>`` only when complete, so a folder named after a case is always a
finished case: a re-run skips it (unless ``force``) and an interrupted run is resumed by
running the same command again. ``summary.csv`` is rewritten atomically after every case;
``review.html`` (see :mod:`review`) is written once all cases are finished.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ..change.visits import CHANGE_SEGMENTS, VisitComparison
from ..core.errors import UserInputError
from ..core.output_files import (
    CASE_RECORD_FILE,
    CHANGE_FILE,
    LABELS_FILE,
    LESIONS_TABLE,
    REGISTERED_FOLLOW_UP_FILE,
    REPORT_FILE,
    SEGMENTATION_FILE,
    STATISTICS_FILE,
    SUMMARY_FILE,
)
from ..core.palette import LESION_NAME
from ..pipeline.segmentation import SegmentationResult
from ..report.change_report import write_comparison_review
from ..report.thumbnail import write_case_review
from .manifest import Case
from .runner import RunRequest, compare_to_directory, run_to_directory

PARTIAL_PREFIX = ".partial-"
SUMMARY_COLUMNS = ["case_id", "status", "error", "k", "seconds", "run"]

Row = dict[str, object]


def expected_files(request: RunRequest, pair: bool = False) -> list[str]:
    """The files a complete case folder holds (``pair``: a comparison of two visits)."""
    if pair:
        return [CHANGE_FILE, SEGMENTATION_FILE, LESIONS_TABLE, REGISTERED_FOLLOW_UP_FILE, REPORT_FILE, CASE_RECORD_FILE]
    files = [LABELS_FILE, SEGMENTATION_FILE, STATISTICS_FILE, CASE_RECORD_FILE]
    return files + [REPORT_FILE] if request.report else files


def case_is_complete(case_dir: Path, request: RunRequest, pair: bool = False) -> bool:
    """True when ``case_dir`` holds every output of a finished case."""
    return all((case_dir / name).is_file() for name in expected_files(request, pair))


def process_case(case: Case, output_root: str | Path, request: RunRequest, force: bool = False, threads: int = 1) -> Row:
    """Segment one case into ``output_root/<case_id>`` (runs on a Dask worker); its summary row."""
    from threadpoolctl import threadpool_limits

    target = Path(output_root) / case.case_id
    if not force and case_is_complete(target, request, pair=bool(case.follow_up)):
        record = json.loads((target / CASE_RECORD_FILE).read_text())
        return {**record, "run": "reused"}
    staging = Path(output_root) / f"{PARTIAL_PREFIX}{case.case_id}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    try:
        with threadpool_limits(limits=threads):
            if case.follow_up:
                compared = compare_to_directory(case.inputs, case.follow_up, staging, case.names)
                write_comparison_review(compared.comparison, compared.notes, staging)
                record = pair_record(case, compared.comparison, time.perf_counter() - started)
            else:
                outcome = run_to_directory(case.inputs, staging, case_request(case, request),
                                           mask=str(case.mask) if case.mask else None)
                write_case_review(outcome.result, outcome.notes, staging)
                record = case_record(case, outcome.result, time.perf_counter() - started)
        (staging / CASE_RECORD_FILE).write_text(json.dumps(record, indent=1))
        _replace_dir(staging, target)
        return {**record, "run": "computed"}
    except UserInputError as error:
        return failed_row(case.case_id, str(error), time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - one broken case must not stop the cohort
        return failed_row(case.case_id, f"{type(error).__name__}: {error}".splitlines()[0], time.perf_counter() - started)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def case_request(case: Case, request: RunRequest) -> RunRequest:
    """The run request of one case: its input names and, when its manifest row gives one, its lesion type."""
    options = request.options
    if case.lesion_type:
        options = replace(options, lesion=True, lesion_type=case.lesion_type)
    return replace(request, names=case.names, options=options)


def case_record(case: Case, result: SegmentationResult, seconds: float) -> Row:
    """The summary row of a finished case (also stored as its case.json)."""
    row: Row = {"case_id": case.case_id, "status": "done", "error": "", "k": result.n_clusters,
                "seconds": round(seconds, 2)}
    for statistic in result.statistics:
        row[f"volume_ml_{statistic['segment']}"] = round(float(statistic["volume_ml"]), 4)
    if result.lesion is not None:
        row["lesion_volume_ml"] = row.get(f"volume_ml_{LESION_NAME}", 0.0)
        row["lesion_type"] = result.lesion_type
    return row


def pair_record(case: Case, comparison: VisitComparison, seconds: float) -> Row:
    """The summary row of a compared visit pair: the change volumes, the lesion volume at each visit and the
    number of lesions per change class."""
    row: Row = {"case_id": case.case_id, "status": "done", "error": "", "k": "", "seconds": round(seconds, 2)}
    for segment in CHANGE_SEGMENTS:
        row[f"volume_ml_{segment.name}"] = round(comparison.volume_ml(segment.label), 4)
    row["lesion_volume_ml"] = round(sum(lesion.follow_up_ml for lesion in comparison.lesions), 4)
    row["baseline_lesion_volume_ml"] = round(sum(lesion.baseline_ml for lesion in comparison.lesions), 4)
    for name, count in comparison.lesion_counts().items():
        row[f"lesions_{name}"] = count
    return row


def failed_row(case_id: str, message: str, seconds: float) -> Row:
    """The summary row of a case that could not be segmented."""
    return {"case_id": case_id, "status": "failed", "error": message, "k": "", "seconds": round(seconds, 2), "run": "computed"}


def _replace_dir(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, replacing an existing ``target`` as late as possible."""
    if target.exists():
        old = target.with_name(f"{PARTIAL_PREFIX}old-{target.name}-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def write_summary(rows: Sequence[Row], path: Path) -> None:
    """Write the summary CSV atomically (temporary file, then rename)."""
    extra = sorted({key for row in rows for key in row} - set(SUMMARY_COLUMNS))
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=SUMMARY_COLUMNS + extra, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


class ProgressDisplay:
    """Cases done / failed / remaining with elapsed time and an estimate; a plain line per case off a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.interactive = self.stream.isatty()

    def update(self, row: Row) -> None:
        """Count a finished case and show the new state."""
        if row["status"] == "failed":
            self.failed += 1
        else:
            self.done += 1
        if self.interactive:
            self.stream.write("\r" + self.bar())
            if self.done + self.failed == self.total:
                self.stream.write("\n")
        else:
            detail = f": {row['error']}" if row["status"] == "failed" else f" ({row['run']}, {row['seconds']} s)"
            self.stream.write(f"case {row['case_id']} {row['status']}{detail} [{self.done + self.failed}/{self.total}]\n")
        self.stream.flush()

    def bar(self, width: int = 30) -> str:
        """One terminal line: a bar, the counts, elapsed time and the estimate."""
        finished = self.done + self.failed
        elapsed = time.monotonic() - self.started
        remaining = self.total - finished
        estimate = elapsed / finished * remaining if finished else float("nan")
        filled = int(width * finished / self.total)
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done} done, {self.failed} failed, {remaining} remaining, "
                f"elapsed {_clock(elapsed)}, estimate {_clock(estimate)} ")


def _clock(seconds: float) -> str:
    """Seconds as h:mm:ss (``?`` when unknown)."""
    if seconds != seconds:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def clean_partials(output_root: Path) -> None:
    """Remove what interrupted runs left half-written."""
    for leftover in output_root.glob(f"{PARTIAL_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def run_batch(
    cases: Sequence[Case],
    output_root: str | Path,
    request: RunRequest = RunRequest(),
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    on_case: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Segment every case (see :func:`manifest.read_manifest`) into ``output_root``; summary rows in case order."""
    output_root = Path(output_root)
    output_root.mkdir(parents=True, exist_ok=True)
    clean_partials(output_root)
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UserInputError("the batch mode needs Dask: pip install 'unsupervised-segment[batch]'") from None
    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, len(cases)))
    # the workers' own log lines stay quiet (every case's error goes into the summary): a worker that loses the
    # scheduler while a batch is stopped would otherwise print a traceback after the one-line message
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None, silence_logs=logging.CRITICAL)
    try:
        client = Client(scheduler or cluster, timeout="30s")
    except OSError as error:
        raise UserInputError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    threads = max(1, cores // workers) if cluster else 1
    rows: dict[str, Row] = {}
    try:
        futures = {client.submit(process_case, case, str(output_root.resolve()), request, force, threads,
                                 key=f"case-{case.case_id}-{uuid.uuid4().hex[:8]}"): case for case in cases}
        for future in as_completed(futures):
            case = futures[future]
            try:
                row = future.result()
            except Exception as error:  # noqa: BLE001 - e.g. a killed worker: record it, go on
                row = failed_row(case.case_id, f"{type(error).__name__}: {error}".splitlines()[0], 0.0)
            rows[case.case_id] = row
            write_summary([rows[c.case_id] for c in cases if c.case_id in rows], output_root / SUMMARY_FILE)
            if on_case:
                on_case(row)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    from .review import build_review

    build_review(output_root)
    return [rows[case.case_id] for case in cases]
