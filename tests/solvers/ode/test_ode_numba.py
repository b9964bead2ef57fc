"""The compiled (Numba) rung of solve_ode against the generic array-API rung and closed forms.

The right-hand sides are module-level functions so that each compiles once per session."""
from __future__ import annotations

import math

import numpy as np
import pytest

from probspace import use_backend
from solvers import CompileFallbackWarning, per_member, solve_ode


def f_cos(t, y):
    out = np.empty_like(y)
    out[..., 0] = y[..., 0] * np.cos(t)
    return out


def lorenz_member(t, y, rho):
    return np.array([10.0 * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])


def lorenz_vec(t, y, rho):
    return np.stack([10.0 * (y[..., 1] - y[..., 0]), y[..., 0] * (rho - y[..., 2]) - y[..., 1],
                     y[..., 0] * y[..., 1] - 8.0 / 3.0 * y[..., 2]], axis=-1)


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

numba = pytest.importorskip("numba")


def _both(f, *a, **k):
    with use_backend("numba"):
        r = solve_ode(f, *a, **k)
    with use_backend("generic"):
        g = solve_ode(f, *a, **k)
    assert r.backend == "numba" and g.backend == "generic"
    return r, g


@pytest.mark.parametrize("method", ["dopri5"])  # tsit5: test_ode_cupy.py (sympy kernels)
def test_numba_matches_generic_adaptive_lorenz_ensemble(method):
    # chaotic system: compare over a short horizon where rounding differences stay tiny
    B = 64
    rho = np.linspace(5.0, 45.0, B)
    y0 = np.tile([1.0, 1.0, 1.0], (B, 1)) + 0.01 * np.arange(B)[:, None]
    te = np.linspace(0, 2, 21)
    r = solve_ode(lorenz_member, (0.0, 2.0), y0, args=(per_member(rho),), t_eval=te, rtol=1e-8,
                  atol=1e-10, method=method)
    g = solve_ode(lorenz_vec, (0.0, 2.0), y0, args=(per_member(rho),), t_eval=te, rtol=1e-8,
                  atol=1e-10, vectorized=True, method=method)
    assert r.backend == "numba" and g.backend == "generic"
    np.testing.assert_array_equal(r.nsteps, g.nsteps)
    np.testing.assert_array_equal(r.nreject, g.nreject)
    np.testing.assert_array_equal(r.nfev, g.nfev)
    np.testing.assert_array_equal(r.status, g.status)
    np.testing.assert_allclose(r.y, g.y, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.y_final, g.y_final, rtol=1e-9, atol=1e-9)
    # members really adapt independently
    assert len(np.unique(np.asarray(r.nsteps))) > 10


def test_numba_auto_compiles_component_form():
    # the same component-form f runs on both rungs; auto mode picks Numba for a NumPy batch
    # of >= 16 members, the generic rung for a small one (compilation would not pay)
    y0 = np.linspace(0.5, 2.0, 16)[:, None]
    te = np.linspace(0, 3, 7)
    r = solve_ode(f_cos, (0.0, 3.0), y0, t_eval=te, rtol=1e-9, atol=1e-12)
    with use_backend("generic"):
        g = solve_ode(f_cos, (0.0, 3.0), y0, t_eval=te, rtol=1e-9, atol=1e-12)
    assert r.backend == "numba" and g.backend == "generic"
    assert solve_ode(f_cos, (0.0, 3.0), y0[:3], t_eval=te).backend == "generic"
    np.testing.assert_allclose(r.y, g.y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.y[..., 0], y0 * np.exp(np.sin(te)), rtol=1e-7)
    np.testing.assert_array_equal(r.nsteps, g.nsteps)


@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_numba_fixed_step_orders_and_agreement(method, order):
    ns = [10, 20, 40, 80, 160]
    errs = []
    for n in ns:
        r, g = _both(f_cos, (0.0, 2.0), np.array([[1.0], [2.0]]), method=method, dt0=2.0 / n)
        np.testing.assert_allclose(r.y, g.y, rtol=1e-13, atol=0)
        errs.append(abs(r.y[0, -1, 0] - math.exp(math.sin(2.0))))
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.15


def test_numba_events_ballistic():
    v0 = np.array([3.0, 10.0, 25.0])
    h0, g = 2.0, 9.81
    y0 = np.stack([np.full(3, h0), v0], axis=-1)
    te = np.linspace(0, 10, 51)
    r, gen = _both(_ballistic, (0.0, 10.0), y0, args=(g,), events=[_hit_ground, _apex], t_eval=te)
    t_hit = (v0 + np.sqrt(v0 ** 2 + 2 * g * h0)) / g
    np.testing.assert_allclose(r.t_events[0][:, 0], t_hit, rtol=1e-12)
    np.testing.assert_allclose(r.t_final, t_hit, rtol=1e-12)
    np.testing.assert_allclose(r.t_events[1][:, 0], v0 / g, rtol=1e-12)
    np.testing.assert_array_equal(r.status, 1)
    for k in ("t_final", "y_final", "y"):
        np.testing.assert_allclose(r[k], gen[k], rtol=1e-12, atol=1e-12)
    for i in range(2):
        np.testing.assert_allclose(r.t_events[i], gen.t_events[i], rtol=1e-12)
        np.testing.assert_allclose(r.y_events[i], gen.y_events[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(r.n_events[i], gen.n_events[i])


def test_numba_many_events_grow_buffer():
    # more events per member than the kernel's first buffer (8): it reruns with room for all
    def f(t, y, w):
        return np.array([y[1], -w * w * y[0]])

    def g(t, y, w):
        return y[0]

    w = np.array([1.0, 3.0, 6.0])
    y0 = np.tile([1.0, 0.0], (3, 1))
    with use_backend("numba"):
        r = solve_ode(f, (0.0, 10.0), y0, args=(per_member(w),), events=g, rtol=1e-10, atol=1e-12)
    assert r.backend == "numba"
    for i, wi in enumerate(w):
        want = (np.pi / 2 + np.pi * np.arange(100)) / wi
        want = want[want < 10.0]
        assert int(r.n_events[0][i]) == want.size
        np.testing.assert_allclose(r.t_events[0][i, :want.size], want, atol=1e-8)
        assert np.all(np.isnan(r.t_events[0][i, want.size:]))


def test_numba_status_codes():
    def sq(t, y):
        return y * y

    r, g = _both(sq, (0.0, 2.0), np.array([[1.0], [0.2]]))
    np.testing.assert_array_equal(r.status, g.status)
    assert int(r.status[0]) in (-2, -3) and int(r.status[1]) == 0
    np.testing.assert_allclose(r.t_final[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r.y[1, -1, 0], 0.2 / (1 - 0.2 * 2.0), rtol=1e-6)
    r, g = _both(sq, (0.0, 2.0), np.array([[1.0], [0.2]]), max_steps=30)
    np.testing.assert_array_equal(r.status, g.status)
    np.testing.assert_array_equal(r.status, [-1, 0])


def test_numba_already_jitted_and_deprecated_keyword():
    fj = numba.njit(lorenz_member)
    y0 = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 0.5]])
    rho = np.array([20.0, 28.0])
    # (a fixed-step method: its kernel compiles fastest); an @njit f uses the compiled rung at
    # any batch size
    r = solve_ode(fj, (0.0, 1.0), y0, args=(per_member(rho),), method="rk4", dt0=0.01)
    g = solve_ode(lorenz_vec, (0.0, 1.0), y0, args=(per_member(rho),), vectorized=True,
                  method="rk4", dt0=0.01)
    assert r.backend == "numba" and g.backend == "generic"
    np.testing.assert_allclose(r.y, g.y, rtol=1e-9)
    # numba= is deprecated (the rung follows the input and probspace.use_backend)
    with pytest.warns(DeprecationWarning, match="numba"):
        assert solve_ode(fj, (0.0, 1.0), y0, args=(per_member(rho),), method="rk4", dt0=0.01,
                         numba=False).backend == "generic"

    class Op:
        def __call__(self, t, y):
            return -y

    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="numba=True"):
        solve_ode(Op(), (0.0, 1.0), y0, numba=True)


def test_per_member_and_vectorized_never_guessed():
    # batch size 2 = d: f means different things per member and on the batch; each form is
    # explicit and each gives scipy's per-member answer for what it says
    from scipy.integrate import solve_ivp

    def f(t, y):
        return -y * np.sum(y)

    y0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    te = np.linspace(0.0, 1.0, 5)
    for be in ("numba", "generic"):
        with use_backend(be):
            r = solve_ode(f, (0.0, 1.0), y0, t_eval=te, rtol=1e-10, atol=1e-12)
        assert r.backend == be
        for i in range(2):
            ref = solve_ivp(f, (0.0, 1.0), y0[i], t_eval=te, method="DOP853", rtol=1e-12,
                            atol=1e-14)
            np.testing.assert_allclose(r.y[i], ref.y.T, rtol=1e-8, atol=1e-10)
    # vectorized=True: the same per-member law written for the batch gives the same numbers
    # and the same steps (members stay independent: each is at its own time)
    rv = solve_ode(lambda t, y: -y * np.sum(y, axis=-1, keepdims=True), (0.0, 1.0), y0, t_eval=te,
                   rtol=1e-10, atol=1e-12, vectorized=True)
    np.testing.assert_allclose(rv.y, r.y, rtol=1e-12)
    np.testing.assert_array_equal(rv.nsteps, r.nsteps)


def test_numba_fallback_when_f_does_not_compile():
    class Op:
        def __call__(self, t, y):
            return -y

    with use_backend("numba"), pytest.warns(CompileFallbackWarning, match="vectorized=True"):
        r = solve_ode(Op(), (0.0, 1.0), np.array([[1.0], [2.0]]), t_eval=[1.0])
    assert r.backend == "generic"
    np.testing.assert_allclose(r.y[:, 0, 0], np.exp(-1.0) * np.array([1.0, 2.0]), rtol=1e-6)


def test_numba_backward_with_events_matches_generic():
    def g(t, y, w):
        return y[0] if y.ndim == 1 else y[..., 0]

    def f(t, y, w):
        return np.array([y[1], -w * w * y[0]])

    def fv(t, y, w):
        return np.stack([y[..., 1], -(w * w) * y[..., 0]], axis=-1)

    w = np.array([1.0, 2.0])
    y0 = np.stack([np.cos(w * 5.0), -w * np.sin(w * 5.0)], -1)
    with use_backend("numba"):
        r = solve_ode(f, (5.0, 0.0), y0, args=(per_member(w),), events=g, rtol=1e-10, atol=1e-12,
                      t_eval=np.linspace(5.0, 0.0, 11))
    gen = solve_ode(fv, (5.0, 0.0), y0, args=(per_member(w),), events=g, rtol=1e-10, atol=1e-12,
                    vectorized=True, t_eval=np.linspace(5.0, 0.0, 11))
    assert r.backend == "numba"
    np.testing.assert_allclose(r.y, gen.y, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r.y[:, -1], np.tile([1.0, 0.0], (2, 1)), atol=1e-8)
    for i, wi in enumerate(w):
        want = ((np.pi / 2 + np.pi * np.arange(10)) / wi)
        want = want[want < 5.0][::-1]
        np.testing.assert_allclose(r.t_events[0][i, :want.size], want, atol=1e-8)
        np.testing.assert_allclose(gen.t_events[0][i, :want.size], want, atol=1e-8)


def test_numba_multi_dim_batch_and_member_args():
    # batch shape (2, 3): per-member parameters of shape (2, 3) arrive as scalars
    rho = np.array([[10.0, 20.0, 28.0], [35.0, 40.0, 45.0]])
    y0 = np.ones((2, 3, 3)) + 0.1 * np.arange(6).reshape(2, 3, 1)
    te = np.linspace(0.0, 1.0, 6)
    with use_backend("numba"):
        r = solve_ode(lorenz_member, (0.0, 1.0), y0, args=(per_member(rho),), t_eval=te,
                      rtol=1e-8, atol=1e-10)
    assert r.backend == "numba" and r.y.shape == (2, 3, 6, 3) and r.status.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            one = solve_ode(lorenz_vec, (0.0, 1.0), y0[i, j], args=(rho[i, j],), t_eval=te,
                            rtol=1e-8, atol=1e-10, vectorized=True)
            np.testing.assert_allclose(r.y[i, j], one.y, rtol=1e-10, atol=1e-10)
            assert int(r.nsteps[i, j]) == int(one.nsteps)


def test_numba_event_that_does_not_compile_falls_back():
    class Ground:  # a callable object: Numba cannot compile it
        terminal = True

        def __call__(self, t, y, g):
            return y[..., 0]

    y0 = np.stack([np.full(16, 2.0), np.linspace(0.0, 15.0, 16)], -1)
    with pytest.warns(CompileFallbackWarning, match="events"):
        r = solve_ode(_ballistic, (0.0, 10.0), y0, args=(9.81,), events=Ground())
    assert r.backend == "generic"
    v0 = y0[:, 1]
    np.testing.assert_allclose(r.t_final, (v0 + np.sqrt(v0 ** 2 + 2 * 9.81 * 2.0)) / 9.81,
                               rtol=1e-12)
    with pytest.raises(TypeError, match="events"):
        with pytest.warns(DeprecationWarning):
            solve_ode(_ballistic, (0.0, 10.0), y0, args=(9.81,), events=Ground(), numba=True)
