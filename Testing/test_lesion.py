"""The automatic lesion rule on a synthetic FLAIR / T1c brain with a ring-enhancing tumour."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.mixture import GaussianMixture

from UnsupervisedSegmentLib.lesion import channel_role, fill_enclosed_holes, find_lesion
from UnsupervisedSegmentLib.metrics import dice

SPACING = (1.0, 1.0, 1.0)
CSF, GM, WM, OEDEMA, ENHANCING, NECROSIS = range(1, 7)
#: Class means (0 = background) of FLAIR and T1 post-contrast.
FLAIR = np.array([0.0, 0.25, 1.00, 0.85, 1.55, 1.35, 0.50])
T1C = np.array([0.0, 0.30, 0.65, 0.90, 0.60, 1.50, 0.35])


def tumour_phantom(noise: float = 0.05, seed: int = 0):
    """Truth labels, brain mask and noisy FLAIR/T1c of a brain with a tumour and a small bright speck."""
    rng = np.random.default_rng(seed)
    shape = (56, 56, 40)
    grid = np.indices(shape, dtype=float)
    depth = np.sqrt((((grid - np.array([28, 28, 20])[:, None, None, None]) / np.array([26, 26, 18])[:, None, None, None]) ** 2).sum(0))
    truth = np.zeros(shape, dtype=np.uint8)
    truth[depth < 1.0] = CSF
    truth[depth < 0.9] = GM
    truth[depth < 0.7] = WM
    distance = np.sqrt(((grid - np.array([20, 30, 20])[:, None, None, None]) ** 2).sum(0))
    truth[distance < 9] = OEDEMA
    truth[distance < 5] = ENHANCING
    truth[distance < 3] = NECROSIS
    truth[40:43, 20:23, 20:23] = OEDEMA  # 27 voxels = 0.027 mL
    channels = {
        "T2_FLAIR": (FLAIR[truth] + rng.normal(0, noise, shape)) * (truth > 0),
        "T1_contrast": (T1C[truth] + rng.normal(0, noise, shape)) * (truth > 0),
    }
    return truth, truth > 0, channels


def whole_tumour(truth: np.ndarray) -> np.ndarray:
    """The tumour without the speck: its largest connected part."""
    tumour = truth >= OEDEMA
    tumour[40:43, 20:23, 20:23] = False
    return tumour


@pytest.mark.parametrize(
    "name, role",
    [
        ("flair", "flair"),
        ("T2_FLAIR", "flair"),
        ("Flair_subtrMeanDivStd", "flair"),
        ("t1c", "t1c"),
        ("T1_contrast", "t1c"),
        ("T1Gd", "t1c"),
        ("T1CE", "t1c"),
        ("t1+c", "t1c"),
        ("T2w", "t2"),
        ("t1", "t1"),
        ("T1-weighted", "t1"),
        ("ADC", "adc"),
        ("c0", None),
    ],
)
def test_channel_names_map_to_roles_case_insensitively(name, role):
    assert channel_role(name) == role


def test_the_rule_picks_the_hyperintense_clusters_and_drops_the_speck():
    truth, mask, channels = tumour_phantom()
    result = find_lesion(truth, mask, channels, SPACING)
    assert set(result.clusters) == {OEDEMA, ENHANCING}
    assert result.scores[OEDEMA]["T2_FLAIR"] >= 2 and result.scores[ENHANCING]["T1_contrast"] >= 2
    assert max(result.scores[WM].values()) < 2 and max(result.scores[GM].values()) < 2
    np.testing.assert_array_equal(result.mask, whole_tumour(truth))  # necrotic core filled, speck dropped
    assert "LESION" in result.description and "T2_FLAIR as flair" in result.description


def test_components_are_filtered_by_absolute_and_relative_size():
    truth, mask, channels = tumour_phantom()
    keep_all = find_lesion(truth, mask, channels, SPACING, min_component_ml=0, min_component_fraction=0)
    assert keep_all.mask[40:43, 20:23, 20:23].all()
    relative = find_lesion(truth, mask, channels, SPACING, min_component_ml=0, min_component_fraction=0.1)
    assert not relative.mask[40:43, 20:23, 20:23].any()
    coarse = find_lesion(truth, mask, channels, (0.4, 0.4, 0.4), min_component_ml=0.5, min_component_fraction=0)
    assert not coarse.mask.any()  # the whole tumour is about 0.2 mL at 0.4 mm voxels


def test_hole_filling_adds_the_enclosed_necrotic_core():
    truth, mask, channels = tumour_phantom()
    unfilled = find_lesion(truth, mask, channels, SPACING, fill_holes=False)
    assert not unfilled.mask[truth == NECROSIS].any()
    assert unfilled.mask[truth == ENHANCING].all()


def test_pipeline_labels_with_zero_outside_and_a_fitted_mixture_work():
    truth, mask, channels = tumour_phantom(noise=0.08)
    X = np.stack([channels["T2_FLAIR"][mask], channels["T1_contrast"][mask]], axis=1)
    labels = np.zeros(truth.shape, dtype=np.int16)
    labels[mask] = GaussianMixture(6, covariance_type="full", random_state=123).fit_predict(X) + 1
    result = find_lesion(labels, mask, channels, SPACING)
    assert 0 not in result.clusters
    assert dice(result.mask, whole_tumour(truth)) > 0.9


def test_flair_alone_is_enough_and_t1_alone_is_refused():
    truth, mask, channels = tumour_phantom()
    flair_only = find_lesion(truth, mask, {"flair": channels["T2_FLAIR"]}, SPACING)
    assert OEDEMA in flair_only.clusters
    with pytest.raises(ValueError, match="FLAIR, T2 or T1 post-contrast"):
        find_lesion(truth, mask, {"t1": channels["T1_contrast"], "adc": channels["T2_FLAIR"]}, SPACING)


def test_bad_parameters_raise_value_errors():
    truth, mask, channels = tumour_phantom()
    with pytest.raises(ValueError, match="same shape"):
        find_lesion(truth[:10], mask, channels, SPACING)
    with pytest.raises(ValueError, match="spacing"):
        find_lesion(truth, mask, channels, (1.0, 1.0))
    with pytest.raises(ValueError, match="z_threshold"):
        find_lesion(truth, mask, channels, SPACING, z_threshold=0)
    with pytest.raises(ValueError, match="min_component_fraction"):
        find_lesion(truth, mask, channels, SPACING, min_component_fraction=2)
    with pytest.raises(ValueError, match="empty"):
        find_lesion(truth, np.zeros_like(mask), channels, SPACING)
    channels["T2_FLAIR"][20, 30, 20] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        find_lesion(truth, mask, channels, SPACING)


def test_holes_open_out_of_plane_are_filled_across_the_coarsest_axis():
    grid = np.indices((20, 20, 10))
    radius = np.hypot(grid[0] - 10, grid[1] - 10)
    tube = (radius >= 4) & (radius < 6)  # a shell open at both ends of the last axis
    assert not ndimage.binary_fill_holes(tube)[10, 10].any()
    assert fill_enclosed_holes(tube, (1.0, 1.0, 3.0))[radius < 6].all()
    assert not fill_enclosed_holes(tube, (3.0, 1.0, 1.0))[10, 10].any()
