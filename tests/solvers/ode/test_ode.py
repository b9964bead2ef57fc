"""solve_ode: convergence orders, tolerance proportionality, scipy agreement, dense output,
events, per-member status, array-API genericity.  Every number is checked against a closed
form, exact fractions (sympy) or scipy's DOP853 at tight tolerance."""
from __future__ import annotations

import math

import numpy as np
import pytest

from probspace.testing import xp_assert_close
from solvers import ODEResult, solve_ode
from solvers.ode._tableaus import TABLEAUS


# --------------------------------------------------------------------------- right-hand sides
def f_cos(t, y):
    """y' = y cos t, y(t) = y0 exp(sin t); component form (works vectorized and per member)."""
    out = np.empty_like(y)
    out[..., 0] = y[..., 0] * np.cos(t)
    return out


def f_cos_xp(t, y):
    """Same, written for any array namespace (vectorized rung only)."""
    return y * (t[..., None] * 0 + 1) * _cos(t)[..., None]


def _cos(t):
    import array_api_compat
    return array_api_compat.array_namespace(t).cos(t)


def f_osc_xp(t, y):
    """Harmonic oscillator x'' = -x, any namespace."""
    import array_api_compat
    xp = array_api_compat.array_namespace(y)
    return xp.stack([y[..., 1], -y[..., 0]], axis=-1)


def f_osc(t, y):
    return np.stack((y[..., 1], -y[..., 0]), axis=-1)


def lorenz_member(t, y, rho):
    return np.array([10.0 * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])


def lorenz_vec(t, y, rho):
    return np.stack([10.0 * (y[..., 1] - y[..., 0]), y[..., 0] * (rho - y[..., 2]) - y[..., 1],
                     y[..., 0] * y[..., 1] - 8.0 / 3.0 * y[..., 2]], axis=-1)


def _slope(ns, errs):
    return np.polyfit(np.log(ns), np.log(errs), 1)[0]


# --------------------------------------------------------------------------- tableaus (exact)
def test_dopri5_order_conditions_exact():
    sp = pytest.importorskip("sympy")
    tab = TABLEAUS["dopri5"]
    R = lambda q: sp.Rational(q.numerator, q.denominator)  # noqa: E731
    c = [R(v) for v in tab.c]
    A = [[R(v) for v in row] for row in tab.a]
    b = [R(v) for v in tab.b]
    bhat = [R(bv - ev) for bv, ev in zip(tab.b, tab.e)]
    s = len(b)
    # row sums of A equal c (consistency)
    assert all(sum(A[i]) == c[i] for i in range(s))

    def conds(w, th=1):
        Ac = [sum(A[i][j] * c[j] for j in range(s)) for i in range(s)]
        Ac2 = [sum(A[i][j] * c[j] ** 2 for j in range(s)) for i in range(s)]
        AAc = [sum(A[i][j] * Ac[j] for j in range(s)) for i in range(s)]
        dot = lambda u: sp.expand(sum(w[i] * u[i] for i in range(s)))  # noqa: E731
        one = [1] * s
        return [
            (dot(one), th), (dot(c), th ** 2 / 2), (dot([x ** 2 for x in c]), th ** 3 / 3),
            (dot(Ac), th ** 3 / 6), (dot([x ** 3 for x in c]), th ** 4 / 4),
            (dot([c[i] * Ac[i] for i in range(s)]), th ** 4 / 8), (dot(Ac2), th ** 4 / 12),
            (dot(AAc), th ** 4 / 24),
        ], (Ac, Ac2, AAc, dot)

    order4, (Ac, Ac2, AAc, dot) = conds(b)
    assert all(sp.simplify(x - y) == 0 for x, y in order4)
    # the five 5th-order conditions for b
    Ac3 = [sum(A[i][j] * c[j] ** 3 for j in range(s)) for i in range(s)]
    AcAc = [sum(A[i][j] * c[j] * Ac[j] for j in range(s)) for i in range(s)]
    AAc2 = [sum(A[i][j] * Ac2[j] for j in range(s)) for i in range(s)]
    AAAc = [sum(A[i][j] * AAc[j] for j in range(s)) for i in range(s)]
    five = [(dot([x ** 4 for x in c]), sp.Rational(1, 5)),
            (dot([c[i] ** 2 * Ac[i] for i in range(s)]), sp.Rational(1, 10)),
            (dot([Ac[i] ** 2 for i in range(s)]), sp.Rational(1, 20)),
            (dot([c[i] * Ac2[i] for i in range(s)]), sp.Rational(1, 15)),
            (dot(Ac3), sp.Rational(1, 20)),
            (dot([c[i] * AAc[i] for i in range(s)]), sp.Rational(1, 30)),
            (dot(AcAc), sp.Rational(1, 40)), (dot(AAc2), sp.Rational(1, 60)),
            (dot(AAAc), sp.Rational(1, 120))]
    assert all(x == y for x, y in five)
    # embedded solution: order 4 but not 5
    order4hat, (_, _, _, doth) = conds(bhat)
    assert all(sp.simplify(x - y) == 0 for x, y in order4hat)
    assert doth([x ** 4 for x in c]) != sp.Rational(1, 5)
    # continuous extension: order 4 for every theta, equal to b at theta = 1
    th = sp.Symbol("theta")
    w = [sum(R(p) * th ** (j + 1) for j, p in enumerate(row)) for row in tab.dense]
    dense4, _ = conds(w, th)
    assert all(sp.expand(x - y) == 0 for x, y in dense4)
    assert [wi.subs(th, 1) for wi in w] == b


# --------------------------------------------------------------------------- orders
@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_fixed_step_orders(method, order):
    ns = [10, 20, 40, 80, 160, 320]
    T = 2.0
    errs = []
    for n in ns:
        r = solve_ode(f_cos, (0.0, T), np.array([1.0]), method=method, dt0=T / n, vectorized=True)
        assert r.t.shape == (n + 1,) and r.y.shape == (n + 1, 1)
        errs.append(abs(r.y[-1, 0] - math.exp(math.sin(T))))
    assert abs(-_slope(ns, errs) - order) < 0.15, errs


def test_tsit5_order_conditions():
    # Tsitouras' coefficients are decimals: order conditions hold to rounding
    c, a, b, e, P = TABLEAUS["tsit5"].arrays()
    Ac = a @ c
    five = [(b.sum(), 1), (b @ c, 1 / 2), (b @ c ** 2, 1 / 3), (b @ Ac, 1 / 6), (b @ c ** 3, 1 / 4),
            (b @ (c * Ac), 1 / 8), (b @ (a @ c ** 2), 1 / 12), (b @ (a @ Ac), 1 / 24),
            (b @ c ** 4, 1 / 5), (b @ (c ** 2 * Ac), 1 / 10), (b @ Ac ** 2, 1 / 20),
            (b @ (c * (a @ c ** 2)), 1 / 15), (b @ (a @ c ** 3), 1 / 20),
            (b @ (c * (a @ Ac)), 1 / 30), (b @ (a @ (c * Ac)), 1 / 40),
            (b @ (a @ (a @ c ** 2)), 1 / 60), (b @ (a @ (a @ Ac)), 1 / 120)]
    np.testing.assert_allclose([x for x, _ in five], [y for _, y in five], rtol=0, atol=1e-14)
    np.testing.assert_allclose(a.sum(axis=1), c, atol=1e-15)
    bh = b - e
    np.testing.assert_allclose([bh.sum(), bh @ c, bh @ c ** 2, bh @ Ac, bh @ c ** 3],
                               [1, 1 / 2, 1 / 3, 1 / 6, 1 / 4], atol=1e-14)
    assert abs(bh @ c ** 4 - 1 / 5) > 1e-4  # the embedded solution is only 4th order
    np.testing.assert_allclose(P.sum(axis=1), b, atol=1e-13)
    for th in (0.25, 0.6, 0.9):
        w = P @ th ** np.arange(1, P.shape[1] + 1)
        np.testing.assert_allclose(
            [w.sum(), w @ c, w @ c ** 2, w @ Ac, w @ c ** 3, w @ (c * Ac), w @ (a @ c ** 2),
             w @ (a @ Ac)],
            [th, th ** 2 / 2, th ** 3 / 3, th ** 3 / 6, th ** 4 / 4, th ** 4 / 8, th ** 4 / 12,
             th ** 4 / 24], atol=1e-13)


@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_adaptive_pair_order_five_at_fixed_steps(method):
    # huge tolerances accept every step and max_step = dt0 pins the step: the raw 5th-order map.
    # Tsit5's leading error coefficients are tuned small, so 6th-order terms matter longer and
    # the fitted slope approaches 5 from above (5.7 over n = 8..48, 5.4 over n = 24..128).
    ns = [8, 12, 16, 24, 32, 48] if method == "dopri5" else [24, 32, 48, 64, 96, 128]
    tol = 0.3 if method == "dopri5" else 0.5
    T = 2.0
    errs = []
    for n in ns:
        r = solve_ode(f_cos, (0.0, T), np.array([1.0]), dt0=T / n, max_step=T / n, rtol=1e6,
                      atol=1e6, vectorized=True, method=method)
        assert int(r.nsteps) == n and int(r.nreject) == 0
        errs.append(abs(r.y[-1, 0] - math.exp(math.sin(T))))
    assert abs(-_slope(ns, errs) - 5) < tol, errs


@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_dense_output_order_four(method):
    # interpolation error at mid-step points with pinned steps: local O(h^5) -> slope ~5 is the
    # local order of the 4th-order continuous extension
    ns = [8, 12, 16, 24, 32]
    T = 2.0
    errs = []
    for n in ns:
        te = (np.arange(n) + 0.37) * (T / n)
        r = solve_ode(f_cos, (0.0, T), np.array([1.0]), dt0=T / n, max_step=T / n, rtol=1e6,
                      atol=1e6, t_eval=te, vectorized=True, method=method)
        errs.append(np.max(np.abs(r.y[:, 0] - np.exp(np.sin(te)))))
    assert -_slope(ns, errs) > 4.5, errs


# --------------------------------------------------------------------------- adaptivity
@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_error_proportional_to_tolerance(method):
    rtols = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
    te = np.linspace(0, 10, 41)
    errs = []
    for rt in rtols:
        r = solve_ode(f_osc, (0.0, 10.0), np.array([1.0, 0.0]), rtol=rt, atol=rt * 1e-3,
                      t_eval=te, vectorized=True, method=method)
        assert int(r.status) == 0 and bool(r.success)
        errs.append(np.max(np.abs(r.y[:, 0] - np.cos(te))))
    errs = np.array(errs)
    slope = np.polyfit(np.log(rtols), np.log(errs), 1)[0]
    # tolerance proportionality: error ~ C * rtol (slope 1; DOPRI5 typically 0.8-1.0)
    assert 0.8 < slope < 1.15, (slope, errs)
    assert np.all(errs < 50 * np.array(rtols)), errs


@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_agrees_with_scipy_dop853(method):
    scipy_integrate = pytest.importorskip("scipy.integrate")
    te = np.linspace(0, 3, 31)
    y0 = np.array([1.0, 1.0, 1.0])
    ref = scipy_integrate.solve_ivp(lambda t, y: lorenz_member(t, y, 28.0), (0, 3), y0,
                                    method="DOP853", rtol=1e-13, atol=1e-13, t_eval=te)
    r = solve_ode(lorenz_vec, (0.0, 3.0), y0, rtol=1e-10, atol=1e-10, t_eval=te, args=(28.0,),
                  vectorized=True, method=method)
    np.testing.assert_allclose(r.y, ref.y.T, rtol=0, atol=2e-6 * np.abs(ref.y).max())
    # and like scipy's own RK45 (same pair) the step count is of the same magnitude
    rk45 = scipy_integrate.solve_ivp(lambda t, y: lorenz_member(t, y, 28.0), (0, 3), y0,
                                     rtol=1e-10, atol=1e-10)
    assert 0.5 < int(r.nfev) / rk45.nfev < 2.0


def test_batch_members_have_their_own_steps():
    lam = np.array([1.0, 10.0, 100.0, 1000.0])
    y0 = np.ones((4, 1))

    def f(t, y, lam):
        return -lam[..., None] * y

    r = solve_ode(f, (0.0, 1.0), y0, args=(lam,), rtol=1e-8, atol=1e-12, t_eval=[0.5, 1.0],
                  vectorized=True)
    ns = np.asarray(r.nsteps)
    assert np.all(np.diff(ns) > 0), ns
    assert ns[-1] > 5 * ns[0]
    np.testing.assert_allclose(r.y[:, :, 0], np.exp(-lam[:, None] * np.array([0.5, 1.0])),
                               rtol=1e-5, atol=1e-11)
    # a member alone takes exactly the steps it takes in the batch
    alone = solve_ode(lambda t, y: -1.0 * y, (0.0, 1.0), np.ones((1,)), rtol=1e-8, atol=1e-12,
                      t_eval=[0.5, 1.0], vectorized=True)
    assert int(alone.nsteps) == ns[0]
    np.testing.assert_allclose(alone.y, r.y[0], rtol=1e-14)


def test_shapes_and_result_type():
    y0 = np.zeros((2, 3, 2))
    y0[..., 0] = 1.0
    r = solve_ode(f_osc, (0.0, 1.0), y0, t_eval=np.linspace(0, 1, 4), vectorized=True)
    assert isinstance(r, ODEResult)
    assert r.t.shape == (4,) and r.y.shape == (2, 3, 4, 2)
    for k in ("status", "success", "nfev", "nsteps", "nreject", "t_final"):
        assert r[k].shape == (2, 3)
    assert r.message.shape == (2, 3) and r.y_final.shape == (2, 3, 2)
    # default output for adaptive methods: t0 and t1
    r = solve_ode(f_osc, (0.0, 1.0), np.array([1.0, 0.0]), vectorized=True)
    np.testing.assert_array_equal(r.t, [0.0, 1.0])
    assert isinstance(r.message, str) and r.status.shape == ()


# --------------------------------------------------------------------------- status
def test_blowup_status():
    # y' = y^2, y(0) = 1 has y = 1/(1-t): no solution past t = 1
    r = solve_ode(lambda t, y: y * y, (0.0, 2.0), np.array([1.0]), vectorized=True)
    assert not bool(r.success)
    assert int(r.status) in (-2, -3)
    assert abs(float(r.t_final) - 1.0) < 1e-6
    # unbatched: only rows before the blow-up; never a value from past the pole
    np.testing.assert_array_equal(r.t, [0.0])
    te = np.linspace(0.0, 2.0, 21)
    for kw in (dict(), dict(rtol=1e-3, atol=1e-6), dict(rtol=1e-10, atol=1e-12)):
        r = solve_ode(lambda t, y: y * y, (0.0, 2.0), np.array([1.0]), t_eval=te, **kw)
        assert int(r.status) in (-2, -3) and np.all(np.asarray(r.t) < 1.0)
        np.testing.assert_allclose(r.y[:, 0], 1 / (1 - np.asarray(r.t)), rtol=200 * kw.get("rtol", 1e-6))
        # batched: the same rows valid (n_out), NaN from the pole on
        rb = solve_ode(lambda t, y: y * y, (0.0, 2.0), np.array([[1.0], [0.25]]), t_eval=te, **kw)
        assert int(rb.n_out[0]) == r.t.shape[0] and int(rb.n_out[1]) == te.size
        assert np.all(np.isnan(rb.y[0, int(rb.n_out[0]):]))
        np.testing.assert_allclose(rb.y[1, :, 0], 0.25 / (1 - 0.25 * te), rtol=200 * kw.get("rtol", 1e-6))


def test_max_steps_status_per_member():
    lam = np.array([1.0, 1e4])

    def f(t, y, lam):
        return -lam[..., None] * y

    r = solve_ode(f, (0.0, 1.0), np.ones((2, 1)), args=(lam,), max_steps=60, vectorized=True)
    np.testing.assert_array_equal(np.asarray(r.status), [0, -1])
    assert r.message[1].startswith("Maximum number of steps")
    assert int(r.nsteps[1]) + int(r.nreject[1]) == 60
    assert 0 < float(r.t_final[1]) < 1.0


def test_nonfinite_status():
    def f(t, y):
        return np.where(t[..., None] < 0.5, -y, np.nan)

    r = solve_ode(f, (0.0, 1.0), np.array([[1.0], [2.0]]), vectorized=True)
    np.testing.assert_array_equal(np.asarray(r.status), [-2, -2])
    np.testing.assert_allclose(r.t_final, 0.5, atol=1e-6)
    np.testing.assert_allclose(r.y_final[:, 0], np.exp(-0.5) * np.array([1.0, 2.0]), rtol=1e-5)
    r = solve_ode(lambda t, y: y * np.nan, (0.0, 1.0), np.array([1.0]), vectorized=True)
    assert int(r.status) == -2 and float(r.t_final) == 0.0


def test_fixed_step_nonfinite():
    with np.errstate(over="ignore", invalid="ignore"):
        r = solve_ode(lambda t, y: y * y, (0.0, 2.0), np.array([[1.0], [0.1]]), method="euler",
                      dt0=1e-3, vectorized=True)
    # euler iterates overflow for y0 = 1 (the true solution blows up at t = 1), not for 0.1
    np.testing.assert_array_equal(np.asarray(r.status), [-2, 0])
    assert np.isnan(r.y[0, -1, 0]) and np.isfinite(r.y[1, -1, 0])


# --------------------------------------------------------------------------- events
def _ballistic(t, y, g):
    out = np.empty_like(y)
    out[..., 0] = y[..., 1]
    out[..., 1] = -g
    return out


def _hit_ground(t, y, g):
    return y[..., 0]


_hit_ground.terminal = True
_hit_ground.direction = -1


def _apex(t, y, g):
    return y[..., 1]


def _ballistic_check(r, v0, h0, g):
    t_hit = (v0 + np.sqrt(v0 ** 2 + 2 * g * h0)) / g
    assert r.t_events[0].shape == (len(v0), 1)
    np.testing.assert_allclose(r.t_events[0][:, 0], t_hit, rtol=1e-12)
    np.testing.assert_allclose(r.t_final, t_hit, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(r.status), 1)
    np.testing.assert_allclose(r.y_events[0][:, 0, 0], 0.0, atol=1e-10)
    np.testing.assert_allclose(r.y_final[:, 1], v0 - g * t_hit, rtol=1e-10)
    # non-terminal apex event: v = 0 at t = v0 / g
    np.testing.assert_allclose(r.t_events[1][:, 0], v0 / g, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(r.n_events[1]), 1)
    # outputs after the terminal event are NaN, before it exact
    te = np.asarray(r.t)
    after = te[None, :] > t_hit[:, None]
    assert np.all(np.isnan(r.y[..., 0][after]))
    exact = h0 + v0[:, None] * te - 0.5 * g * te ** 2
    np.testing.assert_allclose(r.y[..., 0][~after], exact[~after], rtol=1e-10, atol=1e-10)


def test_events_ballistic_generic():
    v0 = np.array([0.0, 3.0, 10.0, 25.0])
    h0, g = 2.0, 9.81
    y0 = np.stack([np.full(4, h0), v0], axis=-1)
    r = solve_ode(_ballistic, (0.0, 10.0), y0, args=(g,), events=[_hit_ground, _apex],
                  t_eval=np.linspace(0, 10, 51), vectorized=True)
    assert r.backend == "generic"
    # member 0 starts at the apex (v = 0): no crossing after t0 -> no apex event for it
    assert int(r.n_events[1][0]) == 0
    keep = slice(1, None)
    sub = {k: (v[keep] if hasattr(v, "shape") and v.shape[:1] == (4,) else v) for k, v in r.items()}
    sub["t_events"] = [a[keep] for a in r.t_events]
    sub["y_events"] = [a[keep] for a in r.y_events]
    sub["n_events"] = [a[keep] for a in r.n_events]
    _ballistic_check(ODEResult(sub), v0[keep], h0, g)


def test_nonterminal_events_count():
    # x = cos t crosses zero at pi/2 + k pi; downward crossings only with direction -1
    def g(t, y):
        return y[..., 0]

    # the root of the interpolant is exact to machine precision; the interpolant itself is
    # accurate to the tolerance, so event times are right to ~rtol (not better)
    for rt in (1e-6, 1e-10):
        r = solve_ode(f_osc, (0.0, 10.0), np.array([1.0, 0.0]), events=g, rtol=rt, atol=rt,
                      vectorized=True)
        want = np.pi / 2 + np.pi * np.arange(3)
        np.testing.assert_allclose(r.t_events[0], want, rtol=0, atol=20 * rt)
        np.testing.assert_allclose(r.y_events[0][:, 0], 0.0, atol=1e-13)
    g.direction = -1
    r = solve_ode(f_osc, (0.0, 10.0), np.array([1.0, 0.0]), events=g, rtol=1e-10, vectorized=True)
    np.testing.assert_allclose(r.t_events[0], want[[0, 2]], rtol=0, atol=2e-9)
    assert int(r.status) == 0


# --------------------------------------------------------------------------- array API
def test_array_api_namespaces(xp):
    y0 = xp.asarray([[1.0, 0.0], [0.0, 2.0]])
    te = xp.asarray([0.0, 0.5, 1.0, 2.0])
    r = solve_ode(f_osc_xp, (0.0, 2.0), y0, t_eval=te, rtol=1e-10, atol=1e-12, vectorized=True)
    tt = np.array([0.0, 0.5, 1.0, 2.0])
    want = np.stack([np.stack([np.cos(tt), -np.sin(tt)], -1),
                     np.stack([2 * np.sin(tt), 2 * np.cos(tt)], -1)])
    xp_assert_close(r.y, xp.asarray(want), rtol=1e-8, atol=1e-9)
    xp_assert_close(r.t, te)
    assert r.status.shape == (2,)
    # fixed-step method in the same namespace, float32 stays float32
    y32 = xp.asarray([[1.0, 0.0]], dtype=xp.float32)
    r32 = solve_ode(f_osc_xp, (0.0, 1.0), y32, method="rk4", dt0=0.05, vectorized=True)
    assert r32.y.dtype == xp.float32 and r32.t.dtype == xp.float32
    xp_assert_close(r32.y[0, -1, :], xp.asarray([math.cos(1.0), -math.sin(1.0)], dtype=xp.float32),
                    rtol=1e-5, atol=1e-6)


def test_t_depends_per_member_time(xp):
    # f uses t: every member sees its own time, y' = y cos t
    y0 = xp.asarray([[1.0], [3.0]])
    r = solve_ode(f_cos_xp, (0.0, 3.0), y0, t_eval=xp.asarray([3.0]), rtol=1e-9, atol=1e-12,
                  vectorized=True)
    xp_assert_close(r.y[:, 0, 0], xp.asarray([1.0, 3.0]) * math.exp(math.sin(3.0)), rtol=1e-7)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,exc,word", [
    (dict(method="rk45"), ValueError, "method"),
    (dict(method="rk4"), ValueError, "dt0"),
    (dict(dt0=-1.0), ValueError, "dt0"),
    (dict(rtol=0.0), ValueError, "rtol"),
    (dict(atol=-1.0), ValueError, "atol"),
    (dict(t_eval=[0.5, 2.0]), ValueError, "t_eval"),
    (dict(t_eval=[0.5, 0.2]), ValueError, "t_eval"),
    (dict(max_steps=0), ValueError, "max_steps"),
    (dict(numba="yes"), ValueError, "numba"),
    (dict(max_step=0.0), ValueError, "max_step"),
    (dict(method="euler", dt0=0.1, events=lambda t, y: y[..., 0]), ValueError, "events"),
])
def test_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        solve_ode(f_osc, (0.0, 1.0), np.array([1.0, 0.0]), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="t_span"):
        solve_ode(f_osc, (0.0,), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="y0"):
        solve_ode(f_osc, (0.0, 1.0), np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="y0"):
        solve_ode(f_osc, (0.0, 1.0), np.array(1.0))
    with pytest.raises(TypeError, match="f must be"):
        solve_ode(3.0, (0.0, 1.0), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"f \(vectorized=True\) returned shape \(1,\); expected \(2,\)"):
        solve_ode(lambda t, y: y[..., :1], (0.0, 1.0), np.array([1.0, 0.0]), vectorized=True)
    with pytest.raises(ValueError, match=r"f returned shape \(1,\) for one member at t0.*expected shape \(2,\)"):
        solve_ode(lambda t, y: y[:1], (0.0, 1.0), np.array([[1.0, 0.0], [0.0, 1.0]]))


def test_events_array_api(xp):
    # terminal event on any namespace: y' = -1 from y0, zero at t = y0
    def f(t, y):
        return -xp.ones_like(y)

    def g(t, y):
        return y[..., 0]

    g.terminal = True
    y0 = xp.asarray([[0.5], [1.5], [3.0]])
    r = solve_ode(f, (0.0, 2.0), y0, events=g, t_eval=xp.asarray([0.25, 1.0, 2.0]),
                  vectorized=True)
    assert r.t_events[0].shape == (3, 1)
    xp_assert_close(r.t_events[0][:, 0], xp.asarray([0.5, 1.5, math.nan]), rtol=1e-12)
    xp_assert_close(r.n_events[0], xp.asarray([1, 1, 0], dtype=r.n_events[0].dtype))
    xp_assert_close(r.status, xp.asarray([1, 1, 0], dtype=r.status.dtype))
    xp_assert_close(r.t_final, xp.asarray([0.5, 1.5, 2.0]), rtol=1e-12)
    # outputs after the event are NaN, before it exact
    want = np.array([[0.25, np.nan, np.nan], [1.25, 0.5, np.nan], [2.75, 2.0, 1.0]])
    xp_assert_close(r.y[..., 0], xp.asarray(want), rtol=1e-12)


# --------------------------------------------------------------------------- backward in time
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_backward_integration(xp, method):
    # y' = y cos t from t = 3 back to 0: y(t) = y(3) exp(sin t - sin 3)
    y3 = np.array([[1.0], [2.0]])
    te = np.linspace(3.0, 0.0, 7)
    kw = dict(rtol=1e-10, atol=1e-12) if method == "dopri5" else dict(dt0=0.01)
    r = solve_ode(f_cos_xp, (3.0, 0.0), xp.asarray(y3), t_eval=xp.asarray(te), method=method,
                  vectorized=True, **kw)
    want = y3[:, None, :] * np.exp(np.sin(te) - np.sin(3.0))[None, :, None]
    xp_assert_close(r.y, xp.asarray(want), rtol=1e-8)
    xp_assert_close(r.t, xp.asarray(te))
    xp_assert_close(r.t_final, xp.asarray([0.0, 0.0]), atol=1e-15)


def test_backward_events_and_validation():
    # x = cos t run backwards from t = 10: zeros at pi/2 + k pi, found in decreasing order
    def g(t, y):
        return y[..., 0]

    y10 = np.array([np.cos(10.0), -np.sin(10.0)])
    r = solve_ode(f_osc, (10.0, 0.0), y10, events=g, rtol=1e-11, atol=1e-12, vectorized=True)
    want = (np.pi / 2 + np.pi * np.arange(3))[::-1]
    np.testing.assert_allclose(r.t_events[0], want, atol=1e-9)
    np.testing.assert_allclose(r.y_final, [1.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="t_eval"):
        solve_ode(f_osc, (10.0, 0.0), y10, t_eval=[1.0, 2.0])
    # a zero-length interval returns at once (scipy's behaviour)
    r = solve_ode(f_osc, (1.0, 1.0), y10)
    assert int(r.status) == 0 and int(r.nfev) == 0
    np.testing.assert_array_equal(r.y, [y10, y10])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_systems_match_matrix_exponential(seed):
    # y' = A y with a random (non-normal) A per member: y(t) = expm(A t) y0
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(seed)
    B, d = 5, 4
    A = rng.normal(size=(B, d, d)) - 1.5 * np.eye(d)
    y0 = rng.normal(size=(B, d))
    te = np.array([0.3, 1.0, 2.0])

    def f(t, y, A):
        return np.einsum("...ij,...j->...i", A, y)

    r = solve_ode(f, (0.0, 2.0), y0, args=(A,), t_eval=te, rtol=1e-10, atol=1e-12, vectorized=True)
    want = np.stack([[linalg.expm(A[b] * t) @ y0[b] for t in te] for b in range(B)])
    np.testing.assert_allclose(r.y, want, rtol=1e-7, atol=1e-9 * np.abs(want).max())
