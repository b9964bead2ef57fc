"""Exact oracles against independent computations (scipy densities, direct Gaussian conditioning, grids)."""
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp, softmax

from probspace.testing import xp_assert_close
from solvers.diffusion import GaussianMixture, NoiseSchedule, PointSet

SCH = NoiseSchedule.linear(100)


def _gm():
    covs = np.array([[[0.3, 0.1], [0.1, 0.2]], [[1.0, -0.4], [-0.4, 0.5]], [[0.05, 0.0], [0.0, 0.05]]])
    return GaussianMixture([0.2, 0.5, 0.3], [[0.0, 1.0], [2.0, -1.0], [-1.5, -0.5]], covs)


def _brute_gm(gm, x, n):
    """Direct Gaussian conditioning with explicit inverses and scipy log-densities."""
    a, b2 = np.sqrt(SCH.alpha_bar[n]), SCH.beta_bar[n]
    d = gm.dim
    logs, means, covs = [], [], []
    for w, mu, L in zip(gm.weights, gm.means, gm.covs):
        C = a * a * L + b2 * np.eye(d)
        logs.append(np.log(w) + stats.multivariate_normal(a * mu, C).logpdf(x))
        G = a * L @ np.linalg.inv(C)
        means.append(mu + (x - a * mu) @ G.T)
        covs.append(L - a * G @ L)
    logs = np.array(logs)
    r = softmax(logs, axis=0)
    m = np.einsum("km,kmd->md", r, np.array(means))
    second = np.einsum("km,kij->mij", r, np.array(covs)) + np.einsum("km,kmi,kmj->mij", r, np.array(means), np.array(means))
    return logsumexp(logs, axis=0), m, second - m[:, :, None] * m[:, None, :]


@pytest.mark.parametrize("n", [1, 20, 70, 100])
def test_gm_against_direct_conditioning(n):
    gm = _gm()
    x = gm.sample(200, 3) * np.sqrt(SCH.alpha_bar[n]) + np.sqrt(SCH.beta_bar[n]) * np.random.default_rng(1).standard_normal((200, 2))
    lp, m, cov = _brute_gm(gm, x, n)
    np.testing.assert_allclose(gm.log_prob(x, n, SCH), lp, rtol=1e-10)
    np.testing.assert_allclose(gm.posterior_mean(x, n, SCH), m, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gm.posterior_cov(x, n, SCH), cov, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(gm.posterior_var(x, n, SCH), np.diagonal(cov, axis1=1, axis2=2), rtol=1e-7, atol=1e-12)
    # score = gradient of the log-density (central differences of the scipy log-density)
    h = 1e-6
    fd = np.stack([(_brute_gm(gm, x + h * e, n)[0] - _brute_gm(gm, x - h * e, n)[0]) / (2 * h) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(gm.score(x, n, SCH), fd, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gm.noise_predictor(SCH)(x, n), -np.sqrt(SCH.beta_bar[n]) * gm.score(x, n, SCH), rtol=1e-12)


def test_gm_per_row_steps():
    gm = _gm()
    x = gm.sample(6, 0)
    n = np.array([1, 5, 20, 50, 99, 100])
    rows = np.stack([gm.eps(x[i:i + 1], int(n[i]), SCH)[0] for i in range(6)])
    np.testing.assert_allclose(gm.eps(x, n, SCH), rows, rtol=1e-12)
    covs = np.stack([gm.posterior_cov(x[i:i + 1], int(n[i]), SCH)[0] for i in range(6)])
    np.testing.assert_allclose(gm.posterior_cov(x, n, SCH), covs, rtol=1e-12)


@pytest.mark.parametrize("n", [2, 30, 90])
def test_second_order_tweedie_per_point(n):
    """Cov[x0|x_n] = (b^2/a^2)(I - b d eps*/dx), checked by finite differences of the predictor."""
    gm = _gm()
    a2, b2 = SCH.alpha_bar[n], SCH.beta_bar[n]
    x = gm.sample(20, 5) * np.sqrt(a2) + np.sqrt(b2) * np.random.default_rng(2).standard_normal((20, 2))
    eps = gm.noise_predictor(SCH)
    h = 1e-5 * max(1.0, np.sqrt(b2))
    J = np.stack([(eps(x + h * e, n) - eps(x - h * e, n)) / (2 * h) for e in np.eye(2)], axis=2)
    tweedie = (b2 / a2) * (np.eye(2)[None] - np.sqrt(b2) * J)
    np.testing.assert_allclose(gm.posterior_cov(x, n, SCH), tweedie, rtol=2e-5, atol=1e-7 * b2 / a2)


def test_pointset_against_brute_force_and_zero_cov_mixture():
    rng = np.random.default_rng(4)
    y = rng.uniform(-1, 1, size=(7, 3))
    w = rng.dirichlet(np.ones(7))
    ps = PointSet(y, w)
    gm0 = GaussianMixture(w, y, np.zeros((7, 3, 3)))
    for n in (1, 10, 60, 100):
        a, b2 = np.sqrt(SCH.alpha_bar[n]), SCH.beta_bar[n]
        x = ps.sample(50, n) * a + np.sqrt(b2) * rng.standard_normal((50, 3))
        r = softmax(np.log(w)[None, :] - ((x[:, None, :] - a * y[None]) ** 2).sum(-1) / (2 * b2), axis=1)
        m = r @ y
        var = r @ (y * y) - m * m
        np.testing.assert_allclose(ps.posterior_mean(x, n, SCH), m, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ps.posterior_var(x, n, SCH), var, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(ps.eps(x, n, SCH), (x - a * m) / np.sqrt(b2), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(gm0.posterior_cov(x, n, SCH), ps.posterior_cov(x, n, SCH), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(gm0.log_prob(x, n, SCH), ps.log_prob(x, n, SCH), rtol=1e-9)


def test_pointset_variance_within_popoviciu_bound():
    rng = np.random.default_rng(5)
    lo, hi = -1.0, 2.0
    ps = PointSet(rng.uniform(lo, hi, size=(40, 2)))
    for n in (1, 30, 100):
        x = rng.standard_normal((500, 2)) * 10       # far outside the data too
        v = ps.posterior_var(x, n, SCH)
        assert np.all(v <= ((hi - lo) / 2) ** 2 + 1e-12)
        assert np.all(np.isfinite(ps.eps(x, n, SCH)))


def test_oracles_stable_at_tiny_noise_and_far_points():
    gm = _gm()
    x = np.array([[50.0, -80.0], [0.0, 1.0], [1e3, 1e3]])
    for n in (1, 100):
        for f in (gm.eps, gm.score, gm.posterior_mean, gm.posterior_var, gm.posterior_cov):
            assert np.all(np.isfinite(f(x, n, SCH)))


def test_sample_moments_and_ks():
    gm = GaussianMixture([0.3, 0.7], [[-1.0], [2.0]], [[[0.25]], [[0.5]]])
    x = gm.sample(20000, 11)[:, 0]
    cdf = lambda v: 0.3 * stats.norm.cdf(v, -1, 0.5) + 0.7 * stats.norm.cdf(v, 2, np.sqrt(0.5))
    assert stats.kstest(x, cdf).pvalue > 1e-3
    np.testing.assert_array_equal(gm.sample(10, 3), gm.sample(10, 3))


def test_array_api_namespaces(xp):
    gm = _gm()
    xn = gm.sample(8, 1)
    x = xp.asarray(xn)
    for f in (gm.eps, gm.posterior_mean, gm.posterior_var):
        out = f(x, 40, SCH)
        xp_assert_close(out, xp.asarray(f(xn, 40, SCH)), rtol=1e-12)
    assert gm.posterior_cov(x, 40, SCH).shape == (8, 2, 2)
    x32 = xp.asarray(xn.astype(np.float32))
    assert gm.eps(x32, 40, SCH).dtype == xp.float32
    ps = PointSet(gm.sample(5, 2))
    xp_assert_close(ps.eps(x, 40, SCH), xp.asarray(ps.eps(xn, 40, SCH)), rtol=1e-12)


def test_oracle_errors():
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([0.5, 0.6], [[0.0], [1.0]], np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 0.5], [0.0, 1.0]]])
    gm = _gm()
    with pytest.raises(ValueError, match="n must lie"):
        gm.eps(np.zeros((2, 2)), 0, SCH)
    with pytest.raises(ValueError, match="x_n"):
        gm.eps(np.zeros((2, 3)), 3, SCH)
    with pytest.raises(ValueError, match="x_n contains NaN"):
        gm.eps(np.full((2, 2), np.nan), 3, SCH)
    with pytest.raises(ValueError, match="points"):
        PointSet(np.zeros(3))


def test_second_moment_targets_by_brute_force():
    """h = E[eps^2 | x_n] and g = E[(eps - eps_hat)^2 | x_n] from explicit posterior sums."""
    rng = np.random.default_rng(8)
    y = rng.uniform(-1, 1, size=(6, 2))
    ps = PointSet(y)
    gm = _gm()
    bad = lambda x, n: 0.5 * x + 0.1
    for n in (2, 40, 95):
        a, b = np.sqrt(SCH.alpha_bar[n]), np.sqrt(SCH.beta_bar[n])
        x = rng.standard_normal((30, 2))
        r = softmax(-((x[:, None, :] - a * y[None]) ** 2).sum(-1) / (2 * b * b), axis=1)      # (m, P)
        e_i = (x[:, None, :] - a * y[None]) / b                                             # eps given x0 = y_i
        np.testing.assert_allclose(ps.eps_second_moment(SCH)(x, n), np.einsum("mp,mpd->md", r, e_i ** 2), rtol=1e-8)
        g_want = np.einsum("mp,mpd->md", r, (e_i - bad(x, n)[:, None, :]) ** 2)
        np.testing.assert_allclose(ps.npr_second_moment(SCH, bad)(x, n), g_want, rtol=1e-8)
        # mixture: E[eps^2|x] = E[((x - a x0)/b)^2 | x] = ((x - a E x0)^2 + a^2 Var x0) / b^2 (brute conditioning)
        _, m, cov = _brute_gm(gm, x, n)
        h_want = ((x - a * m) ** 2 + a * a * np.diagonal(cov, axis1=1, axis2=2)) / (b * b)
        np.testing.assert_allclose(gm.eps_second_moment(SCH)(x, n), h_want, rtol=1e-7)
