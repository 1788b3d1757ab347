"""Brain tissue benchmark (a script, not a test): CSF / grey / white matter on the MNI152 2009a template.

The template's T1 and its grey- and white-matter probability maps (> 50 % = that tissue) ship inside
the nilearn wheel; the benchmark reads them from a local folder (never downloaded here, never committed):

    pip download nilearn==0.14.1 --no-deps -d DIR && unzip -o DIR/nilearn-*.whl 'nilearn/datasets/data/mni_icbm152_*' -d DIR
    .venv/bin/python bench/quality/run_tissue.py --template DIR/nilearn/datasets/data

Cases: the clean template, and degraded copies of our own making: a smooth multiplicative bias
field (±20 %), Rician-like noise (Gaussian, SD 4 % of white matter), thick slices (3 mm: three
slices averaged, the references averaged the same way), and bias + noise together. Each case is
segmented by the tissue model (default options, then one parameter changed at a time) and by the
plain 3-class GMM of the fast engine (what ``run T1 -k 3`` does), and scored by Dice of grey and
white matter. Writes bench/quality/tissue_results.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "UnsupervisedSegment")]

from sweep import one_at_a_time  # noqa: E402
from UnsupervisedSegmentLib.core.options import SegmentationOptions  # noqa: E402
from UnsupervisedSegmentLib.core.volume import Channel, Grid, new_volume, set_masked_rows  # noqa: E402
from UnsupervisedSegmentLib.pipeline.segmentation import segment_channels  # noqa: E402
from UnsupervisedSegmentLib.tissue import model  # noqa: E402

HERE = Path(__file__).resolve().parent
FILE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def read(folder: Path, what: str) -> np.ndarray:
    import nibabel as nib

    return np.asarray(nib.load(str(folder / FILE.format(what))).dataobj, dtype=np.float32)


def bias_field(shape: tuple[int, ...]) -> np.ndarray:
    """A smooth field of ±20 %: a tilt and a bowl, as a receive coil gives."""
    axes = [np.linspace(-1, 1, n) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    log_field = 0.12 * x - 0.08 * y + 0.10 * z + 0.10 * (x**2 + y**2) - 0.05
    return np.exp(log_field).astype(np.float32)


def thick(volume: np.ndarray, factor: int = 3) -> np.ndarray:
    """Slices ``factor`` times thicker along the last axis: neighbouring slices averaged."""
    depth = volume.shape[2] // factor * factor
    return volume[:, :, :depth].reshape(volume.shape[0], volume.shape[1], -1, factor).mean(axis=3)


def cases(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, tuple]]:
    """Case -> (T1, GM map, WM map, spacing)."""
    brain = t1 > 0
    noise = np.random.default_rng(0).normal(0, 0.04 * np.percentile(t1[brain], 90), t1.shape).astype(np.float32)
    field = bias_field(t1.shape)
    return {
        "clean": (t1, gm, wm, (1.0, 1.0, 1.0)),
        "bias field ±20 %": (t1 * field, gm, wm, (1.0, 1.0, 1.0)),
        "noise 4 %": (np.where(brain, np.maximum(t1 + noise, 1), 0), gm, wm, (1.0, 1.0, 1.0)),
        "bias + noise": (np.where(brain, np.maximum(t1 * field + noise, 1), 0), gm, wm, (1.0, 1.0, 1.0)),
        "thick slices 3 mm": (thick(t1) * (thick(brain.astype(np.float32)) > 0.5), thick(gm), thick(wm), (1.0, 1.0, 3.0)),
    }


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b)))


def tissue_labels(t1: np.ndarray, spacing: tuple, **options) -> np.ndarray:
    grid = Grid(t1.shape, np.diag([*spacing, 1.0]))
    mask = t1 > 0
    result = model.segment_tissue([Channel("t1", t1, grid)], mask, **options)
    labels = new_volume(t1.shape, np.uint8)
    set_masked_rows(labels, mask, result.labels)
    return labels


def smoothed_by(share: float) -> Callable[[np.ndarray, tuple], np.ndarray]:
    """The default tissue model with its histogram smoothed by ``share`` of its range (the default put back)."""
    def labeller(t1: np.ndarray, spacing: tuple) -> np.ndarray:
        (labels,) = [tissue_labels(t1, spacing) for _ in one_at_a_time(model, (("HISTOGRAM_SMOOTHING", (share,)),))]
        return labels
    return labeller


def gmm_labels(t1: np.ndarray, spacing: tuple) -> np.ndarray:
    """What ``run T1 -k 3`` gives: cluster 2 = grey matter, 3 = white matter (clusters ordered by mean T1)."""
    grid = Grid(t1.shape, np.diag([*spacing, 1.0]))
    return segment_channels([Channel("t1", t1, grid)], SegmentationOptions(n_clusters=3)).labels


#: Method -> labeller. The first is the default; the others change one parameter each.
METHODS: dict[str, Callable[[np.ndarray, tuple], np.ndarray]] = {
    f"tissue model (default: beta {model.DEFAULT_BETA}, bias field)": lambda t1, s: tissue_labels(t1, s),
    "tissue model, no bias field": lambda t1, s: tissue_labels(t1, s, bias=False),
    "tissue model, bias degree 2": lambda t1, s: tissue_labels(t1, s, bias_degree=2),
    "tissue model, bias degree 3": lambda t1, s: tissue_labels(t1, s, bias_degree=3),
    "tissue model, no MRF (beta 0)": lambda t1, s: tissue_labels(t1, s, beta=0.0),
    "tissue model, beta 1": lambda t1, s: tissue_labels(t1, s, beta=1.0),
    "tissue model, histogram smoothing 0.005": smoothed_by(0.005),
    "tissue model, histogram smoothing 0.02": smoothed_by(0.02),
    "plain 3-class GMM (run -k 3)": gmm_labels,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--template", type=Path, required=True, help="folder holding the MNI152 2009a files")
    parser.add_argument("--output", type=Path, default=HERE / "tissue_results.md")
    arguments = parser.parse_args(argv)
    t1, gm, wm = (read(arguments.template, what) for what in ("t1", "gm", "wm"))
    lines = ["# Brain tissue classes on the MNI152 2009a template", "",
             f"Command: `.venv/bin/python bench/quality/run_tissue.py --template DIR` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, 2 cores).",
             "Dice against the template's own maps (> 50 %); mask = T1 > 0. Targets: GM ≥ 0.93, WM ≥ 0.95 (clean);",
             "ANTs Atropos on the clean template: GM 0.901, WM 0.946 (the issue's figures).", "",
             "| case | method | GM Dice | WM Dice | s |", "|---|---|---|---|---|"]
    means: dict[str, list[tuple[float, float]]] = {}
    for case, (image, gm_map, wm_map, spacing) in cases(t1, gm, wm).items():
        grey, white = gm_map > 127.5, wm_map > 127.5
        for method, labeller in METHODS.items():
            start = time.perf_counter()
            labels = labeller(image, spacing)
            seconds = time.perf_counter() - start
            scores = (dice(labels == 2, grey), dice(labels == 3, white))
            means.setdefault(method, []).append(scores)
            lines.append(f"| {case} | {method} | {scores[0]:.3f} | {scores[1]:.3f} | {seconds:.1f} |")
            print(lines[-1], flush=True)
    lines += ["", "Mean over the five cases:", "", "| method | GM Dice | WM Dice |", "|---|---|---|"]
    lines += [f"| {method} | {np.mean([s[0] for s in scores]):.3f} | {np.mean([s[1] for s in scores]):.3f} |"
              for method, scores in means.items()]
    arguments.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(means) - 2:]))


if __name__ == "__main__":
    main()
