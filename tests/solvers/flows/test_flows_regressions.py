"""Issue 14 regressions in solvers.flows: large-p Wasserstein, PSD checks, step caps."""
import mpmath
import numpy as np
import pytest

import probspace
from solvers import (fokker_planck_1d, fokker_planck_2d, porous_medium_1d, wasserstein_1d,
                     wasserstein_gaussian)


def _wp_exact(x, y, p, wx=None, wy=None):
    """W_p of two weighted samples in 60-digit arithmetic (quantile pieces, brute force)."""
    mpmath.mp.dps = 60
    x, y = np.asarray(x, float), np.asarray(y, float)
    wx = np.ones_like(x) if wx is None else np.asarray(wx, float)
    wy = np.ones_like(y) if wy is None else np.asarray(wy, float)
    ox, oy = np.argsort(x), np.argsort(y)
    xs, ys = [mpmath.mpf(v) for v in x[ox]], [mpmath.mpf(v) for v in y[oy]]
    cx = np.cumsum([mpmath.mpf(v) for v in wx[ox]])
    cy = np.cumsum([mpmath.mpf(v) for v in wy[oy]])
    cx, cy = cx / cx[-1], cy / cy[-1]
    levels = sorted(set(list(cx) + list(cy)))
    acc, prev = mpmath.mpf(0), mpmath.mpf(0)
    for s in levels:
        mid = (prev + s) / 2
        i = next(k for k, c in enumerate(cx) if c >= mid)
        j = next(k for k, c in enumerate(cy) if c >= mid)
        acc += (s - prev) * abs(xs[i] - ys[j]) ** p
        prev = s
    return float(acc ** (mpmath.mpf(1) / p))


@pytest.mark.parametrize("p", [2, 50, 400, 1000, 5000, 1e5])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize("backend", ["numba", "generic"])
def test_wasserstein_1d_large_p_is_exact(p, scale, backend):
    rng = np.random.default_rng(0)
    x, y = scale * rng.normal(size=7), scale * (rng.normal(size=5) + 0.5)
    wx = rng.uniform(0.5, 2.0, size=7)
    with probspace.use_backend(backend):
        got = float(wasserstein_1d(x, y, p=p))
        got_w = float(wasserstein_1d(x, y, p=p, x_weights=wx))
    assert np.isfinite(got) and got > 0
    np.testing.assert_allclose(got, _wp_exact(x, y, p), rtol=1e-12)
    np.testing.assert_allclose(got_w, _wp_exact(x, y, p, wx=wx), rtol=1e-12)


def test_wasserstein_gaussian_refuses_non_psd_covariances():
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])        # eigenvalues 3, -1
    with pytest.raises(ValueError, match="C1 must be positive semi-definite"):
        wasserstein_gaussian(np.zeros(2), bad, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="C2 must be positive semi-definite"):
        wasserstein_gaussian(np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2))
    # singular (rank-deficient) covariances are PSD: accepted, closed form
    C = np.diag([1.0, 0.0])
    w = float(wasserstein_gaussian(np.zeros(2), C, np.zeros(2), 4 * C))
    np.testing.assert_allclose(w, 1.0, rtol=1e-12)     # |sqrt(4) - sqrt(1)| on one axis


@pytest.mark.parametrize("which", ["1d", "2d", "porous"])
def test_fokker_planck_step_cap_before_any_work(which):
    x = np.linspace(-3.0, 3.0, 40)
    p0 = np.exp(-x ** 2)
    calls = []

    def drift(*a):
        calls.append(1)
        return tuple(-v for v in a) if len(a) == 2 else -a[0]

    # the cap is a parameter (checked first: without a cap the calls below would run for days)
    r = fokker_planck_1d(lambda v: -v, 1.0, x, p0, [0.01], dt=1e-4, max_steps=100)
    assert r.nsteps == 100
    with pytest.raises(ValueError, match="max_steps"):
        if which == "1d":
            fokker_planck_1d(drift, 1.0, x, p0, [1.0], dt=1e-9)
        elif which == "2d":
            fokker_planck_2d(drift, 1.0, x, x, np.outer(p0, p0), [1.0], dt=1e-9)
        else:
            porous_medium_1d(x, p0, [1.0], dt=1e-9)
    assert not calls


def test_grid_callables_return_one_value_per_point():
    x = np.linspace(-3.0, 3.0, 40)
    with pytest.raises(ValueError, match="one value per point"):
        fokker_planck_1d(lambda v: np.ones(3), 1.0, x, np.exp(-x ** 2), [0.1])


def test_particle_routines_stop_on_non_finite_particles():
    """ULA on N(0, 1) with step 5 diverges (|1 - h| > 1 amplifies): never 'success'."""
    from solvers import kde_probability_flow, langevin, svgd
    x0 = np.linspace(-1.0, 1.0, 50)[:, None]
    r = langevin(lambda x: -x, x0, step=5.0, n_steps=2000, seed=1)
    assert r.status == -2 and not r.success and "non-finite" in r.message
    assert 0 < r.nit < 2000 and np.all(np.isfinite(r.x))
    ok = langevin(lambda x: -x, x0, step=0.1, n_steps=20, seed=1)
    assert ok.status == 0 and ok.success and ok.nit == 20
    bad_grad = lambda x: np.where(x > 0.5, np.nan, -x)  # noqa: E731
    for fn in (svgd, kde_probability_flow):
        r = fn(bad_grad, x0, step=0.1, n_steps=5)
        assert r.status == -2 and not r.success and r.nit == 0
        np.testing.assert_array_equal(r.x, x0)
