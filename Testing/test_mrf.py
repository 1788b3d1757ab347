"""Mean-field Potts regularisation: identity at beta = 0, denoising of a noisy phantom."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture
from UnsupervisedSegmentLib.engine.mrf import mixture_log_likelihood, neighbour_offsets, regularise_posteriors


def noisy_ball(shape=(32, 32, 32), noise: float = 0.6, seed: int = 0):
    """A bright ball in a dark box with heavy noise, a 2-class GMM fitted to it, and the truth."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape) - np.array(shape)[:, None, None, None] // 2
    truth = (grid**2).sum(axis=0) < 10**2
    image = truth + rng.normal(0, noise, shape)
    X = image.reshape(-1, 1)
    model = GaussianMixture(2, random_state=0).fit(X)
    log_likelihood = mixture_log_likelihood(X, model.weights_, model.means_, model.covariances_)
    return log_likelihood.reshape(shape + (2,)).astype(np.float32), truth, model, X


def test_beta_zero_returns_the_plain_mixture_posteriors():
    log_likelihood, truth, model, X = noisy_ball()
    mask = np.ones(truth.shape, dtype=bool)
    mask[:4] = False
    posteriors = regularise_posteriors(log_likelihood, mask, beta=0.0)
    assert posteriors.dtype == np.float32 and posteriors.shape == log_likelihood.shape
    np.testing.assert_allclose(posteriors[mask], model.predict_proba(X)[mask.ravel()], atol=1e-6)
    assert not posteriors[~mask].any()


@pytest.mark.parametrize("neighbourhood", [6, 26])
def test_mrf_raises_the_accuracy_on_a_noisy_two_class_phantom(neighbourhood):
    log_likelihood, truth, model, _ = noisy_ball()
    mask = np.ones(truth.shape, dtype=bool)
    bright = int(np.argmax(model.means_[:, 0]))

    def accuracy(beta: float) -> float:
        posteriors = regularise_posteriors(log_likelihood, mask, beta, neighbourhood, iterations=5)
        return float(np.mean((posteriors.argmax(axis=-1) == bright) == truth))

    plain = accuracy(0.0)
    assert plain < 0.8
    assert accuracy(1.0) > 0.95
    assert accuracy(0.5) > plain


def test_neighbours_outside_the_mask_are_ignored():
    log_likelihood = np.zeros((5, 5, 5, 2), dtype=np.float32)
    log_likelihood[..., 0] = np.nan  # garbage outside the mask must not leak in
    mask = np.zeros((5, 5, 5), dtype=bool)
    for corner in ((0, 0, 0), (2, 2, 2)):  # two masked voxels, not neighbours, in a box of NaN
        mask[corner] = True
        log_likelihood[corner] = [np.log(0.3), np.log(0.7)]
    posteriors = regularise_posteriors(log_likelihood, mask, beta=5.0, neighbourhood=26)
    np.testing.assert_allclose(posteriors[mask], [[0.3, 0.7], [0.3, 0.7]], rtol=1e-6)
    assert np.isfinite(posteriors).all()


def test_neighbour_weights_are_inverse_distances_summing_to_six():
    assert [w for _, w in neighbour_offsets(6)] == pytest.approx([1.0] * 6)
    weights = dict(neighbour_offsets(26, (1.0, 1.0, 2.0)))
    assert sum(weights.values()) == pytest.approx(6.0)
    assert weights[(1, 0, 0)] / weights[(0, 0, 1)] == pytest.approx(2.0)
    assert weights[(1, 0, 0)] / weights[(1, 1, 0)] == pytest.approx(np.sqrt(2))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_log_likelihood_matches_scikit_learn(covariance_type):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(m, 1.0, (200, 3)) for m in (0.0, 3.0, 6.0)])
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    ours = mixture_log_likelihood(X, model.weights_, model.means_, model.covariances_, covariance_type)
    theirs = np.log(model.predict_proba(X)) + model.score_samples(X)[:, None]
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-6, atol=1e-6)


def test_bad_parameters_raise_value_errors():
    log_likelihood = np.zeros((3, 3, 3, 2), dtype=np.float32)
    mask = np.ones((3, 3, 3), dtype=bool)
    with pytest.raises(ValueError, match="beta"):
        regularise_posteriors(log_likelihood, mask, beta=-1.0)
    with pytest.raises(ValueError, match="neighbourhood"):
        regularise_posteriors(log_likelihood, mask, beta=1.0, neighbourhood=8)
    with pytest.raises(ValueError, match="iterations"):
        regularise_posteriors(log_likelihood, mask, beta=1.0, iterations=-2)
    with pytest.raises(ValueError, match="shape"):
        regularise_posteriors(log_likelihood, mask[:2], beta=1.0)
    with pytest.raises(ValueError, match="spacing"):
        regularise_posteriors(log_likelihood, mask, beta=1.0, spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="covariance"):
        mixture_log_likelihood(np.zeros((2, 1)), [1.0], [[0.0]], [[[1.0]]], "banana")
