"""Cross-entropy (sigmoid, softmax) and hinge: closed forms, sympy, finite differences, the
EXACT paper's toy problem (Su, kexue.fm 9098), stability and array-API genericity."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sc
import sympy as sp

from numopt.losses import hinge, sigmoid_cross_entropy, softmax_cross_entropy
from probspace.testing import finite_difference_grad, xp_assert_close


def sympy_value_grad(expr, syms, values):
    """Value and gradient of sympy ``expr`` at ``values`` (high-precision evalf)."""
    subs = {s: sp.Float(float(v), 30) for s, v in zip(syms, values)}
    val = float(expr.evalf(30, subs=subs))
    grad = np.array([float(sp.diff(expr, s).evalf(30, subs=subs)) for s in syms])
    return val, grad


def fd_grad(loss, z, *args, **kw):
    """Central differences of the scalar ``loss(z, *args, **kw)`` (float64)."""
    return finite_difference_grad(lambda zz: float(loss(zz, *args, **kw)), np.array(z, float))


# The toy data of kexue.fm 9098: x = -0.25, 0, 0.25 with labels -1, -1, +1; f(x) = x - b.
X = np.array([-0.25, 0.0, 0.25])
Y01 = np.array([0, 0, 1])
YPM = np.array([-1, -1, 1])


def test_toy_cross_entropy_argmin():
    # Summed sigmoid CE of f = x - b: argmin 0.70009, minimum 1.67339 (reference, verified).
    r = so.minimize_scalar(lambda b: float(sigmoid_cross_entropy(X - b, Y01, reduction="sum")),
                           bounds=(-2, 2), method="bounded", options={"xatol": 1e-9})
    assert abs(r.x - 0.70009) < 5e-6
    assert abs(r.fun - 1.67339) < 5e-6


@pytest.mark.parametrize("k,b_star", [(2, 0.3604), (5, 0.1726), (10, 0.1312)])
def test_toy_cross_entropy_temperature_sweep(k, b_star):
    # With f = k (x - b) the CE minimiser moves towards the accuracy-optimal region (0, 0.25).
    r = so.minimize_scalar(
        lambda b: float(sigmoid_cross_entropy(k * (X - b), Y01, reduction="sum")),
        bounds=(-2, 2), method="bounded", options={"xatol": 1e-9})
    assert abs(r.x - b_star) < 1e-4


def test_toy_hinge_flat_on_075_1():
    bs = np.linspace(0.75, 1.0, 11)
    vals = [float(hinge(X - b, YPM, reduction="sum")) for b in bs]
    np.testing.assert_allclose(vals, 1.75, rtol=0, atol=1e-12)
    for b in (0.7, 0.74, 1.01, 1.2, 0.0, 0.125):
        assert float(hinge(X - b, YPM, reduction="sum")) > 1.75 + 1e-6


def test_sigmoid_ce_sympy_and_fd():
    rng = np.random.default_rng(1)
    z = rng.normal(size=5) * 2
    t = np.array([0.0, 1.0, 0.3, 1.0, 0.9])
    zs = sp.symbols("z0:5")
    expr = sum(sp.log(1 + sp.exp(zi)) - ti * zi for zi, ti in zip(zs, t.tolist())) / 5
    val, g_sym = sympy_value_grad(expr, zs, z)
    v, g = sigmoid_cross_entropy(z, t, return_grad=True)
    assert abs(float(v) - val) < 1e-14
    np.testing.assert_allclose(g, g_sym, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g, fd_grad(sigmoid_cross_entropy, z, t), rtol=1e-6, atol=1e-9)


def test_sigmoid_ce_huge_logits_and_float32():
    z = np.array([1e4, -1e4, 1e4, -1e4])
    t = np.array([1, 0, 0, 1])
    v, g = sigmoid_cross_entropy(z, t, reduction="none", return_grad=True)
    np.testing.assert_allclose(v, [0, 0, 1e4, 1e4])
    np.testing.assert_allclose(g, [0, 0, 1, -1])
    v32, g32 = sigmoid_cross_entropy(z.astype(np.float32), t, reduction="none", return_grad=True)
    assert v32.dtype == np.float32 and g32.dtype == np.float32
    np.testing.assert_allclose(v32, [0, 0, 1e4, 1e4])


def test_softmax_ce_matches_scipy_sympy_fd():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 3)) * 3
    y = np.array([0, 2, 1, 2])
    ref = -sc.log_softmax(z, axis=1)[np.arange(4), y]
    np.testing.assert_allclose(softmax_cross_entropy(z, y, reduction="none"), ref, rtol=1e-14)
    # sympy on one row
    zs = sp.symbols("z0:3")
    expr = sp.log(sum(sp.exp(s) for s in zs)) - zs[2]
    val, g_sym = sympy_value_grad(expr, zs, z[1])
    v, g = softmax_cross_entropy(z[1:2], y[1:2], return_grad=True)
    assert abs(float(v) - val) < 1e-14
    np.testing.assert_allclose(g[0], g_sym, rtol=1e-12, atol=1e-15)
    gfull = softmax_cross_entropy(z, y, return_grad=True)[1]
    np.testing.assert_allclose(gfull, fd_grad(softmax_cross_entropy, z, y), rtol=1e-6, atol=1e-9)


def test_softmax_ce_probability_targets_and_smoothing():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4))
    y = np.array([0, 1, 2, 3, 1])
    onehot = np.eye(4)[y]
    xp_assert_close(softmax_cross_entropy(z, onehot), softmax_cross_entropy(z, y), rtol=1e-14)
    eps = 0.1
    t = (1 - eps) * onehot + eps / 4
    xp_assert_close(softmax_cross_entropy(z, y, label_smoothing=eps),
                    softmax_cross_entropy(z, t), rtol=1e-14)
    g = softmax_cross_entropy(z, t, reduction="sum", return_grad=True)[1]
    np.testing.assert_allclose(g, fd_grad(softmax_cross_entropy, z, t, reduction="sum"),
                               rtol=1e-6, atol=1e-8)


def test_softmax_ce_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    v = softmax_cross_entropy(z, np.array([1, 0]), reduction="none")
    np.testing.assert_allclose(v, [1e4, 1e4 + np.log(2)])
    v32 = softmax_cross_entropy(z.astype(np.float32), np.array([0, 1]), reduction="none")
    assert v32.dtype == np.float32
    np.testing.assert_allclose(v32, [0, np.log(2)], rtol=1e-6)


def _hinge_brute(z, y, kind, m=1.0):
    out = []
    for row, t in zip(z, y):
        terms = [m + row[j] - row[t] for j in range(len(row)) if j != t]
        out.append(max(0.0, max(terms)) if kind == "crammer_singer"
                   else sum(max(0.0, v) for v in terms))
    return np.array(out)


@pytest.mark.parametrize("kind", ["crammer_singer", "weston_watkins"])
def test_multiclass_hinge_brute_force_and_subgradient(kind):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(6, 4)) * 2
    y = np.array([0, 1, 2, 3, 0, 2])
    np.testing.assert_allclose(hinge(z, y, multiclass=kind, reduction="none"),
                               _hinge_brute(z, y, kind), rtol=1e-14)
    # Away from kinks (random logits) the subgradient is the gradient.
    g = hinge(z, y, multiclass=kind, return_grad=True)[1]
    np.testing.assert_allclose(g, fd_grad(hinge, z, y, multiclass=kind), atol=1e-8)


def test_binary_hinge_grad_and_errors():
    z = np.array([0.3, -2.0, 1.7, 0.2])
    t = np.array([1, -1, 1, -1])
    v, g = hinge(z, t, reduction="sum", return_grad=True)
    assert abs(float(v) - (0.7 + 0 + 0 + 1.2)) < 1e-14
    np.testing.assert_allclose(g, [-1, 0, 0, 1])
    with pytest.raises(ValueError, match="targets"):
        hinge(z, np.array([1, 0, 1, 0]))
    with pytest.raises(ValueError, match="multiclass"):
        hinge(np.zeros((2, 3)), np.array([0, 1]), multiclass="ovr")


def test_argument_errors():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="reduction"):
        softmax_cross_entropy(z, np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(TypeError, match="targets"):
        softmax_cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy(z, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="logits"):
        softmax_cross_entropy(np.array([[np.nan, 0, 0]]), np.array([0]))
    with pytest.raises(ValueError, match="targets"):
        sigmoid_cross_entropy(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="label_smoothing"):
        softmax_cross_entropy(z, np.array([0, 1]), label_smoothing=1.0)
    with pytest.raises(TypeError, match="return_grad"):
        softmax_cross_entropy(z, np.array([0, 1]), return_grad=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xp_generic(xp, dtype):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(7, 5)) * 3
    y = rng.integers(0, 5, size=7)
    zb = rng.normal(size=7)
    tb = rng.integers(0, 2, size=7)
    dt = getattr(xp, dtype)
    Z, Y = xp.asarray(z, dtype=dt), xp.asarray(y)
    ZB, TB = xp.asarray(zb, dtype=dt), xp.asarray(tb)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for fn, args, np_args in [
            (softmax_cross_entropy, (Z, Y), (z, y)),
            (hinge, (Z, Y), (z, y)),
            (sigmoid_cross_entropy, (ZB, TB), (zb, tb)),
            (hinge, (ZB, xp.asarray(2 * tb - 1)), (zb, 2 * tb - 1))]:
        for red in ("mean", "sum", "none"):
            v, g = fn(*args, reduction=red, return_grad=True)
            v0, g0 = fn(*np_args, reduction=red, return_grad=True)
            xp_assert_close(v, xp.asarray(np.asarray(v0), dtype=dt), rtol=rtol, atol=1e-6, xp=xp)
            xp_assert_close(g, xp.asarray(g0, dtype=dt), rtol=rtol, atol=1e-6, xp=xp)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_ce_numba_rung_matches_generic(dtype):
    import probspace
    rng = np.random.default_rng(7)
    z = (rng.normal(size=(3, 4, 6)) * 3).astype(dtype)
    z[1, 2, 3] = -1e4
    y = rng.integers(0, 6, size=(3, 4))
    tp = rng.dirichlet(np.ones(6), size=(3, 4))
    for tgt, kw in ((y, {}), (tp, {}), (y, {"label_smoothing": 0.2})):
        for red in ("mean", "sum", "none"):
            fast = softmax_cross_entropy(z, tgt, reduction=red, return_grad=True, **kw)
            with probspace.use_backend("generic"):
                ref = softmax_cross_entropy(z, tgt, reduction=red, return_grad=True, **kw)
            for a, b in zip(fast, ref):
                assert a.dtype == b.dtype == dtype and a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=1e-12 if dtype == np.float64 else 1e-5,
                                           atol=1e-15 if dtype == np.float64 else 1e-6)
