"""DICOM series as inputs: read voxel-exact in physical geometry, and segmented exactly like their NIfTI twins."""

from __future__ import annotations

import contextlib
import csv
import locale
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.grid import to_itk_image
from UnsupervisedSegmentLib.core.volume import Grid
from UnsupervisedSegmentLib.io.dicom import list_series
from UnsupervisedSegmentLib.io.image_files import read_channels

#: Axes of the sample crop: small enough to keep the tests light, the whole tumour region inside.
CROP = (slice(64, 192), slice(64, 192), slice(8, 24))
#: The sample's affine (RAS: i towards the patient's left, left-handed) and a DICOM-like right-handed one.
LPS_ALIGNED = np.diag([-1.0938, -1.0938, 5.0, 1.0])


def sample_crop(path: Path) -> np.ndarray:
    """A crop of a sample volume as int16 (DICOM's usual pixel type, kept exactly through the files)."""
    return np.rint(np.asarray(nib.load(str(path)).dataobj)[CROP]).astype(np.int16)


def write_dicom_series(data: np.ndarray, affine: np.ndarray, folder: Path, uid: str, description: str) -> Path:
    """Write an (i, j, k) int16 array on ``affine`` as a DICOM series of axial slices into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    image = to_itk_image(data, Grid(data.shape, affine))
    d = image.GetDirection()
    orientation = "\\".join(f"{v:.6f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    with kept_locale():  # GDCM's writer sets the C locale, which would make later text reads ASCII
        _write_planes(image, orientation, folder, uid, description, writer)
    return folder


@contextlib.contextmanager
def kept_locale():
    """Restore the process locale after the block."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_planes(image: sitk.Image, orientation: str, folder: Path, uid: str, description: str,
                  writer: sitk.ImageFileWriter) -> None:
    """Write each axial plane of ``image`` as one DICOM file with the series' tags."""
    for k in range(image.GetDepth()):
        plane = image[:, :, k]
        for tag, value in (("0008|0060", "MR"), ("0008|103e", description), ("0020|000d", "1.2.826.0.1.3680043.2.1125.1"),
                           ("0020|000e", uid), ("0020|0037", orientation), ("0020|0013", str(k + 1)),
                           ("0008|0018", f"{uid}.{k + 1}"), ("0010|0020", "TEST"),
                           ("0020|0032", "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))))):
            plane.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{uid.rsplit('.', 1)[-1]}_{k:03d}.dcm"))
        writer.Execute(plane)


def canonical(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """The array in nibabel's closest-to-RAS orientation, to compare images stored in different index orders."""
    return nib.as_closest_canonical(nib.Nifti1Image(data, affine))


@pytest.fixture(scope="module")
def twins(sample_paths, tmp_path_factory):
    """T1 and FLAIR sample crops as NIfTI files and as DICOM series (one folder each, and one folder with both)."""
    root = tmp_path_factory.mktemp("dicom")
    files = {}
    for name, source, uid in (("t1", sample_paths[0], "1.2.826.0.1.3680043.2.1125.11"),
                              ("flair", sample_paths[2], "1.2.826.0.1.3680043.2.1125.12")):
        data = sample_crop(source)
        nifti = root / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(data, LPS_ALIGNED), str(nifti))
        folder = write_dicom_series(data, LPS_ALIGNED, root / name, uid, f"AX {name.upper()} (test)")
        write_dicom_series(data, LPS_ALIGNED, root / "both", uid, f"AX {name.upper()} (test)")
        files[name] = (nifti, folder, uid)
    return root, files


def test_series_is_read_voxel_exact_with_the_nifti_geometry(twins):
    _, files = twins
    nifti, folder, _ = files["t1"]
    from_dicom = read_channels(folder)[0]
    from_nifti = read_channels(nifti)[0]
    assert from_dicom.name == "AX_T1_test", "named after the series description"
    np.testing.assert_array_equal(from_dicom.data, from_nifti.data)
    np.testing.assert_allclose(from_dicom.grid.affine, from_nifti.grid.affine, atol=1e-4)


def test_left_handed_geometry_is_read_in_its_physical_orientation(sample_paths, tmp_path):
    """The sample's own (left-handed) affine: the series reader stores the slices the other way, same physical image."""
    data = sample_crop(sample_paths[0])[:, :, :6]
    affine = nib.load(str(sample_paths[0])).affine
    channel = read_channels(write_dicom_series(data, affine, tmp_path / "s", "1.2.3.4", "flipped"))[0]
    expected, read = canonical(data, affine), canonical(channel.data, channel.grid.affine)
    np.testing.assert_array_equal(np.asarray(read.dataobj), np.asarray(expected.dataobj))
    np.testing.assert_allclose(read.affine, expected.affine, atol=1e-4)


def test_folder_with_several_series_needs_a_choice(twins, tmp_path, capsys):
    root, files = twins
    series = list_series(root / "both")
    assert sorted(s.description for s in series) == ["AX FLAIR (test)", "AX T1 (test)"]
    out = tmp_path / "out"
    assert main(["run", str(root / "both"), "--output-dir", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 2 DICOM series; choose one with --series UID" in err
    assert files["t1"][2] in err and "AX FLAIR (test)" in err
    assert not out.exists()
    flair = read_channels(root / "both", series=[files["flair"][2]])[0]
    assert flair.name == "AX_FLAIR_test"


def test_folder_without_dicom_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(UserInputError, match="without DICOM series"):
        read_channels(tmp_path)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_dicom_and_nifti_twins_give_identical_labels_and_statistics_in_run(twins, tmp_path):
    root, files = twins
    common = ["--names", "t1", "flair", "-k", "3", "--no-report", "-q"]
    both = root / "both"
    uids = [files["t1"][2], files["flair"][2]]
    assert main(["run", str(files["t1"][0]), str(files["flair"][0]), *common, "--output-dir", str(tmp_path / "nifti")]) == 0
    assert main(["run", str(both), str(both), "--series", *uids, *common, "--mask", str(files["t1"][1]),
                 "--output-dir", str(tmp_path / "dicom")]) == 0
    nifti = nib.load(str(tmp_path / "nifti" / "labels.nii.gz"))
    dicom = nib.load(str(tmp_path / "dicom" / "labels.nii.gz"))
    np.testing.assert_array_equal(np.asarray(dicom.dataobj), np.asarray(nifti.dataobj))
    np.testing.assert_allclose(dicom.affine, nifti.affine, atol=1e-4)
    assert read_rows(tmp_path / "dicom" / "statistics.csv") == read_rows(tmp_path / "nifti" / "statistics.csv")


def test_dicom_and_nifti_twins_give_identical_results_in_batch(twins, tmp_path):
    root, files = twins
    manifest = tmp_path / "cohort.csv"
    manifest.write_text("case_id,t1,flair\n"
                        f"nifti,{files['t1'][0]},{files['flair'][0]}\n"
                        f"dicom,{files['t1'][1]},{files['flair'][1]}\n"
                        f"broken,{tmp_path / 'missing'},{files['flair'][1]}\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-k", "3", "--no-report", "--workers", "1", "-q", "--output-dir", str(out)]) == 1
    summary = {row["case_id"]: row for row in read_rows(out / "summary.csv")}
    assert summary["nifti"]["status"] == summary["dicom"]["status"] == "done"
    assert summary["broken"]["status"] == "failed", "a failing case does not stop the others"
    np.testing.assert_array_equal(np.asarray(nib.load(str(out / "dicom" / "labels.nii.gz")).dataobj),
                                  np.asarray(nib.load(str(out / "nifti" / "labels.nii.gz")).dataobj))
    assert read_rows(out / "dicom" / "statistics.csv") == read_rows(out / "nifti" / "statistics.csv")


def test_a_series_larger_than_memory_is_refused_from_its_headers(tmp_path, monkeypatch):
    """Rows x columns x slices from the first file's header, checked before the series is read."""
    import UnsupervisedSegmentLib.io.declared_size as declared_size

    data = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)
    folder = write_dicom_series(data, np.diag([1.0, 1.0, 2.0, 1.0]), tmp_path / "series", "1.2.3.4.5", "small")
    monkeypatch.setattr(declared_size, "available_memory_bytes", lambda: 1000)
    with pytest.raises(UserInputError, match="voxels, which need about"):
        read_channels(folder)
