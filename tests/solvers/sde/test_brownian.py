"""BrownianPath: resolution consistency, query-order independence, and its law."""
import math

import numpy as np
import pytest
from scipy import stats

from probspace.random import Stream
from probspace.testing import xp_assert_close
from solvers import BrownianPath


def test_increments_sum_across_resolutions():
    bm = BrownianPath((50, 2), 0.0, 2.0, seed=11)
    W3, H3 = bm.grid_increments(3)
    W6, H6 = bm.grid_increments(6)
    # 8 coarse steps = sums of 8 fine steps each (same tree nodes, added up)
    np.testing.assert_allclose(W6.reshape(50, 2, 8, 8).sum(-1), W3, rtol=0, atol=1e-13)
    # the coarse Levy area is recovered from the fine ones by the exact combination rule
    ts = np.linspace(0, 2, 9)
    dw, h = bm.increment(ts[:-1], ts[1:], levy_area=True)
    np.testing.assert_allclose(dw, W3, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h, H3, rtol=0, atol=1e-12)
    # values at the grid are cumulative sums of the grid increments
    v = bm.value(np.linspace(0, 2, 65))
    np.testing.assert_allclose(v[..., 1:], np.cumsum(W6, axis=-1), rtol=0, atol=1e-13)
    assert np.all(v[..., 0] == 0.0)
    # increments over arbitrary (non-dyadic) partitions telescope
    cuts = np.array([0.0, 0.1, 0.37, 0.9, 1.41, 2.0])
    parts = bm.increment(cuts[:-1], cuts[1:])
    np.testing.assert_allclose(parts.sum(-1), bm.increment(0.0, 2.0), rtol=0, atol=1e-13)


def test_query_order_independent_and_deterministic():
    times = np.array([0.93, 0.11, 0.5, 0.77, 0.3, 0.0625])
    a = BrownianPath((7,), 0.0, 1.0, seed=3)
    va = np.stack([a.value(t) for t in times])
    b = BrownianPath((7,), 0.0, 1.0, seed=3)
    order = np.argsort(times)
    vb = np.empty_like(va)
    vb[order] = b.value(times[order]).T
    assert np.array_equal(va, vb)
    # a fresh object with the same seed gives the same path; another seed does not
    assert np.array_equal(BrownianPath((7,), 0.0, 1.0, seed=3).value(0.3), a.value(0.3))
    assert not np.allclose(BrownianPath((7,), 0.0, 1.0, seed=4).value(0.3), a.value(0.3))
    # element e is driven by child stream e: batch shape does not change a given element
    c = BrownianPath((7, 3), 0.0, 1.0, seed=3)
    flat = BrownianPath((21,), 0.0, 1.0, seed=3)
    assert np.array_equal(c.value(0.3).reshape(-1), flat.value(0.3))


def test_root_is_the_streams_first_pair():
    bm = BrownianPath((4,), 1.0, 3.0, seed=9)
    z = np.stack([Stream(9).child(e).normal(2) for e in range(4)])  # counter 0 = draws 0, 1
    np.testing.assert_allclose(bm.increment(1.0, 3.0), math.sqrt(2.0) * z[:, 0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(bm.levy_area(1.0, 3.0), math.sqrt(2.0 / 12) * z[:, 1], rtol=1e-12, atol=1e-15)


def _chi2_var_test(x, var):
    """Two-sided chi-square test that N(0, var) samples have variance var (alpha = 1e-4)."""
    n = x.size
    s = float(np.sum(x * x) / var)
    lo, hi = stats.chi2.ppf([5e-5, 1 - 5e-5], n)
    assert lo < s < hi, (s, n, lo, hi)


def test_law_of_increments_bridge_values_and_levy_area():
    n = 20000
    bm = BrownianPath((n,), 0.0, 1.0, seed=2024)
    # non-dyadic times: exercises the bridge descent and the in-leaf interpolation
    w1 = bm.increment(0.0, 0.3)
    w2 = bm.increment(0.3, 0.71)
    _chi2_var_test(w1, 0.3)
    _chi2_var_test(w2, 0.41)
    # disjoint increments are uncorrelated: |r| sqrt(n) ~ N(0, 1); 4.5 sigma
    r = np.corrcoef(w1, w2)[0, 1]
    assert abs(r) * math.sqrt(n) < 4.5
    # bridge covariance: Cov(W_s, W_t) = min(s, t)
    ws, wt = bm.value(0.2), bm.value(0.65)
    c = np.mean(ws * wt)
    se = np.std(ws * wt) / math.sqrt(n)
    assert abs(c - 0.2) < 4.5 * se
    # Levy area over [0.25, 0.75]: variance h/12, independent of the increment
    dw, h = bm.increment(0.25, 0.75, levy_area=True)
    _chi2_var_test(h, 0.5 / 12)
    _chi2_var_test(dw, 0.5)
    assert abs(np.corrcoef(dw, h)[0, 1]) * math.sqrt(n) < 4.5
    # normality of a bridge value (KS)
    assert stats.kstest(bm.value(0.43) / math.sqrt(0.43), "norm").pvalue > 1e-4


def test_namespaces_agree(xp):
    ref = BrownianPath((5, 2), 0.0, 1.0, seed=8)
    bm = BrownianPath((5, 2), 0.0, 1.0, seed=8, xp=xp)
    v = bm.value([0.1, 0.5, 0.97])
    assert v.shape == (5, 2, 3)
    xp_assert_close(v, xp.asarray(ref.value([0.1, 0.5, 0.97])), rtol=0, atol=0)
    dw, h = bm.increment(0.25, 0.5, levy_area=True)
    xp_assert_close(h, xp.asarray(ref.levy_area(0.25, 0.5)), rtol=0, atol=0)
    v32 = BrownianPath((5, 2), 0.0, 1.0, seed=8, xp=xp, dtype=xp.float32).value(0.5)
    assert v32.dtype == xp.float32


@pytest.mark.parametrize("kw, exc, word", [
    (dict(shape=(0,)), ValueError, "shape"),
    (dict(t1=0.0), ValueError, "t1"),
    (dict(depth=0), ValueError, "depth"),
])
def test_bad_construction(kw, exc, word):
    args = dict(shape=(3,), t0=0.0, t1=1.0, depth=20)
    args.update(kw)
    with pytest.raises(exc, match=word):
        BrownianPath(args["shape"], args["t0"], args["t1"], seed=1, depth=args["depth"])


def test_bad_queries():
    bm = BrownianPath(3, 0.0, 1.0, seed=1)
    with pytest.raises(ValueError, match="t must lie"):
        bm.value(1.5)
    with pytest.raises(ValueError, match="s <= t"):
        bm.increment(0.6, 0.5)
    with pytest.raises(ValueError, match="level"):
        bm.grid_increments(30)
