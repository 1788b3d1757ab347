"""The ``unsupervised-segment`` command line: segment image files headlessly.

A user's mistake ends with one line on stderr and exit status 2; progress goes to stderr,
results (mask size, per-segment table) to stdout.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .core.errors import UserInputError
from .core.option_checks import MAX_CLUSTERS, check_names, check_options
from .core.options import (
    COVARIANCE_TYPES,
    DENOISE_METHODS,
    ENGINES,
    LESION_PRESET,
    LESION_TYPES,
    METHODS,
    NEIGHBOURHOODS,
    SCALINGS,
    SegmentationOptions,
)

if TYPE_CHECKING:  # the engine is imported only once the request has passed its checks
    from .cohort.runner import RunRequest
    from .pipeline.segmentation import SegmentationResult

PROGRAM = "unsupervised-segment"
log = logging.getLogger(PROGRAM)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit status 2) like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROGRAM}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = OneLineArgumentParser(prog=PROGRAM, description="Unsupervised (GMM / k-means) segmentation of medical images.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="segment co-registered images", description="Cluster the masked voxels of co-registered images into segments.")
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="image files (NIfTI, NRRD, MHA, PNG, JPEG, TIFF, BMP) or folders of DICOM files; the first sets the output grid")
    run.add_argument("--series", nargs="+", default=(), metavar="UID",
                     help="Series Instance UIDs to read from DICOM folders holding several series "
                          "(a folder given twice takes its listed series in order)")
    run.add_argument("--output-dir", required=True, metavar="DIR", help="folder for the outputs (created if missing)")
    add_segmentation_options(run)
    run.add_argument("--quantised", action="store_true", help="also write quantised.nii.gz: every voxel set to its cluster's mean intensity")
    run.add_argument("--no-report", dest="report", action="store_false", help="skip the report.png figure")
    run.add_argument("--preview", action="store_true",
                     help="also render preview_3d.png and preview_axial.png with Slicer's segmentation display code (offscreen)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    batch = commands.add_parser("batch", help="segment every case of a cohort manifest in parallel (Dask)",
                                description="Segment every case of a manifest CSV (case_id, one column per input, optional mask) "
                                            "with a local Dask cluster or an existing one.")
    batch.add_argument("manifest", metavar="MANIFEST", help="CSV: case_id, one column per input (its name), optional mask; paths relative to the CSV")
    batch.add_argument("--output-dir", required=True, metavar="DIR", help="one folder per case plus summary.csv")
    add_segmentation_options(batch)
    batch.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: the number of cores)")
    batch.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="submit to an existing Dask scheduler instead of a local cluster")
    batch.add_argument("--force", action="store_true", help="recompute cases whose outputs are already complete")
    batch.add_argument("--quantised", action="store_true", help="also write quantised.nii.gz per case")
    batch.add_argument("--no-report", dest="report", action="store_false", help="skip report.png per case")
    batch.add_argument("--preview", action="store_true", help="also render preview_3d.png and preview_axial.png per case (shown in review.html)")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    compare = commands.add_parser("compare", help="lesion change between two visits (new, enlarging, shrinking)",
                                  description="Register the follow-up onto the baseline and find the lesion voxels that "
                                              "appeared, grew, shrank or resolved (MS follow-up). FLAIR alone works; "
                                              "FLAIR with T1 and T2 is better.")
    compare.add_argument("--baseline", nargs="+", required=True, metavar="FILE",
                         help="the first visit's images; its first input is the output grid")
    compare.add_argument("--follow-up", nargs="+", required=True, metavar="FILE",
                         help="the later visit's images, the same sequences in the same order")
    compare.add_argument("--names", nargs="+", metavar="NAME",
                         help="one name per sequence (e.g. flair t1 t2), the same for both visits; default: the file names")
    compare.add_argument("--output-dir", required=True, metavar="DIR", help="folder for the outputs (created if missing)")
    compare.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    review = commands.add_parser("review", help="(re)build review.html of a batch output folder",
                                 description="Write DIR/review.html: one row per case of DIR/summary.csv, to check every case by eye.")
    review.add_argument("output_dir", metavar="DIR", help="the --output-dir of a batch run")
    evaluate = commands.add_parser("evaluate", help="compare a segmentation with a reference",
                                   description="Dice, Jaccard, volume difference (mL) and 95% Hausdorff distance (mm) "
                                               "of PRED against REF (voxels > 0, or the given labels).")
    evaluate.add_argument("prediction", metavar="PRED", help="label map or binary mask (e.g. lesion.nii.gz)")
    evaluate.add_argument("reference", metavar="REF", help="reference segmentation on an overlapping grid")
    evaluate.add_argument("--pred-label", type=int, nargs="+", metavar="L", help="labels of PRED that count (default: all > 0)")
    evaluate.add_argument("--ref-label", type=int, nargs="+", metavar="L", help="labels of REF that count (default: all > 0)")
    return parser


def add_segmentation_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by every command that segments."""
    defaults = SegmentationOptions()
    parser.add_argument("--method", choices=METHODS, default=defaults.method, help="clustering method (default: %(default)s)")
    parser.add_argument("-k", "--clusters", type=clusters_argument, metavar="N|auto",
                        help=f"number of clusters (2 to {MAX_CLUSTERS}), or auto: the lowest BIC in --k-range (GMM) "
                             f"(default: {defaults.n_clusters}; {LESION_PRESET['clusters']} with --lesion)")
    parser.add_argument("--k-range", type=int, nargs=2, default=(2, 6), metavar=("MIN", "MAX"),
                        help=f"numbers of clusters tried by -k auto, within 2..{MAX_CLUSTERS} (default: 2 6)")
    parser.add_argument("--mask", default=defaults.mask, metavar="nonzero|otsu|none|PATH",
                        help="voxels to cluster: > 0 in every input, above Otsu's threshold of the first input, all, or > 0 in a mask file or DICOM folder (default: %(default)s)")
    parser.add_argument("--scaling", choices=SCALINGS, default=defaults.scaling, help="per-input feature scaling (default: %(default)s)")
    parser.add_argument("--covariance", choices=COVARIANCE_TYPES, default=defaults.covariance_type, help="GMM covariance type (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--engine", choices=ENGINES, default=defaults.engine, help="clustering engine (default: %(default)s)")
    parser.add_argument("--names", nargs="+", metavar="NAME", help="one name per input (default: the file names)")
    parser.add_argument("--posteriors", action="store_true",
                        help="also write posteriors.nii.gz, one probability map per cluster (GMM, or any method with --mrf-beta)")
    parser.add_argument("--bias-correction", action="store_true", help="remove each input's bias field (N4) before clustering")
    parser.add_argument("--denoise", choices=("none", *DENOISE_METHODS), default=defaults.denoise,
                        help="denoise each input before clustering (default: %(default)s)")
    parser.add_argument("--mrf-beta", type=float, metavar="BETA",
                        help=f"strength of the spatial (Potts MRF) prior, >= 0; 0 = voxel by voxel "
                             f"(default: {defaults.mrf_beta:g}; {LESION_PRESET['mrf_beta']:g} with --lesion)")
    parser.add_argument("--mrf-neighbourhood", type=int, choices=NEIGHBOURHOODS, default=defaults.mrf_neighbourhood,
                        help="MRF neighbours per voxel (default: %(default)s)")
    parser.add_argument("--tissue", action="store_true",
                        help="brain tissue classes instead of clusters: CSF, Grey matter, White matter (partial volume, bias field, "
                             "MRF), from an input named t1 (or t1c, t2, flair); the mask must be the brain; --posteriors: the tissue fractions")
    parser.add_argument("--lesion", action="store_true",
                        help="find the lesion automatically (needs --names such as flair, t2, t1, dwi, adc): lesion.nii.gz and a 'Lesion' segment")
    parser.add_argument("--lesion-type", choices=LESION_TYPES, metavar="{" + ",".join(LESION_TYPES) + "}",
                        help="kind of lesion to find (implies --lesion; default: auto, decided from the images and reported)")


#: Size columns of the printed table, where the statistics have them: key, header, format.
SIZE_COLUMNS = (("voxels", "voxels", "{}"), ("volume_ml", "mL", "{:.2f}"), ("pixels", "pixels", "{}"),
                ("area_mm2", "mm²", "{:.1f}"))


def format_table(result: SegmentationResult, statistics: Sequence[dict[str, object]]) -> str:
    """Per-segment ``statistics`` (volumes, or areas of a 2D result) as an aligned plain-text table."""
    sizes = [(key, header, style) for key, header, style in SIZE_COLUMNS if key in statistics[0]]
    headers = ["segment", "label"] + [header for _, header, _ in sizes] + [f"mean {name}" for name in result.channel_names]
    rows = [
        [str(row["segment"]), str(row["label"])] + [style.format(row[key]) for key, _, style in sizes]
        + [f"{row[f'mean_{name}']:.1f}" for name in result.channel_names]
        for row in statistics
    ]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in [headers, *rows])


def clusters_argument(value: str) -> int | str:
    """-k: a number of clusters or the word auto."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, not {value!r}") from None


def options_from_arguments(arguments: argparse.Namespace) -> SegmentationOptions:
    """SegmentationOptions from parsed command-line arguments (with --lesion or --lesion-type, the lesion
    preset fills what is not given)."""
    lesion = arguments.lesion or arguments.lesion_type is not None
    preset = LESION_PRESET if lesion and not arguments.tissue else {}
    clusters = arguments.clusters if arguments.clusters is not None else preset.get("clusters", SegmentationOptions.n_clusters)
    return SegmentationOptions(
        method=arguments.method,
        n_clusters=clusters if isinstance(clusters, int) else SegmentationOptions.n_clusters,
        auto_clusters=tuple(arguments.k_range) if clusters == "auto" else None,
        mask=arguments.mask,
        scaling=arguments.scaling,
        covariance_type=arguments.covariance,
        seed=arguments.seed,
        engine=arguments.engine,
        posteriors=arguments.posteriors,
        bias_correction=arguments.bias_correction,
        denoise=arguments.denoise,
        mrf_beta=arguments.mrf_beta if arguments.mrf_beta is not None else preset.get("mrf_beta", 0.0),
        mrf_neighbourhood=arguments.mrf_neighbourhood,
        lesion=lesion,
        lesion_type=arguments.lesion_type or SegmentationOptions.lesion_type,
        tissue=arguments.tissue,
    )


def request_from_arguments(arguments: argparse.Namespace) -> RunRequest:
    """RunRequest from parsed command-line arguments."""
    from .cohort.runner import RunRequest

    return RunRequest(
        options=options_from_arguments(arguments),
        names=arguments.names,
        report=arguments.report,
        quantised=arguments.quantised,
        preview=getattr(arguments, "preview", False),
        series=getattr(arguments, "series", ()),
    )


def command_run(arguments: argparse.Namespace) -> None:
    """Segment the inputs and write the outputs."""
    from .cohort.runner import run_to_directory
    from .report.planar import area_rows, is_planar, pixel_area_mm2

    outcome = run_to_directory(arguments.inputs, arguments.output_dir, request_from_arguments(arguments), progress=log.info)
    for note in outcome.notes:
        log.warning(note)
    result = outcome.result
    if is_planar(result.grid):
        area = pixel_area_mm2(result)
        size = f"{' x '.join(f'{s:.3g}' for s in result.grid.spacing[:2])} mm" if area else "no physical size"
        print(f"picture: {result.grid.shape[0]}x{result.grid.shape[1]} pixels ({size})")
        print(f"mask: {result.mask_voxels} pixels" + (f" ({result.mask_voxels * area:.1f} mm²)" if area else ""))
        print(format_table(result, area_rows(result)))
    else:
        shape = "x".join(str(n) for n in result.grid.shape)
        print(f"grid: {shape} voxels of {' x '.join(f'{s:.3g}' for s in result.grid.spacing)} mm")
        print(f"mask: {result.mask_voxels} voxels ({result.mask_voxels * result.grid.voxel_volume_mm3 / 1000:.1f} mL)")
        print(format_table(result, result.statistics))
    print("wrote: " + ", ".join(path.name for path in outcome.written))


def command_batch(arguments: argparse.Namespace) -> int:
    """Segment every case of the manifest; exit status 1 when a case failed."""
    from .cohort.batch import ProgressDisplay, run_batch
    from .cohort.manifest import read_manifest

    if arguments.names:
        raise UserInputError("--names does not apply to batch: the manifest's column names name the inputs")
    cases = read_manifest(arguments.manifest)
    display = None if arguments.quiet else ProgressDisplay(len(cases))
    rows = run_batch(cases, arguments.output_dir, request_from_arguments(arguments), workers=arguments.workers,
                     scheduler=arguments.scheduler, force=arguments.force, on_case=display.update if display else None)
    failed = sum(row["status"] == "failed" for row in rows)
    print(f"{len(rows) - failed} of {len(rows)} cases done, {failed} failed; summary: {Path(arguments.output_dir) / 'summary.csv'}, "
          f"review: {Path(arguments.output_dir) / 'review.html'}")
    return 1 if failed else 0


def command_compare(arguments: argparse.Namespace) -> None:
    """Compare two visits and print the lesion table's totals."""
    from .change.visits import lesion_rows
    from .cohort.runner import compare_to_directory

    check_names(arguments.names)
    outcome = compare_to_directory(arguments.baseline, arguments.follow_up, arguments.output_dir, arguments.names,
                                   progress=log.info)
    for note in outcome.notes:
        log.warning(note)
    total = lesion_rows(outcome.comparison)[-1]
    print(f"lesions: {total['baseline_ml']:.2f} mL at baseline, {total['follow_up_ml']:.2f} mL at follow-up; "
          f"{total['new_or_enlarging_ml']:.2f} mL new or enlarging, {total['shrinking_or_resolved_ml']:.2f} mL "
          f"shrinking or resolved ({total['change']})")
    print("wrote: " + ", ".join(path.name for path in outcome.written))


def command_evaluate(arguments: argparse.Namespace) -> None:
    """Print the overlap and distance measures of PRED against REF."""
    from .report.evaluation import compare_files

    measures = compare_files(arguments.prediction, arguments.reference, arguments.pred_label, arguments.ref_label)
    for name, value in measures.items():
        print(f"{name}: {value:.4g}")


def configure_logging(quiet: bool) -> None:
    """Progress and warnings as plain lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("nibabel").setLevel(logging.ERROR)  # header repairs of damaged files: the error line says enough


class Terminated(BaseException):
    """SIGTERM (what a scheduler or ``kill`` sends): unwinds like Ctrl-C, so nothing is left half-written."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status (0, 1: a batch case failed, 2: a user's
    mistake or an OS error, 130: Ctrl-C, 143: SIGTERM)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    arguments = build_parser().parse_args(argv)
    configure_logging(quiet=getattr(arguments, "quiet", False))
    try:
        if arguments.command in ("run", "batch"):  # before any file is read
            check_options(options_from_arguments(arguments))
            check_names(arguments.names)
        if getattr(arguments, "workers", None) is not None and arguments.workers < 1:
            raise UserInputError(f"--workers must be at least 1, not {arguments.workers}")
        if arguments.command == "batch":
            return command_batch(arguments)
        if arguments.command == "review":
            from .cohort.review import build_review

            print(f"wrote {build_review(arguments.output_dir)}")
        elif arguments.command == "evaluate":
            command_evaluate(arguments)
        elif arguments.command == "compare":
            command_compare(arguments)
        else:
            command_run(arguments)
    except UserInputError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; run the same command again to finish what is left", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{PROGRAM}: terminated; nothing half-written was left; run the same command again to finish what is left",
              file=sys.stderr)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
