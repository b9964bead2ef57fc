"""Gradient estimators against exact gradients, with confidence intervals built from the
exact estimator variance (computed here in closed form or by enumeration)."""
from __future__ import annotations


import numpy as np
import pytest
from scipy import integrate, stats

from numopt import estimators
from probspace import to_numpy
from probspace.random import Stream

A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 3.0]])
BVEC = np.array([0.2, -1.0, 0.5])
X0 = np.array([0.3, -0.7, 1.1])
G_TRUE = A @ X0 + BVEC


def quad(x):
    return 0.5 * x @ A @ x + BVEC @ x


def quad_batch(X):
    return 0.5 * np.einsum("ni,ij,nj->n", X, A, X) + X @ BVEC


def test_zeroth_order_ci_on_quadratic(xp):
    # antithetic per-sample estimate is exactly (u.g) u: covariance |g|^2 I + g g^T
    n = 2000
    f = lambda z: float(quad(to_numpy(z)))   # noqa: E731
    res = estimators.zeroth_order_grad(f, xp.asarray(X0), eps=0.1, n_samples=n, seed=11)
    err = to_numpy(res.grad) - G_TRUE
    cov = (G_TRUE @ G_TRUE * np.eye(3) + np.outer(G_TRUE, G_TRUE)) / n
    m2 = err @ np.linalg.solve(cov, err)
    assert m2 < stats.chi2.ppf(0.999, 3)     # fails with probability 1e-3 for a correct estimator
    # the reported standard error matches the exact one (relative sd of a sd-estimate ~ 1/sqrt(2n))
    np.testing.assert_allclose(to_numpy(res.stderr), np.sqrt(np.diag(cov)), rtol=0.1)
    assert res.nfev == 2 * n
    assert str(res.grad.dtype) == str(xp.asarray(X0).dtype)


def test_zeroth_order_error_shrinks_at_the_predicted_rate():
    # mean squared error over 30 seeds vs tr(cov)/n = (d+1)|g|^2/n, for n = 50 ... 3200
    pred_tr = (3 + 1) * (G_TRUE @ G_TRUE)
    for n in (50, 400, 3200):
        sq = [np.sum((estimators.zeroth_order_grad(quad_batch, X0, eps=0.05, n_samples=n, seed=s,
                                                   vectorized=True).grad - G_TRUE) ** 2)
              for s in range(30)]
        ratio = np.mean(sq) / (pred_tr / n)
        # 30 draws of a sum of 3 weighted chi-squares: the ratio's sd is about 0.2
        assert 0.45 < ratio < 1.7, (n, ratio)


def test_forward_difference_unbiased_and_antithetic_lower_variance():
    def f(z):   # smooth, with a large even part that antithetic pairs cancel
        return np.sum(np.exp(z), axis=-1) + 0.5 * np.einsum("...i,ij,...j->...", z, A, z)
    eps, n = 0.5, 4000
    # exact smoothed gradient: E exp(x + eps u) = exp(x + eps^2 / 2); quadratics are unchanged
    g_smooth = np.exp(X0 + eps ** 2 / 2) + A @ X0
    fwd = estimators.zeroth_order_grad(f, X0, eps=eps, n_samples=n, seed=3, antithetic=False,
                                       vectorized=True)
    anti = estimators.zeroth_order_grad(f, X0, eps=eps, n_samples=n, seed=3, vectorized=True)
    for r in (fwd, anti):
        assert np.all(np.abs(r.grad - g_smooth) < 4 * r.stderr)
    # antithetic pairs cancel the even part of f: lower variance per direction (measured 0.65;
    # the stderr estimates themselves are good to ~2% at n = 4000)
    assert np.sum(anti.stderr ** 2) < 0.8 * np.sum(fwd.stderr ** 2)


def _probit_argmax_probs(theta, eps):
    # P(argmax(theta + eps u) = y) by 1-D quadrature (independent truth for the ZO estimator)
    out = []
    for y in range(len(theta)):
        def integrand(z, y=y):
            return stats.norm.pdf(z) * np.prod([stats.norm.cdf((theta[y] - theta[j]) / eps + z)
                                                for j in range(len(theta)) if j != y])
        out.append(integrate.quad(integrand, -12, 12, epsabs=1e-13, epsrel=1e-12)[0])
    return np.array(out)


def test_zeroth_order_of_argmax_reward_is_the_probit_policy_gradient():
    # J. Su, "Policy gradient and zeroth-order optimization" (kexue.fm/archives/7737, 2020): the ZO gradient of r(argmax theta) is the policy gradient of the Gaussian-argmax
    # policy q(y) = P(argmax(theta + eps u) = y)
    theta = np.array([0.2, 0.0, -0.1])
    r = np.array([1.0, 0.0, 2.0])
    eps = 0.5
    h = 1e-5
    truth = np.array([(r @ _probit_argmax_probs(theta + h * e, eps)
                       - r @ _probit_argmax_probs(theta - h * e, eps)) / (2 * h) for e in np.eye(3)])
    f = lambda Z: r[np.argmax(Z, axis=-1)]   # noqa: E731
    res = estimators.zeroth_order_grad(f, theta, eps=eps, n_samples=200_000, seed=5,
                                       vectorized=True)
    assert np.all(np.abs(res.grad - truth) < 4 * res.stderr), (res.grad, truth, res.stderr)


def _pg_truth(logits, r):
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return p, p * (r - p @ r)


def _pg_exact_cov(p, r, b):
    # covariance of (r_y - b)(e_y - p), y ~ p, by enumeration
    S = np.eye(len(p)) - p
    vals = (r - b)[:, None] * S
    mean = p @ vals
    return (vals - mean).T @ (p[:, None] * (vals - mean))


@pytest.mark.parametrize("baseline", ["none", "mean", "optimal", 0.7])
def test_policy_gradient_ci(xp, baseline):
    logits = np.array([0.5, -0.2, 1.0, 0.0])
    r = np.array([1.0, 3.0, 0.0, 2.0])
    p, truth = _pg_truth(logits, r)
    n = 4000
    res = estimators.policy_gradient(xp.asarray(logits), None, lambda y: xp.take(xp.asarray(r), y),
                                     n_samples=n, seed=2, baseline=baseline)
    err = to_numpy(res.grad) - truth
    b = {"none": 0.0, "mean": p @ r, 0.7: 0.7}.get(baseline)
    if b is None:
        w = np.sum((np.eye(4) - p) ** 2, axis=1)
        b = (p @ (r * w)) / (p @ w)
    cov = _pg_exact_cov(p, r, b) / n
    # the score sums to zero over classes: cov is singular along 1; test in the 3-D complement
    Q = np.linalg.qr(np.c_[np.ones(4), np.eye(4)[:, :3]])[0][:, 1:]
    e = Q.T @ err
    m2 = e @ np.linalg.solve(Q.T @ cov @ Q, e)
    assert m2 < stats.chi2.ppf(0.999, 3)
    np.testing.assert_allclose(to_numpy(res.stderr), np.sqrt(np.diag(cov)), rtol=0.12)


def test_policy_gradient_baselines_reduce_variance_and_rate():
    logits = np.array([0.5, -0.2, 1.0, 0.0])
    r = np.array([1.0, 3.0, 0.0, 2.0]) + 10.0   # a large reward offset: baselines matter
    p, truth = _pg_truth(logits, r)
    w = np.sum((np.eye(4) - p) ** 2, axis=1)
    exact = {"none": np.trace(_pg_exact_cov(p, r, 0.0)),
             "mean": np.trace(_pg_exact_cov(p, r, p @ r)),
             "optimal": np.trace(_pg_exact_cov(p, r, (p @ (r * w)) / (p @ w)))}
    assert exact["optimal"] <= exact["mean"] < 0.1 * exact["none"]
    for name, tr in exact.items():
        for n in (100, 1600):
            sq = [np.sum((estimators.policy_gradient(logits, None, lambda y: r[y], n_samples=n,
                                                     seed=s, baseline=name).grad - truth) ** 2)
                  for s in range(30)]
            ratio = np.mean(sq) / (tr / n)
            assert 0.45 < ratio < 1.8, (name, n, ratio)


def test_policy_gradient_custom_sampler_and_batched_policy():
    # a batch of 2 independent categoricals; Gumbel-max sampler drawn from the stream
    logits = np.array([[0.0, 1.0, -1.0], [0.3, 0.3, 0.0]])

    def gumbel_max(probs, n, stream):
        u = stream.uniform((n, *probs.shape))
        return np.argmax(np.log(probs) - np.log(-np.log(u)), axis=-1)

    def reward(ys):   # reward couples the factors
        return (ys[:, 0] == ys[:, 1]).astype(float) + 0.5 * ys[:, 0]

    P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    # exact: enumerate the 9 joint outcomes
    truth = np.zeros_like(logits)
    for a in range(3):
        for b in range(3):
            rr = float(a == b) + 0.5 * a
            pj = P[0, a] * P[1, b]
            score = np.stack([np.eye(3)[a] - P[0], np.eye(3)[b] - P[1]])
            truth += pj * rr * score
    res = estimators.policy_gradient(logits, gumbel_max, reward, n_samples=20000, seed=9,
                                     baseline="optimal")
    assert res.grad.shape == (2, 3)
    assert np.all(np.abs(res.grad - truth) < 4 * res.stderr + 1e-12)


def test_estimators_are_reproducible_and_validate():
    a = estimators.zeroth_order_grad(quad_batch, X0, eps=0.1, n_samples=10, seed=Stream(4),
                                     vectorized=True)
    b = estimators.zeroth_order_grad(quad_batch, X0, eps=0.1, n_samples=10, seed=4, vectorized=True)
    np.testing.assert_array_equal(a.grad, b.grad)
    with pytest.raises(ValueError, match="eps"):
        estimators.zeroth_order_grad(quad, X0, eps=0.0, n_samples=10, seed=0)
    with pytest.raises(ValueError, match="n_samples"):
        estimators.zeroth_order_grad(quad, X0, eps=0.1, n_samples=1, seed=0)
    with pytest.raises(ValueError, match="baseline"):
        estimators.policy_gradient(np.zeros(3), None, lambda y: y * 1.0, n_samples=5, seed=0,
                                   baseline="best")
    with pytest.raises(ValueError, match="reward_fn"):
        estimators.policy_gradient(np.zeros(3), None, lambda y: np.ones(2), n_samples=5, seed=0)
    with pytest.raises(ValueError, match="x"):
        estimators.zeroth_order_grad(quad, np.array([np.nan, 0, 0]), eps=0.1, n_samples=5, seed=0)


def test_policy_gradient_masked_class():
    logits = np.array([0.0, -np.inf, 1.0])
    r = np.array([1.0, 100.0, 0.0])
    p = np.array([1.0, 0.0, np.e]) / (1 + np.e)
    truth = p * (r - p @ r)
    res = estimators.policy_gradient(logits, None, lambda y: r[y], n_samples=5000, seed=1)
    assert res.grad[1] == 0.0            # the masked class is never drawn and has zero score
    assert np.all(np.abs(res.grad - truth) <= 4 * res.stderr + 1e-15)
    with pytest.raises(ValueError, match="logits"):
        estimators.policy_gradient(np.array([0.0, np.inf]), None, lambda y: y * 1.0,
                                   n_samples=5, seed=0)
