"""project_simplex / sparsemax / project_simplex_jvp against independent truth."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import probspace
from numopt import project_simplex, project_simplex_jvp, sparsemax
from probspace.testing import xp_assert_close


def bisection_projection(v, radius=1.0):
    """Independent reference: bisection on the threshold tau of sum(max(v - tau, 0)) = radius."""
    v = np.asarray(v, dtype=np.float64)
    finite = v[np.isfinite(v)]
    lo, hi = finite.min() - radius, finite.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(v - mid, 0).sum() > radius:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - 0.5 * (lo + hi), 0)


# Oracles from the reference (tensorly#354, optax doctest/tests).
ORACLES = [
    ([0.1, 0.2, 0.3], [0.23333333333333334, 0.33333333333333337, 0.43333333333333335]),
    ([0.4, 0.5, 0.6], [0.23333333333333334, 0.33333333333333337, 0.43333333333333335]),
    ([0.5, 2.5, 3.2], [0.0, 0.15, 0.85]),
    ([0.5, 2.1, -3.5], [0.0, 1.0, 0.0]),
    ([1.0, 2.0, 3.0], [0.0, 0.0, 1.0]),
    ([0.0, 0.0, -np.inf], [0.5, 0.5, 0.0]),
]


@pytest.mark.parametrize("v,want", ORACLES)
@pytest.mark.parametrize("backend", ["auto", "generic"])
def test_oracles(v, want, backend):
    with probspace.use_backend(backend):
        got = project_simplex(np.array(v))
    np.testing.assert_allclose(got, want, atol=1e-15)


def test_oracle_radius_scaling():
    # optax: proj([0, 0, -inf]) with scale s gives s/2
    np.testing.assert_allclose(project_simplex(np.array([0.0, 0.0, -np.inf]), radius=3.0),
                               [1.5, 1.5, 0.0], atol=1e-15)


def test_namespaces_and_oracle(xp):
    v = xp.asarray([0.5, 2.5, 3.2])
    p = project_simplex(v)
    xp_assert_close(p, xp.asarray([0.0, 0.15, 0.85]), atol=1e-15)


@pytest.mark.parametrize("method", ["auto", "condat", "sort"])
@pytest.mark.parametrize("dist", ["normal", "uniform", "tiny", "ties", "sorted"])
def test_random_against_bisection(method, dist):
    rng = np.random.default_rng(hash(dist) % 2**32)
    for n in (1, 2, 3, 10, 257, 5000):
        v = {"normal": rng.normal(size=n), "uniform": rng.uniform(size=n),
             "tiny": rng.normal(scale=1e-3, size=n), "ties": rng.integers(0, 3, size=n) * 1.0,
             "sorted": np.sort(rng.normal(size=n))}[dist]
        for radius in (1.0, 0.01, 37.5):
            got = project_simplex(v, radius=radius, method=method)
            np.testing.assert_allclose(got, bisection_projection(v, radius), atol=1e-12 * max(1, radius))


def test_against_qp_solver():
    from scipy.optimize import minimize
    rng = np.random.default_rng(1)
    for _ in range(5):
        v = rng.normal(size=8)
        res = minimize(lambda p: np.sum((p - v) ** 2), np.ones(8) / 8, jac=lambda p: 2 * (p - v),
                       bounds=[(0, None)] * 8, constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1,
                                                              "jac": lambda p: np.ones(8)}],
                       method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
        np.testing.assert_allclose(project_simplex(v), res.x, atol=1e-7)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_axis_and_rungs_agree(axis, dtype):
    rng = np.random.default_rng(2)
    v = rng.normal(size=(4, 5, 6)).astype(dtype)
    fast = project_simplex(v, axis=axis)
    with probspace.use_backend("generic"):
        ref = project_simplex(v, axis=axis)
    assert fast.dtype == dtype and ref.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(fast, ref, atol=tol)
    np.testing.assert_allclose(fast.sum(axis=axis), 1.0, atol=10 * tol)
    # each slice equals the 1-D projection
    moved = np.moveaxis(v, axis, -1).reshape(-1, v.shape[axis]).astype(np.float64)
    want = np.array([bisection_projection(r) for r in moved])
    np.testing.assert_allclose(np.moveaxis(fast, axis, -1).reshape(want.shape), want, atol=tol * 10)


def test_batched_large_parallel_path_and_out():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(2000, 100))
    out = np.empty_like(v)
    got = project_simplex(v, out=out)
    assert got is out
    with probspace.use_backend("generic"):
        ref = project_simplex(v)
    np.testing.assert_allclose(got, ref, atol=1e-13)
    # columns (axis=0) into a preallocated output
    out2 = np.empty_like(v)
    project_simplex(v, axis=0, out=out2)
    np.testing.assert_allclose(out2, np.stack([bisection_projection(c) for c in v.T], axis=1), atol=1e-12)


def test_generic_array_api_strict_axis0(xp):
    rng = np.random.default_rng(4)
    v = rng.normal(size=(6, 3))
    got = project_simplex(xp.asarray(v), axis=0)
    want = np.stack([bisection_projection(c) for c in v.T], axis=1)
    xp_assert_close(got, xp.asarray(want), atol=1e-12)


def test_integer_input_promoted():
    p = project_simplex(np.array([1, 2, 3]))
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, [0, 0, 1])


def test_bad_input_errors():
    with pytest.raises(ValueError, match="NaN"):
        project_simplex(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"\+inf"):
        project_simplex(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="entirely -inf"):
        project_simplex(np.array([-np.inf, -np.inf]))
    with pytest.raises(ValueError, match="radius"):
        project_simplex(np.array([1.0, 2.0]), radius=0)
    with pytest.raises(ValueError, match="method"):
        project_simplex(np.array([1.0, 2.0]), method="quick")
    with pytest.raises(ValueError, match="axis"):
        project_simplex(np.array([1.0, 2.0]), axis=3)
    with pytest.raises(TypeError, match="complex"):
        project_simplex(np.array([1.0 + 1j]))
    with pytest.raises(ValueError, match="out"):
        project_simplex(np.array([1.0, 2.0]), out=np.empty(3))
    with pytest.raises(ValueError, match="at least one dimension"):
        project_simplex(np.float64(1.0))
    with probspace.use_backend("generic"):
        with pytest.raises(ValueError, match="NaN"):
            project_simplex(np.array([1.0, np.nan]))
        with pytest.raises(ValueError, match="condat"):
            project_simplex(np.array([1.0, 2.0]), method="condat")


finite_vectors = arrays(np.float64, st.integers(1, 40),
                        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))


@settings(max_examples=150, deadline=None)
@given(v=finite_vectors, radius=st.floats(0.01, 100.0))
def test_properties(v, radius):
    p = project_simplex(v, radius=radius)
    scale = max(1.0, np.abs(v).max(), radius)
    assert np.all(p >= 0)
    assert abs(p.sum() - radius) <= 1e-9 * scale * len(v)
    np.testing.assert_allclose(project_simplex(p, radius=radius), p, atol=1e-9 * scale)  # idempotent
    perm = np.random.default_rng(len(v)).permutation(len(v))
    np.testing.assert_allclose(project_simplex(v[perm], radius=radius), p[perm], atol=1e-9 * scale)
    with probspace.use_backend("generic"):
        np.testing.assert_allclose(project_simplex(v, radius=radius), p, atol=1e-9 * scale)


def test_sparsemax_closed_form():
    # post 10145: sort desc, lambda = (sum_{i<=k} x_i - 1)/k for the largest k with x_k > lambda_k
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.normal(size=7) * 2
        u = np.sort(x)[::-1]
        lam = [(u[:k].sum() - 1) / k for k in range(1, 8)]
        k = max(k for k in range(1, 8) if u[k - 1] > lam[k - 1])
        np.testing.assert_allclose(sparsemax(x), np.maximum(x - lam[k - 1], 0), atol=1e-14)


def test_jacobian_against_finite_differences():
    rng = np.random.default_rng(6)
    for _ in range(10):
        v = rng.normal(size=6)
        p = project_simplex(v)
        s = (p > 0).astype(float)
        J = np.diag(s) - np.outer(s, s) / s.sum()
        h = 1e-7
        fd = np.stack([(project_simplex(v + h * e) - project_simplex(v - h * e)) / (2 * h)
                       for e in np.eye(6)], axis=1)
        np.testing.assert_allclose(fd, J, atol=1e-6)
        t = rng.normal(size=6)
        np.testing.assert_allclose(project_simplex_jvp(v, t), J @ t, atol=1e-12)


def test_jvp_batched_and_generic(xp):
    v = np.array([[0.5, 2.5, 3.2], [0.1, 0.2, 0.3]])
    t = np.array([[1.0, -2.0, 0.5], [0.3, 0.2, 0.1]])
    got = project_simplex_jvp(xp.asarray(v), xp.asarray(t))
    want = np.array([[0, -1.25, 1.25], [0.1, 0.0, -0.1]])
    xp_assert_close(got, xp.asarray(want), atol=1e-12)
    with pytest.raises(ValueError, match="tangent"):
        project_simplex_jvp(xp.asarray(v), xp.asarray(t[:, :2]))


@pytest.mark.gpu
def test_cupy_rung_matches_generic():
    import cupy as cp
    rng = np.random.default_rng(7)
    for shape, axis in [((10_000,), -1), ((3000, 50), -1), ((50, 3000), 0), ((10, 7), -1)]:
        v = rng.normal(size=shape)
        got = project_simplex(cp.asarray(v), axis=axis)
        with probspace.use_backend("generic"):
            ref = project_simplex(v, axis=axis)
        np.testing.assert_allclose(cp.asnumpy(got), ref, atol=1e-12)
    got32 = project_simplex(cp.asarray(rng.normal(size=(500, 20)).astype(np.float32)), method="condat")
    assert got32.dtype == cp.float32
