"""The stiff methods of solve_ode (rodas4, kvaerno5) and the stiffness test of dopri5/tsit5,
against closed forms (expm), scipy's Radau at tight tolerance, measured orders of convergence
and L-stability.

Right-hand sides are module-level functions: each Numba kernel compiles once per session.
Most tests run on the interpreted kernel (small problems, same source as the compiled one);
the batched tests run the compiled and generic rungs and check that they agree."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

from probspace import use_backend
from solvers import ode_from_sympy, per_member, solve_ode

STIFF = ["rodas4", "kvaerno5"]


def rober(t, y, k1, k2, k3):
    return np.array([-k1 * y[0] + k3 * y[1] * y[2],
                     k1 * y[0] - k3 * y[1] * y[2] - k2 * y[1] ** 2,
                     k2 * y[1] ** 2])


def rober_jac(t, y, k1, k2, k3):
    return np.array([[-k1, k3 * y[2], k3 * y[1]],
                     [k1, -k3 * y[2] - 2.0 * k2 * y[1], -k3 * y[1]],
                     [0.0, 2.0 * k2 * y[1], 0.0]])


def vdp(t, y, mu):
    return np.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])


def relax(t, y, lam):
    return np.array([-lam * (y[0] - np.cos(t))])


def relax_exact(t, lam, y0=1.0):
    """y' = -lam (y - cos t): the slow manifold plus the decaying transient."""
    slow = lam * (lam * np.cos(t) + np.sin(t)) / (lam ** 2 + 1.0)
    return slow + (y0 - lam ** 2 / (lam ** 2 + 1.0)) * np.exp(-lam * t)


def radau(f, t_span, y0, args, rtol=1e-12, atol=1e-14, jac=None):
    r = solve_ivp(f, t_span, y0, method="Radau", rtol=rtol, atol=atol, args=args, jac=jac)
    assert r.success
    return r


ROBER_K = (0.04, 3e7, 1e4)


# ------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("method", STIFF)
def test_linear_stiff_system_matches_expm(method):
    # eigenvalues from -1 to -1e6: y' = A y with A = Q diag(lam) Q^T, y(t) = expm(A t) y0
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    A = Q @ np.diag([-1.0, -10.0, -1e3, -1e6]) @ Q.T
    y0 = np.array([1.0, -0.5, 0.25, 2.0])
    ts = np.array([0.01, 0.1, 1.0, 3.0])

    def lin(t, y):
        return A @ y

    res = solve_ode(lin, (0.0, 3.0), y0, method=method, rtol=1e-8, atol=1e-10, t_eval=ts)
    assert res.status == 0
    exact = np.array([scipy.linalg.expm(A * t) @ y0 for t in ts])
    # global error of a few tolerances (atol + rtol |y| ~ 3e-8 per step, accumulated):
    # measured 1.4e-7
    np.testing.assert_allclose(res.y, exact, rtol=0, atol=5e-7)
    # an explicit method would need ~|lambda| * T / 3.3 ~ 1e6 steps
    assert res.nsteps < 1000


@pytest.mark.parametrize("method", STIFF)
def test_l_stability_stays_on_slow_manifold(method):
    lam = 1e6
    # start off the manifold: the transient (time constant 1e-6) must be damped at once, and
    # steps far longer than 1e-6 must follow y ~ cos t without oscillating
    res = solve_ode(relax, (0.0, 10.0), np.array([0.0]), method=method, rtol=1e-6, atol=1e-9,
                    args=(lam,), dense_output=True)
    assert res.status == 0
    nodes = res.sol.ts
    np.testing.assert_allclose(res.sol(nodes)[:, 0], relax_exact(nodes, lam, 0.0), rtol=0,
                               atol=2e-6)
    steps = np.diff(nodes)
    assert res.nsteps < 100
    assert steps.max() > 1.0  # (the first ~20 steps resolve the transient, then they grow)
    # the steps grow to several time units: the interpolant between such steps is only a
    # cubic (scipy's Radau behaves the same), so accurate t_eval values need max_step
    ts = np.linspace(1.0, 10.0, 10)
    res = solve_ode(relax, (0.0, 10.0), np.array([0.0]), method=method, rtol=1e-6, atol=1e-9,
                    args=(lam,), t_eval=ts, max_step=0.1)
    np.testing.assert_allclose(res.y[:, 0], relax_exact(ts, lam, 0.0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", STIFF)
def test_huge_fixed_steps_l_stable(method):
    # fixed steps of 0.5 = 5e5 time constants: an A- but not L-stable method would leave
    # the transient undamped (|R(-inf)| = 1); stiff accuracy and L-stability damp it fully
    lam = 1e6
    h = 0.5
    res = solve_ode(relax, (0.0, 5.0), np.array([3.0]), method=method, rtol=1e3, atol=1e3,
                    args=(lam,), dt0=h, max_step=h, t_eval=np.arange(1, 11) * h)
    assert res.status == 0 and res.nsteps == 10
    # (the transient has amplitude 2; what remains is the 5th/4th-order error of h = 0.5)
    np.testing.assert_allclose(res.y[:, 0], relax_exact(np.arange(1, 11) * h, lam, 3.0),
                               rtol=0, atol=1e-4)


# ------------------------------------------------------------------ scipy Radau as the oracle
@pytest.mark.parametrize("method", STIFF)
def test_robertson_against_radau(method):
    t_eval = np.array([1e-3, 1.0, 1e2, 1e4, 1e6, 1e8])
    y0 = np.array([1.0, 0.0, 0.0])
    ref = solve_ivp(rober, (0.0, 1e8), y0, method="Radau", rtol=1e-12, atol=1e-20,
                    args=ROBER_K, jac=rober_jac, t_eval=t_eval)
    assert ref.success
    refs = ref.y.T
    res = solve_ode(rober, (0.0, 1e8), y0, method=method, rtol=1e-7, atol=1e-13, args=ROBER_K,
                    t_eval=t_eval)
    assert res.status == 0
    # global relative error: measured <= 3e-6 on every component, so 30x rtol leaves margin
    # for the t_eval interpolation (3rd-order dense output)
    np.testing.assert_allclose(res.y, refs, rtol=3e-6 * 10, atol=1e-13 * 10)
    np.testing.assert_allclose(res.y.sum(axis=-1), 1.0, atol=1e-9)  # mass conservation
    assert res.nsteps < 2000


@pytest.mark.parametrize("method", STIFF)
def test_van_der_pol_mu1000_against_radau(method):
    y0 = np.array([2.0, 0.0])
    ref = radau(vdp, (0.0, 3000.0), y0, (1000.0,), rtol=1e-12, atol=1e-12)
    rtol = atol = 1e-6
    res = solve_ode(vdp, (0.0, 3000.0), y0, method=method, rtol=rtol, atol=atol, args=(1000.0,))
    assert res.status == 0
    peer = solve_ivp(vdp, (0.0, 3000.0), y0, method="Radau", rtol=rtol, atol=atol,
                     args=(1000.0,))
    # error in units of the tolerance: scipy Radau's own is about 10 here; ours measured 3-4
    err = np.abs(res.y_final - ref.y[:, -1]) / (atol + rtol * np.abs(ref.y[:, -1]))
    err_peer = np.abs(peer.y[:, -1] - ref.y[:, -1]) / (atol + rtol * np.abs(ref.y[:, -1]))
    assert err.max() < max(30.0, 3 * err_peer.max())
    assert res.nsteps < 2 * (peer.t.size - 1)  # the goal: within 2x of Radau's steps


# ------------------------------------------------------------------ orders of convergence
def smooth(t, y):
    return np.array([-2.0 * y[0] + y[1] ** 2 + np.sin(t), y[0] - 3.0 * y[1] + np.cos(t) * y[0]])


def test_rodas4_fixed_step_order_4():
    # Rosenbrock stages are linear solves (no Newton): tolerances of 1e3 make every step of
    # the prescribed size acceptable, so these are fixed-step runs
    ref = solve_ivp(smooth, (0, 2), [1.0, 0.5], method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    hs = np.array([0.2, 0.1, 0.05, 0.025])
    errs = []
    for h in hs:
        r = solve_ode(smooth, (0.0, 2.0), np.array([1.0, 0.5]), method="rodas4", dt0=h,
                      max_step=h, rtol=1e3, atol=1e3)
        assert int(r.nsteps) == round(2 / h) and int(r.nreject) == 0
        errs.append(np.abs(r.y_final - ref).max())
    slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
    assert np.all(np.abs(slopes - 4.0) < 0.25), slopes


def forced(t, y):
    return np.array([-2.0 * y[0] + y[1] + np.sin(3 * t), y[0] - 50.0 * y[1] + np.exp(np.cos(t))])


def test_kvaerno5_fixed_step_order_5_linear():
    # On y' = A y + g(t) with constant A the simplified Newton iteration with the exact
    # Jacobian solves each stage exactly, whatever the tolerance: fixed steps via tolerances of
    # 1e3 measure the method's own order (quadrature conditions and the stability function)
    ref = solve_ivp(forced, (0, 2), [1.0, 0.5], method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    hs = np.array([0.2, 0.1, 0.05, 0.025])
    errs = []
    for h in hs:
        r = solve_ode(forced, (0.0, 2.0), np.array([1.0, 0.5]), method="kvaerno5", dt0=h,
                      max_step=h, rtol=1e3, atol=1e3)
        assert int(r.nsteps) == round(2 / h) and int(r.nreject) == 0
        errs.append(np.abs(r.y_final - ref).max())
    slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
    assert np.all(np.abs(slopes - 5.0) < 0.4), slopes


@pytest.mark.parametrize("method, order", [("rodas4", 4), ("kvaerno5", 5)])
def test_tolerance_sweep_order(method, order):
    # Nonlinear problem, adaptive runs at rtol 1e-5 .. 1e-10: the global error falls like
    # nsteps**-order (tolerance proportionality).  The fit over five decades of rtol is
    # within 0.7 of the order (the step counts are integers and the controller's choice of
    # steps is not exactly proportional).
    ref = solve_ivp(smooth, (0, 5), [1.0, 0.5], method="DOP853", rtol=1e-14, atol=1e-16).y[:, -1]
    ns, errs = [], []
    for rtol in [1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]:
        r = solve_ode(smooth, (0.0, 5.0), np.array([1.0, 0.5]), method=method, rtol=rtol,
                      atol=rtol * 1e-2)
        ns.append(int(r.nsteps))
        errs.append(np.abs(r.y_final - ref).max())
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.7, (slope, ns, errs)


# ------------------------------------------------------------------ events, t_eval, dense
def ball(t, y, g):
    return np.array([y[1], -g])


def ground(t, y, g):
    return y[0]


ground.terminal = True
ground.direction = -1


@pytest.mark.parametrize("method", STIFF)
def test_events_t_eval_dense_output(method):
    g = 9.81
    y0 = np.array([10.0, 3.0])
    t_hit = (3.0 + np.sqrt(9.0 + 2 * g * 10.0)) / g
    ts = np.linspace(0.0, 1.5, 7)
    res = solve_ode(ball, (0.0, 10.0), y0, method=method, args=(g,), events=ground, t_eval=ts,
                    dense_output=True, rtol=1e-9, atol=1e-12)
    assert res.status == 1
    np.testing.assert_allclose(res.t_events[0], [t_hit], rtol=1e-9)
    np.testing.assert_allclose(res.y_events[0][0], [0.0, 3.0 - g * t_hit], atol=1e-8)
    exact = np.stack([10 + 3 * ts - g * ts ** 2 / 2, 3 - g * ts], axis=-1)
    np.testing.assert_allclose(res.y, exact, atol=1e-9)
    tq = np.linspace(0, t_hit, 33)
    np.testing.assert_allclose(res.sol(tq), np.stack([10 + 3 * tq - g * tq ** 2 / 2,
                                                      3 - g * tq], axis=-1), atol=1e-8)
    assert np.isnan(res.sol(t_hit + 0.1)).all()


def cross(t, y, lam):
    return y[0]


@pytest.mark.parametrize("method", STIFF)
def test_event_on_stiff_problem_and_dense_accuracy(method):
    # y' = -1e4 (y - cos t) crosses zero near pi/2 (slow manifold); dense output between long
    # steps follows the closed form
    lam = 1e4
    res = solve_ode(relax, (0.0, 3.0), np.array([1.0]), method=method, args=(lam,),
                    events=cross, dense_output=True, rtol=1e-8, atol=1e-10, max_step=0.05)
    assert res.status == 0
    # the root of lam (lam cos t + sin t) = 0
    t_root = np.pi / 2 + np.arctan(1.0 / lam)
    # (located on the 3rd-order interpolant: with steps <= 0.05 its error is ~1e-7..1e-6)
    np.testing.assert_allclose(res.t_events[0], [t_root], atol=2e-6)
    tq = np.linspace(0.5, 3.0, 50)
    np.testing.assert_allclose(res.sol(tq)[:, 0], relax_exact(tq, lam), atol=1e-6)


def grow(t, y, lam):
    return np.array([lam * (y[0] - np.cos(t))])


def grow_exact(t, lam):
    return (lam ** 2 * np.cos(t) - lam * np.sin(t)) / (lam ** 2 + 1.0)


@pytest.mark.parametrize("method", STIFF)
def test_backward_integration(method):
    # y' = +lam (y - cos t) is stiff and stable backward in time (its fast mode decays as t
    # decreases): integrate from t = 3 down to 0.5 and stay on its manifold
    lam = 1e4
    ts = np.array([2.0, 1.0, 0.5])
    res = solve_ode(grow, (3.0, 0.5), np.array([grow_exact(3.0, lam) + 0.1]), method=method,
                    args=(lam,), rtol=1e-7, atol=1e-10, t_eval=ts, max_step=0.05)
    # (rodas4 needs ~300 steps here: RODAS loses order on such Prothero-Robinson problems,
    # Steinebach 1995; kvaerno5 ~75)
    assert res.status == 0 and res.nsteps < 1000
    np.testing.assert_allclose(res.y[:, 0], grow_exact(ts, lam), atol=2e-6)


# ------------------------------------------------------------------ Jacobians
def test_sympy_exact_jacobian_matches_fd_path():
    import sympy as sp
    y1, y2, y3, k1, k2, k3 = sp.symbols("y1 y2 y3 k1 k2 k3")
    sym = ode_from_sympy([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k3 * y2 * y3 - k2 * y2 ** 2,
                          k2 * y2 ** 2], [y1, y2, y3], params=[k1, k2, k3])
    J = sym.jacobian_exprs()
    # the exact Jacobian is the hand-written one
    yv = np.array([0.7, 2e-5, 0.3])
    sub = {s: v for s, v in zip(sym._ys, yv)}
    sub.update(zip(sym._ps, ROBER_K))
    np.testing.assert_allclose(np.array(J.subs(sub), dtype=float), rober_jac(0, yv, *ROBER_K),
                               rtol=1e-14)
    k1s = np.array([0.04, 0.02, 0.08])
    y0 = np.tile([1.0, 0.0, 0.0], (3, 1))
    args = (per_member(k1s), 3e7, 1e4)
    for method in STIFF:
        a = solve_ode(sym, (0.0, 1e4), y0, method=method, args=args, rtol=1e-7, atol=1e-12)
        b = solve_ode(rober, (0.0, 1e4), y0, method=method, args=args, rtol=1e-7, atol=1e-12)
        c = solve_ode(rober, (0.0, 1e4), y0, method=method, args=args, rtol=1e-7, atol=1e-12,
                      jac=rober_jac)
        assert a.backend == "numba" and np.all(a.status == 0) and np.all(b.status == 0)
        # exact and finite-difference Jacobians: the same steps up to the FD error
        np.testing.assert_allclose(a.y_final, b.y_final, rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(a.y_final, c.y_final, rtol=1e-6, atol=1e-13)
        assert np.all(a.njev > 0) and np.all(np.abs(a.nsteps - b.nsteps) <= 0.1 * a.nsteps + 2)


def test_jac_shapes_validated():
    y0 = np.array([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"jac returned shape \(3,\).*expected shape \(3, 3\)"):
        solve_ode(rober, (0.0, 1.0), y0, method="rodas4", args=ROBER_K,
                  jac=lambda t, y, *a: np.zeros(3))
    calls = []

    def late_bad(t, y, *a):
        calls.append(t)
        return rober_jac(t, y, *a) if len(calls) < 3 else np.zeros((2, 3))

    res = solve_ode(rober, (0.0, 1.0), y0, method="rodas4", args=ROBER_K, jac=late_bad)
    assert res.status == -5
    assert "jac returned an array of shape (2, 3)" in res.message and "(3, 3)" in res.message


def test_dense_limit_named():
    with pytest.raises(ValueError, match="DENSE_MAX = 128"):
        solve_ode(lambda t, y: -y, (0.0, 1.0), np.ones(129), method="kvaerno5")


def test_jac_with_sympy_rejected():
    import sympy as sp
    x = sp.Symbol("x")
    with pytest.raises(ValueError, match="derived exactly"):
        solve_ode(ode_from_sympy([-x], [x]), (0.0, 1.0), np.ones(1), method="rodas4",
                  jac=lambda t, y: -np.eye(1))


# ------------------------------------------------------------------ batches and rungs
def relax_vec(t, y, lam):
    return -lam[..., None] * (y - np.cos(t)[..., None])


def relax_jac_vec(t, y, lam):
    return -lam[..., None, None] * np.ones(y.shape + (1,))


@pytest.mark.parametrize("method", STIFF)
def test_members_keep_their_own_steps(method):
    lams = np.array([1.0, 1e3, 1e6, 10.0])
    y0 = np.zeros((4, 1))
    # (max_step: accurate t_eval values between the long steps of the stiffest member)
    kw = dict(method=method, args=(per_member(lams),), rtol=1e-6, atol=1e-9,
              t_eval=np.linspace(0, 2, 5), max_step=0.1)
    with use_backend("numba"):
        rn = solve_ode(relax, (0.0, 2.0), y0, **kw)
    with use_backend("generic"):
        rg = solve_ode(relax, (0.0, 2.0), y0, **kw)
    rv = solve_ode(relax_vec, (0.0, 2.0), y0, vectorized=True, jac=relax_jac_vec, **kw)
    assert rn.backend == "numba" and rg.backend == "generic" and rv.backend == "generic"
    for r in (rn, rg, rv):
        assert np.all(r.status == 0)
        exact = relax_exact(np.linspace(0, 2, 5)[None, :], lams[:, None], 0.0)
        np.testing.assert_allclose(r.y[..., 0], exact, atol=1e-5)
    # the rungs make the same decisions
    np.testing.assert_array_equal(rn.nsteps, rg.nsteps)
    np.testing.assert_array_equal(rn.njev, rg.njev)
    # (to rounding, amplified by the conditioning of I/(h gamma) - J at lambda = 1e6)
    np.testing.assert_allclose(rn.y, rg.y, rtol=1e-8, atol=1e-9)
    # each member as if solved alone
    for i, lam in enumerate(lams):
        alone = solve_ode(relax, (0.0, 2.0), y0[i], **dict(kw, args=(lam,)))
        assert int(alone.nsteps) == int(rn.nsteps[i])
    assert len(set(rn.nsteps.tolist())) >= 3


@pytest.mark.parametrize("method", STIFF)
def test_generic_rung_on_array_api_strict(method):
    xs = pytest.importorskip("array_api_strict")
    lams = np.array([1.0, 1e4])

    def f(t, y, lam):
        return -lam[..., None] * (y - xs.cos(t)[..., None])

    y0 = xs.asarray(np.zeros((2, 1)))
    res = solve_ode(f, (0.0, 2.0), y0, method=method, vectorized=True,
                    args=(per_member(xs.asarray(lams)),), rtol=1e-7, atol=1e-10, t_eval=[1.0, 2.0],
                    dense_output=True, max_step=0.1)
    assert res.backend == "generic"
    assert type(res.y).__module__.startswith("array_api_strict")
    exact = relax_exact(np.array([1.0, 2.0])[None, :], lams[:, None], 0.0)
    # (t = 1 is interpolated: the cubic between steps of 0.1 is good to a few 1e-6)
    np.testing.assert_allclose(np.asarray(res.y)[..., 0], exact, atol=5e-6)
    ref = solve_ode(relax, (0.0, 2.0), np.zeros((2, 1)), method=method,
                    args=(per_member(lams),), rtol=1e-7, atol=1e-10, t_eval=[1.0, 2.0],
                    max_step=0.1)
    np.testing.assert_array_equal(np.asarray(res.nsteps), ref.nsteps)


# ------------------------------------------------------------------ stiffness detection
@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_explicit_methods_detect_stiffness(method):
    res = solve_ode(vdp, (0.0, 3000.0), np.array([2.0, 0.0]), method=method, args=(1000.0,))
    assert res.status == -4 and not res.success
    assert "stiff" in res.message and "rodas4" in res.message and "kvaerno5" in res.message
    # Hairer's schedule: the test runs every 1000 steps, then stops after 15 positive tests
    assert 1000 <= int(res.nsteps) < 1100
    # the stiff method finishes
    ok = solve_ode(vdp, (0.0, 3000.0), np.array([2.0, 0.0]), method="rodas4", args=(1000.0,))
    assert ok.status == 0


def osc(t, y):
    return np.array([y[1], -y[0]])


@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_no_stiffness_alarm_on_long_nonstiff_runs(method):
    # 5000+ steps of a harmonic oscillator (h |lambda| far inside the stability region)
    res = solve_ode(osc, (0.0, 2000.0), np.array([1.0, 0.0]), method=method, rtol=1e-9,
                    atol=1e-12)
    assert res.status == 0 and res.nsteps > 3000
    # mildly stiff but resolved: vdp mu = 5 to t = 100 at tight tolerance
    res = solve_ode(vdp, (0.0, 100.0), np.array([2.0, 0.0]), method=method, args=(5.0,),
                    rtol=1e-10, atol=1e-12)
    assert res.status == 0 and res.nsteps > 1000
