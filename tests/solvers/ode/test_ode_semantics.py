"""Batched semantics of solve_ode on both rungs: terminal event counts, dense output, per-member
output rows (n_out), infinite intervals, degenerate problems, and the resource checks that
refuse work before it starts.  Truth: closed forms and scipy's solve_ivp per member; the
compiled rung is also checked against the generic one (same arithmetic, same steps)."""
from __future__ import annotations

import numpy as np
import pytest

from probspace import use_backend
from solvers import per_member, solve_ode

scipy_integrate = pytest.importorskip("scipy.integrate")


def osc(t, y, w):
    """x'' = -w^2 x: x = cos(w t) from (1, 0)."""
    return np.array([y[1], -w * w * y[0]])


def osc_x(t, y, w):
    return y[0]


def ballistic(t, y):
    return np.array([y[1], -9.81])


def ground(t, y):
    return y[0]


ground.terminal = True
ground.direction = -1

W = np.array([1.0, 2.0, 3.0, 0.5])
Y0 = np.tile([1.0, 0.0], (4, 1))


def _both(*a, **k):
    out = []
    for be in ("numba", "generic"):
        with use_backend(be):
            r = solve_ode(*a, **k)
        assert r.backend == be
        out.append(r)
    return out


def test_terminal_count_per_member_both_rungs():
    osc_x.terminal = 3
    try:
        rn, rg = _both(osc, (0.0, 20.0), Y0, args=(per_member(W),), events=osc_x, rtol=1e-10,
                       atol=1e-12, t_eval=np.linspace(0, 20, 41))
    finally:
        osc_x.terminal = False
    for r in (rn, rg):
        # zeros of cos(w t): (pi/2 + k pi) / w; the third stops the member (w = 0.5: 3rd zero
        # at 5 pi > 20, so that member reaches t1 with 2 events)
        for i, w in enumerate(W):
            z = (np.pi / 2 + np.pi * np.arange(3)) / w
            z = z[z <= 20.0]
            assert int(r.n_events[0][i]) == z.size
            np.testing.assert_allclose(r.t_events[0][i, :z.size], z, atol=1e-8)
            if z.size == 3:
                assert int(r.status[i]) == 1 and float(r.t_final[i]) == r.t_events[0][i, 2]
            else:
                assert int(r.status[i]) == 0 and float(r.t_final[i]) == 20.0
        # rows after each member's stop are NaN padding; n_out counts the valid ones
        te = np.asarray(r.t)
        for i in range(4):
            k = int(r.n_out[i])
            assert k == int(np.sum(te <= float(r.t_final[i])))
            assert np.all(np.isnan(r.y[i, k:])) and np.all(np.isfinite(r.y[i, :k]))
            np.testing.assert_allclose(r.y[i, :k, 0], np.cos(W[i] * te[:k]), atol=1e-8)
    for key in ("t_final", "y_final", "y", "nsteps", "n_out"):
        np.testing.assert_allclose(np.asarray(rn[key]), np.asarray(rg[key]), rtol=1e-12,
                                   atol=1e-12)


def test_terminal_event_exactly_at_a_step_end():
    # g = t - 0.5 is zero exactly at the end of the first fixed-size step (dt0 = max_step =
    # 0.5 and huge tolerances pin the steps): the event must still stop the run
    def g(t, y):
        return t - 0.5

    g.terminal = True
    for be in ("numba", "generic"):
        with use_backend(be):
            r = solve_ode(lambda t, y: -y, (0.0, 2.0), np.ones((1, 1)), dt0=0.5, max_step=0.5,
                          rtol=1e6, atol=1e6, events=g)
        assert int(r.status[0]) == 1 and float(r.t_final[0]) == 0.5
        np.testing.assert_array_equal(r.t_events[0], [[0.5]])


def test_unbatched_early_terminal_event_drops_rows():
    def g(t, y, w):
        return t - 1.0

    g.terminal = True
    te = np.linspace(0.0, 2.0, 9)
    r = solve_ode(osc, (0.0, 2.0), np.array([1.0, 0.0]), args=(2.0,), events=g, t_eval=te)
    np.testing.assert_array_equal(r.t, te[te <= 1.0])
    assert r.y.shape == (5, 2) and int(r.n_out) == 5
    # batched: the same rows plus NaN padding
    rb = solve_ode(osc, (0.0, 2.0), Y0[:2], args=(2.0,), events=g, t_eval=te)
    assert rb.y.shape == (2, 9, 2) and list(np.asarray(rb.n_out)) == [5, 5]
    np.testing.assert_allclose(rb.y[0, :5], r.y)


@pytest.mark.parametrize("backward", [False, True])
def test_dense_output_batched_both_rungs(backward):
    t_span = (6.0, 0.0) if backward else (0.0, 6.0)
    w = np.array([1.0, 2.5, 0.7])
    y0 = np.stack([np.cos(w * t_span[0]), -w * np.sin(w * t_span[0])], -1)
    rn, rg = _both(osc, t_span, y0, args=(per_member(w),), rtol=1e-9, atol=1e-12,
                   dense_output=True)
    tq = np.linspace(0.0, 6.0, 37)
    for r in (rn, rg):
        v = r.sol(tq)
        assert v.shape == (3, 37, 2)
        np.testing.assert_allclose(v[..., 0], np.cos(w[:, None] * tq), atol=2e-8)
        np.testing.assert_allclose(r.sol(3.0), np.stack([np.cos(3 * w), -w * np.sin(3 * w)], -1),
                                   atol=2e-8)
        # per member
        m = r.sol[1]
        assert m(tq).shape == (37, 2) and m(2.0).shape == (2,)
        np.testing.assert_allclose(m(tq), v[1])
        assert np.all(np.isnan(r.sol(7.0))) and np.all(np.isnan(r.sol(-1.0)))
        ts = m.ts
        assert ts[0] == t_span[0] and ts[-1] == t_span[1] and ts.size == int(r.nsteps[1]) + 1
    np.testing.assert_allclose(rn.sol(tq), rg.sol(tq), rtol=1e-12, atol=1e-13)
    # against scipy's interpolant-free truth: DOP853 at tight tolerance, member by member
    for i in range(3):
        ref = scipy_integrate.solve_ivp(osc, t_span, y0[i], args=(w[i],), method="DOP853",
                                        rtol=1e-12, atol=1e-13, t_eval=tq[::-1] if backward else tq)
        got = rn.sol[i](tq[::-1] if backward else tq)
        np.testing.assert_allclose(got, ref.y.T, atol=2e-8)


def test_dense_output_with_terminal_event_and_many_steps():
    # more accepted steps than the kernel's first interpolant buffer (64): it grows
    w = np.array([20.0, 30.0])
    y0 = np.tile([1.0, 0.0], (2, 1))

    def g(t, y, w):
        return t - 2.0

    g.terminal = True
    rn, rg = _both(osc, (0.0, 5.0), y0, args=(per_member(w),), rtol=1e-10, atol=1e-12,
                   dense_output=True, events=g)
    assert np.all(np.asarray(rn.nsteps) > 64)
    tq = np.linspace(0.0, 2.0, 101)
    for r in (rn, rg):
        np.testing.assert_allclose(r.sol(tq)[..., 0], np.cos(w[:, None] * tq), atol=1e-7)
        assert np.all(np.isnan(r.sol(2.5)))
        np.testing.assert_allclose(r.sol(2.0), r.y_final, rtol=0, atol=0)


def test_infinite_interval_with_terminal_event():
    v0 = np.array([1.0, 5.0, 20.0])
    y0 = np.stack([np.zeros(3), v0], -1)
    rn, rg = _both(ballistic, (0.0, np.inf), y0, events=ground)
    for r in (rn, rg):
        np.testing.assert_array_equal(r.status, 1)
        np.testing.assert_allclose(r.t_final, 2 * v0 / 9.81, rtol=1e-12)
        np.testing.assert_array_equal(r.t, [0.0])  # no t_eval, infinite t1: t0 only
    # without an event the run ends at max_steps (status -1), never hangs
    r = solve_ode(ballistic, (0.0, np.inf), y0[:1], max_steps=50)
    assert int(r.status[0]) == -1 and int(r.nsteps[0]) + int(r.nreject[0]) == 50
    with pytest.raises(ValueError, match="finite"):
        solve_ode(ballistic, (0.0, np.inf), y0, method="rk4", dt0=0.1)


def test_degenerate_problems_end_at_once():
    # d = 0 (today: 100,000 rejected steps), zero-length interval, batched
    for be in ("numba", "generic"):
        with use_backend(be):
            r = solve_ode(lambda t, y: y, (0.0, 1.0), np.zeros((3, 0)))
            np.testing.assert_array_equal(r.status, 0)
            np.testing.assert_array_equal(r.nsteps, 0)
            r = solve_ode(lambda t, y: y, (1.0, 1.0), np.ones((3, 2)), t_eval=[1.0])
            np.testing.assert_array_equal(r.status, 0)
            np.testing.assert_array_equal(r.y, np.ones((3, 1, 2)))


def test_step_that_no_longer_advances_t_stops_at_once():
    # today a max_step=1e-20 run at t ~ 1 spun to max_steps; now -3 at once, on both rungs
    y0 = np.ones((16, 1))
    for be in ("numba", "generic"):
        with use_backend(be):
            r = solve_ode(lambda t, y: -y, (1.0, 2.0), y0, max_step=1e-20)
        np.testing.assert_array_equal(r.status, -3)
        np.testing.assert_array_equal(r.nsteps, 0)
        assert "underflow" in r.message[0]


def test_blowup_rows_on_the_compiled_rung():
    te = np.linspace(0.0, 2.0, 21)
    y0 = np.array([[1.0], [0.25]] + [[0.1]] * 14)
    rn, rg = _both(lambda t, y: y * y, (0.0, 2.0), y0, t_eval=te)
    for r in (rn, rg):
        assert int(r.status[0]) in (-2, -3) and np.all(np.asarray(r.status[1:]) == 0)
        k = int(r.n_out[0])
        assert np.all(te[:k] < 1.0) and np.all(np.isnan(r.y[0, k:]))
        np.testing.assert_allclose(r.y[0, :k, 0], 1 / (1 - te[:k]), rtol=1e-4)
    np.testing.assert_array_equal(rn.n_out, rg.n_out)


def test_fixed_step_checks_max_steps_and_memory_first():
    # a tiny dt0 used to size (and allocate) the output before max_steps applied
    with pytest.raises(ValueError, match=r"needs 1e\+12 steps.*max_steps=100000"):
        solve_ode(lambda t, y: -y, (0.0, 1.0), np.ones(2), method="rk4", dt0=1e-12)
    with pytest.raises(ValueError, match="GiB of memory"):
        solve_ode(lambda t, y: -y, (0.0, 1.0), np.ones(2), method="rk4", dt0=1e-15,
                  max_steps=10 ** 16)
    with pytest.raises(ValueError, match="GiB of memory"):
        solve_ode(lambda t, y: -y, (0.0, 1.0), np.ones((10 ** 5, 3)),
                  t_eval=np.linspace(0.0, 1.0, 10 ** 6))


def test_nonfinite_members_never_write_past_the_failure():
    def f(t, y, c):
        return np.array([np.nan if t > c else -y[0]])

    c = np.array([0.3, 0.7, 5.0])
    te = np.linspace(0, 1, 11)
    for r in _both(f, (0.0, 1.0), np.ones((3, 1)), args=(per_member(c),), t_eval=te):
        np.testing.assert_array_equal(r.status, [-2, -2, 0])
        for i in range(3):
            k = int(r.n_out[i])
            assert np.all(te[:k] <= c[i] + 1e-12) and np.all(np.isnan(r.y[i, k:]))
            np.testing.assert_allclose(r.y[i, :k, 0], np.exp(-te[:k]), rtol=1e-5)
