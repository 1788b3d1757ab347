"""One segmentation run from files to an output folder: what `run` and each batch case do."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import UserInputError
from ..core.options import SegmentationOptions
from ..io.loading import load_inputs

if TYPE_CHECKING:  # the engine (scikit-learn) is imported once the inputs have been read
    from ..change.visits import VisitComparison
    from ..pipeline.segmentation import Progress, SegmentationResult


@dataclass
class RunOutcome:
    """A finished run: the result, the files written, and notes and warnings for the user."""

    result: SegmentationResult
    written: list[Path]
    notes: list[str]


@dataclass(frozen=True)
class RunRequest:
    """Everything a run needs besides its input files and output folder."""

    options: SegmentationOptions = SegmentationOptions()
    names: Sequence[str] | None = None
    report: bool = True
    quantised: bool = False
    preview: bool = False
    series: Sequence[str] = ()


def render_preview_files(result: SegmentationResult, directory: Path) -> None:
    """Render preview_3d.png and preview_axial.png with Slicer's display code (needs slicer-core)."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        from ..mrml.preview import render_previews
    except ImportError:
        raise UserInputError("--preview needs Slicer's MRML library: pip install 'unsupervised-segment[preview]'") from None
    render_previews(result, directory, background=result.channels[0])


def run_to_directory(
    inputs: Sequence[str | Path], output_dir: str | Path, request: RunRequest = RunRequest(), mask: str | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Read ``inputs``, segment them and write every output into ``output_dir`` atomically.

    ``mask`` (a rule name or a mask file) overrides ``request.options.mask`` when given.
    """
    report = progress or (lambda message: None)
    report(f"reading {len(inputs)} input(s)")
    with ThreadPoolExecutor(max_workers=1) as reader:  # decompression releases the GIL: meanwhile, import the rest
        reading = reader.submit(load_inputs, inputs, request.names, mask or request.options.mask, request.series)
        from ..pipeline.segmentation import segment_channels
        from ..report.outputs import write_outputs
        if request.report:
            importlib.import_module("..report.diagnostics", __package__)
        loaded = reading.result()
    result = segment_channels(loaded.channels, request.options, loaded.mask, progress=report)
    report(f"writing outputs to {output_dir}")
    written = write_outputs(result, output_dir, report=request.report, quantised=request.quantised,
                            extra=render_preview_files if request.preview else None)
    notes = [f"note: {message}" for message in loaded.messages + result.notes] + [f"warning: {w}" for w in result.warnings]
    return RunOutcome(result, written, notes)


@dataclass
class ComparisonOutcome:
    """A finished comparison of two visits: the result, the files written, and notes for the user."""

    comparison: VisitComparison
    written: list[Path]
    notes: list[str]


def compare_to_directory(baseline: Sequence[str | Path], follow_up: Sequence[str | Path], output_dir: str | Path,
                         names: Sequence[str] | None = None, progress: Progress | None = None) -> ComparisonOutcome:
    """Read both visits (each onto its first input's grid), compare them and write the outputs atomically."""
    from ..change.visits import compare_visits
    from ..report.change_outputs import write_comparison

    report = progress or (lambda message: None)
    if len(baseline) != len(follow_up):
        raise UserInputError(f"--baseline gives {len(baseline)} inputs and --follow-up {len(follow_up)}; "
                             "give the same sequences for both visits")
    report(f"reading {len(baseline)} input(s) per visit")
    visits = [load_inputs(paths, names) for paths in (baseline, follow_up)]
    report("registering the follow-up onto the baseline and comparing")
    comparison = compare_visits(visits[0].channels, visits[1].channels)
    report(f"writing outputs to {output_dir}")
    written = write_comparison(comparison, output_dir)
    messages = [f"baseline: {m}" for m in visits[0].messages] + [f"follow-up: {m}" for m in visits[1].messages]
    return ComparisonOutcome(comparison, written, [f"note: {message}" for message in messages + comparison.notes])
