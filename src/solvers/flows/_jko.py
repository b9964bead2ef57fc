"""JKO steps for 1-D Wasserstein gradient flows, exact through quantile functions.

In 1-D the optimal map between two measures is monotone, so ``W_2^2(ρ, ρ_k)`` is the L2
distance of their quantile functions.  With ``N`` particles ``X_1 < ... < X_N`` at mass
levels ``(i - 1/2)/N`` (each carrying mass ``1/N``; between neighbours the density is
``(1/N) / (X_{i+1} - X_i)``) every JKO step

    X^{k+1} = argmin_X  (1/(2τ)) (1/N) Σ (X_i - X_i^k)^2 + F(X)

is a smooth, strictly convex problem (for convex potentials) with a tridiagonal Hessian,
solved here by Newton's method with a positivity-preserving line search.
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import solveh_banded

from probspace import Result, array_namespace, as_float_array, to_numpy
from probspace._validation import check_choice, check_int, check_positive

__all__ = ["jko_1d", "JKOResult", "quantiles_from_density", "density_from_quantiles"]


class JKOResult(Result):
    """Result of :func:`jko_1d` / :func:`entropic_jko`.

    :func:`jko_1d`: ``x`` (particle positions after every step, shape ``(n_steps+1, N)``),
    ``t``, ``free_energy`` (after every step; non-increasing), ``centers`` / ``density``
    (piecewise-constant density between neighbouring particles), ``newton_iterations``,
    ``success``, ``message``.
    """


def quantiles_from_density(grid, p, n):
    """``n`` particle positions at mass levels ``(i - 1/2)/n`` of a density sampled on ``grid``.

    The density is interpolated linearly between grid points; its cumulative integral is
    inverted exactly (piecewise quadratic).
    """
    xp = array_namespace(grid, p)
    x = np.asarray(to_numpy(as_float_array(grid, "grid", xp, ndim_min=1)), dtype=np.float64)
    q = np.asarray(to_numpy(as_float_array(p, "p", xp, ndim_min=1)), dtype=np.float64)
    n = check_int(n, "n", minimum=2)
    if x.shape != q.shape or x.ndim != 1 or x.size < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("grid must be strictly increasing and p must have the same shape")
    if np.any(q < 0):
        raise ValueError("p must be non-negative")
    dx = np.diff(x)
    cell = 0.5 * (q[:-1] + q[1:]) * dx
    cdf = np.concatenate([[0.0], np.cumsum(cell)])
    if cdf[-1] <= 0:
        raise ValueError("p must have positive mass")
    levels = (np.arange(n) + 0.5) / n * cdf[-1]
    j = np.clip(np.searchsorted(cdf, levels, side="right") - 1, 0, x.size - 2)
    r = levels - cdf[j]
    a = (q[j + 1] - q[j]) / dx[j] / 2  # mass in cell up to x_j + s: q_j s + a s^2
    b = q[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_quad = 2 * r / (b + np.sqrt(np.maximum(b * b + 4 * a * r, 0.0)))
    s = np.where(b + np.abs(a) > 0, s_quad, 0.0)
    out = x[j] + np.clip(s, 0.0, dx[j])
    return xp.asarray(out, dtype=as_float_array(p, "p", xp).dtype)


def density_from_quantiles(x):
    """Piecewise-constant density of particles ``x`` (each of mass ``1/N``): midpoints and values.

    Between neighbours ``X_i < X_{i+1}`` the density is ``(1/N) / (X_{i+1} - X_i)``.
    """
    n = x.shape[-1]
    gaps = x[..., 1:] - x[..., :-1]
    return 0.5 * (x[..., 1:] + x[..., :-1]), (1.0 / n) / gaps


def _internal(energy, D, m, ds, g):
    """phi(g), phi'(g), phi''(g) of the internal energy of a gap of length g carrying mass ds."""
    if energy == "entropy":     # D ∫ ρ log ρ, ρ = ds/g on the gap
        return -D * ds * np.log(g / ds), -D * ds / g, D * ds / g ** 2
    c = D * ds ** m             # D/(m-1) ∫ ρ^m
    return c * g ** (1 - m) / (m - 1), -c * g ** (-m), m * c * g ** (-m - 1)


def jko_1d(x0, /, *, tau, n_steps, energy="entropy", diffusion=1.0, m=2.0, potential=None,
           grad_potential=None, hess_potential=None, tol=1e-11, max_newton=100):
    """Exact JKO steps for a 1-D free energy, through quantile functions (particles).

    Minimizes ``F(ρ) + W_2^2(ρ, ρ_k)/(2τ)`` at each step with

    * ``energy="entropy"``: ``F = ∫ V ρ + D ∫ ρ log ρ`` — the Fokker–Planck equation
      ``∂ρ/∂t = ∂x(ρ V') + D ∂xx ρ`` (the heat equation ``∂ρ/∂t = D ∂xx ρ`` when ``V = 0``);
    * ``energy="porous"``: ``F = ∫ V ρ + D/(m-1) ∫ ρ^m`` — the porous-medium equation
      ``∂ρ/∂t = ∂x(ρ V') + D ∂xx ρ^m`` (``m > 1``).

    The measure is ``N`` particles of mass ``1/N`` at positions ``X_i`` (quantiles at levels
    ``(i - 1/2)/N``), the density between neighbours being ``(1/N)/(X_{i+1} - X_i)``. Then
    ``W_2^2`` is exactly the mean squared particle displacement and each step is solved to
    ``tol`` by Newton's method on a tridiagonal Hessian (O(N) per iteration).

    The solve runs on the host (NumPy/SciPy sparse or banded LAPACK); inputs of any array-API
    namespace are accepted and the results come back in that namespace and dtype.

    Parameters
    ----------
    x0 : array, shape (N,)
        Strictly increasing initial particles (e.g. from :func:`quantiles_from_density`).
    tau : float
        JKO time step.
    n_steps : int
    energy : {"entropy", "porous"}
    diffusion : float
        ``D >= 0``.
    m : float
        Porous-medium exponent (``m > 1``), used with ``energy="porous"``.
    potential, grad_potential, hess_potential : callable, optional
        ``V``, ``V'``, ``V''`` on NumPy arrays. ``grad_potential`` is needed for a potential;
        ``hess_potential`` defaults to a central difference of ``grad_potential``.
    tol : float
        Newton stopping rule on the step size (relative to the particle spread).
    max_newton : int

    Returns
    -------
    JKOResult
        ``x`` of shape ``(n_steps + 1, N)`` in the namespace/dtype of ``x0``, ``t``,
        ``free_energy`` (``F`` up to an additive constant, non-increasing), ``centers``,
        ``density``, ``newton_iterations``, ``success``.

    Notes
    -----
    Callables receive arrays of particles (this routine moves a cloud of particles, not one member: the calling convention of :func:`solvers.solve_ode` does not apply) and return one value per particle.  NaN and inf: ``x0`` must be finite (``ValueError``); a
    Newton iteration that does not converge (e.g. potentials returning NaN) ends the run with
    ``success=False`` and a message.
    """
    check_choice(energy, "energy", ("entropy", "porous"))
    tau = check_positive(tau, "tau")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    if isinstance(diffusion, bool) or not isinstance(diffusion, numbers.Real) or not diffusion >= 0:
        raise ValueError(f"diffusion must be a non-negative number, got {diffusion!r}")
    D = float(diffusion)
    if energy == "porous":
        m = check_positive(m, "m")
        if not m > 1:
            raise ValueError(f"m must be > 1 for the porous-medium energy, got {m}")
    if potential is not None and grad_potential is None:
        raise ValueError("grad_potential is required when potential is given")
    for name, f in (("potential", potential), ("grad_potential", grad_potential),
                    ("hess_potential", hess_potential)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be callable")
    xp = array_namespace(x0)
    xa = as_float_array(x0, "x0", xp, ndim_min=1)
    X = np.asarray(to_numpy(xa), dtype=np.float64)
    if X.ndim != 1 or X.size < 2:
        raise ValueError(f"x0 must be a 1-D array of at least 2 particles, got shape {X.shape}")
    if np.any(np.diff(X) <= 0):
        raise ValueError("x0 must be strictly increasing")
    N = X.size
    ds = 1.0 / N
    mm = m if energy == "porous" else 0.0

    def V(x):
        return np.asarray(potential(x), dtype=np.float64) if potential is not None else np.zeros_like(x)

    def dV(x):
        return np.asarray(grad_potential(x), dtype=np.float64) if grad_potential is not None \
            else np.zeros_like(x)

    def d2V(x):
        if grad_potential is None:
            return np.zeros_like(x)
        if hess_potential is not None:
            return np.asarray(hess_potential(x), dtype=np.float64)
        h = 1e-5 * (1.0 + np.abs(x))
        return (dV(x + h) - dV(x - h)) / (2 * h)

    def free(Xc):
        g = np.diff(Xc)
        return ds * np.sum(V(Xc)) + (np.sum(_internal(energy, D, mm, ds, g)[0]) if D > 0 else 0.0)

    def objective(Xc, Y):
        return ds * np.sum((Xc - Y) ** 2) / (2 * tau) + free(Xc)

    xs = [X.copy()]
    fe = [free(X)]
    iters = []
    ok, msg = True, "completed"
    for _ in range(n_steps):
        Y = X.copy()
        Xc = X.copy()
        f_old = objective(Xc, Y)
        it = 0
        for it in range(1, max_newton + 1):
            g = np.diff(Xc)
            grad = ds * (Xc - Y) / tau + ds * dV(Xc)
            diag = ds / tau + ds * np.maximum(d2V(Xc), -0.5 / tau)  # keep H positive definite
            off = np.zeros(N - 1)
            if D > 0:
                _, d1, d2 = _internal(energy, D, mm, ds, g)
                grad[:-1] -= d1
                grad[1:] += d1
                diag[:-1] += d2
                diag[1:] += d2
                off = -d2
            ab = np.zeros((2, N))
            ab[0, 1:] = off
            ab[1] = diag
            step = -solveh_banded(ab, grad, check_finite=False)
            # line search: keep the particle order, decrease the objective (Armijo)
            alpha, slope = 1.0, float(grad @ step)
            while True:
                Xn = Xc + alpha * step
                if np.all(np.diff(Xn) > 0):
                    f_new = objective(Xn, Y)
                    if f_new <= f_old + 1e-4 * alpha * slope or alpha < 1e-12:
                        break
                alpha *= 0.5
                if alpha < 1e-14:
                    break
            Xc, f_old = Xn, f_new
            if np.max(np.abs(alpha * step)) <= tol * (1.0 + np.ptp(Xc)):
                break
        else:
            ok, msg = False, f"Newton did not converge in {max_newton} iterations"
        iters.append(it)
        X = Xc
        xs.append(X.copy())
        fe.append(free(X))
    xs = np.array(xs)
    dtype = xa.dtype
    cen, dens = density_from_quantiles(xs)
    return JKOResult(
        x=xp.asarray(xs, dtype=dtype), t=xp.asarray(tau * np.arange(n_steps + 1), dtype=dtype),
        free_energy=xp.asarray(np.array(fe), dtype=dtype), centers=xp.asarray(cen, dtype=dtype),
        density=xp.asarray(dens, dtype=dtype), newton_iterations=np.array(iters, dtype=int),
        success=ok, status=0 if ok else 1, message=msg)
