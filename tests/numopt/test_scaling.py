"""Batch-size laws against brute force on the exact noisy quadratic of the reference
(H = diag(1, 2, 5), theta = (1, -1, 0.5), Sigma = diag(4, 1, 9)) and Monte Carlo."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from numopt import scaling
from probspace import to_numpy
from probspace.random import Stream
from probspace.testing import xp_assert_close

H = np.diag([1.0, 2.0, 5.0])
THETA = np.array([1.0, -1.0, 0.5])
G = H @ THETA
SIGMA = np.diag([4.0, 1.0, 9.0])


def test_reference_values(xp):
    lm = scaling.lr_max(xp.asarray(G), xp.asarray(H))
    bn = scaling.b_noise(xp.asarray(G), xp.asarray(H), xp.asarray(SIGMA))
    assert float(lm) == pytest.approx(0.27950, abs=5e-6)
    assert float(bn) == pytest.approx(1.2671, abs=5e-5)
    eta = scaling.optimal_lr(xp.asarray([1.0, 4.0, 16.0, 64.0]), lm, bn)
    xp_assert_close(eta, xp.asarray([0.1233, 0.2123, 0.2590, 0.2741]), atol=6e-5, rtol=0)


def _expected_loss_bruteforce(eta, B):
    # E over xi ~ N(0, Sigma) of L(theta - eta (g + xi / sqrt(B))), L = theta^T H theta / 2, by
    # a 3-D Gauss-Hermite product rule (exact for this quadratic integrand)
    z, w = np.polynomial.hermite_e.hermegauss(5)
    w = w / w.sum()
    sd = np.sqrt(np.diag(SIGMA))
    out = np.zeros_like(eta)
    for (i, j, k) in itertools.product(range(5), repeat=3):
        xi = sd * np.array([z[i], z[j], z[k]])
        th = THETA[None, :] - eta[:, None] * (G + xi / math.sqrt(B))[None, :]
        out += w[i] * w[j] * w[k] * 0.5 * np.einsum("ni,ij,nj->n", th, H, th)
    return out


def test_grid_optimal_lr_matches_the_law():
    grid = np.arange(0.0, 0.4, 1e-4)
    lm = float(scaling.lr_max(G, H))
    bn = float(scaling.b_noise(G, H, SIGMA))
    ref_grid = {1: 0.1230, 4: 0.2120, 16: 0.2590, 64: 0.2740}   # reference's (coarser) grid
    for B in (1, 4, 16, 64):
        best = grid[np.argmin(_expected_loss_bruteforce(grid, B))]
        assert abs(best - float(scaling.optimal_lr(B, lm, bn))) <= 1e-4
        assert abs(best - ref_grid[B]) <= 5e-4


def test_b_simple_from_per_example_gradients():
    # tr(Sigma) / |g|^2 = 14 / 11.25 = 1.2444
    n = 100_000
    xi = Stream(7).normal((n, 3)) * np.sqrt(np.diag(SIGMA))
    est = float(scaling.b_simple(G + xi))
    # relative sd ~ sqrt(1/n + 4 g^T Sigma g / (n |g|^4)) ~ 0.5%: 2% is 4 sigma
    assert est == pytest.approx(14 / 11.25, rel=0.02)
    assert 14 / 11.25 == pytest.approx(1.2444, abs=5e-5)
    # B_simple equals B_noise when H is a multiple of the identity
    assert float(scaling.b_noise(G, 3 * np.eye(3), SIGMA)) == pytest.approx(14 / 11.25)
    # the unbiased |g|^2 estimate fixes the small-n bias of |gbar|^2
    batches = G + Stream(5).normal((400, 4, 3)) * np.sqrt(np.diag(SIGMA))
    biased = [float(scaling.b_simple(bt, unbiased=False)) for bt in batches]
    # E|gbar|^2 = |g|^2 + tr(Sigma)/4 = 14.75: the plain estimate centres near 14/14.75 = 0.95
    assert np.median(biased) < 1.1


def test_b_simple_array_api(xp):
    grads = xp.asarray([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0]])
    gbar = np.array([2.0, 3.0])
    tr = 1.0 + 3.0
    assert float(scaling.b_simple(grads, unbiased=False)) == pytest.approx(tr / (gbar @ gbar))
    assert float(scaling.b_simple(grads)) == pytest.approx(tr / (gbar @ gbar - tr / 3))


def test_expected_sign_monte_carlo():
    g, sigma, B = 0.1, 1.0, 32
    n = 1_000_000
    z = Stream(3).normal(n)
    mc = np.mean(np.sign(g + sigma * z / math.sqrt(B)))
    val = float(scaling.expected_sign(np.array(g), sigma, B))
    assert val == pytest.approx(0.4284, abs=5e-5)
    assert abs(mc - val) < 4 * math.sqrt((1 - val ** 2) / n)


HC = np.array([[2.0, 0.8, 0.3], [0.8, 1.5, -0.4], [0.3, -0.4, 1.0]])
GC = np.array([0.3, -0.2, 0.5])
SC = np.diag([1.0, 0.5, 2.0])


def _sign_sgd_expected_loss(eta, B):
    # exact: enumerate the 8 sign patterns of g + xi/sqrt(B) (independent coordinates)
    pplus = stats.norm.cdf(GC * math.sqrt(B) / np.sqrt(np.diag(SC)))
    out = np.zeros_like(eta)
    for signs in itertools.product([1.0, -1.0], repeat=3):
        s = np.array(signs)
        prob = np.prod(np.where(s > 0, pplus, 1 - pplus))
        # L(theta - eta s) - L(theta) = -eta g.s + eta^2 s^T H s / 2
        out += prob * (-eta * (GC @ s) + 0.5 * eta ** 2 * (s @ HC @ s))
    return out


def test_sign_sgd_lr_erf_model_is_the_bruteforce_optimum(xp):
    grid = np.arange(0.0, 0.6, 1e-5)
    Bs = [1.0, 4.0, 16.0, 256.0]
    got = to_numpy(scaling.sign_sgd_lr(xp.asarray(Bs), xp.asarray(GC), xp.asarray(HC),
                                       xp.asarray(SC)))
    for B, eta in zip(Bs, got):
        best = grid[np.argmin(_sign_sgd_expected_loss(grid, B))]
        assert abs(best - eta) <= 1e-5


def test_mean_field_peak_location():
    Hp = np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.8], [0.8, 0.8, 1.0]])
    g = np.array([0.2, 0.1, 0.3])
    C = np.diag([1.0, 2.0, 1.5])
    pk = scaling.sign_sgd_peak(g, Hp, C)
    assert pk.has_peak
    assert pk.beta_noise == pytest.approx(math.sqrt(3 / 4.8))
    Bs = np.exp(np.linspace(np.log(1.0), np.log(1e5), 20001))
    eta = scaling.sign_sgd_lr(Bs, g, Hp, C, model="mean_field")
    assert Bs[np.argmax(eta)] == pytest.approx(pk.b_peak, rel=2e-3)
    assert eta.max() == pytest.approx(pk.lr_peak, rel=1e-9)
    assert eta[-1] == pytest.approx(pk.lr_inf, rel=1e-2) and eta[-1] < eta.max()   # the surge
    # erf model shows a peak too, in the same place within a factor of 2
    eta_erf = scaling.sign_sgd_lr(Bs, g, Hp, C)
    assert 0.5 < Bs[np.argmax(eta_erf)] / pk.b_peak < 2


def test_mean_field_monotone_and_sqrt_growth_for_diagonal_hessian():
    Hd = np.diag([1.0, 2.0, 5.0])
    pk = scaling.sign_sgd_peak(G, Hd, SIGMA)
    assert not pk.has_peak and math.isinf(pk.b_peak)
    e1, e4 = scaling.sign_sgd_lr(np.array([1e-3, 4e-3]), G, Hd, SIGMA, model="mean_field")
    assert e4 / e1 == pytest.approx(2.0, rel=2e-3)    # eta ~ sqrt(B) at small B
    big = scaling.sign_sgd_lr(np.array([1e2, 1e3, 1e4]), G, Hd, SIGMA, model="mean_field")
    assert np.all(np.diff(big) > 0)


def test_mean_field_approximates_erf_when_noise_ratio_is_common():
    # sigma_i = kappa |g_i| for every i: then only erf(x) vs x/sqrt(pi/4 + x^2) differs; that
    # approximation is exact at 0 and infinity and at worst 11.6% low (x ~ 1.2)
    g = np.array([0.5, -0.3, 0.2, 0.4])
    kappa = 3.0
    C = np.diag((kappa * g) ** 2)
    Hh = np.array([[2.0, 0.5, 0.0, 0.3], [0.5, 1.0, 0.2, 0.0], [0.0, 0.2, 1.5, 0.4],
                   [0.3, 0.0, 0.4, 1.0]])
    Bs = np.array([1.0, 8.0, 64.0, 512.0])
    a = scaling.sign_sgd_lr(Bs, g, Hh, C)
    b = scaling.sign_sgd_lr(Bs, g, Hh, C, model="mean_field")
    np.testing.assert_allclose(b, a, rtol=0.12)
    np.testing.assert_allclose(b[[0, -1]], a[[0, -1]], rtol=0.03)   # small and large B


def test_scaling_errors():
    with pytest.raises(ValueError, match="hessian"):
        scaling.lr_max(G, np.eye(2))
    with pytest.raises(ValueError, match="batch_size"):
        scaling.optimal_lr(0.0, 0.1, 1.0)
    with pytest.raises(ValueError, match="model"):
        scaling.sign_sgd_lr(4.0, G, H, SIGMA, model="adam")
    with pytest.raises(ValueError, match="curvature"):
        scaling.lr_max(G, -np.eye(3))
    with pytest.raises(ValueError, match="per_example_grads"):
        scaling.b_simple(np.ones((1, 3)))
