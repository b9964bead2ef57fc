"""The vectorizable log Phi of the EXACT kernel (``numopt.losses._numba_log_ndtr``) against
mpmath (50 digits) and scipy.special.log_ndtr over [-1e5, 40], and the EXACT kernel built on it
against the generic array-API rung on logits that reach every range of it."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.special as sc

import probspace
from numopt.losses import exact
from numopt.losses._numba_log_ndtr import log_ndtr_into

_SUBNORMAL = 2.2250738585072014e-308   # log Phi(x) > -this for x > 37.5


def ours(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    log_ndtr_into(x, out)
    return out


def mp_log_ndtr(x):
    """log Phi(x) to 50 digits: log(erfc(-x/sqrt2)/2), or log1p(-erfc(x/sqrt2)/2) for x > 0."""
    with mpmath.workdps(50):
        v = mpmath.mpf(float(x))
        if v > 0:
            return float(mpmath.log1p(-mpmath.erfc(v / mpmath.sqrt(2)) / 2))
        return float(mpmath.log(mpmath.erfc(-v / mpmath.sqrt(2)) / 2))


def _grid():
    rng = np.random.default_rng(20)
    # Cody's range boundaries in x (|x| / sqrt 2 = 0.46875 and 4) and their neighbours
    edges = np.array([0.46875 * math.sqrt(2), 4 * math.sqrt(2)])
    edges = np.concatenate([edges, -edges])
    near = np.concatenate([np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf), edges])
    return np.concatenate([
        rng.uniform(-1.0, 37.5, 16000),
        rng.uniform(-40.0, -1.0, 6000),
        -np.exp(rng.uniform(math.log(40.0), math.log(1e5), 4000)),
        np.exp(rng.uniform(-40, 0, 2000)), -np.exp(rng.uniform(-40, 0, 2000)),
        np.linspace(-40, 37.5, 2000), [-1e5, 0.0, 5e-324, -5e-324], near])


def test_log_ndtr_ulp_against_mpmath():
    # Measured: at most 6 ulp over 2.2e5 random points (5 on this grid); 1-3 ulp for x < 0.
    x = _grid()
    ref = np.array([mp_log_ndtr(v) for v in x])
    ulp = np.abs(ours(x) - ref) / np.spacing(np.abs(ref))
    assert ulp.max() <= 8, (ulp.max(), x[np.argmax(ulp)])
    assert ulp[x < 0].max() <= 4
    assert np.median(ulp) <= 1


def test_log_ndtr_dense_against_scipy():
    # scipy is itself only ~1e-13 accurate near x = 35 (it rounds x^2 before exp), hence rtol.
    rng = np.random.default_rng(21)
    x = np.concatenate([np.linspace(-1e5, 40, 1_000_001), rng.uniform(-40, 40, 1_000_000),
                        -np.logspace(-300, 5, 100_000), np.logspace(-300, np.log10(40), 100_000)])
    got, ref = ours(x), sc.log_ndtr(x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=_SUBNORMAL)
    assert np.all(got <= 0)


def test_log_ndtr_tails_and_special_values():
    # beyond 37.5 the exact value lies in (-2.2e-308, 0): returned as 0 (or that tiny number)
    x = np.linspace(37.5, 40, 101)
    assert np.all(np.abs(ours(x) - sc.log_ndtr(x)) <= _SUBNORMAL)
    # very negative: -x^2/2 - log(-x) - log(2 pi)/2 + O(x^-2), exactly representable terms
    for v in (-1e5, -1e8, -1e12, -1e150):
        expect = -0.5 * v * v - math.log(-v) - 0.5 * math.log(2 * math.pi)
        assert ours(np.array([v]))[0] == pytest.approx(expect, rel=1e-15)
    got = ours(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e300, -1e300, -1.3e154]))
    assert got[0] == 0.0 and got[1] == -np.inf and np.isnan(got[2])
    assert got[3] == got[4] == -math.log(2.0)
    assert got[5] == 0.0 and got[6] == -np.inf
    assert got[7] == pytest.approx(-0.5 * 1.3e154 ** 2, rel=1e-15)


@pytest.mark.parametrize("C", [2, 8, 9, 37])
@pytest.mark.parametrize("sigma", [0.05, 1.0, 30.0])
def test_exact_kernel_matches_generic_over_all_ranges(C, sigma):
    # Logit spreads from 1e-3 to 1e3 send a_j + x_k into every range of the kernel's log Phi
    # (and its saturation beyond 37.5); C not a multiple of 8 exercises the padded lanes.
    rng = np.random.default_rng(C)
    z = rng.normal(size=(12, C)) * np.logspace(-3, 3, 12)[:, None]
    y = rng.integers(0, C, size=12)
    fast = exact(z, y, sigma=sigma, reduction="none", return_grad=True)
    with probspace.use_backend("generic"):
        ref = exact(z, y, sigma=sigma, reduction="none", return_grad=True)
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # the per-row gradient sums to zero (shift invariance of the loss)
    np.testing.assert_allclose(fast[1].sum(axis=1), 0.0, atol=1e-15)
