"""The brain tissue model (tissue.model, --tissue) on phantoms with real partial volume.

The phantom brain is drawn at three times the resolution (CSF outside and in a ventricle, a grey-matter
shell, white matter inside) and averaged down to 1 mm voxels, so boundary voxels mix two tissues with a
known fraction, as in a real scan.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import save_nifti
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.options import SegmentationOptions
from UnsupervisedSegmentLib.core.volume import Channel, Grid, masked_rows
from UnsupervisedSegmentLib.pipeline.segmentation import segment_channels
from UnsupervisedSegmentLib.tissue.model import _class_peaks, _histogram, _smoothed, segment_tissue

SHAPE = (44, 48, 36)
FACTOR = 3
#: T1-like intensities of CSF, grey and white matter (T2: reversed).
T1_MEANS = (40.0, 100.0, 150.0)


def phantom(noise: float = 3.0, seed: int = 0, field: bool = False):
    """(T1 image, mask, true fractions (I, J, K, 3)) of the partial-volume phantom."""
    fine = tuple(n * FACTOR for n in SHAPE)
    i, j, k = np.meshgrid(*[(np.arange(n) + 0.5) / n * 2 - 1 for n in fine], indexing="ij")
    wobble = 0.06 * np.sin(7 * np.arctan2(j, i)) * np.cos(5 * k)  # folded cortex: boundaries at every angle
    radius = np.sqrt(i**2 + j**2 + (1.2 * k) ** 2) + wobble
    tissue = np.full(fine, -1, np.int8)
    tissue[radius < 0.95] = 0  # CSF around the brain
    tissue[radius < 0.85] = 1  # grey matter
    tissue[radius < 0.70] = 2  # white matter
    tissue[(np.abs(i) < 0.12) & (np.abs(j) < 0.3) & (np.abs(k) < 0.25)] = 0  # a ventricle
    fractions = np.stack([(tissue == t) for t in range(3)], axis=-1).astype(np.float32)
    fractions = fractions.reshape(SHAPE[0], FACTOR, SHAPE[1], FACTOR, SHAPE[2], FACTOR, 3).mean(axis=(1, 3, 5))
    inside = fractions.sum(axis=-1)
    mask = inside > 0.99
    image = fractions @ np.array(T1_MEANS, np.float32)
    if field:
        x, y, _z = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
        image = image * np.exp(0.15 * x - 0.1 * y**2).astype(np.float32)
    image = image + np.random.default_rng(seed).normal(0, noise, SHAPE).astype(np.float32)
    return np.where(mask, image, 0).astype(np.float32), mask, fractions


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def tissue_scores(labels: np.ndarray, mask: np.ndarray, fractions: np.ndarray) -> tuple[float, float]:
    truth = masked_rows(fractions, mask).argmax(axis=1) + 1
    return dice(labels == 2, truth == 2), dice(labels == 3, truth == 3)


GRID = Grid(SHAPE, np.eye(4))


def test_partial_volume_voxels_are_split_by_their_fractions():
    image, mask, fractions = phantom()
    result = segment_tissue([Channel("t1", image, GRID)], mask)
    np.testing.assert_allclose(result.fit.means, T1_MEANS, atol=6.0)  # the pure tissues, not pulled by mixed voxels
    truth = masked_rows(fractions, mask)
    mixed = truth.max(axis=1) < 0.9
    assert mixed.mean() > 0.2  # a real share of partial-volume voxels
    assert np.abs(result.fractions[mixed] - truth[mixed]).mean() < 0.12
    np.testing.assert_allclose(result.fractions.sum(axis=1), 1.0, atol=1e-4)
    grey, white = tissue_scores(result.labels, mask, fractions)
    assert grey > 0.9 and white > 0.93


def test_the_tissue_model_beats_a_three_class_mixture_on_partial_volume():
    image, mask, fractions = phantom()
    channels = [Channel("t1", image, GRID)]
    mixture = segment_channels(channels, SegmentationOptions(n_clusters=3), mask=mask)
    tissue = segment_channels(channels, SegmentationOptions(tissue=True), mask=mask)
    mixture_scores = tissue_scores(masked_rows(mixture.labels, mask), mask, fractions)
    tissue_scores_ = tissue_scores(masked_rows(tissue.labels, mask), mask, fractions)
    assert sum(tissue_scores_) > sum(mixture_scores) + 0.02


def test_a_bias_field_is_corrected_inside_the_loop():
    image, mask, fractions = phantom(field=True)
    corrected = segment_tissue([Channel("t1", image, GRID)], mask)
    uncorrected = segment_tissue([Channel("t1", image, GRID)], mask, bias=False)
    assert corrected.bias_field is not None and uncorrected.bias_field is None
    assert sum(tissue_scores(corrected.labels, mask, fractions)) > sum(tissue_scores(uncorrected.labels, mask, fractions))
    assert min(tissue_scores(corrected.labels, mask, fractions)) > 0.88


@pytest.mark.parametrize("step", [1 / 3, 0.5, 2.0, 3.0])
def test_the_tissue_histogram_of_quantised_intensities_has_no_empty_bins(step):
    """Thick slices averaged from integers (steps of 1/3) or integers times a slope: every bin holds whole
    steps. One bin per integer, or 1024 bins over the range, left every other bin or two in three empty."""
    image, mask, _fractions = phantom()
    values = masked_rows(np.round(image / step) * step, mask).astype(np.float64)
    centres, counts, _low, _high = _histogram(values)
    inner = counts[(centres > 45) & (centres < 145)]
    assert inner.size > 20 and inner.min() > 0


@pytest.mark.parametrize("step", [0.0, 1 / 3, 0.5, 1.0, 2.0])
def test_the_noise_sd_is_measured_whatever_the_storage_step(step):
    """The phantom's noise (SD 3) stored continuously, in thirds, halves, integers or even integers: the bias
    iterations' corrected values lie near the stored steps, and a histogram smoothed over a few bins read
    the half width off one spike (SD 0.25, the floor); smoothed in intensity units it reads the noise."""
    image, mask, fractions = phantom()
    stored = image if step == 0 else np.where(mask, np.round(image / step) * step, 0).astype(np.float32)
    result = segment_tissue([Channel("t1", stored, GRID)], mask)
    assert 2.0 < result.fit.sds[0] < 4.5
    np.testing.assert_allclose(result.fit.means, T1_MEANS, atol=3.0)


def _peaks_of(density, centres_kmeans: list[float], csf: int) -> np.ndarray:
    centres = np.arange(0.0, 400.0, 0.25)
    counts = 1e4 * density(centres)
    return _class_peaks(centres, _smoothed(centres, counts, 4.0), np.array(centres_kmeans, dtype=float), csf)


def test_csf_without_a_peak_of_its_own_is_at_the_end_of_the_histogram():
    """T1: grey and white matter peaks; CSF only a ramp of mixed voxels up to grey matter. Its k-means centre
    (pulled up by the mixed voxels) is not its pure intensity; the histogram's end on its side is."""
    def t1(x):
        return (np.exp(-0.5 * ((x - 170) / 8) ** 2) + np.exp(-0.5 * ((x - 220) / 6) ** 2)
                + 0.2 * np.clip((x - 60) / 110, 0, 1) * (x < 170))
    np.testing.assert_allclose(_peaks_of(t1, [110, 168, 212], csf=0), [0.0, 170, 220], atol=2.0)
    t2 = lambda x: t1(400 - x)  # noqa: E731  CSF brightest
    np.testing.assert_allclose(_peaks_of(t2, [188, 232, 290], csf=2), [180, 230, 399.75], atol=2.0)


def test_a_peak_at_the_border_of_two_classes_is_theirs_together():
    """FLAIR: grey and white matter make one peak between their k-means centres; it is not white matter's
    pure intensity (the classes would merge): both keep their centres; a CSF peak is still CSF's."""
    def flair(x):
        return np.exp(-0.5 * ((x - 150) / 10) ** 2) + 3 * np.exp(-0.5 * ((x - 294) / 30) ** 2)
    np.testing.assert_allclose(_peaks_of(flair, [160, 271, 319], csf=0), [150, 271, 319], atol=1.0)


def test_t2_has_the_reverse_order_and_t1_is_preferred():
    image, mask, fractions = phantom()
    t2 = np.where(mask, 190.0 - image, 0).astype(np.float32)  # CSF bright, white matter dark
    result = segment_tissue([Channel("T2w", t2, GRID)], mask)
    assert min(tissue_scores(result.labels, mask, fractions)) > 0.88
    both = segment_tissue([Channel("T2w", t2, GRID), Channel("T1_mprage", image, GRID)], mask)
    assert "T1_mprage" in both.notes[0]


def test_segments_are_named_and_measured_and_the_lesion_comes_last():
    image, mask, _ = phantom()
    flair = np.where(mask, 100.0 + np.random.default_rng(1).normal(0, 3, SHAPE), 0).astype(np.float32)
    channels = [Channel("t1", image, GRID), Channel("flair", flair, GRID)]
    result = segment_channels(channels, SegmentationOptions(tissue=True, posteriors=True, lesion=True, lesion_type="ms"),
                              mask=mask)
    assert [s.name for s in result.segments] == ["CSF", "Grey matter", "White matter", "Lesion"]
    assert [row["segment"] for row in result.statistics][:3] == ["CSF", "Grey matter", "White matter"]
    assert sum(row["voxels"] for row in result.statistics) == np.count_nonzero(mask)
    assert result.posteriors.shape == SHAPE + (3,)
    np.testing.assert_allclose(result.posteriors[mask].sum(axis=1), 1.0, atol=1e-4)
    assert result.model.method == "tissue" and result.n_clusters == 3


def test_inputs_that_cannot_show_tissue_are_one_line_errors():
    image, mask, _ = phantom()
    with pytest.raises(UserInputError, match="--tissue needs a T1, T2 or FLAIR input"):
        segment_tissue([Channel("adc", image, GRID)], mask)
    with pytest.raises(UserInputError, match="-k auto"):
        segment_channels([Channel("t1", image, GRID)], SegmentationOptions(tissue=True, auto_clusters=(2, 4)))


def test_a_mask_larger_than_any_brain_is_said_in_a_note():
    """Whole-head images under the non-zero mask: scalp and skull become 'tissue'; the note says so."""
    image, mask, _ = phantom()
    notes = {}
    for voxel_mm in (1.0, 5.0):  # about 26 mL and 3.3 L of mask
        grid = Grid(SHAPE, np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0]))
        notes[voxel_mm] = segment_tissue([Channel("t1", image, grid)], mask).notes
    assert not any("more than a brain" in note for note in notes[1.0])
    assert any("more than a brain" in note and "skull-stripped" in note for note in notes[5.0])


def test_cli_tissue_run_writes_named_segments_and_fractions(tmp_path, capsys):
    image, _, _ = phantom()
    path = save_nifti(image, tmp_path / "t1.nii.gz", np.eye(4))
    assert main(["run", str(path), "--tissue", "--posteriors", "--output-dir", str(tmp_path / "out"), "-q"]) == 0
    statistics = (tmp_path / "out" / "statistics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in statistics[1:]] == ["CSF", "Grey matter", "White matter"]
    import nibabel as nib

    posteriors = np.asarray(nib.load(str(tmp_path / "out" / "posteriors.nii.gz")).dataobj)
    assert posteriors.shape == SHAPE + (3,)
    assert main(["run", str(path), "--tissue", "-k", "auto", "--output-dir", str(tmp_path / "bad"), "-q"]) == 2
    assert "-k auto" in capsys.readouterr().err


def test_the_ms_rule_uses_the_tissue_model_on_a_head_and_the_plain_rule_on_two_intensities():
    from lesion_phantoms import SPACING, head_images, head_phantom
    from UnsupervisedSegmentLib.lesion.rule import find_lesion

    classes, truth, brain, rng = head_phantom("ms", seed=2)
    images = head_images(classes, truth, rng, ("flair", "t1"))
    result = find_lesion(images, brain, SPACING, "ms")
    assert "MS: tissue model on t1" in result.description
    assert dice(result.mask, truth) > 0.7
    box = np.zeros((30, 30, 20), np.float32)
    box[5:25, 5:25, 5:15] = 50
    box[12:17, 12:17, 8:12] = 120
    noisy = {name: box + np.random.default_rng(n).normal(0, 1, box.shape).astype(np.float32) * (box > 0)
             for n, name in enumerate(("flair", "t1"))}
    plain = find_lesion(noisy, box > 0, (1.0, 1.0, 1.0), "ms")
    assert "no grey and white matter told apart" in plain.description
