"""Smoothed accuracy/F1, ZLPR (hard, threshold class, fixed k, soft) and EMO against closed
forms, brute-force enumeration, sympy, finite differences and scipy minimisation."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sc
import sympy as sp
from sklearn.metrics import f1_score

from numopt.losses import (emo, smoothed_accuracy, smoothed_f1, softmax_cross_entropy, zlpr,
                           zlpr_soft)
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


RNG = np.random.default_rng(11)


# ---- smoothed accuracy / F1 -----------------------------------------------------------------
def test_smoothed_accuracy_tends_to_error_rate():
    z = RNG.normal(size=(50, 4))
    y = RNG.integers(0, 4, size=50)
    err = np.mean(np.argmax(z, axis=1) != y)
    assert abs(float(smoothed_accuracy(z, y, temperature=1e-4)) - err) < 1e-6
    zb = RNG.normal(size=40)
    tb = RNG.integers(0, 2, size=40)
    errb = np.mean((zb > 0) != (tb == 1))
    assert abs(float(smoothed_accuracy(zb, tb, temperature=1e-4)) - errb) < 1e-6


def test_toy_accuracy_region():
    # 9098 toy problem: 100% accuracy exactly for b in (0, 0.25).
    X, t = np.array([-0.25, 0.0, 0.25]), np.array([0, 0, 1])
    for b in np.linspace(-0.5, 0.75, 26):
        acc_err = float(smoothed_accuracy(X - b, t, temperature=1e-6))
        assert (acc_err < 1e-9) == (0 < b < 0.25)


def test_smoothed_accuracy_sympy_and_fd():
    zs = sp.symbols("z0:3")
    T = 0.7
    expr = 1 - sp.exp(zs[1] / T) / sum(sp.exp(s / T) for s in zs)
    z = np.array([0.3, -0.8, 1.2])
    val, g_sym = sympy_value_grad(expr, zs, z)
    v, g = smoothed_accuracy(z[None], np.array([1]), temperature=T, return_grad=True)
    assert abs(float(v) - val) < 1e-14
    np.testing.assert_allclose(g[0], g_sym, rtol=1e-12)
    zz = RNG.normal(size=(5, 3))
    tt = RNG.dirichlet(np.ones(3), size=5)
    g2 = smoothed_accuracy(zz, tt, temperature=0.5, return_grad=True)[1]
    np.testing.assert_allclose(g2, fd_grad(smoothed_accuracy, zz, tt, temperature=0.5),
                               rtol=1e-6, atol=1e-9)
    zb, tb = RNG.normal(size=6), RNG.random(6)
    gb = smoothed_accuracy(zb, tb, temperature=2.0, return_grad=True)[1]
    np.testing.assert_allclose(gb, fd_grad(smoothed_accuracy, zb, tb, temperature=2.0),
                               rtol=1e-6, atol=1e-9)


def test_smoothed_f1_hard_limit_matches_sklearn_and_grad():
    zb = RNG.normal(size=30)
    tb = RNG.integers(0, 2, size=30)
    f1 = f1_score(tb, (zb > 0).astype(int))
    assert abs(float(smoothed_f1(zb, tb, temperature=1e-5)) - (1 - f1)) < 1e-6
    z = RNG.normal(size=(40, 3))
    y = RNG.integers(0, 3, size=40)
    macro = f1_score(y, np.argmax(z, axis=1), average="macro")
    assert abs(float(smoothed_f1(z, y, temperature=1e-5)) - (1 - macro)) < 1e-6
    per = smoothed_f1(z, y, temperature=1e-5, reduction="none")
    np.testing.assert_allclose(per, 1 - f1_score(y, np.argmax(z, axis=1), average=None),
                               atol=1e-6)
    for red in ("mean", "sum"):
        g = smoothed_f1(z, y, temperature=0.8, reduction=red, return_grad=True)[1]
        np.testing.assert_allclose(
            g, fd_grad(smoothed_f1, z, y, temperature=0.8, reduction=red), rtol=1e-6, atol=1e-9)
    gb = smoothed_f1(zb, tb, return_grad=True)[1]
    np.testing.assert_allclose(gb, fd_grad(smoothed_f1, zb, tb), rtol=1e-6, atol=1e-9)


# ---- ZLPR -----------------------------------------------------------------------------------
def test_zlpr_value_and_sympy():
    s = np.array([2.0, -1.0, 0.5, -3.0])
    y = np.array([1, 0, 1, 0])
    assert abs(float(zlpr(s, y)) - 0.903969) < 5e-7
    ss = sp.symbols("s0:4")
    expr = sp.log(1 + sp.exp(ss[1]) + sp.exp(ss[3])) + sp.log(1 + sp.exp(-ss[0]) + sp.exp(-ss[2]))
    val, g_sym = sympy_value_grad(expr, ss, s)
    v, g = zlpr(s, y, return_grad=True)
    assert abs(float(v) - val) < 1e-14
    np.testing.assert_allclose(g, g_sym, rtol=1e-12)


def test_zlpr_threshold_class():
    z = RNG.normal(size=(4, 6))
    y = (RNG.random((4, 6)) < 0.4).astype(int)
    j = 2
    s0 = z[:, j:j + 1]
    keep = np.delete(np.arange(6), j)
    direct = (np.log(np.exp(s0[:, 0]) + np.sum(np.where(y[:, keep] == 0, np.exp(z[:, keep]), 0), 1))
              + np.log(np.exp(-s0[:, 0]) + np.sum(np.where(y[:, keep] == 1, np.exp(-z[:, keep]), 0), 1)))
    np.testing.assert_allclose(zlpr(z, y, threshold_index=j, reduction="none"), direct, rtol=1e-13)
    g = zlpr(z, y, threshold_index=j, return_grad=True)[1]
    np.testing.assert_allclose(g, fd_grad(zlpr, z, y, threshold_index=j), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["recursion", "newton"])
def test_zlpr_fixed_k_brute_force(method):
    C, k = 6, 3
    z = RNG.normal(size=(3, C)) * 1.5
    y = np.zeros((3, C), int)
    for r in range(3):
        y[r, RNG.choice(C, k, replace=False)] = 1
    brute = []
    for r in range(3):
        logz = sc.logsumexp([z[r, list(S)].sum() for S in itertools.combinations(range(C), k)])
        brute.append(logz - z[r, y[r] == 1].sum())
    v, g = zlpr(z, y, k=k, topk_method=method, reduction="none", return_grad=True)
    np.testing.assert_allclose(v, brute, rtol=1e-12)
    np.testing.assert_allclose(g.sum(), zlpr(z, y, k=k, topk_method=method, reduction="sum",
                                             return_grad=True)[1].sum(), atol=1e-12)
    gs = zlpr(z, y, k=k, topk_method=method, reduction="sum", return_grad=True)[1]
    # Newton's alternating sums carry ~1e-13 rounding noise, amplified 1e6-fold by the
    # differences (h = 1e-6): hence the looser atol for that method.
    np.testing.assert_allclose(gs, fd_grad(zlpr, z, y, k=k, topk_method=method, reduction="sum"),
                               rtol=1e-6, atol=1e-9 if method == "recursion" else 1e-7)
    # k = 1 is softmax cross-entropy
    y1 = np.eye(C, dtype=int)[[0, 3, 5]]
    np.testing.assert_allclose(zlpr(z, y1, k=1, topk_method=method, reduction="none"),
                               softmax_cross_entropy(z, np.array([0, 3, 5]), reduction="none"),
                               rtol=1e-12)


def test_zlpr_huge_logits():
    z = np.array([[1e4, -1e4, 3.0, -2.0], [-1e4, 1e4, 0.0, 0.0]])
    y = np.array([[1, 0, 1, 0], [1, 0, 0, 1]])
    v, g = zlpr(z, y, reduction="none", return_grad=True)
    expect0 = math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1e4) + math.exp(-3.0))
    assert abs(v[0] - expect0) < 1e-12 and abs(v[1] - 2e4) < 1e-9
    assert np.all(np.isfinite(g))
    # fixed k with a huge spread: the log-domain recursion stays exact, Newton cannot.
    zk = np.array([[1e4, 0.0, -1e4, 5.0]])
    yk = np.array([[1, 0, 0, 1]])
    vk = zlpr(zk, yk, k=2)
    brute = sc.logsumexp([zk[0, list(S)].sum() for S in itertools.combinations(range(4), 2)]) \
        - (1e4 + 5.0)
    assert abs(float(vk) - brute) < 1e-9
    with pytest.raises(FloatingPointError):
        zlpr(zk, yk, k=2, topk_method="newton")
    v32 = zlpr(z.astype(np.float32), y, reduction="none")
    assert v32.dtype == np.float32
    np.testing.assert_allclose(v32, v, rtol=1e-6)


def test_zlpr_soft_reduces_and_optimum():
    s = RNG.normal(size=(3, 5))
    y = (RNG.random((3, 5)) < 0.5).astype(int)
    np.testing.assert_allclose(zlpr_soft(s, y.astype(float), reduction="none"),
                               zlpr(s, y, reduction="none"), rtol=1e-14)
    t = np.array([0.1, 0.5, 0.9, 0.3])
    res = so.minimize(lambda x: float(zlpr_soft(x, t)), np.zeros(4),
                      jac=lambda x: zlpr_soft(x, t, return_grad=True)[1], method="BFGS",
                      options={"gtol": 1e-12})
    np.testing.assert_allclose(res.x, sc.logit(t) / 2, atol=1e-6)
    np.testing.assert_allclose(res.x, [-1.0986, 0.0, 1.0986, -0.4236], atol=1e-4)
    tt = RNG.random((4, 5))
    g = zlpr_soft(s[:1].repeat(4, 0), tt, return_grad=True)[1]
    np.testing.assert_allclose(g, fd_grad(zlpr_soft, s[:1].repeat(4, 0), tt), rtol=1e-6, atol=1e-9)


def test_zlpr_soft_masked_logits_do_not_leak():
    # A masked logit -1e7 with label 0: its e^{-s} term must vanish (t = 0 exactly).
    s = np.array([-1e7, 1.0, -0.5])
    t = np.array([0.0, 0.8, 0.2])
    ref = math.log1p(0.8 * math.exp(-1.0) + 0.2 * math.exp(0.5)) + \
        math.log1p(0.2 * math.exp(1.0) + 0.8 * math.exp(-0.5))
    assert abs(float(zlpr_soft(s, t)) - ref) < 1e-12
    # eps snaps near-0 labels to 0 (the reference's clip-and-mask intent).
    t2 = np.array([1e-9, 0.8, 0.2])
    assert float(zlpr_soft(s, t2)) > 1e6          # the leak exists without eps ...
    assert abs(float(zlpr_soft(s, t2, eps=1e-7)) - ref) < 1e-12   # ... and eps removes it


# ---- EMO ------------------------------------------------------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_emo_zero_one_cost_is_one_minus_p_target():
    z = RNG.normal(size=(6, 5))
    y = RNG.integers(0, 5, size=6)
    p = _softmax(z)
    expect = 1 - p[np.arange(6), y]
    np.testing.assert_allclose(emo(z, y, reduction="none"), expect, rtol=1e-14)
    np.testing.assert_allclose(emo(z, y, cost=1 - np.eye(5), reduction="none"), expect, rtol=1e-14)
    np.testing.assert_allclose(emo(z, y, reduction="none"),
                               smoothed_accuracy(z, y, reduction="none"), rtol=1e-14)


def test_emo_embeddings_equal_cosine_cost_and_grads():
    C, d = 5, 3
    E = RNG.normal(size=(C, d))
    En = E / np.linalg.norm(E, axis=1, keepdims=True)
    cost = 1 - En @ En.T
    z = RNG.normal(size=(4, C))
    y = np.array([0, 4, 2, 2])
    tau = RNG.dirichlet(np.ones(C), size=4)
    p = _softmax(z)
    for tgt, T in ((y, np.eye(C)[y]), (tau, tau)):
        brute = np.einsum("ni,nj,ij->n", p, T, cost)
        np.testing.assert_allclose(emo(z, tgt, embeddings=E, reduction="none"), brute, rtol=1e-12)
        np.testing.assert_allclose(emo(z, tgt, cost=cost, reduction="none"), brute, rtol=1e-12)
        for kw in ({"embeddings": E}, {"cost": cost}):
            g = emo(z, tgt, return_grad=True, **kw)[1]
            np.testing.assert_allclose(g, fd_grad(emo, z, tgt, **kw), rtol=1e-6, atol=1e-9)


def test_emo_sympy_gradient():
    zs = sp.symbols("z0:3")
    cost = np.array([[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]])
    den = sum(sp.exp(s) for s in zs)
    expr = sum(sp.exp(zs[i]) / den * cost[i, 2] for i in range(3))
    z = np.array([0.2, -0.4, 1.1])
    val, g_sym = sympy_value_grad(expr, zs, z)
    v, g = emo(z[None], np.array([2]), cost=cost, return_grad=True)
    assert abs(float(v) - val) < 1e-14
    np.testing.assert_allclose(g[0], g_sym, rtol=1e-12)


@pytest.mark.parametrize("mode", [1, 2])
def test_emo_mixing_modes(mode):
    z = RNG.normal(size=(5, 4))
    y = RNG.integers(0, 4, size=5)
    E = RNG.normal(size=(4, 6))
    e = emo(z, y, embeddings=E, reduction="none")
    ce = softmax_cross_entropy(z, y, reduction="none")
    if mode == 1:
        r = np.minimum(ce / e, 3.0)
        expect = 0.5 * (r * e + ce)
    else:
        r = e / ce
        expect = r * ce + e
    v, g = emo(z, y, embeddings=E, mix=mode, reduction="none", return_grad=True)
    np.testing.assert_allclose(v, expect, rtol=1e-13)

    # Gradient with the stop-gradient ratio frozen at its current value, row by row.
    for i in range(5):
        rr = r[i]
        zi = z[i:i + 1].copy()

        def f_row(zz, i=i, rr=rr):
            ee = float(emo(zz, y[i:i + 1], embeddings=E, reduction="sum"))
            cc = float(softmax_cross_entropy(zz, y[i:i + 1], reduction="sum"))
            return 0.5 * (rr * ee + cc) if mode == 1 else rr * cc + ee
        np.testing.assert_allclose(g[i], finite_difference_grad(f_row, zi)[0], rtol=1e-6,
                                   atol=1e-9)


def test_emo_errors():
    z = np.zeros((2, 3))
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="cost"):
        emo(z, y, cost=np.ones((2, 2)))
    with pytest.raises(ValueError, match="embeddings"):
        emo(z, y, embeddings=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="either"):
        emo(z, y, cost=np.ones((3, 3)), embeddings=np.ones((3, 2)))
    with pytest.raises(ValueError, match="mix"):
        emo(z, y, mix=3)
    with pytest.raises(ValueError, match="targets"):
        zlpr(z, np.array([[0, 1, 2], [0, 0, 1]]))
    with pytest.raises(ValueError, match="exactly"):
        zlpr(z, np.array([[0, 1, 1], [0, 0, 1]]), k=2)
    with pytest.raises(ValueError, match="temperature"):
        smoothed_accuracy(z, y, temperature=-1.0)


# ---- array-API genericity -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xp_generic(xp, dtype):
    rng = np.random.default_rng(12)
    z = rng.normal(size=(6, 4)) * 2
    y = rng.integers(0, 4, size=6)
    ml = (rng.random((6, 4)) < 0.5).astype(np.int64)
    soft = rng.random((6, 4))
    E = rng.normal(size=(4, 3))
    cost = np.abs(rng.normal(size=(4, 4)))
    zb, tb = rng.normal(size=6), rng.integers(0, 2, size=6)
    dt = getattr(xp, dtype)
    Z = xp.asarray(z, dtype=dt)
    cases = [
        (smoothed_accuracy, (Z, xp.asarray(y)), (z, y), {"temperature": 0.5}),
        (smoothed_accuracy, (xp.asarray(zb, dtype=dt), xp.asarray(tb)), (zb, tb), {}),
        (smoothed_f1, (Z, xp.asarray(y)), (z, y), {}),
        (zlpr, (Z, xp.asarray(ml)), (z, ml), {}),
        (zlpr, (Z, xp.asarray(ml)), (z, ml), {"threshold_index": 1}),
        (zlpr, (Z, xp.asarray(np.eye(4, dtype=np.int64)[y] + np.eye(4, dtype=np.int64)[(y + 1) % 4])),
         (z, np.eye(4, dtype=np.int64)[y] + np.eye(4, dtype=np.int64)[(y + 1) % 4]), {"k": 2}),
        (zlpr_soft, (Z, xp.asarray(soft, dtype=dt)), (z, soft), {}),
        (emo, (Z, xp.asarray(y)), (z, y), {"embeddings": E, "mix": 1}),
        (emo, (Z, xp.asarray(y)), (z, y), {"cost": cost}),
    ]
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for fn, args, np_args, kw in cases:
        kw_xp = {k: (xp.asarray(v, dtype=dt) if isinstance(v, np.ndarray) else v)
                 for k, v in kw.items()}
        for red in ("mean", "none"):
            v, g = fn(*args, reduction=red, return_grad=True, **kw_xp)
            v0, g0 = fn(*np_args, reduction=red, return_grad=True, **kw)
            xp_assert_close(v, xp.asarray(np.asarray(v0), dtype=dt), rtol=rtol, atol=1e-6, xp=xp)
            xp_assert_close(g, xp.asarray(g0, dtype=dt), rtol=rtol, atol=1e-6, xp=xp)
