"""Nonlinear Fokker–Planck (porous-medium) equation by finite volumes and implicit Newton steps."""
from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import solve_banded

from probspace import array_namespace, as_float_array, to_numpy
from probspace._validation import check_int, check_positive

from ._fokker_planck_common import DEFAULT_MAX_STEPS, FokkerPlanckResult, grid_cells, time_plan

__all__ = ["porous_medium_1d"]


def porous_medium_1d(grid, u0, t_eval, /, *, m=2.0, diffusion=1.0, potential=None,
                     grad_potential=None, dt=None, t0=0.0, tol=1e-13, max_newton=50,
                     max_steps=DEFAULT_MAX_STEPS):
    """Solve ``du/dt = D d²/dx²(u^m) + d/dx(u V')`` (finite volumes, backward Euler + Newton).

    The Wasserstein gradient flow of ``F[u] = ∫ V u + D/(m-1) ∫ u^m`` (``m > 1``; ``V = 0`` is
    the porous-medium equation, whose Barenblatt solutions spread with compact support).
    Fluxes ``J = -D (u_{i+1}^m - u_i^m)/dx + upwind(u) * (-V')`` vanish at the two ends
    (mass is conserved up to the Newton tolerance); each step is solved by Newton's method
    with a tridiagonal Jacobian, projected onto ``u >= 0`` between iterations (the implicit
    upwind scheme's solution is non-negative; the projection only guards the iterates).

    The solve runs on the host (NumPy/SciPy sparse or banded LAPACK); inputs of any array-API
    namespace are accepted and the results come back in that namespace and dtype.

    Parameters
    ----------
    grid : array, shape (n,)
        Strictly increasing cell centres.
    u0 : array, shape (n,)
        Non-negative initial density at time ``t0``.
    t_eval : array
        Non-decreasing output times ``>= t0``.
    m : float
        Exponent, ``m > 1``.
    diffusion : float
        ``D > 0``.
    potential, grad_potential : callable, optional
        ``V`` (for the reported free energy) and ``V'`` (the drift is ``-V'``).
    dt : float, optional
        Largest time step (default ``(t_eval[-1] - t0) / 1000``).
    tol, max_newton
        Newton stopping rule (max-norm of the scaled residual) and iteration cap per step.
    max_steps : int, default 1_000_000
        Largest number of time steps; a ``dt`` that needs more raises ``ValueError`` before
        any work (as does output that cannot fit in memory).

    Returns
    -------
    FokkerPlanckResult
        ``t``, ``p`` (shape ``(k, n)``), ``mass``, ``free_energy`` (``F[u]``, non-increasing),
        ``cell_volumes``, ``nsteps``, ``newton_iterations`` (maximum per output interval),
        ``success``, ``message``.

    Notes
    -----
    Callables receive arrays of grid points (this routine works on a grid, not on one member: the calling convention of :func:`solvers.solve_ode` does not apply) and return one value per point.  NaN and inf: ``grid``, ``u0`` and ``t_eval``
    must be finite (``ValueError``); a step whose Newton iteration does not converge (or turns
    non-finite) ends the run with ``success=False`` and a message.
    """
    m = check_positive(m, "m")
    if not m > 1:
        raise ValueError(f"m must be > 1, got {m}")
    D = check_positive(diffusion, "diffusion")
    if isinstance(t0, bool) or not isinstance(t0, numbers.Real):
        raise TypeError("t0 must be a real number")
    max_newton = check_int(max_newton, "max_newton", minimum=1)
    for name, f in (("potential", potential), ("grad_potential", grad_potential)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be callable")
    xp = array_namespace(grid, u0)
    ga = as_float_array(grid, "grid", xp, ndim_min=1)
    ua = as_float_array(u0, "u0", xp, ndim_min=1)
    x, dx, vol = grid_cells(to_numpy(ga), "grid")
    u = np.asarray(to_numpy(ua), dtype=np.float64).copy()
    if u.shape != x.shape:
        raise ValueError(f"u0 must have shape {x.shape} like grid, got {u.shape}")
    if np.any(u < 0):
        raise ValueError("u0 must be non-negative")
    t, gaps, nsub = time_plan(t_eval, float(t0), dt, max_steps, x.size)
    xf = 0.5 * (x[1:] + x[:-1])
    v = -np.asarray(grad_potential(xf), dtype=np.float64) if grad_potential is not None \
        else np.zeros_like(xf)
    vp, vm = np.maximum(v, 0.0), np.minimum(v, 0.0)
    Vn = np.asarray(potential(x), dtype=np.float64) if potential is not None else np.zeros_like(x)

    def flux(uu):
        return -D * (uu[1:] ** m - uu[:-1] ** m) / dx + vp * uu[:-1] + vm * uu[1:]

    def residual(uu, uold, tau):
        J = flux(uu)
        div = np.zeros_like(uu)
        div[:-1] += J
        div[1:] -= J
        return vol * (uu - uold) + tau * div

    def energy(uu):
        return float(np.sum(vol * (Vn * uu + D / (m - 1) * uu ** m)))

    out = np.empty((t.size, x.size))
    iters = np.zeros(t.size, dtype=int)
    nsteps, ok, msg = 0, True, "completed"
    scale = max(float(np.max(vol * u)), 1e-300)
    for k in range(t.size):
        if nsub[k] > 0:
            tau = gaps[k] / nsub[k]
            for _ in range(nsub[k]):
                uold = u.copy()
                r = residual(u, uold, tau)
                for it in range(1, max_newton + 1):
                    dphi = m * u ** (m - 1) * D
                    up = tau * (-dphi[1:] / dx + vm)        # d G_i / d u_{i+1}
                    lo = -tau * (dphi[:-1] / dx + vp)       # d G_{i+1} / d u_i
                    diag = vol.copy()
                    diag[:-1] += tau * (dphi[:-1] / dx + vp)
                    diag[1:] += tau * (dphi[1:] / dx - vm)
                    ab = np.zeros((3, x.size))
                    ab[0, 1:], ab[1], ab[2, :-1] = up, diag, lo
                    step = -solve_banded((1, 1), ab, r, check_finite=False)
                    # projected Newton: iterates stay >= 0; the converged state solves the
                    # step equations (its residual is below tol), so mass is conserved
                    u = np.maximum(u + step, 0.0)
                    r = residual(u, uold, tau)
                    if np.max(np.abs(r)) <= tol * scale:
                        break
                else:
                    ok, msg = False, f"Newton did not converge in {max_newton} iterations"
                iters[k] = max(iters[k], it)
                nsteps += 1
        out[k] = u
    mass = out @ vol
    dtype = ua.dtype
    return FokkerPlanckResult(
        t=xp.asarray(t, dtype=dtype), p=xp.asarray(out, dtype=dtype),
        mass=xp.asarray(mass, dtype=dtype),
        free_energy=xp.asarray(np.array([energy(row) for row in out]), dtype=dtype),
        cell_volumes=xp.asarray(vol, dtype=dtype), nsteps=nsteps, newton_iterations=iters,
        success=ok, status=0 if ok else 1, message=msg)
