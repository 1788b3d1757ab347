"""Property-based test of the command line: random option combinations and corrupted small inputs.

Whatever the request, ``run`` ends with exit status 0 or 2, never with a traceback; a refusal is
one line on stderr and leaves no output folder behind; inputs are never modified; and every
case finishes within the deadline set below (the inputs are tiny, so a slow case is a bug).
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import make_phantom, save_nifti
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from UnsupervisedSegmentLib.cli import main

#: Each example's time bound: tiny inputs segment in about a second (the engine is imported beforehand); the
#: margin is for a machine shared with other jobs. A hang or a runaway k or allocation exceeds it.
DEADLINE = timedelta(seconds=30)
#: Examples per run: enough to mix every option with every input kind, and to stay well within make test's budget.
EXAMPLES = 150


def write_inputs(folder: Path) -> dict[str, Path]:
    """Small valid inputs of every kind the engine reads: NIfTI (compressed or not), NRRD, PNG, a DICOM-less folder."""
    arrays, truth = make_phantom(shape=(14, 12, 5), channels=2)
    paths = {
        "nifti_gz": save_nifti(arrays[0], folder / "a.nii.gz"),
        "nifti": save_nifti(arrays[1], folder / "b.nii"),
        "mask": save_nifti((truth > 1).astype(np.uint8), folder / "mask.nii.gz"),
        "4d": save_nifti(np.ones((4, 4, 4, 2), np.float32), folder / "four.nii.gz"),
        "nan": save_nifti(np.full((6, 6, 3), np.nan, np.float32), folder / "nan.nii.gz"),
        "tiny": save_nifti(np.array([1.0, 2.0, 3.0], np.float32).reshape(3, 1, 1), folder / "tiny.nii.gz"),
    }
    nrrd = folder / "c.nrrd"
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(arrays[0].transpose(2, 1, 0)), str(nrrd))
    paths["nrrd"] = nrrd
    rng = np.random.default_rng(0)
    picture = np.zeros((16, 20, 3), np.uint8)
    picture[:8] = (200, 40, 40)
    picture[8:] = (30, 90, 200)
    picture = np.clip(picture + rng.integers(0, 20, picture.shape), 0, 255).astype(np.uint8)
    Image.fromarray(picture).save(folder / "photo.png")
    paths["png"] = folder / "photo.png"
    (folder / "no_dicom").mkdir()
    (folder / "no_dicom" / "readme.txt").write_text("no images")
    paths["no_dicom"] = folder / "no_dicom"
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The inputs, with the engine and both report figures imported so that the deadline times work, not imports."""
    import UnsupervisedSegmentLib.cohort.runner  # noqa: F401
    import UnsupervisedSegmentLib.report.diagnostics  # noqa: F401
    import UnsupervisedSegmentLib.report.picture_report  # noqa: F401

    return write_inputs(tmp_path_factory.mktemp("property_inputs"))


def corrupted(source: Path, cut: float | None, flips: list[tuple[float, int]], folder: Path) -> Path:
    """A copy of ``source`` truncated at fraction ``cut`` and/or with bytes overwritten (position fraction, value)."""
    data = bytearray(source.read_bytes())
    for position, value in flips:
        data[min(int(position * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    target = folder / f"corrupt{''.join(source.suffixes)}"
    target.write_bytes(bytes(data))
    return target


def digest(path: Path) -> str:
    if path.is_dir():
        return "folder"
    return hashlib.sha256(path.read_bytes()).hexdigest()


options = st.fixed_dictionaries({}, optional={
    "--method": st.sampled_from(["gmm", "kmeans"]),
    "-k": st.one_of(st.integers(-3, 9).map(str), st.sampled_from(["auto", "64", "65", "100000", "x"])),
    "--k-range": st.one_of(st.tuples(st.integers(-1, 6), st.integers(-1, 6)), st.sampled_from([(2, 5000), (60, 64)]))
                   .map(lambda r: [str(r[0]), str(r[1])]),
    "--mask": st.sampled_from(["nonzero", "otsu", "none", "MASKFILE", "otsuu"]),
    "--scaling": st.sampled_from(["none", "standard", "robust"]),
    "--covariance": st.sampled_from(["full", "diag", "tied", "spherical"]),
    "--engine": st.sampled_from(["fast", "sklearn"]),
    "--denoise": st.sampled_from(["none", "median", "gaussian", "curvature"]),
    "--mrf-beta": st.one_of(st.floats(-2, 3, allow_nan=False).map(lambda b: f"{b:.3g}"), st.sampled_from(["nan", "inf", "-0"])),
    "--mrf-neighbourhood": st.sampled_from(["6", "26"]),
    "--seed": st.integers(-5, 2**33).map(str),
    "--names": st.sampled_from([["a"], [""], ["x", "y"], ["a b", "c"]]),  # no modality names: lesion finding is refused (its empty case: issue 9)
})
flags = st.lists(st.sampled_from(["--posteriors", "--quantised", "--bias-correction", "--lesion"]), unique=True, max_size=2)
input_kinds = st.lists(st.sampled_from(["nifti_gz", "nifti", "nrrd", "png"] * 2 + ["4d", "nan", "tiny", "no_dicom", "missing"]),
                       min_size=1, max_size=2)
corruptions = st.one_of(
    st.none(), st.none(),  # two in three cases without a corrupted extra input, so that many requests succeed
    st.tuples(st.sampled_from(["nifti_gz", "nifti", "nrrd", "png"]), st.one_of(st.none(), st.floats(0, 0.99)),
              st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4)),
)


@settings(max_examples=EXAMPLES, deadline=DEADLINE, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(options=options, flags=flags, kinds=input_kinds, corruption=corruptions, report=st.booleans())
def test_any_request_ends_in_success_or_one_line_refusal(inputs, capsys, options, flags, kinds, corruption, report):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        paths = [inputs.get(kind, scratch / "missing.nii.gz") for kind in kinds]
        if corruption is not None:
            kind, cut, flips = corruption
            paths.append(corrupted(inputs[kind], cut, flips, scratch))
        arguments = []
        for option, value in options.items():
            value = str(inputs["mask"]) if value == "MASKFILE" else value
            arguments += [option, *value] if isinstance(value, list) else [option, value]
        if options.get("-k") == "64" or (options.get("-k") == "auto" and options.get("--k-range") == ["60", "64"]):
            report = False  # report.png with ~64 stacked histograms takes ~10-25 s (report speed: issue 11)
        out = scratch / "out"
        before = [digest(p) for p in paths if p.exists()]
        try:
            status = main(["run", *map(str, paths), *arguments, *flags, *([] if report else ["--no-report"]),
                           "-q", "--output-dir", str(out)])
        except SystemExit as stop:  # argparse's refusals
            status = stop.code
        err = capsys.readouterr().err
        event(f"exit status {status}")  # --hypothesis-show-statistics shows the mix of successes and refusals
        assert status in (0, 2), err
        assert [digest(p) for p in paths if p.exists()] == before, "inputs are never modified"
        if status == 2:
            assert err.count("\n") == 1 and err.startswith("unsupervised-segment: error: "), err
            assert not out.exists(), "nothing is written on failure"
        else:
            assert (out / "labels.nii.gz").is_file() and (out / "statistics.csv").is_file()
