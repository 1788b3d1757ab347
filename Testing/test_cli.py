"""The command line end to end: the lesson's sample facts, outputs, and every bad input."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import slicerio
from conftest import dice, save_nifti
from UnsupervisedSegmentLib.cli import main

SAMPLE_ARGS = ["--names", "t1", "t1c", "flair", "adc"]


def digest(paths) -> list[str]:
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


@pytest.fixture(scope="module")
def sample_run(sample_paths, tmp_path_factory):
    """The demo's run on the bundled sample: GMM, k=3, all four inputs."""
    out = tmp_path_factory.mktemp("sample")
    before = digest(sample_paths)
    status = main(["run", *map(str, sample_paths), *SAMPLE_ARGS, "--output-dir", str(out), "--quiet"])
    assert status == 0
    assert digest(sample_paths) == before, "inputs must never be modified"
    return out


def test_sample_facts_of_the_lesson(sample_paths, sample_run):
    t1 = nib.load(str(sample_paths[0]))
    assert t1.shape == (256, 256, 32)
    assert np.count_nonzero(t1.get_fdata() == 0) == 1_848_804
    labels = nib.load(str(sample_run / "labels.nii.gz"))
    np.testing.assert_allclose(labels.affine, t1.affine)
    data = np.asarray(labels.dataobj)
    assert np.count_nonzero(data) == 240_391
    assert set(np.unique(data)) == {0, 1, 2, 3}


def test_statistics_csv_counts_and_volumes(sample_run):
    with open(sample_run / "statistics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["segment"] for row in rows] == ["Cluster 1", "Cluster 2", "Cluster 3"]
    assert list(rows[0])[:5] == ["segment", "label", "voxels", "volume_mm3", "volume_ml"]
    assert list(rows[0])[5:] == [f"{s}_{n}" for n in ("t1", "t1c", "flair", "adc") for s in ("mean", "std")]
    assert sum(int(row["voxels"]) for row in rows) == 240_391
    voxel_mm3 = 1.09379995 * 1.09379995 * 5.0
    for row in rows:
        assert float(row["volume_mm3"]) == pytest.approx(int(row["voxels"]) * voxel_mm3, rel=1e-5)
        assert float(row["volume_ml"]) == pytest.approx(float(row["volume_mm3"]) / 1000, rel=1e-5)
    means_t1 = [float(row["mean_t1"]) for row in rows]
    assert means_t1 == sorted(means_t1), "label 1 is the darkest in the first input"


def test_sample_lesion_cluster_is_bright_on_flair_and_contrast(sample_run):
    with open(sample_run / "statistics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    brightest = max(rows, key=lambda row: float(row["mean_flair"]))
    assert brightest == max(rows, key=lambda row: float(row["mean_t1c"]))
    assert 20 < float(brightest["volume_ml"]) < 150, "a glioblastoma-sized lesion cluster"


def test_seg_nrrd_matches_the_label_map(sample_run):
    segmentation = slicerio.read_segmentation(str(sample_run / "segmentation.seg.nrrd"))
    labels = np.asarray(nib.load(str(sample_run / "labels.nii.gz")).dataobj)
    assert [s["name"] for s in segmentation["segments"]] == ["Cluster 1", "Cluster 2", "Cluster 3"]
    for segment in segmentation["segments"]:
        value = segment["labelValue"]
        assert np.count_nonzero(segmentation["voxels"] == value) == np.count_nonzero(labels == value)


def test_report_is_a_png(sample_run):
    assert (sample_run / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name for p in sample_run.iterdir()} == {"labels.nii.gz", "segmentation.seg.nrrd", "statistics.csv", "report.png"}


def test_same_seed_same_labels(sample_paths, sample_run, tmp_path):
    status = main(["run", *map(str, sample_paths), *SAMPLE_ARGS, "--output-dir", str(tmp_path), "--no-report", "-q"])
    assert status == 0
    first = np.asarray(nib.load(str(sample_run / "labels.nii.gz")).dataobj)
    np.testing.assert_array_equal(first, np.asarray(nib.load(str(tmp_path / "labels.nii.gz")).dataobj))


def test_phantom_run_with_optional_outputs(phantom_files, tmp_path, capsys):
    paths, truth = phantom_files
    out = tmp_path / "out"
    assert main(["run", *map(str, paths), "--method", "kmeans", "--scaling", "robust", "--posteriors", "--quantised", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr()
    assert "mask: " in printed.out and "Cluster 3" in printed.out
    assert "clustering" in printed.err, "progress goes to stderr"
    labels = np.asarray(nib.load(str(out / "labels.nii.gz")).dataobj)
    assert dice(labels == 3, truth == 3) >= 0.95
    assert not (out / "posteriors.nii.gz").exists(), "k-means has no posteriors"
    assert nib.load(str(out / "quantised.nii.gz")).shape == truth.shape + (2,)


def test_gmm_posteriors_file(phantom_files, tmp_path):
    paths, truth = phantom_files
    assert main(["run", *map(str, paths), "--posteriors", "--no-report", "-q", "--output-dir", str(tmp_path)]) == 0
    assert nib.load(str(tmp_path / "posteriors.nii.gz")).shape == truth.shape + (3,)


def test_otsu_and_mask_file(phantom_files, tmp_path):
    paths, truth = phantom_files
    mask = save_nifti((truth >= 2).astype(np.uint8), tmp_path / "mask.nii.gz")
    assert main(["run", str(paths[0]), "-k", "2", "--mask", str(mask), "--no-report", "-q", "--output-dir", str(tmp_path / "a")]) == 0
    labels = np.asarray(nib.load(str(tmp_path / "a" / "labels.nii.gz")).dataobj)
    assert np.count_nonzero(labels) == np.count_nonzero(truth >= 2)
    assert main(["run", str(paths[0]), "--mask", "otsu", "--no-report", "-q", "--output-dir", str(tmp_path / "b")]) == 0


def bad_input_cases(tmp_path: Path, phantom: list[Path], truth: np.ndarray) -> dict[str, tuple[list[str], str]]:
    """Each bad input: the arguments after `run` and a fragment of the expected message."""
    text = tmp_path / "notes.nii.gz"
    text.write_text("not an image")
    series = tmp_path / "series.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 2), np.float32), np.eye(4)), str(series))
    far = np.diag([-1.2, 1.2, 2.5, 1.0])
    far[0, 3] = 5000.0
    distant = save_nifti(np.ones(truth.shape, np.float32), tmp_path / "distant.nii.gz", far)
    empty = save_nifti(np.zeros(truth.shape, np.float32), tmp_path / "empty.nii.gz")
    flat = save_nifti((truth > 0).astype(np.float32) * 5, tmp_path / "flat.nii.gz")
    nan = np.asarray(nib.load(str(phantom[0])).dataobj).copy()
    nan[truth > 0] = np.nan
    all_nan = save_nifti(nan, tmp_path / "nan.nii.gz")
    two_values = save_nifti((truth > 0) * (1.0 + (truth > 1)), tmp_path / "two.nii.gz")
    first = str(phantom[0])
    return {
        "missing file": ([str(tmp_path / "nope.nii.gz")], "not found"),
        "not an image": ([str(text)], "cannot read"),
        "4D input": ([str(series)], "4D"),
        "no overlap": ([first, str(distant)], "does not overlap"),
        "k below 2": ([first, "-k", "1"], "at least 2"),
        "k above distinct values": ([str(two_values), "-k", "3"], "2 distinct"),
        "empty mask": ([str(empty)], "nothing to segment"),
        "empty mask file": ([first, "--mask", str(empty)], "nothing to segment"),
        "mask typo": ([first, "--mask", "otsuu"], "neither a rule"),
        "only NaN": ([str(all_nan)], "nothing to segment"),
        "constant channel only": ([str(flat)], "constant"),
        "names count": ([first, "--names", "a", "b"], "one name per input"),
        "duplicate names": ([first, first], "both called"),
    }


def test_every_bad_input_is_one_line_exit_2_and_leaves_the_output_dir_alone(phantom_files, tmp_path, capsys):
    paths, truth = phantom_files
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user's file")
    for case, (arguments, fragment) in bad_input_cases(tmp_path, paths, truth).items():
        status = main(["run", *arguments, "--output-dir", str(out), "-q"])
        err = capsys.readouterr().err
        assert status == 2, case
        assert err.count("\n") == 1 and err.startswith("unsupervised-segment: error: "), (case, err)
        assert fragment in err, (case, err)
        assert [p.name for p in out.iterdir()] == ["keep.txt"], case
    assert not (tmp_path / "fresh").exists()
    main(["run", str(tmp_path / "nope.nii.gz"), "--output-dir", str(tmp_path / "fresh")])
    assert not (tmp_path / "fresh").exists(), "a failed run does not even create the folder"


def test_nan_voxels_are_excluded_with_a_warning(phantom_files, tmp_path, capsys):
    paths, truth = phantom_files
    data = np.asarray(nib.load(str(paths[0])).dataobj).copy()
    data[truth == 3] = np.nan
    holed = save_nifti(data, tmp_path / "holed.nii.gz")
    assert main(["run", str(holed), "-k", "2", "--no-report", "--output-dir", str(tmp_path / "o")]) == 0
    assert "NaN" in capsys.readouterr().err
    labels = np.asarray(nib.load(str(tmp_path / "o" / "labels.nii.gz")).dataobj)
    assert np.count_nonzero(labels) == np.count_nonzero(truth > 0) - np.count_nonzero(truth == 3)


def test_constant_channel_is_dropped_with_a_warning(phantom_files, tmp_path, capsys):
    paths, truth = phantom_files
    flat = save_nifti((truth > 0).astype(np.float32) * 5, tmp_path / "flat.nii.gz")
    assert main(["run", *map(str, paths), str(flat), "--no-report", "--output-dir", str(tmp_path / "o")]) == 0
    assert "'flat' is constant" in capsys.readouterr().err


def test_resampled_input_is_reported(phantom_files, tmp_path, capsys):
    paths, truth = phantom_files
    shifted = np.diag([-1.2, 1.2, 2.5, 1.0])
    shifted[1, 3] = 3.0
    moved = save_nifti(np.asarray(nib.load(str(paths[1])).dataobj), tmp_path / "moved.nii.gz", shifted)
    assert main(["run", str(paths[0]), str(moved), "--no-report", "--output-dir", str(tmp_path / "o")]) == 0
    assert "resampled (linear)" in capsys.readouterr().err


@pytest.mark.parametrize("writer", ["write_statistics_csv", "write_seg_nrrd"])  # main thread, writer thread
def test_failure_while_writing_leaves_nothing_half_written(phantom_files, tmp_path, monkeypatch, writer, capsys):
    import errno

    import UnsupervisedSegmentLib.report.outputs as outputs

    paths, _ = phantom_files
    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[-1]))
    monkeypatch.setattr(outputs, writer, broken)
    out = tmp_path / "out"
    assert main(["run", *map(str, paths), "-q", "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "cannot write" in error[0] and "No space left on device" in error[0]
    assert not out.exists()


def test_a_full_disk_is_one_line_and_leaves_the_previous_run_whole(phantom_files, tmp_path):
    """The file-size limit reached while writing (what a full disk or a quota looks like): exit 2, one line,
    and a previous run's files in the folder are still all there."""
    import resource

    paths, _ = phantom_files
    out = tmp_path / "out"
    assert main(["run", *map(str, paths), "-q", "--output-dir", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # noqa: E731
    completed = subprocess.run([sys.executable, "-m", "UnsupervisedSegmentLib.cli", "run", *map(str, paths), "-q", "--seed", "5",
                                "--output-dir", str(out)], capture_output=True, text=True, preexec_fn=limit)
    assert completed.returncode == 2, completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1 and "cannot write" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_sigterm_ends_a_run_with_143_and_nothing_half_written(tmp_path):
    import signal
    import time

    from conftest import make_phantom
    from conftest import save_nifti as save

    arrays, _ = make_phantom(shape=(160, 160, 120))
    paths = [save(a, tmp_path / f"c{n}.nii.gz") for n, a in enumerate(arrays)]
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "UnsupervisedSegmentLib.cli", "run", *map(str, paths), "-k", "6",
                                "--mrf-beta", "1", "--output-dir", str(out)], stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # once clustering has begun
        if line.startswith("clustering"):
            break
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    remaining = process.stderr.read()
    assert process.wait(timeout=60) == 143, remaining
    assert "terminated" in remaining and "Traceback" not in remaining
    assert not out.exists() or not [p for p in out.iterdir()]


def test_console_script_exits_2_without_traceback(tmp_path):
    script = Path(sys.executable).with_name("unsupervised-segment")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "UnsupervisedSegmentLib.cli"]
    completed = subprocess.run([*command, "run", str(tmp_path / "missing.nii.gz"), "-q", "--output-dir", str(tmp_path)],
                               capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip() == f"unsupervised-segment: error: input file not found: {tmp_path / 'missing.nii.gz'}"


def test_preview_pictures_are_written(phantom_files, tmp_path):
    paths, _ = phantom_files
    assert main(["run", *map(str, paths), "--preview", "--no-report", "-q", "--output-dir", str(tmp_path)]) == 0
    for name in ("preview_3d.png", "preview_axial.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
