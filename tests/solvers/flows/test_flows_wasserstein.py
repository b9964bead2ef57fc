"""wasserstein_1d / wasserstein_gaussian against POT, scipy and closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from probspace.testing import xp_assert_close
from solvers import wasserstein_1d, wasserstein_gaussian

ot = pytest.importorskip("ot")


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
def test_matches_pot_weighted_batched(p):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 37))
    y = rng.normal(0.5, 2.0, size=(4, 53))
    wx, wy = rng.random((4, 37)), rng.random((4, 53))
    ours = wasserstein_1d(x, y, p=p, x_weights=wx, y_weights=wy)
    # POT returns W_p^p and wants normalized weights
    ref = np.array([ot.wasserstein_1d(x[i], y[i], wx[i] / wx[i].sum(), wy[i] / wy[i].sum(), p=p)
                    for i in range(4)]) ** (1 / p)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_p1_matches_scipy_with_ties_and_zero_weights():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, size=40).astype(float)   # many ties
    y = rng.integers(0, 7, size=25).astype(float)
    wx = rng.random(40)
    wx[::7] = 0.0
    wy = rng.random(25)
    got = float(wasserstein_1d(x, y, p=1, x_weights=wx, y_weights=wy))
    assert got == pytest.approx(st.wasserstein_distance(x, y, wx, wy), rel=1e-12)


def test_closed_forms():
    # shift: W_p(x, x + c) = |c| for every p
    x = np.random.default_rng(2).normal(size=100)
    for p in (1, 2, 4):
        assert float(wasserstein_1d(x, x + 3.0, p=p)) == pytest.approx(3.0, rel=1e-13)
    # two atoms: point masses 0 and 1 vs 0 (weights 1/2): W_p^p = 1/2
    assert float(wasserstein_1d(np.array([0.0, 1.0]), np.array([0.0]), p=2)) == pytest.approx(
        np.sqrt(0.5), rel=1e-14)
    # quantile samples of two Gaussians: W2 -> sqrt((m1-m2)^2 + (s1-s2)^2)
    n = 20000
    u = (np.arange(n) + 0.5) / n
    a, b = st.norm.ppf(u, 1.0, 2.0), st.norm.ppf(u, -1.0, 0.5)
    assert float(wasserstein_1d(a, b)) == pytest.approx(np.sqrt(4 + 1.5 ** 2), rel=2e-3)


def test_namespaces(xp):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 30)), rng.normal(size=(2, 20))
    want = wasserstein_1d(x, y, p=2)
    got = wasserstein_1d(xp.asarray(x), xp.asarray(y), p=2)
    xp_assert_close(got, xp.asarray(want), rtol=1e-12)
    got32 = wasserstein_1d(xp.asarray(x, dtype=xp.float32), xp.asarray(y, dtype=xp.float32))
    assert got32.dtype == xp.float32


def test_broadcast_leading_axes():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 1, 10))
    y = rng.normal(size=(5, 12))
    out = wasserstein_1d(x, y)
    assert out.shape == (3, 5)
    assert out[2, 4] == pytest.approx(float(wasserstein_1d(x[2, 0], y[4])), rel=1e-13)


def test_errors():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="p"):
        wasserstein_1d(x, x, p=0.5)
    with pytest.raises(ValueError, match="x_weights"):
        wasserstein_1d(x, x, x_weights=-np.ones(3))
    with pytest.raises(ValueError, match="y_weights"):
        wasserstein_1d(x, x, y_weights=np.ones(2))
    with pytest.raises(ValueError, match="x"):
        wasserstein_1d(np.array([np.nan]), x)


def test_gaussian_bures_vs_pot_and_1d():
    rng = np.random.default_rng(5)
    A, B = rng.normal(size=(2, 4, 4))
    C1, C2 = A @ A.T + 0.1 * np.eye(4), B @ B.T + 0.1 * np.eye(4)
    m1, m2 = rng.normal(size=(2, 4))
    ours = float(wasserstein_gaussian(m1, C1, m2, C2))
    ref = float(ot.gaussian.bures_wasserstein_distance(m1, m2, C1, C2))
    assert ours == pytest.approx(ref, rel=1e-9)
    # commuting (diagonal) covariances: sum of 1-D terms
    d1, d2 = np.array([1.0, 4.0]), np.array([9.0, 0.25])
    w = float(wasserstein_gaussian(np.zeros(2), np.diag(d1), np.ones(2), np.diag(d2)))
    assert w ** 2 == pytest.approx(2 + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2), rel=1e-12)
    # batched
    out = wasserstein_gaussian(np.stack([m1, m2]), np.stack([C1, C2]), m2, C2)
    assert out.shape == (2,) and out[1] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="C1"):
        wasserstein_gaussian(m1, C1 + np.triu(np.ones((4, 4)), 1), m2, C2)


def test_gaussian_namespaces(xp):
    C = np.array([[2.0, 0.3], [0.3, 1.0]])
    got = wasserstein_gaussian(xp.asarray([0.0, 1.0]), xp.asarray(C), xp.asarray([1.0, 1.0]),
                               xp.asarray(C))
    xp_assert_close(got, xp.asarray(1.0), rtol=1e-7)


@pytest.mark.parametrize("weighted", [False, True])
def test_numba_rung_matches_generic(weighted):
    import probspace
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 41))
    y = np.round(rng.normal(size=(3, 29)), 1)           # ties inside y and across x/y
    kw = dict(x_weights=rng.random((3, 41)), y_weights=rng.random((3, 29))) if weighted else {}
    for p in (1, 2, 2.5):
        fast = wasserstein_1d(x, y, p=p, **kw)
        with probspace.use_backend("generic"):
            ref = wasserstein_1d(x, y, p=p, **kw)
        np.testing.assert_allclose(fast, ref, rtol=1e-12)


from hypothesis import given, settings, strategies as hst  # noqa: E402

_samples = hst.lists(hst.floats(-100, 100, allow_nan=False), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(_samples, _samples, _samples, hst.sampled_from([1.0, 2.0, 3.0]))
def test_metric_properties(a, b, c, p):
    a, b, c = (np.array(v) for v in (a, b, c))
    ab, ba = float(wasserstein_1d(a, b, p=p)), float(wasserstein_1d(b, a, p=p))
    assert ab == pytest.approx(ba, rel=1e-12, abs=1e-12)                      # symmetry
    assert float(wasserstein_1d(a, a, p=p)) == pytest.approx(0.0, abs=1e-12)
    ac, cb = float(wasserstein_1d(a, c, p=p)), float(wasserstein_1d(c, b, p=p))
    assert ab <= ac + cb + 1e-9 * (1 + ab)                                     # triangle
    assert float(wasserstein_1d(a, b, p=1)) <= float(wasserstein_1d(a, b, p=2)) + 1e-9 * (1 + ab)
