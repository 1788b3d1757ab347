"""The foreground mask: lesson rule, Otsu, none, given mask, NaN handling, empty mask."""

from __future__ import annotations

import numpy as np
import pytest
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.volume import Channel, Grid
from UnsupervisedSegmentLib.engine.masking import build_mask, otsu_threshold

GRID = Grid((4, 4, 2), np.eye(4))


def channel(name: str, data) -> Channel:
    return Channel(name, np.asarray(data, dtype=np.float32).reshape(GRID.shape), GRID)


def test_nonzero_rule_needs_every_input_above_zero():
    a = channel("a", np.r_[np.zeros(8), np.ones(24)])
    b = channel("b", np.r_[np.ones(16), -np.ones(4), np.ones(12)])
    mask, warnings = build_mask([a, b], "nonzero")
    assert mask.sum() == 20 and warnings == []


def test_otsu_separates_a_bimodal_image():
    rng = np.random.default_rng(1)
    low, high = rng.normal(10, 1, 5000), rng.normal(50, 2, 3000)
    threshold = otsu_threshold(np.r_[low, high])
    assert low.max() < threshold < high.min()
    data = channel("a", np.r_[np.full(12, 10.0), np.full(20, 50.0)])
    mask, _ = build_mask([data], "otsu")
    assert mask.sum() == 20


def test_none_keeps_every_finite_voxel():
    mask, _ = build_mask([channel("a", np.zeros(32))], "none")
    assert mask.all()


def test_given_mask_replaces_the_rule():
    given = np.zeros(GRID.shape)
    given[0, 0, 0] = 3
    mask, _ = build_mask([channel("a", np.ones(32))], "nonzero", given)
    assert mask.sum() == 1


def test_nan_and_inf_voxels_are_left_out_with_a_warning():
    data = np.ones(32)
    data[[1, 5]] = [np.nan, np.inf]
    mask, warnings = build_mask([channel("a", data)], "none")
    assert mask.sum() == 30
    assert warnings[0].startswith("2 voxels hold NaN")


@pytest.mark.parametrize("rule", ["nonzero", "otsu"])
def test_empty_mask_is_a_user_error(rule):
    with pytest.raises(UserInputError):
        build_mask([channel("a", np.zeros(32))], rule)


def test_unknown_rule_is_a_user_error():
    with pytest.raises(UserInputError, match="unknown mask rule"):
        build_mask([channel("a", np.ones(32))], "everything")
