"""Adaptive stepping on the Brownian tree: pathwise convergence as the tolerance shrinks."""
import numpy as np
import pytest

from solvers import BrownianPath, solve_sde


@pytest.mark.parametrize("method, calc, order_tol", [("heun", "stratonovich", 3.0),
                                                     ("sri", "ito", 3.0)])
def test_error_follows_tolerance_on_gbm(method, calc, order_tol):
    mu, sig, T, P = 1.0, 0.8, 1.0, 400
    bm = BrownianPath((P, 1), 0.0, T, seed=4)
    w = bm.value(T)[:, 0]
    exact = np.exp((mu if calc == "stratonovich" else mu - sig ** 2 / 2) * T + sig * w)
    errs, steps = [], []
    for tol in (1e-1, 1e-2, 1e-3):
        r = solve_sde(lambda t, y: mu * y, lambda t, y: sig * y, (0.0, T), np.ones((P, 1)), dt=0.1,
                      brownian=bm, method=method, calculus=calc, adaptive=True, rtol=tol, atol=tol,
                      t_eval=[0.5, T])
        assert bool(np.all(r.success)) and r.y.shape == (P, 2, 1)
        errs.append(np.mean(np.abs(r.y[:, -1, 0] - exact)))
        steps.append(r.nsteps.mean())
        # intermediate output at t = 0.5 is on the same path
        ex_half = np.exp((mu if calc == "stratonovich" else mu - sig ** 2 / 2) * 0.5
                         + sig * bm.value(0.5)[:, 0])
        assert np.mean(np.abs(r.y[:, 0, 0] - ex_half)) < 2 * errs[-1] + 1e-12
    # tighter tolerance: more steps and a smaller error against the exact solution on the SAME path
    assert steps[0] < steps[1] < steps[2]
    assert errs[0] > errs[1] > errs[2]
    assert errs[0] / errs[2] > order_tol


def test_rejected_steps_requery_the_same_path():
    """Every step, accepted or rejected, reads the one Brownian tree: the final W used equals
    bm.value(T), so an SDE with zero drift and unit additive noise ends exactly at W_T."""
    P = 50
    bm = BrownianPath((P, 1), 0.0, 1.0, seed=8)
    r = solve_sde(lambda t, y: 0.0 * y, lambda t, y: 1.0 + 0.0 * y, (0.0, 1.0), np.zeros((P, 1)),
                  dt=0.5, brownian=bm, adaptive=True, rtol=1e-3, atol=1e-3, noise="additive")
    np.testing.assert_allclose(r.y[:, -1, 0], bm.value(1.0)[:, 0], rtol=0, atol=1e-12)


def test_adaptive_errors():
    f = lambda t, y: y
    with pytest.raises(ValueError, match="brownian"):
        solve_sde(f, f, (0.0, 1.0), np.ones((3, 1)), dt=0.1, adaptive=True)
    bm = BrownianPath((3, 1), 0.0, 1.0, seed=1)
    with pytest.raises(ValueError, match="rtol"):
        solve_sde(f, f, (0.0, 1.0), np.ones((3, 1)), dt=0.1, adaptive=True, brownian=bm, rtol=-1.0)
    with pytest.raises(ValueError, match="max_steps"):
        solve_sde(f, f, (0.0, 1.0), np.ones((3, 1)), dt=0.1, adaptive=True, brownian=bm, max_steps=0)
    r = solve_sde(lambda t, y: 0.5 * y, lambda t, y: 0.5 * y, (0.0, 1.0), np.ones((3, 1)), dt=0.1,
                  adaptive=True, brownian=bm, max_steps=2, calculus="stratonovich", method="heun")
    assert not np.any(r.success) and np.all(r.status == -1)
