"""Gradient flows over solve_ode and the bridge to optimizers: GD = explicit Euler, heavy ball =
leapfrog of x'' + λx' = -∇f, and the IGR modified flow (oracle: kexue 7787 / Barrett-Dherin)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl

from probspace.testing import xp_assert_close
from solvers import (damped_flow, gradient_descent, gradient_flow, heavy_ball, heavy_ball_start,
                     heavy_ball_to_ode, igr_modified_gradient, ode_to_heavy_ball,
                     rescale_momentum)

A = np.array([[3.0, 0.5], [0.5, 1.0]])
X0 = np.array([1.0, -2.0])


def grad_quad(x):
    return x @ A


def test_gradient_flow_quadratic_exact_and_descent():
    t = np.linspace(0, 2, 9)
    r = gradient_flow(grad_quad, X0, (0.0, 2.0), t_eval=t, rtol=1e-10, atol=1e-12)
    exact = np.stack([sl.expm(-A * tk) @ X0 for tk in t])
    np.testing.assert_allclose(r.y, exact, atol=1e-9)
    f = 0.5 * np.einsum("ti,ij,tj->t", r.y, A, r.y)
    assert np.all(np.diff(f) < 0)     # df/dt = -|∇f|^2


def test_gradient_descent_is_explicit_euler():
    g = lambda x: np.sin(x) + x ** 3 / 10  # noqa: E731
    x0 = np.array([[1.0, -0.5], [2.0, 0.3]])
    gd = gradient_descent(g, x0, lr=0.05, n_steps=40)
    ode = gradient_flow(g, x0, (0.0, 2.0), method="euler", dt0=0.05,
                        t_eval=np.linspace(0, 2, 41))
    np.testing.assert_allclose(np.moveaxis(gd.trace, 0, 1), ode.y, rtol=1e-13, atol=1e-15)


def test_igr_modified_flow_tracks_gd_to_third_order():
    plain, modified = [], []
    etas = np.array([0.08, 0.04, 0.02, 0.01])
    for eta in etas:
        gd = X0 - eta * grad_quad(X0)
        e_plain = sl.expm(-A * eta) @ X0
        e_mod = sl.expm(-(A + eta * A @ A / 2) * eta) @ X0        # oracle, solvers.md §1
        r = gradient_flow(grad_quad, X0, (0.0, eta), igr_lr=eta, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r.y[-1], e_mod, atol=1e-10)   # finite-difference H∇L
        plain.append(np.linalg.norm(gd - e_plain))
        modified.append(np.linalg.norm(gd - r.y[-1]))
    p_order = np.polyfit(np.log(etas), np.log(plain), 1)[0]
    m_order = np.polyfit(np.log(etas), np.log(modified), 1)[0]
    assert abs(p_order - 2) < 0.1 and abs(m_order - 3) < 0.15, (p_order, m_order)
    assert np.all(np.array(modified) < np.array(plain))


def test_igr_hvp_and_many_steps():
    # with an exact Hessian-vector product; over n steps GD stays closer to the modified flow
    mg = igr_modified_gradient(grad_quad, 0.05, hvp=lambda x, v: v @ A)
    np.testing.assert_allclose(mg(X0), X0 @ A + 0.025 * X0 @ A @ A, rtol=1e-14)
    fd = igr_modified_gradient(grad_quad, 0.05)
    np.testing.assert_allclose(fd(X0), mg(X0), rtol=1e-8)
    eta, n = 0.05, 20
    gd = gradient_descent(grad_quad, X0, lr=eta, n_steps=n).x
    plain = gradient_flow(grad_quad, X0, (0, n * eta), rtol=1e-11, atol=1e-13).y[-1]
    mod = gradient_flow(grad_quad, X0, (0, n * eta), igr_lr=eta, hvp=lambda x, v: v @ A,
                        rtol=1e-11, atol=1e-13).y[-1]
    assert np.linalg.norm(gd - mod) < 0.2 * np.linalg.norm(gd - plain)


def test_heavy_ball_maps_roundtrip_and_rule():
    for gamma, lam in [(0.1, 1.5), (0.01, 3.0), (0.5, 0.2)]:
        a, b = ode_to_heavy_ball(gamma, lam)
        g2, l2 = heavy_ball_to_ode(a, b)
        assert (g2, l2) == pytest.approx((gamma, lam), rel=1e-12)
        assert b == pytest.approx(1 - lam * np.sqrt(a), abs=2 * (lam * gamma) ** 2)
    b2 = rescale_momentum(0.01, 0.9, 0.04)
    assert heavy_ball_to_ode(0.04, b2)[1] == pytest.approx(heavy_ball_to_ode(0.01, 0.9)[1],
                                                           rel=1e-12)
    assert rescale_momentum(0.01, 0.9, 0.04, exact=False) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="momentum"):
        heavy_ball_to_ode(0.1, 1.0)


def test_heavy_ball_is_second_order_for_damped_flow():
    g = lambda x: x @ A + np.sin(x)  # noqa: E731
    lam, u0, T = 1.5, np.array([0.3, 0.1]), 2.0
    ref = damped_flow(g, X0, (0.0, T), friction=lam, v0=u0, rtol=1e-11, atol=1e-13)
    errs, errs_naive = [], []
    for gamma in (0.1, 0.05, 0.025):
        a, b = ode_to_heavy_ball(gamma, lam)
        n = int(round(T / gamma))
        v0 = heavy_ball_start(g, X0, lr=a, momentum=b, u0=u0)
        errs.append(np.linalg.norm(heavy_ball(g, X0, lr=a, momentum=b, n_steps=n, v0=v0).x
                                   - ref.x[-1]))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 2) < 0.15), rates
    # started from v0 = 0 against the flow started at rest: only first order
    ref0 = damped_flow(g, X0, (0.0, T), friction=lam, rtol=1e-11, atol=1e-13)
    for gamma in (0.05, 0.025):
        a, b = ode_to_heavy_ball(gamma, lam)
        errs_naive.append(np.linalg.norm(heavy_ball(g, X0, lr=a, momentum=b,
                                                    n_steps=int(round(T / gamma))).x - ref0.x[-1]))
    assert 0.8 < np.log2(errs_naive[0] / errs_naive[1]) < 1.2


def test_damped_flow_against_scipy():
    from scipy.integrate import solve_ivp
    g = lambda x: np.sin(x)  # noqa: E731
    r = damped_flow(g, np.array([2.0]), (0.0, 5.0), friction=0.3, t_eval=[5.0], rtol=1e-10,
                    atol=1e-12)
    s = solve_ivp(lambda t, y: [y[1], -0.3 * y[1] - np.sin(y[0])], (0, 5), [2.0, 0.0],
                  rtol=1e-12, atol=1e-12, method="DOP853")
    assert float(r.x[-1, 0]) == pytest.approx(s.y[0, -1], abs=1e-8)
    assert float(r.v[-1, 0]) == pytest.approx(s.y[1, -1], abs=1e-8)


def test_gradient_flow_namespaces(xp):
    x0 = xp.asarray([[1.0, -2.0], [0.5, 0.5]])
    Ax = xp.asarray(A)
    r = gradient_flow(lambda x: x @ Ax, x0, (0.0, 1.0), rtol=1e-10, atol=1e-12)
    want = np.stack([sl.expm(-A) @ np.array(v) for v in ([1.0, -2.0], [0.5, 0.5])])
    xp_assert_close(r.y[:, -1, :], xp.asarray(want), rtol=1e-8)


def test_flow_errors():
    with pytest.raises(TypeError, match="grad"):
        gradient_flow(3.0, X0, (0, 1))
    with pytest.raises(ValueError, match="eta"):
        igr_modified_gradient(grad_quad, -1.0)
    with pytest.raises(ValueError, match="friction"):
        damped_flow(grad_quad, X0, (0, 1), friction=-1.0)
    with pytest.raises(ValueError, match="lr"):
        gradient_descent(grad_quad, X0, lr=0.0, n_steps=3)


def test_numopt_momentum_is_the_same_heavy_ball():
    # solvers may not import numopt, tests may: numopt's momentum optimizer and friction map
    # must agree with the solvers bridge (runs once both packages are installed together)
    optim = pytest.importorskip("numopt.optim")
    lr, beta = 0.02, 0.85
    g = lambda x: x @ A + np.sin(x)  # noqa: E731
    opt = optim.momentum(lr, beta)
    params = X0.copy()
    state = opt.init(params)
    for _ in range(30):
        updates, state = opt.update(g(params), state, params)
        params = optim.apply_updates(params, updates)
    ours = heavy_ball(g, X0, lr=lr, momentum=beta, n_steps=30).x
    np.testing.assert_allclose(params, ours, rtol=1e-12, atol=1e-14)
    lam, h = optim.momentum_to_friction(lr, beta)
    assert (h, lam) == pytest.approx(heavy_ball_to_ode(lr, beta), rel=1e-12)
