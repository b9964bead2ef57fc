"""The trajectory DP against brute force, the guard, and optimality for the closed-form Gaussian bound."""
import itertools
import math

import numpy as np
import pytest

import probspace
from solvers.diffusion import (GaussianMixture, NoiseSchedule, analytic_variance, even_trajectory,
                               optimal_trajectory, step_cost_matrix, trajectory_cost)

RUNGS = ["auto", "generic"]


def _J(sch, ms, s, t):
    """Step cost written from the definitions (products of alphas), independent of the library."""
    a_ts = np.prod(1 - sch.betas[s + 1:t + 1])
    return math.log(1 - (1 - a_ts) * ms[t] / (1 - np.prod(1 - sch.betas[1:t + 1])))


def _brute(sch, ms, K):
    N = sch.N
    best, arg = np.inf, None
    for mid in itertools.combinations(range(2, N), K - 2):
        nodes = (1,) + mid + (N,)
        c = sum(_J(sch, ms, s, t) for s, t in zip(nodes[:-1], nodes[1:]))
        if c < best:
            best, arg = c, nodes
    return best, [0, *arg]


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("N,K,seed", [(12, 4, 0), (12, 2, 1), (12, 12, 2), (14, 6, 3), (9, 3, 4)])
def test_dp_matches_brute_force(rung, N, K, seed):
    sch = NoiseSchedule.linear(N, 1e-3, 0.3)
    rng = np.random.default_rng(seed)
    ms = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 1.0, N))])
    if seed % 2:
        ms[1:] = rng.uniform(0.0, 1.0, N)           # non-monotone Gamma too
    best, arg = _brute(sch, ms, K)
    with probspace.use_backend(rung):
        tr, info = optimal_trajectory(sch, ms, K, return_info=True)
    assert len(tr) == K + 1 and tr[0] == 0 and tr[1] == 1 and tr[-1] == N
    assert trajectory_cost(sch, ms, tr) == pytest.approx(best, rel=1e-12, abs=1e-12)
    if K < N:
        assert info["cost"] == pytest.approx(best, rel=1e-10)


def test_rungs_agree_at_scale_and_beat_even():
    sch = NoiseSchedule.linear(200)
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], np.stack([0.1 * np.eye(2)] * 2))
    ms = np.zeros(201)
    for n in range(1, 201):   # ms_eps by a fixed sample, capped at 1 (no guard involved)
        _, _, xn = gm.sample_noisy(1000, n, sch, seed=n)
        ms[n] = np.mean(gm.eps(xn, n, sch) ** 2)
    ms = np.minimum(ms, 1.0)
    for K in (5, 20, 60):
        a = optimal_trajectory(sch, ms, K)
        with probspace.use_backend("generic"):
            b = optimal_trajectory(sch, ms, K)
        ca, cb = trajectory_cost(sch, ms, a), trajectory_cost(sch, ms, b)
        assert ca == pytest.approx(cb, rel=1e-12)
        assert ca <= trajectory_cost(sch, ms, even_trajectory(sch, K)) + 1e-12


def test_cost_matrix():
    sch = NoiseSchedule.linear(8, 1e-2, 0.2)
    ms = np.linspace(0, 0.9, 9)
    F = step_cost_matrix(sch, ms)
    for s in range(1, 8):
        for t in range(s + 1, 9):
            assert F[s, t] == pytest.approx(_J(sch, ms, s, t), rel=1e-12)
    assert np.isinf(F[3, 2]) and np.isinf(F[0, 4])


def test_guard_for_unreliable_gamma():
    N, K = 100, 10
    sch = NoiseSchedule.linear(N)
    ms = np.linspace(0.0, 0.999, N + 1)
    ms[91] = 1.02                                # first unreliable step 91 -> tail of 2*(100-91+1) = 20 steps
    tr, info = optimal_trajectory(sch, ms, K, return_info=True)
    assert info["unreliable_from"] == 91 and info["n_dp"] == 80
    k1 = math.ceil((1 - 0.8 * 20 / 100) * K)
    assert info["k_dp"] == k1
    head, tail = tr[1:k1 + 1], tr[k1 + 1:]
    assert head[-1] == 80 and len(tail) == K - k1
    assert tail.tolist() == [round(N - (20 / (K - k1)) * k) for k in range(K - k1)][::-1]
    assert np.all(np.diff(tr) > 0) and len(tr) == K + 1
    with pytest.raises(ValueError, match="guard"):
        optimal_trajectory(sch, ms, K, guard=False)
    bad = np.full(N + 1, 1.1)
    with pytest.raises(ValueError, match="unreliable"):
        optimal_trajectory(sch, bad, K)


def test_trajectory_edge_cases_and_errors():
    sch = NoiseSchedule.linear(20)
    ms = np.full(21, 0.5)
    assert optimal_trajectory(sch, ms, 1).tolist() == [0, 20]
    assert optimal_trajectory(sch, ms, 20).tolist() == list(range(21))
    with pytest.raises(ValueError, match="K"):
        optimal_trajectory(sch, ms, 21)
    with pytest.raises(TypeError, match="K"):
        optimal_trajectory(sch, ms, 2.5)
    with pytest.raises(ValueError, match="ms_eps"):
        optimal_trajectory(sch, ms[:-1], 3)
    with pytest.raises(ValueError, match="ms_eps"):
        optimal_trajectory(sch, np.full(21, np.nan), 3)


def _gauss_nelbo_closed_form(sch, L, mu, tr, var):
    """Expected -ELBO per dim for Gaussian data N(mu, L) with the exact predictor (DDPM forward, eta = 1)."""
    d = L.shape[0]
    I = np.eye(d)
    total = 0.0
    for k in range(1, len(tr)):
        s, t = tr[k - 1], tr[k]
        ab_t, bb_t = sch.alpha_bar[t], sch.beta_bar[t]
        C = ab_t * L + bb_t * I
        ecov = np.trace(bb_t * L @ np.linalg.inv(C)) / d          # E tr Cov[x0|x_t] / d
        if s == 0:
            total += 0.5 * math.log(2 * math.pi * var[0]) + ecov / (2 * var[0])
        else:
            ab_s, bb_s = sch.alpha_bar[s], sch.beta_bar[s]
            b_ts = 1 - ab_t / ab_s
            lam2 = b_ts * bb_s / bb_t
            g2 = ab_s * b_ts ** 2 / bb_t ** 2
            r = lam2 / var[k - 1]
            total += 0.5 * (r - 1 - math.log(r)) + g2 * ecov / (2 * var[k - 1])
    ab, bb = sch.alpha_bar[-1], sch.beta_bar[-1]
    total += 0.5 * (bb + ab * (np.trace(L) + mu @ mu) / d - 1 - math.log(bb))
    return total


def test_dp_minimizes_the_closed_form_gaussian_bound():
    """With exact Gamma and analytic variances, the DP trajectory is the best of all trajectories (tau_1 = 1)."""
    sch = NoiseSchedule.linear(11, 1e-2, 0.4)
    L = np.diag([0.05, 0.4, 1.5])
    mu = np.array([0.3, -0.2, 0.0])
    d = 3
    ms = np.zeros(sch.N + 1)
    for n in range(1, sch.N + 1):
        C = sch.alpha_bar[n] * L + sch.beta_bar[n] * np.eye(d)
        ms[n] = sch.beta_bar[n] * np.trace(np.linalg.inv(C)) / d
    K = 4
    vals = {}
    for mid in itertools.combinations(range(2, sch.N), K - 2):
        tr = [0, 1, *mid, sch.N]
        vals[tuple(tr)] = _gauss_nelbo_closed_form(sch, L, mu, tr, analytic_variance(sch, ms, tr))
    best = min(vals.values())
    tr = optimal_trajectory(sch, ms, K)
    assert vals[tuple(tr.tolist())] == pytest.approx(best, rel=1e-12)
    # and the bound differences are exactly half the J-sum differences (Theorem 3; the rest telescopes)
    for tr2, v in list(vals.items())[:10]:
        dj = trajectory_cost(sch, ms, list(tr2)) - trajectory_cost(sch, ms, tr)
        assert v - vals[tuple(tr.tolist())] == pytest.approx(0.5 * dj, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("rung", RUNGS)
def test_vb_trajectory_matches_brute_force(rung):
    from solvers.diffusion import vb_trajectory
    rng = np.random.default_rng(3)
    N = 10
    F = rng.uniform(0.0, 1.0, size=(N + 1, N + 1))
    for K in (1, 3, 5, 10):
        best = min((sum(F[a, b] for a, b in zip((0,) + mid + (N,), mid + (N,))), (0,) + mid + (N,))
                   for mid in itertools.combinations(range(1, N), K - 1))
        with probspace.use_backend(rung):
            tr, cost = vb_trajectory(F, K, return_cost=True)
        assert cost == pytest.approx(best[0], rel=1e-12)
        assert sum(F[a, b] for a, b in zip(tr[:-1], tr[1:])) == pytest.approx(best[0], rel=1e-12)
        assert tr[0] == 0 and tr[-1] == N and len(tr) == K + 1


@pytest.mark.parametrize("kind", ["beta", "beta_tilde"])
def test_baseline_cost_matrix_sums_to_the_closed_form_bound(kind):
    """Gaussian data, exact predictor: sum of F along a trajectory + prior = the closed-form NELBO."""
    from solvers.diffusion import baseline_cost_matrix, baseline_variances
    sch = NoiseSchedule.linear(30, 1e-3, 0.3)
    L = np.diag([0.05, 0.4, 1.5])
    mu = np.array([0.3, -0.2, 0.0])
    d = 3
    ms = np.zeros(sch.N + 1)
    for n in range(1, sch.N + 1):
        C = sch.alpha_bar[n] * L + sch.beta_bar[n] * np.eye(d)
        ms[n] = sch.beta_bar[n] * np.trace(np.linalg.inv(C)) / d
    mse = 1.0 - ms                         # E(eps - eps*)^2 = 1 - E eps*^2 for the exact predictor
    mse[0] = 0.0
    F = baseline_cost_matrix(sch, mse, kind)
    ab, bb = sch.alpha_bar[-1], sch.beta_bar[-1]
    prior = 0.5 * (bb + ab * (np.trace(L) + mu @ mu) / d - 1 - math.log(bb))
    for tr in ([0, 1, 2, 9, 30], [0, 4, 11, 30], [0, 30], list(range(31))):
        want = _gauss_nelbo_closed_form(sch, L, mu, tr, baseline_variances(sch, tr, kind))
        got = sum(F[a, b] for a, b in zip(tr[:-1], tr[1:])) + prior
        assert got == pytest.approx(want, rel=1e-10)


def test_mse_moment_trajectory():
    sch = NoiseSchedule.linear(40, 1e-3, 0.2)
    rng = np.random.default_rng(7)
    ms = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, 40))])
    mse = 1.0 - ms
    mse[0] = 0.0
    for K in (3, 7):
        a = optimal_trajectory(sch, ms, K)
        b = optimal_trajectory(sch, mse, K, moment="mse")
        assert trajectory_cost(sch, ms, a) == pytest.approx(trajectory_cost(sch, ms, b), rel=1e-12)
    # an mse above 1 (a poor predictor) is legal here and needs no guard
    tr = optimal_trajectory(sch, np.full(41, 1.3), 5, moment="mse", guard=False)
    assert len(tr) == 6
    with pytest.raises(ValueError, match="moment"):
        optimal_trajectory(sch, ms, 3, moment="x")


def _scan_dp(F, start, n1, k1):
    """The DP written as the plain scan (for each end point n, predecessors s in increasing
    order, strict <: the smallest minimizing s wins), in Python floats."""
    F = F.tolist()
    prev = [math.inf] * (n1 + 1)
    prev[start] = 0.0
    arg = {}
    for k in range(2, k1 + 1):
        lo, hi = start + k - 1, n1 - (k1 - k)
        cur = [math.inf] * (n1 + 1)
        for n in range(lo, hi + 1):
            best, bi = math.inf, -1
            for s in range(start + k - 2, n):
                v = prev[s] + F[s][n]
                if v < best:
                    best, bi = v, s
            cur[n], arg[k, n] = best, bi
        prev = cur
    if prev[n1] == math.inf:
        return None, math.inf
    path, n = [n1], n1
    for k in range(k1, 1, -1):
        n = arg[k, n]
        path.append(n)
    return path[::-1], prev[n1]


@pytest.mark.parametrize("seed", range(6))
def test_dp_kernel_is_the_plain_scan_bit_for_bit(seed):
    # The Numba DP relaxes layer by layer on SIMD lanes; it must return the same path (ties
    # included: small integer costs tie a lot) and the same cost, bit for bit, as the plain
    # scan -- also with inf and -inf steps (vb_trajectory accepts any non-NaN costs).
    from solvers.diffusion import _trajectory_numba as Kn
    rng = np.random.default_rng(seed)
    n1 = int(rng.integers(5, 40))
    F = rng.integers(-3, 4, size=(n1 + 1, n1 + 1)).astype(float)
    if seed % 2:
        F += rng.normal(size=F.shape) * 1e-3
    F[rng.random(F.shape) < 0.1] = np.inf
    if seed >= 4:
        F[rng.random(F.shape) < 0.02] = -np.inf
    for start in (0, 1):
        for k1 in sorted({2, 3, (n1 - start) // 2 + 1, n1 - start + 1}):
            path, cost = Kn.dp(F, start, n1, k1)
            ref_path, ref_cost = _scan_dp(F, start, n1, k1)
            assert cost == ref_cost, (start, k1)
            if ref_path is not None:
                assert path.tolist() == ref_path, (start, k1)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_cost_matrix_rows_do_not_depend_on_threads(monkeypatch, threads):
    # The cost matrix is filled in chunks of (long row, short row) pairs on probspace._pool
    # when its gate says so; force the thread count and compare the matrix and the path.
    from probspace import _pool
    from solvers.diffusion import _trajectory_numba as Kn
    sch = NoiseSchedule.linear(301)
    ms = np.r_[0.0, sch.beta_bar[1:] / (0.3 * sch.alpha_bar[1:] + sch.beta_bar[1:])]
    ref = optimal_trajectory(sch, ms, 40)
    Fref = step_cost_matrix(sch, ms)
    monkeypatch.setattr(_pool.gate("solvers.diffusion.cost_matrix"), "threads",
                        lambda work, max_threads=None: threads)
    F = np.full((302, 302), np.nan)
    _pool.run(lambda i0, i1: Kn.cost_rows(F, sch.log_alpha_bar, ms, sch.beta_bar, 301, i0, i1),
              301 // 2 + 1, 301, "solvers.diffusion.cost_matrix")
    iu = np.triu_indices(302, 1)
    upper = iu[0] >= 1
    np.testing.assert_allclose(F[iu][upper], Fref[iu][upper], rtol=1e-14, atol=0)
    assert np.isnan(F[np.tril_indices(302)]).all() and np.isnan(F[0]).all()   # not written
    np.testing.assert_array_equal(optimal_trajectory(sch, ms, 40), ref)
