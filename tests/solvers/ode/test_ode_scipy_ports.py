"""scipy's own solve_ivp tests, ported to solve_ode (scipy/integrate/_ivp/tests/test_ivp.py,
scipy main at 3dbf660a, 2026-08-22).  Facts (problems, closed forms, expected behaviour)
carry over; the code is ours.

scipy's explicit methods RK45 and DOP853 are played by dopri5 (the same Dormand-Prince 5(4)
pair as RK45) and tsit5.  Ported: test_duplicate_timestamps, test_integration (explicit
methods, plain and vectorized), test_events (forward and backward), test_event_terminal_integer,
test_event_terminal_iv, test_max_step, test_first_step, test_t_eval, test_t_eval_dense_output,
test_t_eval_early_event, test_event_dense_output_LSODA (its problem, on dopri5),
test_no_integration, test_empty, test_args, test_integration_zero_rhs, test_args_single_value,
test_initial_state_finiteness, test_zero_interval, test_tbound_respected_small_interval,
test_tbound_respected_larger_interval, test_tbound_respected_oscillator, test_initial_maxstep
(through the first step of the dense output), test_integration_complex (we refuse complex y0
clearly instead).  Skipped, with the reason: test_integration_complex_sparse,
test_integration_sparse_difference, test_integration_const_jac, test_integration_stiff,
test_num_jac, test_num_jac_sparse (implicit methods and Jacobians: not the explicit methods
here), test_classes, test_OdeSolution, test_no_integration_class, test_ConstantDenseOutput
(scipy's step-by-step solver classes, which solve_ode does not expose), test_array_rtol
(rtol is a scalar here; an array raises ValueError).

Deliberate differences, each asserted: ``sol(t)`` returns ``(n, d)`` for ``n`` times (the layout
of ``y``; scipy returns ``(d, n)``) and NaN outside ``[t0, t_final]`` (scipy extrapolates the
first/last interpolant); adaptive runs without ``t_eval`` return ``[t0, t_final]`` rather than
every step (the steps are ``sol.ts``).
"""
from __future__ import annotations

import numpy as np
import pytest

from solvers import solve_ode

METHODS = ["dopri5", "tsit5"]


# --------------------------------------------------------------------------- problems (scipy's)
def fun_zero(t, y):
    return np.zeros_like(y)


def fun_rational(t, y):
    return np.array([y[1] / t, y[1] * (y[0] + 2 * y[1] - 1) / (t * (y[0] - 1))])


def fun_rational_vectorized(t, y):
    # our vectorized layout: y of shape (*batch, d), t of shape batch
    return np.stack([y[..., 1] / t, y[..., 1] * (y[..., 0] + 2 * y[..., 1] - 1)
                     / (t * (y[..., 0] - 1))], axis=-1)


def sol_rational(t):
    """Exact solution, shape (n, 2) for n times (ours) or (2,) for one time."""
    t = np.asarray(t, dtype=float)
    return np.stack([t / (t + 10), 10 * t / (t + 10) ** 2], axis=-1)


def compute_error(y, y_true, rtol, atol):
    e = (y - y_true) / (atol + rtol * np.abs(y_true))
    return np.linalg.norm(np.atleast_2d(e), axis=-1) / np.sqrt(np.shape(e)[-1])


# --------------------------------------------------------------------------- integration
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("t_span", [(5.0, 9.0), (5.0, 1.0)])
def test_integration(method, vectorized, t_span):
    rtol, atol = 1e-3, 1e-6
    fun = fun_rational_vectorized if vectorized else fun_rational
    res = solve_ode(fun, t_span, np.array([1 / 3, 2 / 9]), rtol=rtol, atol=atol, method=method,
                    dense_output=True, vectorized=vectorized)
    assert float(res.t[0]) == t_span[0] and float(res.t[-1]) == t_span[1]
    assert res.t_events is None and res.y_events is None
    assert bool(res.success) and int(res.status) == 0
    assert int(res.nfev) < 50  # scipy: < 40 for RK45 (its controller differs slightly)
    assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)
    tc = np.linspace(*t_span)
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), rtol, atol) < 5)
    tm = (t_span[0] + t_span[1]) / 2
    assert np.all(compute_error(res.sol(tm), sol_rational(tm), rtol, atol) < 5)
    np.testing.assert_allclose(res.sol(res.t), res.y, rtol=1e-15, atol=1e-15)


def test_integration_complex_is_refused_clearly():
    # scipy integrates complex y0; solve_ode asks for the real system of twice the size
    with pytest.raises(TypeError, match="complex.*real and imaginary parts"):
        solve_ode(lambda t, y: -y, (0.0, 1.0), np.array([0.5 + 1j]))
    # ... which gives scipy's answer (0.5 + 1j) exp(-t)
    r = solve_ode(lambda t, y: -y, (0.0, 1.0), np.array([0.5, 1.0]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.y[-1], np.array([0.5, 1.0]) * np.exp(-1.0), rtol=1e-9)


# --------------------------------------------------------------------------- events
def _rational_events():
    def event_rational_1(t, y):
        return y[0] - y[1] ** 0.7

    def event_rational_2(t, y):
        return y[1] ** 0.6 - y[0]

    def event_rational_3(t, y):
        return t - 7.4

    event_rational_3.terminal = True
    return event_rational_1, event_rational_2, event_rational_3


@pytest.mark.parametrize("method", METHODS)
def test_events(method):
    e1, e2, e3 = _rational_events()
    y0 = np.array([1 / 3, 2 / 9])
    res = solve_ode(fun_rational, (5.0, 8.0), y0, method=method, events=(e1, e2))
    assert int(res.status) == 0
    assert res.t_events[0].size == 1 and res.t_events[1].size == 1
    assert 5.3 < res.t_events[0][0] < 5.7 and 7.3 < res.t_events[1][0] < 7.7
    assert res.y_events[0].shape == (1, 2) and res.y_events[1].shape == (1, 2)
    assert np.isclose(e1(res.t_events[0][0], res.y_events[0][0]), 0)
    assert np.isclose(e2(res.t_events[1][0], res.y_events[1][0]), 0)

    e1.direction = 1
    e2.direction = 1
    res = solve_ode(fun_rational, (5.0, 8.0), y0, method=method, events=(e1, e2))
    assert int(res.status) == 0
    assert res.t_events[0].size == 1 and res.t_events[1].size == 0
    assert 5.3 < res.t_events[0][0] < 5.7
    assert res.y_events[0].shape == (1, 2) and res.y_events[1].shape == (0,)
    assert np.isclose(e1(res.t_events[0][0], res.y_events[0][0]), 0)

    e1.direction = -1
    e2.direction = -1
    res = solve_ode(fun_rational, (5.0, 8.0), y0, method=method, events=(e1, e2))
    assert int(res.status) == 0
    assert res.t_events[0].size == 0 and res.t_events[1].size == 1
    assert 7.3 < res.t_events[1][0] < 7.7
    assert res.y_events[0].shape == (0,) and res.y_events[1].shape == (1, 2)
    assert np.isclose(e2(res.t_events[1][0], res.y_events[1][0]), 0)

    e1.direction = 0
    e2.direction = 0
    res = solve_ode(fun_rational, (5.0, 8.0), y0, method=method, events=(e1, e2, e3),
                    dense_output=True)
    assert int(res.status) == 1 and res.message == "A termination event occurred."
    assert [a.size for a in res.t_events] == [1, 0, 1]
    assert 5.3 < res.t_events[0][0] < 5.7 and 7.3 < res.t_events[2][0] < 7.5
    assert res.y_events[0].shape == (1, 2) and res.y_events[1].shape == (0,)
    assert res.y_events[2].shape == (1, 2)
    assert np.isclose(e1(res.t_events[0][0], res.y_events[0][0]), 0)
    assert np.isclose(e3(res.t_events[2][0], res.y_events[2][0]), 0)

    res = solve_ode(fun_rational, (5.0, 8.0), y0, method=method, events=e1, dense_output=True)
    assert int(res.status) == 0 and res.t_events[0].size == 1
    assert 5.3 < res.t_events[0][0] < 5.7
    assert res.y_events[0].shape == (1, 2)
    assert np.isclose(e1(res.t_events[0][0], res.y_events[0][0]), 0)
    # termination by an event does not break the interpolants
    tc = np.linspace(res.t[0], res.t[-1])
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), 1e-3, 1e-6) < 5)
    np.testing.assert_allclose(sol_rational(res.t_events[0][0]), res.y_events[0][0], rtol=1e-3,
                               atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_events_backward(method):
    e1, e2, e3 = _rational_events()
    y8 = np.array([4 / 9, 20 / 81])
    res = solve_ode(fun_rational, (8.0, 5.0), y8, method=method, events=(e1, e2))
    assert int(res.status) == 0
    assert res.t_events[0].size == 1 and res.t_events[1].size == 1
    assert 5.3 < res.t_events[0][0] < 5.7 and 7.3 < res.t_events[1][0] < 7.7
    assert np.isclose(e1(res.t_events[0][0], res.y_events[0][0]), 0)
    assert np.isclose(e2(res.t_events[1][0], res.y_events[1][0]), 0)

    e1.direction = -1
    e2.direction = -1
    res = solve_ode(fun_rational, (8.0, 5.0), y8, method=method, events=(e1, e2))
    assert res.t_events[0].size == 1 and res.t_events[1].size == 0
    assert 5.3 < res.t_events[0][0] < 5.7
    assert res.y_events[0].shape == (1, 2) and res.y_events[1].shape == (0,)

    e1.direction = 1
    e2.direction = 1
    res = solve_ode(fun_rational, (8.0, 5.0), y8, method=method, events=(e1, e2))
    assert res.t_events[0].size == 0 and res.t_events[1].size == 1
    assert 7.3 < res.t_events[1][0] < 7.7

    e1.direction = 0
    e2.direction = 0
    res = solve_ode(fun_rational, (8.0, 5.0), y8, method=method, events=(e1, e2, e3),
                    dense_output=True)
    assert int(res.status) == 1
    assert [a.size for a in res.t_events] == [0, 1, 1]
    assert 7.3 < res.t_events[1][0] < 7.7 and 7.3 < res.t_events[2][0] < 7.5
    assert res.y_events[0].shape == (0,) and res.y_events[2].shape == (1, 2)
    assert np.isclose(e2(res.t_events[1][0], res.y_events[1][0]), 0)
    assert np.isclose(e3(res.t_events[2][0], res.y_events[2][0]), 0)
    tc = np.linspace(res.t[-1], res.t[0])
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), 1e-3, 1e-6) < 5)
    for k in (1, 2):
        np.testing.assert_allclose(sol_rational(res.t_events[k][0]), res.y_events[k][0],
                                   rtol=1e-3, atol=1e-6)


def _harmonic_oscillator():
    def f(t, y):
        return [y[1], -y[0]]

    def event(t, y):
        return y[0]

    return f, event


@pytest.mark.parametrize("n_events", [3, 4])
def test_event_terminal_integer(n_events):
    f, event = _harmonic_oscillator()
    event.terminal = n_events
    res = solve_ode(f, (0.0, 100.0), np.array([1.0, 0.0]), events=event)
    assert int(res.status) == 1
    assert len(res.t_events[0]) == n_events and len(res.y_events[0]) == n_events
    np.testing.assert_allclose(res.y_events[0][:, 0], 0, atol=1e-14)
    # the zeros of cos t, to the tolerance (rtol 1e-6)
    np.testing.assert_allclose(res.t_events[0], np.pi / 2 + np.pi * np.arange(n_events),
                               atol=2e-5)
    assert float(res.t_final) == res.t_events[0][-1]


def test_event_terminal_iv():
    f, event = _harmonic_oscillator()
    args = (f, (0.0, 100.0), np.array([1.0, 0.0]))
    event.terminal = None
    res = solve_ode(*args, events=event)
    event.terminal = 0
    ref = solve_ode(*args, events=event)
    np.testing.assert_allclose(res.t_events[0], ref.t_events[0])
    assert int(res.status) == 0 and res.t_events[0].size == 32  # zeros of cos t below 100
    for bad in (-1, 3.5, "yes"):
        event.terminal = bad
        with pytest.raises(ValueError, match="the `terminal` attribute"):
            solve_ode(*args, events=event)
    event.terminal = True
    for bad in (np.nan, "up"):
        event.direction = bad
        with pytest.raises(ValueError, match="the `direction` attribute"):
            solve_ode(*args, events=event)


# --------------------------------------------------------------------------- steps
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("t_span", [(5.0, 9.0), (5.0, 1.0)])
def test_max_step(method, t_span):
    rtol, atol = 1e-3, 1e-6
    y0 = np.array([1 / 3, 2 / 9])
    res = solve_ode(fun_rational, t_span, y0, rtol=rtol, max_step=0.5, atol=atol, method=method,
                    dense_output=True)
    assert float(res.t[0]) == t_span[0] and float(res.t[-1]) == t_span[-1]
    ts = res.sol.ts
    assert ts[0] == t_span[0] and ts[-1] == t_span[-1]
    assert np.all(np.abs(np.diff(ts)) <= 0.5 + 1e-15)
    assert bool(res.success) and int(res.status) == 0
    assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)
    tc = np.linspace(*t_span)
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), rtol, atol) < 5)
    np.testing.assert_allclose(res.sol(res.t), res.y, rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="max_step"):
        solve_ode(fun_rational, t_span, y0, max_step=-1)
    # scipy: with max_step=1e-20 the second step fails ("step size is less than spacing");
    # here the member stops with the underflow status at once instead of spinning
    res = solve_ode(fun_rational, t_span, y0, rtol=rtol, atol=atol, max_step=1e-20,
                    method=method)
    assert int(res.status) == -3 and int(res.nsteps) <= 1
    assert "underflow" in res.message


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("t_span", [(5.0, 9.0), (5.0, 1.0)])
def test_first_step(method, t_span):
    rtol, atol = 1e-3, 1e-6
    y0 = np.array([1 / 3, 2 / 9])
    first_step = 0.1
    res = solve_ode(fun_rational, t_span, y0, rtol=rtol, max_step=0.5, atol=atol, method=method,
                    dense_output=True, dt0=first_step)
    assert float(res.t[0]) == t_span[0] and float(res.t[-1]) == t_span[-1]
    np.testing.assert_allclose(first_step, np.abs(res.sol.ts[1] - 5))
    assert bool(res.success) and int(res.status) == 0
    assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)
    tc = np.linspace(*t_span)
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), rtol, atol) < 5)
    np.testing.assert_allclose(res.sol(res.t), res.y, rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="dt0"):
        solve_ode(fun_rational, t_span, y0, dt0=-1)
    with pytest.raises(ValueError, match="dt0.*exceeds the interval"):
        solve_ode(fun_rational, t_span, y0, dt0=5)


def test_initial_maxstep():
    # the first step (chosen by the heuristic) respects max_step
    y0 = np.array([1 / 3, 2 / 9])
    for t_span in ((5.0, 9.0), (5.0, 1.0)):
        free = solve_ode(fun_rational, t_span, y0, rtol=1e-3, atol=1e-6, dense_output=True)
        h_free = abs(free.sol.ts[1] - t_span[0])
        r = solve_ode(fun_rational, t_span, y0, rtol=1e-3, atol=1e-6, dense_output=True,
                      max_step=h_free / 2)
        assert abs(r.sol.ts[1] - t_span[0]) == pytest.approx(h_free / 2, rel=1e-14)


# --------------------------------------------------------------------------- t_eval
def test_t_eval():
    rtol, atol = 1e-3, 1e-6
    y0 = np.array([1 / 3, 2 / 9])
    for t_span in ((5.0, 9.0), (5.0, 1.0)):
        t_eval = np.linspace(t_span[0], t_span[1], 10)
        res = solve_ode(fun_rational, t_span, y0, rtol=rtol, atol=atol, t_eval=t_eval)
        np.testing.assert_array_equal(res.t, t_eval)
        assert res.t_events is None and bool(res.success) and int(res.status) == 0
        assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)
    for t_span, t_eval in (((5.0, 9.0), [5, 5.01, 7, 8, 8.01, 9]),
                           ((5.0, 1.0), [5, 4.99, 3, 1.5, 1.1, 1.01, 1]),
                           ((5.0, 9.0), [5.01, 7, 8, 8.01]),
                           ((5.0, 1.0), [4.99, 3, 1.5, 1.1, 1.01])):
        res = solve_ode(fun_rational, t_span, y0, rtol=rtol, atol=atol, t_eval=t_eval)
        np.testing.assert_array_equal(res.t, t_eval)
        assert res.t_events is None and bool(res.success) and int(res.status) == 0
        assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)
    with pytest.raises(ValueError, match="t_eval"):
        solve_ode(fun_rational, (5.0, 9.0), y0, rtol=rtol, atol=atol, t_eval=[4, 6])


def test_t_eval_dense_output():
    rtol, atol = 1e-3, 1e-6
    y0 = np.array([1 / 3, 2 / 9])
    t_eval = np.linspace(5, 9, 10)
    res = solve_ode(fun_rational, (5.0, 9.0), y0, rtol=rtol, atol=atol, t_eval=t_eval)
    res_d = solve_ode(fun_rational, (5.0, 9.0), y0, rtol=rtol, atol=atol, t_eval=t_eval,
                      dense_output=True)
    np.testing.assert_array_equal(res.t, t_eval)
    np.testing.assert_array_equal(res.t, res_d.t)
    np.testing.assert_array_equal(res.y, res_d.y)
    assert res_d.t_events is None and bool(res_d.success) and int(res_d.status) == 0
    assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)


@pytest.mark.parametrize("method", METHODS)
def test_t_eval_early_event(method):
    def early_event(t, y):
        return t - 7

    early_event.terminal = True
    res = solve_ode(fun_rational, (5.0, 9.0), np.array([1 / 3, 2 / 9]), rtol=1e-3, atol=1e-6,
                    method=method, t_eval=np.linspace(7.5, 9, 16), events=early_event)
    assert bool(res.success) and int(res.status) == 1
    assert res.message == "A termination event occurred."
    # unbatched: no padding rows after the event
    assert res.t.shape == (0,) and res.y.shape == (0, 2)
    assert len(res.t_events) == 1 and res.t_events[0].size == 1
    # scipy finds exactly 7; the Illinois root of this linear g is exact to rounding
    assert res.t_events[0][0] == pytest.approx(7.0, rel=4e-16)


def test_event_dense_output_with_first_step():
    # scipy's LSODA dense-output problem, on dopri5: y' = y (t - 2), exact
    # y = exp(t^2/2 - 2t + log(0.05) - 6); a never-firing event, first_step and max_step
    def fun(t, y):
        return y * (t - 2)

    def sol_exact(t):
        return np.exp(np.asarray(t) ** 2 / 2 - 2 * np.asarray(t) + np.log(0.05) - 6)

    def event(t, y):
        return y[0] - 2.02e-5

    rtol, atol = 1e-3, 1e-6
    res = solve_ode(fun, (-2.0, 2.0), np.array([0.05]), dense_output=True, events=event,
                    dt0=1e-3, max_step=1.0, rtol=rtol, atol=atol)
    assert float(res.t[0]) == -2.0 and float(res.t[-1]) == 2.0
    np.testing.assert_allclose(1e-3, np.abs(res.sol.ts[1] + 2.0))
    assert bool(res.success) and int(res.status) == 0
    assert np.all(compute_error(res.y[:, 0], sol_exact(res.t), rtol, atol) < 5)
    tc = np.linspace(-2, 2)
    assert np.all(compute_error(res.sol(tc)[:, 0], sol_exact(tc), rtol, atol) < 5)
    np.testing.assert_allclose(res.sol(res.t), res.y, rtol=1e-15, atol=1e-15)


# --------------------------------------------------------------------------- degenerate
def test_duplicate_timestamps():
    def upward_cannon(t, y):
        return [y[1], -9.80665]

    def hit_ground(t, y):
        return y[0]

    hit_ground.terminal = True
    hit_ground.direction = -1
    sol = solve_ode(upward_cannon, (0.0, np.inf), np.array([0.0, 0.01]),
                    max_step=0.05 * 0.001 / 9.80665, events=hit_ground, dense_output=True)
    np.testing.assert_allclose(sol.t_events, [[0.00203943]], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(sol.y_events, [[[0.0, -0.01]]], atol=1e-9)
    assert bool(sol.success) and int(sol.status) == 1
    # the closed form inside the solved interval; NaN beyond the event (scipy extrapolates
    # its last polynomial there: for this parabola that happens to be exact)
    t = 0.001
    np.testing.assert_allclose(sol.sol(t), [0.01 * t - 9.80665 * t * t / 2, 0.01 - 9.80665 * t],
                               rtol=1e-10, atol=1e-14)
    assert np.all(np.isnan(sol.sol(0.01)))


def test_no_integration():
    for method in METHODS:
        sol = solve_ode(lambda t, y: -y, (4.0, 4.0), np.array([2.0, 3.0]), method=method,
                        dense_output=True)
        assert int(sol.status) == 0 and int(sol.nfev) == 0
        np.testing.assert_array_equal(sol.sol(4), [2, 3])
        np.testing.assert_array_equal(sol.sol([4, 4]), [[2, 3], [2, 3]])
        assert np.all(np.isnan(sol.sol([5, 6])))  # scipy extrapolates a constant here


def test_empty():
    def fun(t, y):
        return np.zeros((0,))

    y0 = np.zeros((0,))
    import warnings
    for t_span in ((0.0, 10.0), (0.0, np.inf)):
        for method in METHODS:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                sol = solve_ode(fun, t_span, y0, method=method, dense_output=True)
            assert int(sol.status) == 0 and int(sol.nsteps) == 0 and int(sol.nfev) == 0
            assert sol.sol(10).shape == (0,)
            assert sol.sol([1, 2, 3]).shape == (3, 0)
    # batched d = 0 as well
    sol = solve_ode(fun, (0.0, 1.0), np.zeros((4, 0)))
    np.testing.assert_array_equal(sol.status, 0)
    assert sol.y.shape == (4, 2, 0)


def test_args():
    # two decoupled systems: (x, y) a linear oscillator, z' = k z (1 - z) with a terminal event
    def sys3(t, w, omega, k, zfinal):
        x, y, z = w
        return [-omega * y, omega * x, k * z * (1 - z)]

    def sys3_x0decreasing(t, w, omega, k, zfinal):
        x, y, z = w
        return x

    def sys3_y0increasing(t, w, omega, k, zfinal):
        x, y, z = w
        return y

    def sys3_zfinal(t, w, omega, k, zfinal):
        x, y, z = w
        return z - zfinal

    sys3_x0decreasing.direction = -1
    sys3_y0increasing.direction = 1
    sys3_zfinal.terminal = True
    omega, k, tfinal, zfinal = 2, 4, 5, 0.99
    z0 = np.exp(-k * tfinal) / ((1 - zfinal) / zfinal + np.exp(-k * tfinal))
    w0 = np.array([0.0, -1.0, z0])
    # scipy runs Radau (with sys3's Jacobian) at rtol 1e-10, atol 1e-13; an explicit pair needs
    # rtol 1e-12 for the same 1e-9 accuracy through z's exponential growth from 2e-9 to 0.99
    sol = solve_ode(sys3, (0.0, 2 * tfinal), w0,
                    events=[sys3_x0decreasing, sys3_y0increasing, sys3_zfinal],
                    dense_output=True, args=(omega, k, zfinal), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sol.t_events[0], [0.5 * np.pi, 1.5 * np.pi])
    np.testing.assert_allclose(sol.t_events[1], [0.25 * np.pi, 1.25 * np.pi])
    np.testing.assert_allclose(sol.t_events[2], [tfinal])
    t = np.linspace(0, sol.t_events[2][0], 250)
    w = sol.sol(t)
    np.testing.assert_allclose(w[:, 0], np.sin(omega * t), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(w[:, 1], -np.cos(omega * t), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(w[:, 2], 1 / (((1 - z0) / z0) * np.exp(-k * t) + 1), rtol=1e-9,
                               atol=1e-12)
    x0events = sol.sol(sol.t_events[0])
    y0events = sol.sol(sol.t_events[1])
    zfinalevents = sol.sol(sol.t_events[2])
    np.testing.assert_allclose(x0events[:, 0], 0, atol=5e-14)
    np.testing.assert_allclose(x0events[:, 1], 1)
    np.testing.assert_allclose(y0events[:, 0], 1)
    np.testing.assert_allclose(y0events[:, 1], 0, atol=5e-14)
    np.testing.assert_allclose(zfinalevents[:, 2], [zfinal])


@pytest.mark.parametrize("method", METHODS + ["rk4"])
def test_integration_zero_rhs(method):
    kw = dict(dt0=0.1) if method == "rk4" else {}
    result = solve_ode(fun_zero, (0.0, 10.0), np.ones(3), method=method, **kw)
    assert bool(result.success) and int(result.status) == 0
    np.testing.assert_allclose(result.y, 1.0, rtol=1e-15)


def test_args_single_value():
    def fun_with_arg(t, y, a):
        return a * y

    with pytest.raises(TypeError, match="args must be a tuple"):
        solve_ode(fun_with_arg, (0.0, 0.1), np.array([1.0]), args=-1)
    sol = solve_ode(fun_with_arg, (0.0, 0.1), np.array([1.0]), args=(-1,))
    np.testing.assert_allclose(sol.y[-1, 0], np.exp(-0.1))


@pytest.mark.parametrize("f0_fill", [np.nan, np.inf])
def test_initial_state_finiteness(f0_fill):
    with pytest.raises(ValueError, match="y0"):
        solve_ode(fun_zero, (0.0, 10.0), np.full(3, f0_fill))


@pytest.mark.parametrize("method", METHODS + ["rk4"])
def test_zero_interval(method):
    kw = dict(dt0=0.1) if method == "rk4" else {}
    res = solve_ode(lambda t, y: 2 * y, (0.0, 0.0), np.array([1.0]), method=method, **kw)
    assert bool(res.success)
    np.testing.assert_allclose(res.y[-1, 0], 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_tbound_respected_small_interval(method):
    small = 1e-4

    def f(t, y):
        if t > small:
            raise ValueError("Function was evaluated outside interval")
        return 2 * y

    res = solve_ode(f, (0.0, small), np.array([1.0]), method=method)
    assert bool(res.success)


@pytest.mark.parametrize("method", METHODS)
def test_tbound_respected_larger_interval(method):
    def V(r):
        return -11 / r + 10 * r / (0.05 + r ** 2)

    def func(t, p):
        if t < -17 or t > 2:
            raise ValueError("Function was evaluated outside interval")
        r = np.exp(t)
        return np.array([r * p[1], -2.0 * r * ((-0.2 - V(r)) * p[0] + 1 / r * p[1])])

    result = solve_ode(func, (-17.0, 2.0), np.array([1.0, -11.0]), max_step=0.03, atol=1e-8,
                       rtol=1e-5, method=method)
    assert bool(result.success)


@pytest.mark.parametrize("method", METHODS)
def test_tbound_respected_oscillator(method):
    def reactions_func(t, y):
        if t > 205:
            raise ValueError("Called outside interval")
        return np.array([1.73307544e-02, 6.49376470e-06, 0.0, 0.0])

    init_state = np.array([134.08298555, 138.82348612, 100.0, 0.0])
    result = solve_ode(reactions_func, (100.0, 200.0), init_state, dense_output=True,
                       max_step=100.0, method=method)
    assert bool(result.success)


def test_array_rtol_is_refused():
    with pytest.raises(ValueError, match="rtol"):
        solve_ode(lambda t, y: y, (0.0, 1.0), np.ones(2), rtol=[1e-1, 1e-1])
