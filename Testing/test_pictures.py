"""2D inputs give pictures a person can open: upright, in the input's colours and format, areas not volumes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import save_nifti
from PIL import Image
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.core.volume import Grid
from UnsupervisedSegmentLib.io.image_files import read_channels
from UnsupervisedSegmentLib.report.planar import upright

#: Colours of the test picture: background, a marker in the top-left corner, a bar at the bottom.
BACKGROUND, MARKER, BAR = (40, 90, 160), (220, 30, 30), (30, 180, 60)


def colour_picture(rows: int = 60, columns: int = 80, noise: float = 4.0) -> np.ndarray:
    """An RGB picture whose top-left marker and bottom bar say which way is up."""
    picture = np.empty((rows, columns, 3), np.float64)
    picture[:] = BACKGROUND
    picture[5:20, 5:25] = MARKER
    picture[45:55, 10:70] = BAR
    picture += np.random.default_rng(0).normal(0, noise, picture.shape)
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)


def write(picture: np.ndarray, path: Path) -> Path:
    Image.fromarray(picture).save(path)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_reading_a_picture_and_setting_it_upright_gives_back_its_pixels(tmp_path):
    picture = colour_picture(noise=0)
    channels = read_channels(write(picture, tmp_path / "p.png"))
    stacked = np.stack([c.data[:, :, 0] for c in channels], axis=-1)
    np.testing.assert_array_equal(upright(stacked, channels[0].grid), picture)


@pytest.mark.parametrize("affine_diagonal, expected", [
    ((-0.5, 0.5, 1.0), "anterior up, patient's left on the right"),  # RAS-ish axial (i towards L, j towards A)
    ((0.5, -0.5, 1.0), "anterior up, patient's left on the right"),  # the same slice stored flipped
])
def test_an_axial_slice_is_upright_as_slicer_shows_it(affine_diagonal, expected):
    grid = Grid((3, 2, 1), np.diag([*affine_diagonal, 1.0]))
    plane = np.arange(6).reshape(3, 2)
    shown = upright(plane, grid)
    ras = grid.affine[:3, :3] @ np.array([[i, j, 0] for i in range(3) for j in range(2)]).T
    x, y = ras[0].reshape(3, 2), ras[1].reshape(3, 2)
    x_shown, y_shown = upright(x, grid), upright(y, grid)
    assert shown.shape == (2, 3)
    assert np.all(np.diff(y_shown, axis=0) < 0), f"{expected}: rows go from anterior to posterior"
    assert np.all(np.diff(x_shown, axis=1) < 0), f"{expected}: columns go from the patient's right to left (RAS x falls)"


def test_photo_quantised_upright_in_its_colours_and_format(tmp_path, capsys):
    picture = colour_picture()
    photo = write(picture, tmp_path / "photo.jpg")
    out = tmp_path / "out"
    assert main(["run", str(photo), "--method", "kmeans", "-k", "3", "--mask", "none", "--quantised",
                 "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mL" not in printed and "pixels" in printed
    names = {p.name for p in out.iterdir()}
    assert {"labels.png", "segmentation.png", "quantised.png", "quantised.jpg", "report.png",
            "labels.nii.gz", "segmentation.seg.nrrd", "statistics.csv"} <= names
    quantised = np.asarray(Image.open(out / "quantised.png"))
    labels = np.asarray(Image.open(out / "labels.png"))
    read_back = sitk.GetArrayFromImage(sitk.ReadImage(str(photo)))  # the pixels as the engine decoded them
    assert quantised.shape == read_back.shape and quantised.dtype == np.uint8
    assert labels.shape == read_back.shape[:2]
    colours = np.unique(quantised.reshape(-1, 3), axis=0)
    assert len(colours) == 3, "every pixel takes one of the k cluster colours"
    for label in (1, 2, 3):  # each pixel holds its cluster's mean colour
        np.testing.assert_allclose(quantised[labels == label].mean(axis=0), read_back[labels == label].mean(axis=0), atol=0.6)
    np.testing.assert_allclose(quantised[10, 10], MARKER, atol=25), "the marker stays top left: upright"
    np.testing.assert_allclose(quantised[50, 40], BAR, atol=25)
    assert Image.open(out / "quantised.jpg").size == Image.open(photo).size
    segmentation = np.asarray(Image.open(out / "segmentation.png"))
    assert segmentation.shape == read_back.shape and len(np.unique(segmentation.reshape(-1, 3), axis=0)) == 3
    rows = read_csv(out / "statistics.csv")
    assert "volume_ml" not in rows[0] and sum(int(r["pixels"]) for r in rows) == picture.shape[0] * picture.shape[1]


def test_grey_16_bit_png_stays_grey_16_bit(tmp_path):
    grey = (colour_picture(noise=0)[..., 0].astype(np.uint16) * 200)
    path = tmp_path / "grey.png"
    sitk.WriteImage(sitk.GetImageFromArray(grey), str(path))
    out = tmp_path / "out"
    assert main(["run", str(path), "-k", "3", "--mask", "none", "--quantised", "--no-report", "-q", "--output-dir", str(out)]) == 0
    quantised = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "quantised.png")))
    assert quantised.dtype == np.uint16 and quantised.shape == grey.shape
    np.testing.assert_array_equal(np.unique(quantised), np.unique(grey))
    np.testing.assert_array_equal(quantised, grey), "three flat tones quantise to themselves"
    assert not (out / "quantised.jpg").exists()


def test_2d_medical_slice_gets_areas_in_mm2(tmp_path, capsys):
    rng = np.random.default_rng(1)
    data = np.where(np.arange(40)[:, None] < 20, 100.0, 300.0) + rng.normal(0, 5, (40, 30))
    path = save_nifti(data[:, :, None].astype(np.float32), tmp_path / "slice.nii.gz", np.diag([-0.5, 0.5, 3.0, 1.0]))
    out = tmp_path / "out"
    assert main(["run", str(path), "-k", "2", "--quantised", "--output-dir", str(out)]) == 0
    assert "mm²" in capsys.readouterr().out
    rows = read_csv(out / "statistics.csv")
    assert [float(r["area_mm2"]) for r in rows] == [pytest.approx(20 * 30 * 0.25)] * 2
    quantised = np.asarray(Image.open(out / "quantised.png"))
    assert quantised.dtype == np.uint8 and quantised.shape == (30, 40), "an 8-bit picture over the slice's range"
    assert (out / "report.png").is_file() and (out / "quantised.nii.gz").is_file()


def test_bias_correction_of_a_photo_runs_in_2d(tmp_path):
    photo = write(colour_picture(), tmp_path / "photo.png")
    assert main(["run", str(photo), "-k", "3", "--mask", "none", "--bias-correction", "--no-report", "-q",
                 "--output-dir", str(tmp_path / "out")]) == 0
    assert np.asarray(Image.open(tmp_path / "out" / "labels.png")).shape == (60, 80)


@pytest.mark.parametrize("method", ["gaussian", "median", "curvature"])
def test_denoising_a_photo_runs_in_2d(method, tmp_path):
    photo = write(colour_picture(), tmp_path / "photo.png")
    assert main(["run", str(photo), "-k", "3", "--mask", "none", "--denoise", method, "--no-report", "-q",
                 "--output-dir", str(tmp_path / "out")]) == 0
