"""End-to-end benchmark: what the user waits for, fast engine against scikit-learn (a script, not a test).

Side by side, from one driver process, on one machine:

* ``run``: the command line in a fresh interpreter (start-up and imports included), default outputs
  (labels, .seg.nrrd, statistics, report.png), GMM k = 4: wall time, time per stage (from the
  progress messages as they arrive) and peak resident memory (``/usr/bin/time``), fast vs
  ``--engine sklearn``.
* Apply: ``mrml_logic.segment_volume_nodes`` on ``HeadlessSlicer`` volume nodes (segments, closed
  surfaces, table), in this process (as in a running Slicer: imports already done); the 3D check
  is that every segment has a non-empty closed surface.
* ``run --lesion`` (k = 6 + MRF, lesion cleaning), fresh interpreter, fast vs sklearn.
* Stability: fast-engine labels for seeds 7 and 8 (ARI), scikit-learn's for comparison, and the
  mean log-likelihood of the mixture refitted from each labelling (one M-step from the labels).

Cases: ``../shared/data/tcga-du-7294`` (four raw sequences, 240×240×155) and the BRATS-size phantom of
``bench/engine.py`` written as four NIfTI files. Each action runs once untimed (warm-up), then
REPEATS times; the median is reported. Ratios, not seconds, are the result: the machine is shared.

    .venv/bin/python bench/end_to_end.py                                   # everything
    .venv/bin/python bench/end_to_end.py --cases tcga --sections run apply # a part
    .venv/bin/python bench/end_to_end.py --output bench/end_to_end_results.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "UnsupervisedSegment"), str(ROOT / "bench")]

from engine import PHANTOM_SHAPE, phantom, phantom_mask  # noqa: E402
from UnsupervisedSegmentLib.engine.fast_gmm import FastGaussianMixture  # noqa: E402
from UnsupervisedSegmentLib.engine.features import feature_matrix  # noqa: E402
from UnsupervisedSegmentLib.engine.masking import build_mask  # noqa: E402
from UnsupervisedSegmentLib.io.loading import load_inputs  # noqa: E402

CASE_DIR = ROOT.parent / "shared" / "data" / "tcga-du-7294"
#: Channel name -> file stem of the TCGA case.
CASE_FILES = {"flair": "fla", "t1": "t1", "t1c": "t1c", "t2": "t2"}
CLUSTERS = 4
SEEDS = (7, 8)
#: Progress message prefix -> the stage it starts.
STAGES = {"reading": "read+mask", "mask": "features", "clustering": "cluster+stats", "spatial": "MRF",
          "finding": "lesion", "writing": "write"}
GOALS = {"run": 10.0, "apply": 8.0, "lesion": 5.0}


@dataclass
class Timing:
    """Wall seconds, seconds per stage, peak resident memory (MB) of one measured action."""

    seconds: float
    stages: dict[str, float] = field(default_factory=dict)
    peak_mb: float = float("nan")
    note: str = ""


def stage_times(stamps: list[tuple[float, str]], end: float, start_name: str = "start-up") -> dict[str, float]:
    """Seconds per stage from (time, message) stamps: each stage runs from its message to the next."""
    names = [start_name] + [STAGES.get(message.split()[0].rstrip(":"), message.split()[0]) for _, message in stamps]
    times = [0.0] + [t for t, _ in stamps] + [end]
    stages: dict[str, float] = {}
    for name, begin, finish in zip(names, times, times[1:]):
        stages[name] = stages.get(name, 0.0) + finish - begin
    return stages


def run_cli(arguments: list[str]) -> Timing:
    """The command line in a fresh interpreter: wall time, stages, peak RSS."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "UnsupervisedSegment"))
    # the warm-up writes the package's bytecode cache, as an installed package or Slicer extension has
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    # /usr/bin/time reports the run's own peak: wait4 on a child forked from this (large) process
    # would report this process's memory, which the child holds between fork and exec
    memory_file = tempfile.NamedTemporaryFile(suffix=".rss", delete=False)
    memory_file.close()
    start = time.perf_counter()
    process = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", memory_file.name, sys.executable, "-m",
                                "UnsupervisedSegmentLib.cli", *arguments], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
    stamps, errors = [], []
    for line in process.stderr:
        if line.split() and line.split()[0].rstrip(":") in STAGES:
            stamps.append((time.perf_counter() - start, line.strip()))
        else:
            errors.append(line.rstrip())
    process.wait()
    end = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"run failed ({process.returncode}): {' '.join(arguments)}\n" + "\n".join(errors[-5:]))
    peak_kb = float(Path(memory_file.name).read_text().split()[-1])
    os.unlink(memory_file.name)
    return Timing(end, stage_times(stamps, end), peak_kb / 1024)


def cli_arguments(paths: dict[str, Path], output: Path, engine: str, extra: list[str]) -> list[str]:
    """``run`` arguments for the named inputs."""
    return ["run", *map(str, paths.values()), "--names", *paths, "--engine", engine, "--output-dir", str(output), *extra]


def apply_in_slicer(paths: dict[str, Path], engine: str, seed: int = 123) -> Timing:
    """Apply through the MRML logic on freshly loaded volume nodes; checks every segment's closed surface."""
    from UnsupervisedSegmentLib.mrml.headless import HeadlessSlicer
    from UnsupervisedSegmentLib.mrml.logic import segment_volume_nodes
    from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions

    app = HeadlessSlicer.create()
    nodes = [app.load_volume(path, name) for name, path in paths.items()]
    options = SegmentationOptions(method="gmm", n_clusters=CLUSTERS, seed=seed, engine=engine)
    stamps: list[tuple[float, str]] = []
    start = time.perf_counter()
    output = segment_volume_nodes(nodes, options, app.scene, app.segmentations_logic,
                                  progress=lambda message: stamps.append((time.perf_counter() - start, message)))
    end = time.perf_counter() - start
    segmentation = output.segmentation_node.GetSegmentation()
    surface = "Closed surface"
    empty = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())
             if segmentation.GetNthSegment(i).GetRepresentation(surface) is None
             or segmentation.GetNthSegment(i).GetRepresentation(surface).GetNumberOfPoints() == 0]
    shown = output.segmentation_node.GetDisplayNode().GetPreferredDisplayRepresentationName3D() == surface
    note = "every segment has a closed surface" if not empty and shown else f"NO closed surface: {empty}"
    return Timing(end, stage_times(stamps, end, "start"), note=note)


def refit_log_likelihood(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean log-likelihood per voxel of the Gaussian mixture estimated from hard ``labels`` (float64)."""
    x = x.astype(np.float64)
    values = labels.max() + 1
    log_terms = np.empty((len(x), values))
    for j in range(values):
        members = x[labels == j]
        mean = members.mean(0)
        covariance = np.cov(members, rowvar=False, bias=True) + 1e-6 * np.eye(x.shape[1])
        chol = np.linalg.cholesky(covariance)
        z = np.linalg.solve(chol, (x - mean).T)
        log_terms[:, j] = (np.log(len(members) / len(x)) - np.log(np.diag(chol)).sum()
                           - 0.5 * (x.shape[1] * np.log(2 * np.pi) + (z * z).sum(0)))
    top = log_terms.max(1)
    return float(np.mean(top + np.log(np.exp(log_terms - top[:, None]).sum(1))))


def stability(paths: dict[str, Path]) -> list[str]:
    """Markdown lines: ARI between seeds and refitted log-likelihood, fast and scikit-learn."""
    channels = load_inputs(list(paths.values()), list(paths)).channels
    mask, _ = build_mask(channels)
    x = feature_matrix(channels, mask)[0]
    fits = {}
    for seed in SEEDS:
        start = time.perf_counter()
        fits["fast", seed] = FastGaussianMixture(CLUSTERS, random_state=seed).fit_predict(x), time.perf_counter() - start
        start = time.perf_counter()
        fits["sklearn", seed] = (GaussianMixture(CLUSTERS, random_state=seed).fit_predict(x.astype(np.float64)),
                                 time.perf_counter() - start)
    lines = ["| engine | ARI seed 7 vs 8 | refit log-lik seed 7 | refit log-lik seed 8 | fit s (7, 8) |", "|---|---|---|---|---|"]
    for engine in ("fast", "sklearn"):
        (a, ta), (b, tb) = fits[engine, SEEDS[0]], fits[engine, SEEDS[1]]
        lines.append(f"| {engine} | {adjusted_rand_score(a, b):.4f} | {refit_log_likelihood(x, a):.4f} | "
                     f"{refit_log_likelihood(x, b):.4f} | {ta:.2f}, {tb:.2f} |")
    across = [adjusted_rand_score(fits["fast", s][0], fits["sklearn", s][0]) for s in SEEDS]
    lines.append(f"\nARI fast vs scikit-learn, same seed: {across[0]:.4f} (seed 7), {across[1]:.4f} (seed 8).")
    return lines


def phantom_files(directory: Path) -> dict[str, Path]:
    """The 4-channel phantom of bench/engine.py as four NIfTI files named like MRI sequences."""
    data, mask = phantom(4), phantom_mask()
    paths = {}
    for c, name in enumerate(CASE_FILES):
        volume = np.zeros(PHANTOM_SHAPE, dtype=np.float32)
        volume[mask] = np.maximum(data.x[:, c], 1.0)  # > 0 inside: the nonzero mask is the brain
        paths[name] = directory / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(paths[name]))
    return paths


def format_stages(timing: Timing) -> str:
    """Stage seconds as ``name s`` pairs."""
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in timing.stages.items())


def compare(what: str, case: str, fast: Timing, slow: Timing, input_mb: float) -> str:
    """One markdown row: times, ratio against its goal, stages, peak memory."""
    ratio = slow.seconds / fast.seconds
    memory = "–" if np.isnan(fast.peak_mb) else (
        f"{fast.peak_mb:.0f} ({fast.peak_mb / input_mb:.2f}×) / {slow.peak_mb:.0f}")
    verdict = "PASS" if ratio >= GOALS[what] else "FAIL"
    notes = "; ".join(filter(None, {fast.note, slow.note}))
    return (f"| {case} | {what} | {fast.seconds:.2f} | {slow.seconds:.2f} | **{ratio:.1f}×** (≥ {GOALS[what]:g}×: "
            f"{verdict}) | {format_stages(fast)} | {format_stages(slow)} | {memory} | {notes} |")


HEADER = ("| case | what | fast s | sklearn s | ratio | fast stages s | sklearn stages s | peak RSS MB fast "
          "(× float32 inputs) / sklearn | notes |\n|" + "---|" * 9)


#: Timed repetitions of each measured action (after one untimed warm-up); the median is reported.
REPEATS = 3


def median_timing(measure: Callable[[], Timing]) -> Timing:
    """One untimed warm-up (Python's bytecode cache, the page cache, first imports in this process),
    then the median of REPEATS timed runs (by wall time) of ``measure``."""
    measure()
    timings = sorted((measure() for _ in range(REPEATS)), key=lambda timing: timing.seconds)
    return timings[len(timings) // 2]


def bench_case(case: str, paths: dict[str, Path], sections: list[str], out: Path) -> list[str]:
    """The rows of one case."""
    input_mb = sum(int(np.prod(nib.load(str(p)).shape[:3])) * 4 for p in paths.values()) / 2**20
    rows = []

    def cli(engine: str, extra: list[str], what: str) -> Timing:
        return median_timing(lambda: run_cli(cli_arguments(paths, out / f"{case}-{what}-{engine}", engine, extra)))

    if "run" in sections:
        k = ["-k", str(CLUSTERS)]
        rows.append(compare("run", case, cli("fast", k, "run"), cli("sklearn", k, "run"), input_mb))
        print(rows[-1], flush=True)
    if "apply" in sections:
        rows.append(compare("apply", case, median_timing(lambda: apply_in_slicer(paths, "fast")),
                            median_timing(lambda: apply_in_slicer(paths, "sklearn")), input_mb))
        print(rows[-1], flush=True)
    if "lesion" in sections:
        rows.append(compare("lesion", case, cli("fast", ["--lesion"], "lesion"), cli("sklearn", ["--lesion"], "lesion"),
                            input_mb))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run the chosen sections on the chosen cases and print (and optionally save) the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=("tcga", "phantom"), default=["tcga", "phantom"])
    parser.add_argument("--sections", nargs="+", choices=("run", "apply", "lesion", "stability"),
                        default=["run", "apply", "lesion", "stability"])
    parser.add_argument("--output", type=Path, help="also write the tables (markdown) to this file")
    args = parser.parse_args()
    lines = [f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`; {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. GMM k = {CLUSTERS} (lesion: its preset k = 6 "
             f"+ MRF beta 1). Median of {REPEATS} runs after a warm-up. Stages from the progress messages; start-up = "
             "interpreter and imports.\n", HEADER]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="end-to-end-") as scratch:
        scratch_dir = Path(scratch)
        cases = {}
        if "tcga" in args.cases and CASE_DIR.is_dir():
            cases["tcga-du-7294"] = {name: CASE_DIR / f"{stem}.nii.gz" for name, stem in CASE_FILES.items()}
        if "phantom" in args.cases:
            (scratch_dir / "phantom").mkdir()
            cases["phantom"] = phantom_files(scratch_dir / "phantom")
        for case, paths in cases.items():
            lines += bench_case(case, paths, args.sections, scratch_dir)
        if "stability" in args.sections and "tcga-du-7294" in cases:
            lines += ["", f"Stability on tcga-du-7294 (GMM k = {CLUSTERS}, raw intensities, nonzero mask):", ""]
            stable = stability(cases["tcga-du-7294"])
            print("\n".join(stable), flush=True)
            lines += stable
    if args.output:
        args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
