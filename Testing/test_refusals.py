"""Requests that cannot work are refused at once: one line, exit 2, nothing read or written.

Option checks run before any file is read (the tests make reading fail loudly to prove it);
the checks that need the data (k against the masked voxels, memory) run before clustering.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import UnsupervisedSegmentLib.core.option_checks as option_checks
import UnsupervisedSegmentLib.io.loading as loading
from conftest import save_nifti
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.core.option_checks import MAX_CLUSTERS

#: Each request refused from its options alone: the arguments after the input and a fragment of the message.
REFUSED_BY_OPTIONS = {
    "k far above the limit": (["-k", "100000"], f"at most {MAX_CLUSTERS}"),
    "k-means with huge k": (["--method", "kmeans", "-k", "50000"], f"at most {MAX_CLUSTERS}"),
    "huge automatic range": (["-k", "auto", "--k-range", "2", "5000"], "--k-range MAX"),
    "reversed automatic range": (["-k", "auto", "--k-range", "6", "3"], "MIN <= MAX"),
    "automatic range from 1": (["-k", "auto", "--k-range", "1", "4"], "--k-range MIN"),
    "automatic k with k-means": (["-k", "auto", "--method", "kmeans"], "Gaussian mixture"),
    "negative MRF beta": (["--mrf-beta", "-1"], ">= 0"),
    "infinite MRF beta": (["--mrf-beta", "inf"], ">= 0"),
    "NaN MRF beta": (["--mrf-beta", "nan"], ">= 0"),
    "k of one": (["-k", "1"], "at least 2"),
    "k of zero": (["-k", "0"], "at least 2"),
    "negative k": (["-k", "-3"], "at least 2"),
    "k not a number": (["-k", "three"], "whole number"),
    "unknown neighbourhood": (["--mrf-neighbourhood", "8"], "invalid choice"),
    "unknown denoising": (["--denoise", "blur"], "invalid choice"),
    "unknown scaling": (["--scaling", "minmax"], "invalid choice"),
    "negative seed": (["--seed", "-1"], "random seed"),
    "seed beyond 32 bits": (["--seed", str(2**40)], "random seed"),
    "empty name": (["--names", ""], "name is empty"),
}


def exit_status(argv: list[str]) -> int:
    """main()'s exit status, also when argparse refuses the arguments (SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.fixture
def no_reading(monkeypatch):
    """Reading any input fails the test: the refusal must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an input was read before the options were checked")
    monkeypatch.setattr(loading, "read_channels", forbidden)


@pytest.mark.parametrize("case", REFUSED_BY_OPTIONS)
def test_bad_options_are_refused_before_reading(case, sample_paths, tmp_path, capsys, no_reading):
    arguments, fragment = REFUSED_BY_OPTIONS[case]
    status = exit_status(["run", str(sample_paths[0]), *arguments, "--output-dir", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("unsupervised-segment: error: "), err
    assert fragment in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arguments, fragment", [(["-k", "100000"], f"at most {MAX_CLUSTERS}"),
                                                 (["--workers", "0"], "--workers must be at least 1")])
def test_batch_refuses_bad_options_before_reading_the_manifest(arguments, fragment, tmp_path, capsys):
    assert main(["batch", str(tmp_path / "missing.csv"), *arguments, "--output-dir", str(tmp_path / "out")]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def tiny_image(tmp_path: Path, voxels: int) -> Path:
    """An image with ``voxels`` distinct positive voxels."""
    data = np.zeros((4, 4, 4), np.float32)
    data.ravel()[:voxels] = np.arange(1, voxels + 1)
    return save_nifti(data, tmp_path / "tiny.nii.gz")


def test_more_clusters_than_voxels_is_refused(tmp_path, capsys):
    image = tiny_image(tmp_path, 3)
    assert main(["run", str(image), "-k", "4", "--output-dir", str(tmp_path / "out"), "-q"]) == 2
    assert "cannot make 4 clusters from the 3 voxels in the mask" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_run_that_needs_more_memory_than_is_free_is_refused_with_the_figure(phantom_files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(option_checks, "available_memory_bytes", lambda: 100 * 1024)
    paths, _ = phantom_files
    assert main(["run", *map(str, paths), "--output-dir", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "GiB of memory but only 0.0 GiB is available" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_memory_estimate_grows_with_k_and_the_mrf():
    from UnsupervisedSegmentLib.core.options import SegmentationOptions

    small = option_checks.estimated_memory_bytes(SegmentationOptions(n_clusters=3), 250_000, 4, 2_000_000)
    large = option_checks.estimated_memory_bytes(SegmentationOptions(n_clusters=60), 250_000, 4, 2_000_000)
    spatial = option_checks.estimated_memory_bytes(SegmentationOptions(n_clusters=60, mrf_beta=1.0), 250_000, 4, 2_000_000)
    assert small < large < spatial
    assert spatial >= 2_000_000 * 60 * 4, "the MRF holds (voxels x k) float32 posteriors"


def test_lesion_run_that_finds_nothing_succeeds_with_an_empty_lesion(tmp_path, capsys):
    rng = np.random.default_rng(0)
    flair = np.zeros((30, 30, 10), np.float32)
    flair[3:27, 3:27, 1:9] = 100 + rng.normal(0, 5, (24, 24, 8))
    image = save_nifti(flair, tmp_path / "flair.nii.gz")
    status = main(["run", str(image), "--lesion", "-k", "3", "--mrf-beta", "0", "-q", "--output-dir", str(tmp_path / "out")])
    assert status == 0
    assert (tmp_path / "out" / "lesion.nii.gz").is_file()
    assert (tmp_path / "out" / "report.png").is_file(), "the report draws the empty Lesion segment too"


def test_a_missing_input_or_mask_is_refused_before_any_input_is_read(sample_paths, tmp_path, capsys, no_reading):
    out = str(tmp_path / "out")
    assert main(["run", str(sample_paths[0]), str(tmp_path / "gone.nii.gz"), "--output-dir", out, "-q"]) == 2
    assert "input file not found" in capsys.readouterr().err
    assert main(["run", str(sample_paths[0]), "--mask", str(tmp_path / "gone_mask.nii.gz"), "--output-dir", out, "-q"]) == 2
    assert "neither a rule" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_image_too_thin_for_the_gaussian_filter_is_refused(tmp_path, capsys):
    thin = save_nifti(np.random.default_rng(0).random((10, 10, 3)).astype(np.float32) + 1, tmp_path / "thin.nii.gz")
    assert main(["run", str(thin), "--denoise", "gaussian", "-q", "--output-dir", str(tmp_path / "out")]) == 2
    assert "too few voxels along an axis" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# Memory bombs and lying headers: refused from the header, before anything is allocated


def test_a_nifti_header_promising_terabytes_is_refused_before_reading(tmp_path, capsys):
    import gzip

    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((20000, 20000, 1000))
    header.set_data_dtype(np.int16)
    header["vox_offset"] = 352
    (tmp_path / "bomb.nii.gz").write_bytes(gzip.compress(header.binaryblock + b"\0" * 4 + b"\0" * 1000))
    status = main(["run", str(tmp_path / "bomb.nii.gz"), "-q", "--output-dir", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2 and len(error.strip().splitlines()) == 1
    assert "declares 20000x20000x1000 voxels" in error and "crop or downsample" in error
    assert not (tmp_path / "out").exists()


def test_a_small_picture_decoding_to_more_than_memory_is_refused(tmp_path, monkeypatch, capsys):
    import UnsupervisedSegmentLib.io.declared_size as declared_size
    from PIL import Image

    Image.new("RGB", (3000, 3000)).save(tmp_path / "large.png")  # 27 MB of pixels in a 30 kB file
    monkeypatch.setattr(declared_size, "available_memory_bytes", lambda: 100 * 2**20)
    status = main(["run", str(tmp_path / "large.png"), "--mask", "none", "-q", "--output-dir", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2 and "large.png declares 3000x3000x3 voxels" in error and "MemoryError" not in error


def test_an_uncompressed_nifti_shorter_than_its_header_says_is_refused(tmp_path, capsys):
    good = save_nifti(np.ones((20, 20, 20), np.float32), tmp_path / "good.nii")
    (tmp_path / "short.nii").write_bytes(good.read_bytes()[:5000])
    assert main(["run", str(tmp_path / "short.nii"), "-q", "--output-dir", str(tmp_path / "out")]) == 2
    assert "declares 20x20x20 voxels" in capsys.readouterr().err
