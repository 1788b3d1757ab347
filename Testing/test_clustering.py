"""The clustering estimator and the pipeline on phantoms with known ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dice, phantom_channels
from sklearn.base import clone
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.engine.clustering import COVARIANCE_TYPES, ENGINES, ClusterModel
from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions, segment_channels


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", ["gmm", "kmeans"])
def test_easy_phantom_is_recovered_with_dice_above_095(method, engine):
    channels, truth = phantom_channels()
    result = segment_channels(channels, SegmentationOptions(method=method, n_clusters=3, engine=engine))
    # phantom classes get brighter inwards, so ordered labels equal the truth labels
    for label in (1, 2, 3):
        assert dice(result.labels == label, truth == label) >= 0.95, f"class {label}"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_covariance_type_fits(covariance_type, engine):
    channels, truth = phantom_channels()
    result = segment_channels(channels, SegmentationOptions(covariance_type=covariance_type, engine=engine))
    assert dice(result.labels == 3, truth == 3) >= 0.95


def test_labels_are_ordered_by_the_mean_of_the_first_feature():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(m, 0.5, (300, 2)) for m in (9.0, 1.0, 5.0)]).astype(np.float32)
    model = ClusterModel("gmm", 3, random_state=0).fit(X)
    assert np.all(np.diff(model.means_[:, 0]) > 0)
    labels = model.predict(X)
    assert [int(np.bincount(labels[i * 300:(i + 1) * 300]).argmax()) for i in range(3)] == [2, 0, 1]
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", ["gmm", "kmeans"])
def test_same_seed_gives_the_same_labels(method, engine):
    channels, _ = phantom_channels(noise=30.0)
    options = SegmentationOptions(method=method, n_clusters=4, seed=7, engine=engine)
    first = segment_channels(channels, options).labels
    np.testing.assert_array_equal(first, segment_channels(channels, options).labels)


def test_estimator_api_follows_scikit_learn():
    model = ClusterModel("kmeans", 4, covariance_type="diag", random_state=1)
    assert model.get_params() == {"method": "kmeans", "n_clusters": 4, "covariance_type": "diag", "random_state": 1, "engine": "fast"}
    assert clone(model).set_params(n_clusters=2).n_clusters == 2


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_clusters": 1}, "at least 2"),
        ({"n_clusters": 5}, "4 distinct"),
        ({"method": "dbscan"}, "unknown method"),
        ({"covariance_type": "banana"}, "unknown covariance"),
    ],
)
def test_bad_parameters_are_user_errors(params, message):
    X = np.repeat(np.arange(4, dtype=np.float32)[:, None], 10, axis=0)
    with pytest.raises(UserInputError, match=message):
        ClusterModel(**{"n_clusters": 2, **params}).fit(X)


def test_posteriors_are_probability_maps_inside_the_mask():
    channels, _ = phantom_channels()
    result = segment_channels(channels, SegmentationOptions(posteriors=True))
    assert result.posteriors.shape == result.labels.shape + (3,)
    np.testing.assert_allclose(result.posteriors[result.mask].sum(axis=1), 1, atol=1e-5)
    assert not result.posteriors[~result.mask].any()
    np.testing.assert_array_equal(result.posteriors[result.mask].argmax(axis=1) + 1, result.labels[result.mask])


def test_quantised_volume_holds_cluster_means():
    channels, _ = phantom_channels()
    result = segment_channels(channels, SegmentationOptions(method="kmeans"))
    for row in result.statistics:
        inside = result.labels == row["label"]
        np.testing.assert_allclose(result.quantised[inside][:, 0], row["mean_c0"], rtol=1e-5)
    assert not result.quantised[~result.mask].any()


def test_inputs_are_not_modified():
    channels, _ = phantom_channels()
    before = [c.data.copy() for c in channels]
    segment_channels(channels, SegmentationOptions(scaling="standard"))
    for channel, original in zip(channels, before):
        np.testing.assert_array_equal(channel.data, original)
