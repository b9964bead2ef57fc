"""Issue 14 regressions: categorical_sample refuses probabilities that are not a distribution,
and b_noise refuses a covariance that is not symmetric positive semidefinite (before, both
returned silently wrong numbers: biased indices, negative noise scales)."""
from __future__ import annotations

import numpy as np
import pytest

from numopt.estimators import categorical_sample
from numopt.scaling import b_noise
from probspace.random import Stream
from probspace.testing import chisquare_gof
from probspace import to_numpy


@pytest.mark.parametrize("probs,match", [
    ([0.5, -0.1, 0.6], "non-negative"),
    ([0.5, float("nan"), 0.5], "NaN"),
    ([0.0, 0.0, 0.0], "entirely zero"),
    ([0.2, 0.2, 0.2], "sum to 1"),
    ([[0.5, 0.5], [0.9, 0.3]], "sum to 1"),
    ([0.5, float("inf")], "infinite"),
])
def test_categorical_sample_refuses_bad_probabilities(probs, match):
    with pytest.raises(ValueError, match=match):
        categorical_sample(np.array(probs), 10, Stream(0))
    with pytest.raises(ValueError, match="probs"):
        categorical_sample(np.array(probs), 10, Stream(0))


def test_categorical_sample_argument_errors_and_empty_batches():
    with pytest.raises(ValueError, match="no categories"):
        categorical_sample(np.ones((3, 0)), 5, Stream(0))
    with pytest.raises(ValueError, match="n_samples"):
        categorical_sample(np.array([0.5, 0.5]), -1, Stream(0))
    assert categorical_sample(np.ones((0, 4)) / 4, 5, Stream(0)).shape == (5, 0)
    assert categorical_sample(np.array([0.5, 0.5]), 0, Stream(0)).shape == (0,)


def test_categorical_sample_frequencies_and_zero_mass_categories(xp):
    # rows that sum to 1 only within rounding still sample exactly their own masses, and a
    # zero-probability category (also the last one) is never drawn
    p = np.array([[0.2, 0.3, 0.5, 0.0], [0.0, 0.7, 0.0, 0.3 - 1e-12]])
    ys = to_numpy(categorical_sample(xp.asarray(p), 20_000, Stream(7)))
    for row in range(2):
        counts = np.bincount(ys[:, row], minlength=4)
        assert np.all(counts[p[row] == 0] == 0)
        keep = p[row] > 0
        res = chisquare_gof(counts[keep], p[row][keep] / p[row][keep].sum())
        assert res.pvalue > 1e-3


def test_b_noise_refuses_a_covariance_that_is_not_psd_or_symmetric():
    h = np.diag([1.0, 2.0, 5.0])
    g = h @ np.array([1.0, -1.0, 0.5])      # numopt.md: theta = (1, -1, .5), g = H theta
    good = np.diag([4.0, 1.0, 9.0])
    np.testing.assert_allclose(b_noise(g, h, good), 1.2671, rtol=1e-4)   # numopt.md oracle
    not_psd = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])   # eigenvalue -1
    with pytest.raises(ValueError, match="cov must be positive semidefinite"):
        b_noise(g, h, not_psd)
    with pytest.raises(ValueError, match="cov must be symmetric"):
        b_noise(g, h, good + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match="hessian must be symmetric"):
        b_noise(g, h + np.triu(np.ones((3, 3)), 1), good)
    # an indefinite Hessian whose negative direction carries the noise: B_noise < 0 refused
    h_ind = np.diag([1.0, 1.0, -5.0])
    with pytest.raises(ValueError, match="tr\\(cov @ hessian\\)"):
        b_noise(np.array([1.0, 1.0, 0.0]), h_ind, np.diag([0.1, 0.1, 1.0]))
    # a PSD covariance with rounding-level asymmetry and a zero eigenvalue is accepted
    a = np.random.default_rng(0).normal(size=(3, 2))
    c = a @ a.T
    c[0, 1] += 1e-16
    assert float(b_noise(g, h, c)) >= 0
