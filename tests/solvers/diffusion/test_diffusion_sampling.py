"""Sampler and NELBO: exactness on Gaussian data, closed-form bounds, reproducibility, namespaces."""
import math

import numpy as np
import pytest
from scipy import stats

from probspace.random import Stream
from probspace.testing import xp_assert_close, xp_assert_equal
from solvers.diffusion import (GaussianMixture, NoiseSchedule, SNVariance, analytic_variance, baseline_variances,
                               estimate_gamma, even_trajectory, nelbo, sample)

Z = 4.5


def _iso_gauss(s2=0.5, d=2, mu=0.0):
    return GaussianMixture([1.0], [np.full(d, mu)], [s2 * np.eye(d)])


def _exact_ms_iso(sch, s2):
    return np.concatenate([[0.0], sch.beta_bar[1:] / (sch.alpha_bar[1:] * s2 + sch.beta_bar[1:])])


@pytest.mark.parametrize("eta", [1.0, 0.4, 0.0])
def test_reverse_chain_is_exact_for_isotropic_gaussian_data(eta):
    """For N(mu, s^2 I) data the optimal Gaussian reverse step is the true conditional, so x_0 ~ N(mu, s^2 I) exactly."""
    s2, mu, d, m = 0.3, 0.5, 2, 40000
    sch = NoiseSchedule.linear(100)
    gm = _iso_gauss(s2, d, mu)
    ms = _exact_ms_iso(sch, s2)
    tr = np.array([0, 1, 7, 30, 64, 100])
    var = analytic_variance(sch, ms, tr, eta=eta)
    ab, bb = sch.alpha_bar[-1], sch.beta_bar[-1]
    xT = math.sqrt(ab) * mu + math.sqrt(ab * s2 + bb) * Stream(1).normal((m, d))   # exact q_N
    x0 = sample(gm.noise_predictor(sch), sch, tr, var, xT, eta=eta, seed=2, denoise_last=False)
    v = x0.ravel() - mu
    n = v.size
    # mean: z-test; variance: chi-square interval for the sum of squares around the known mean
    assert abs(v.mean()) < Z * math.sqrt(s2 / n)
    q = np.sum(v ** 2) / s2
    assert stats.chi2.ppf(1e-4, n) < q < stats.chi2.ppf(1 - 1e-4, n)


def test_sample_reproducible_and_stream_advance():
    sch = NoiseSchedule.linear(50)
    gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.1]], [[0.1]]])
    tr = even_trajectory(sch, 10)
    var = baseline_variances(sch, tr, "beta")
    xT = Stream(0).normal((100, 1))
    a = sample(gm.noise_predictor(sch), sch, tr, var, xT, seed=5)
    b = sample(gm.noise_predictor(sch), sch, tr, var, xT, seed=5)
    np.testing.assert_array_equal(a, b)
    st = Stream(5)
    c = sample(gm.noise_predictor(sch), sch, tr, var, xT, seed=st)
    np.testing.assert_array_equal(a, c)
    assert st.offset > 0
    d = sample(gm.noise_predictor(sch), sch, tr, var, xT, seed=st)
    assert not np.array_equal(c, d)
    x, path = sample(gm.noise_predictor(sch), sch, tr, var, xT, seed=5, return_path=True)
    assert len(path) == 11 and path[0] is not None
    np.testing.assert_array_equal(path[-1], a)


def test_sample_namespaces(xp):
    sch = NoiseSchedule.linear(30)
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], np.stack([0.2 * np.eye(2)] * 2))
    tr = even_trajectory(sch, 5)
    var = baseline_variances(sch, tr, "beta_tilde")
    xTn = Stream(0).normal((16, 2))
    ref = sample(gm.noise_predictor(sch), sch, tr, var, xTn, seed=3)
    out = sample(gm.noise_predictor(sch), sch, tr, var, xp.asarray(xTn), seed=3)
    xp_assert_close(out, xp.asarray(ref), rtol=1e-12)
    r = nelbo(gm.noise_predictor(sch), xp.asarray(gm.sample(16, 1)), sch, tr, var, seed=1)
    r_np = nelbo(gm.noise_predictor(sch), gm.sample(16, 1), sch, tr, var, seed=1)
    assert r.nelbo == pytest.approx(r_np.nelbo, rel=1e-12)


def _closed_form_iso(sch, s2, mu, d, tr, var, eta):
    total, terms = 0.0, []
    for k in range(1, len(tr)):
        s, t = tr[k - 1], tr[k]
        ab_t, bb_t = sch.alpha_bar[t], sch.beta_bar[t]
        ecov = bb_t * s2 / (ab_t * s2 + bb_t)               # Var[x0|x_t] for N(mu, s2) data
        if s == 0:
            terms.append(0.5 * math.log(2 * math.pi * var[0]) + ecov / (2 * var[0]))
        else:
            ab_s, bb_s = sch.alpha_bar[s], sch.beta_bar[s]
            lam2 = eta ** 2 * (1 - ab_t / ab_s) * bb_s / bb_t
            gam = math.sqrt(ab_s) - math.sqrt((bb_s - lam2) * ab_t / bb_t)
            r = lam2 / var[k - 1]
            terms.append(0.5 * (r - 1 - math.log(r)) + gam ** 2 * ecov / (2 * var[k - 1]))
    ab, bb = sch.alpha_bar[-1], sch.beta_bar[-1]
    terms.append(0.5 * (bb + ab * (s2 + mu * mu) - 1 - math.log(bb)))
    return np.array(terms)


@pytest.mark.parametrize("kind,eta", [("beta_tilde", 1.0), ("beta", 1.0), ("analytic", 1.0), ("analytic", 0.5)])
def test_nelbo_matches_closed_form_on_gaussian_data(kind, eta):
    s2, mu, d = 0.4, 0.2, 3
    sch = NoiseSchedule.linear(200)
    gm = _iso_gauss(s2, d, mu)
    tr = even_trajectory(sch, 8)
    if kind == "analytic":
        var = analytic_variance(sch, _exact_ms_iso(sch, s2), tr, eta=eta)
    else:
        var = baseline_variances(sch, tr, kind)
    x0 = gm.sample(20000, 4)
    r = nelbo(gm.noise_predictor(sch), x0, sch, tr, var, eta=eta, seed=9)
    want = _closed_form_iso(sch, s2, mu, d, tr, var, eta)
    np.testing.assert_array_less(np.abs(r.terms - want), Z * r.terms_stderr + 1e-12)
    assert abs(r.nelbo - want.sum()) < Z * r.stderr
    assert float(r) == r.nelbo and r.per_sample.shape == (20000,)
    # a bound: never below the differential entropy of the data per dimension
    assert want.sum() >= 0.5 * math.log(2 * math.pi * math.e * s2)


def test_analytic_beats_baselines_on_gaussian_closed_form():
    s2, mu, d = 0.4, 0.0, 1
    sch = NoiseSchedule.linear(1000)
    ms = _exact_ms_iso(sch, s2)
    for K in (10, 100):
        tr = even_trajectory(sch, K)
        an = _closed_form_iso(sch, s2, mu, d, tr, analytic_variance(sch, ms, tr), 1.0)
        for kind in ("beta_tilde", "beta"):
            bl = baseline_variances(sch, tr, kind)
            bl[0] = analytic_variance(sch, ms, tr)[0]        # same decoder: compare the noisy steps only
            assert an.sum() <= _closed_form_iso(sch, s2, mu, d, tr, bl, 1.0).sum()


def test_per_point_variances_callable():
    s2, d = 0.5, 2
    sch = NoiseSchedule.linear(100)
    gm = _iso_gauss(s2, d)
    tr = even_trajectory(sch, 6)
    x0 = gm.sample(2000, 3)
    sn = SNVariance(gm.eps_second_moment(sch), sch)
    an = analytic_variance(sch, _exact_ms_iso(sch, s2), tr)
    # Gaussian data: the per-point posterior covariance is constant, so SN == analytic exactly
    r1 = nelbo(gm.noise_predictor(sch), x0, sch, tr, sn, seed=1)
    r2 = nelbo(gm.noise_predictor(sch), x0, sch, tr, an, seed=1)
    np.testing.assert_allclose(r1.terms, r2.terms, rtol=1e-9)
    xT = Stream(2).normal((50, d))
    np.testing.assert_allclose(sample(gm.noise_predictor(sch), sch, tr, sn, xT, seed=4),
                               sample(gm.noise_predictor(sch), sch, tr, an, xT, seed=4), rtol=1e-9)


def test_errors():
    sch = NoiseSchedule.linear(20)
    gm = _iso_gauss()
    eps = gm.noise_predictor(sch)
    tr = even_trajectory(sch, 4)
    var = baseline_variances(sch, tr, "beta")
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="variances"):
        sample(eps, sch, tr, var[:-1], x)
    with pytest.raises(ValueError, match="eta"):
        nelbo(eps, x, sch, tr, var, eta=0.0)
    with pytest.raises(ValueError, match="positive"):
        nelbo(eps, x, sch, tr, np.zeros(4))
    with pytest.raises(ValueError, match="trajectory"):
        sample(eps, sch, [0, 3, 2, 20], np.ones(3), x)
    with pytest.raises(TypeError, match="eps_fn"):
        sample(None, sch, tr, var, x)
    with pytest.raises(ValueError, match="x_T contains NaN"):
        sample(eps, sch, tr, var, np.full((2, 2), np.nan))


def test_nelbo_dict_of_variances_shares_draws():
    sch = NoiseSchedule.linear(40)
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], np.stack([0.2 * np.eye(2)] * 2))
    eps = gm.noise_predictor(sch)
    tr = even_trajectory(sch, 5)
    x0 = gm.sample(300, 2)
    vs = {"b": baseline_variances(sch, tr, "beta"), "sn": SNVariance(gm.eps_second_moment(sch), sch)}
    both = nelbo(eps, x0, sch, tr, vs, seed=3)
    for k, v in vs.items():
        one = nelbo(eps, x0, sch, tr, v, seed=3)
        np.testing.assert_allclose(both[k].terms, one.terms, rtol=1e-12)


def test_gamma_with_mse_matches_separate_estimates():
    from solvers.diffusion import estimate_eps_mse
    sch = NoiseSchedule.linear(30)
    gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.1]], [[0.1]]])
    bad = lambda x, n: 0.9 * gm.eps(x, n, sch)
    x0 = gm.sample(500, 1)
    r = estimate_gamma(bad, x0, sch, seed=2, with_mse=True)
    np.testing.assert_allclose(r.ms_eps, estimate_gamma(bad, x0, sch, seed=2), rtol=1e-13)
    np.testing.assert_allclose(r.mse, estimate_eps_mse(bad, x0, sch, seed=2), rtol=1e-13)


def test_noise_identical_on_numba_and_generic_rungs():
    import probspace
    sch = NoiseSchedule.linear(30)
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], np.stack([0.2 * np.eye(2)] * 2))
    eps = gm.noise_predictor(sch)
    tr = even_trajectory(sch, 6)
    var = baseline_variances(sch, tr, "beta")
    xT = Stream(0).normal((33, 2))                  # odd size: the last pair is half used
    x0 = gm.sample(33, 1)
    a = sample(eps, sch, tr, var, xT, seed=3, denoise_last=False)
    ga = estimate_gamma(eps, x0, sch, seed=2)
    na = nelbo(eps, x0, sch, tr, var, seed=4)
    with probspace.use_backend("generic"):
        b = sample(eps, sch, tr, var, xT, seed=3, denoise_last=False)
        gb = estimate_gamma(eps, x0, sch, seed=2)
        nb_ = nelbo(eps, x0, sch, tr, var, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ga, gb)
    np.testing.assert_array_equal(na.terms, nb_.terms)
