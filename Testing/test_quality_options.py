"""The quality options end to end: MRF prior, bias correction, denoising, k by BIC, lesion, evaluate."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from conftest import ROOT, dice, phantom_channels, save_nifti
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.output_files import SUMMARY_FILE
from UnsupervisedSegmentLib.core.volume import Channel, Grid
from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions, segment_channels


def tumour_phantom(seed: int = 0, noise: float = 0.1):
    """A brain-like ellipsoid of two tissues with a FLAIR- and T1c-bright spherical tumour."""
    rng = np.random.default_rng(seed)
    shape = (48, 56, 40)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    brain = i**2 + j**2 + k**2 < 0.8
    tissue = brain & (np.sin(6 * i) * np.cos(5 * j) > 0)
    tumour = (i - 0.3) ** 2 + (j + 0.2) ** 2 + k**2 < 0.06
    flair = np.where(tissue, 1.0, 0.7) + 1.2 * tumour
    t1c = np.where(tissue, 0.8, 1.0) + 0.8 * tumour
    grid = Grid(shape, np.eye(4))
    channels = [Channel(name, ((image + rng.normal(0, noise, shape)) * brain).astype(np.float32), grid)
                for name, image in (("flair", flair), ("t1c", t1c))]
    return channels, brain, tumour


def test_mrf_prior_raises_dice_on_a_noisy_phantom():
    channels, truth = phantom_channels(noise=25.0, shape=(64, 60, 24))
    plain = segment_channels(channels, SegmentationOptions(n_clusters=3))
    smooth = segment_channels(channels, SegmentationOptions(n_clusters=3, mrf_beta=1.0))
    mean_dice = [np.mean([dice(r.labels == c, truth == c) for c in (1, 2, 3)]) for r in (plain, smooth)]
    assert mean_dice[0] < 0.96 and mean_dice[1] > 0.99, mean_dice


def test_mrf_posteriors_are_kept_and_match_the_labels():
    channels, _ = phantom_channels(noise=30.0)
    result = segment_channels(channels, SegmentationOptions(method="kmeans", mrf_beta=0.8, mrf_neighbourhood=26, posteriors=True))
    inside = result.posteriors[result.mask]
    np.testing.assert_allclose(inside.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(inside.argmax(axis=1) + 1, result.labels[result.mask])


def test_bic_chooses_the_number_of_classes():
    channels, _ = phantom_channels(n_classes=4, noise=5.0)
    result = segment_channels(channels, SegmentationOptions(auto_clusters=(2, 6)))
    assert result.n_clusters == 4 and len(result.segments) == 4
    assert set(result.bic) == {2, 3, 4, 5, 6} and min(result.bic, key=result.bic.get) == 4
    assert "chosen by BIC" in result.notes[0]


def test_automatic_k_needs_the_mixture():
    channels, _ = phantom_channels()
    with pytest.raises(UserInputError, match="Gaussian mixture"):
        segment_channels(channels, SegmentationOptions(method="kmeans", auto_clusters=(2, 5)))


def test_bias_correction_recovers_tissues_split_by_a_bias_field():
    rng = np.random.default_rng(0)
    shape = (64, 64, 40)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    brain = i**2 + j**2 + k**2 < 0.8
    tissue = brain & (np.sin(6 * i) * np.cos(5 * j) > 0)
    image = (np.where(tissue, 1.0, 0.7) * np.exp(0.35 * (i + j)) + rng.normal(0, 0.04, shape)) * brain
    channels = [Channel("t1", image.astype(np.float32), Grid(shape, np.eye(4)))]
    plain = segment_channels(channels, SegmentationOptions(n_clusters=2))
    corrected = segment_channels(channels, SegmentationOptions(n_clusters=2, bias_correction=True))
    assert dice(plain.labels == 2, tissue) < 0.8
    assert dice(corrected.labels == 2, tissue) > 0.98
    np.testing.assert_array_equal(channels[0].data, image.astype(np.float32))


@pytest.mark.parametrize("options", [{"denoise": "curvature"}, {"denoise": "median"}, {"denoise": "gaussian"}])
def test_denoising_options_keep_the_inputs_and_the_answer(options):
    channels, truth = phantom_channels(noise=25.0, shape=(64, 60, 24))
    before = [c.data.copy() for c in channels]
    result = segment_channels(channels, SegmentationOptions(**options))
    assert min(dice(result.labels == c, truth == c) for c in (1, 2, 3)) > 0.93
    for channel, original in zip(channels, before):
        np.testing.assert_array_equal(channel.data, original)


def test_lesion_is_found_and_becomes_its_own_segment():
    # the phantom is two tissues, not a brain (no grey and white matter for the MS rule): its small
    # tumour is asked for by type (automatic choice calls anything under 5 mL MS, see test_lesion.py)
    channels, brain, tumour = tumour_phantom()
    options = SegmentationOptions(n_clusters=4, mrf_beta=1.0, lesion=True, lesion_type="tumour")
    result = segment_channels(channels, options, mask=brain)
    assert dice(result.lesion, tumour) > 0.85
    lesion = result.segments[-1]
    assert (lesion.name, lesion.label) == ("Lesion", 5)
    np.testing.assert_array_equal(result.labels == 5, result.lesion)
    row = result.statistics[-1]
    assert row["segment"] == "Lesion" and row["volume_ml"] == pytest.approx(np.count_nonzero(result.lesion) / 1000)
    assert sum(r["voxels"] for r in result.statistics) == np.count_nonzero(brain)


def test_lesion_needs_named_modalities():
    channels, brain, _ = tumour_phantom()
    unnamed = [Channel(f"input{n}", c.data, c.grid) for n, c in enumerate(channels)]
    with pytest.raises(UserInputError, match="flair|FLAIR"):
        segment_channels(unnamed, SegmentationOptions(lesion=True), mask=brain)


def test_cli_lesion_output_and_evaluate(tmp_path, capsys):
    channels, brain, tumour = tumour_phantom(seed=1)
    paths = [save_nifti(c.data, tmp_path / f"{c.name}.nii.gz", np.eye(4)) for c in channels]
    mask = save_nifti(brain.astype(np.uint8), tmp_path / "brain.nii.gz", np.eye(4))
    reference = save_nifti(tumour.astype(np.uint8) * 2, tmp_path / "reference.nii.gz", np.eye(4))
    out = tmp_path / "out"
    assert main(["run", *map(str, paths), "--names", "flair", "t1c", "--mask", str(mask), "--lesion-type", "tumour", "-k", "4",
                 "--mrf-beta", "1", "--no-report", "-q", "--output-dir", str(out)]) == 0
    lesion = np.asarray(nib.load(str(out / "lesion.nii.gz")).dataobj)
    assert set(np.unique(lesion)) == {0, 1}
    assert "Lesion" in (out / "statistics.csv").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(out / "lesion.nii.gz"), str(reference)]) == 0
    printed = dict(line.split(": ") for line in capsys.readouterr().out.splitlines())
    assert float(printed["dice"]) > 0.85
    assert set(printed) >= {"dice", "jaccard", "volume_difference_ml", "hausdorff95_mm"}
    assert main(["evaluate", str(out / "lesion.nii.gz"), str(reference), "--ref-label", "1"]) == 0
    assert float(dict(line.split(": ") for line in capsys.readouterr().out.splitlines())["dice"]) == 0.0


def test_cli_auto_k_reports_the_choice(tmp_path, capsys):
    channels, _ = phantom_channels(n_classes=4, noise=5.0)
    paths = [save_nifti(c.data, tmp_path / f"{c.name}.nii.gz") for c in channels]
    assert main(["run", *map(str, paths), "-k", "auto", "--no-report", "--output-dir", str(tmp_path / "o")]) == 0
    assert "k = 4 chosen by BIC" in capsys.readouterr().err


BRATS_CASE = ROOT.parent / "shared" / "data" / "brats2013-dev-case"


@pytest.mark.skipif(not BRATS_CASE.is_dir(), reason="the BRATS 2013 development case is not beside the project (../shared)")
def test_brats_dev_case_whole_tumour_dice_with_defaults(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(BRATS_CASE / "Flair_subtrMeanDivStd.nii.gz"), str(BRATS_CASE / "T1c_subtrMeanDivStd.nii.gz"),
                 "--names", "flair", "t1c", "--mask", str(BRATS_CASE / "brainmask.nii.gz"), "--lesion", "--no-report", "-q",
                 "--output-dir", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "lesion.nii.gz"), str(BRATS_CASE / "OTMultiClass.nii.gz")]) == 0
    measures = dict(line.split(": ") for line in capsys.readouterr().out.splitlines())
    assert float(measures["dice"]) >= 0.80, measures


def write_head(folder, lesion: str, sequences) -> list[str]:
    """A skull-stripped head phantom (lesion_phantoms) saved as one NIfTI file per sequence."""
    from lesion_phantoms import SPACING, head_images, head_phantom, skull_stripped

    classes, truth, brain, rng = head_phantom(lesion, seed=2)
    images = skull_stripped(head_images(classes, truth, rng, sequences, stroke=lesion == "stroke"), brain)
    affine = np.diag([*SPACING, 1.0])
    return [str(save_nifti(images[name], folder / f"{name}.nii.gz", affine)) for name in sequences]


def test_a_healthy_head_gives_an_empty_lesion_segment_and_exit_0(tmp_path, capsys):
    paths = write_head(tmp_path, "none", ("flair", "t1", "t2"))
    out = tmp_path / "out"
    assert main(["run", *paths, "--lesion", "-k", "3", "--mrf-beta", "0", "--quantised", "--no-report",
                 "--output-dir", str(out)]) == 0
    assert "no lesion found" in capsys.readouterr().err
    assert not np.asarray(nib.load(str(out / "lesion.nii.gz")).dataobj).any()
    lesion_row = (out / "statistics.csv").read_text().splitlines()[-1].split(",")
    assert lesion_row[:3] == ["Lesion", "4", "0"]
    assert (out / "quantised.nii.gz").exists()


def test_lesion_type_without_sequences_that_show_it_is_a_one_line_error(tmp_path, capsys):
    paths = write_head(tmp_path, "none", ("t1", "t1c"))
    status = main(["run", *paths, "--lesion-type", "stroke", "-q", "--output-dir", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2 and len(error.strip().splitlines()) == 1
    assert "lesion type 'stroke' needs a DWI or ADC channel" in error and "t1, t1c" in error
    assert not (tmp_path / "out").exists()


def test_lesion_type_reaches_the_batch_summary(tmp_path):
    import csv

    pytest.importorskip("distributed", reason="the batch mode needs Dask (the [batch] extra)")

    from UnsupervisedSegmentLib.cohort.batch import run_batch
    from UnsupervisedSegmentLib.cohort.manifest import read_manifest
    from UnsupervisedSegmentLib.cohort.runner import RunRequest

    (tmp_path / "c1").mkdir()
    dwi, adc = write_head(tmp_path / "c1", "stroke", ("dwi", "adc"))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"case_id,dwi,adc,lesion_type\nc1,{dwi},{adc},\nc2,{dwi},{adc},ms\n")
    options = SegmentationOptions(n_clusters=2, lesion=True, lesion_type="auto")
    run_batch(read_manifest(manifest), tmp_path / "out", RunRequest(options=options, report=False), workers=1)
    with open(tmp_path / "out" / SUMMARY_FILE, newline="") as stream:
        rows = {row["case_id"]: row for row in csv.DictReader(stream)}
    assert rows["c1"]["status"] == "done" and rows["c1"]["lesion_type"] == "stroke"  # decided by auto
    assert float(rows["c1"]["lesion_volume_ml"]) > 5
    assert rows["c2"]["status"] == "failed" and "lesion type 'ms' needs a FLAIR" in rows["c2"]["error"]
    manifest.write_text(f"case_id,dwi,lesion_type\nc1,{dwi},glioma\n")
    with pytest.raises(UserInputError, match="line 2: lesion type 'glioma' must be one of auto, tumour, ms, stroke"):
        read_manifest(manifest)
