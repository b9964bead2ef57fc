"""Entropic JKO steps on a grid (Peyré 2015): Sinkhorn iterations with a KL proximal step."""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.special import logsumexp

from probspace import array_namespace, as_float_array, to_numpy
from probspace._validation import check_choice, check_int, check_positive

from ._fokker_planck_common import grid_cells
from ._jko import JKOResult

__all__ = ["entropic_jko", "EntropicBlurWarning"]


class EntropicBlurWarning(UserWarning):
    """The entropic blur ``ε`` is not small against the JKO step (adds artificial diffusion)."""


def _prox(energy, logz, sigma, Vn, D, m, logw):
    """log of argmin_q σ F(q) + KL(q | z) for F(q) = Σ q V + D Σ w U(q/w) (pointwise)."""
    if D == 0:
        return logz - sigma * Vn
    if energy == "entropy":  # σ(V + D(log(q/w) + 1)) + log(q/z) = 0
        return (logz - sigma * Vn - sigma * D * (1.0 - logw)) / (1.0 + sigma * D)
    # porous: σ(V + D m/(m-1) (q/w)^(m-1)) + log q - log z = 0, monotone in l = log q
    c = sigma * D * m / (m - 1) * np.exp((1 - m) * logw)
    lz = logz - sigma * Vn
    ell = np.minimum(lz, 700.0)  # f(lz) >= 0: Newton from the right converges monotonically
    for _ in range(100):
        e = c * np.exp(np.minimum((m - 1) * ell, 700.0))
        f = ell - lz + e
        step = f / (1.0 + (m - 1) * e)
        ell = ell - step
        if np.all(np.abs(step) < 1e-13 * (1 + np.abs(ell))):
            break
    return ell


def _logmatvec(K, logv):
    """log(K @ exp(logv)) with one global shift (fast matrix-vector product)."""
    mx = np.max(logv)
    return np.log(K @ np.exp(logv - mx)) + mx


def _step_scaled(K, q, sigma, energy, Vn, D, m, logw, max_iter, tol, logb0):
    """One entropic JKO step: log scalings, kernel products with a global shift (BLAS speed).

    Returns ``None`` when a product underflows where it must not (then the caller redoes the
    step with row-wise log-sum-exp).
    """
    with np.errstate(divide="ignore"):
        logp = np.log(q)
    pos = q > 0
    logb = logb0.copy()
    Kt = np.ascontiguousarray(K.T)
    with np.errstate(all="ignore"):
        for it in range(1, max_iter + 1):
            lKb = _logmatvec(K, logb)
            if not np.all(np.isfinite(lKb[pos])):
                return None, it, False, None
            loga = np.where(pos, logp - lKb, -np.inf)
            logKta = _logmatvec(Kt, loga)
            logq = _prox(energy, logKta, sigma, Vn, D, m, logw)
            logb = np.where(np.isfinite(logKta), logq - logKta, -np.inf)
            if np.any(np.isnan(logb)):
                return None, it, False, None
            if it % 10 == 0 or it == max_iter:
                row = np.exp(loga + _logmatvec(K, logb))
                if not np.all(np.isfinite(row)):
                    return None, it, False, None
                if np.sum(np.abs(row - q)) < tol:
                    return logq, it, True, logb
    return logq, max_iter, False, logb


def _step_log(logK, q, sigma, energy, Vn, D, m, logw, max_iter, tol):
    """One entropic JKO step in the log domain (stable for tiny epsilon or empty regions)."""
    with np.errstate(divide="ignore"):
        logp = np.log(q)
    logb = np.zeros_like(q)
    for it in range(1, max_iter + 1):
        loga = logp - logsumexp(logK + logb[None, :], axis=1)
        logKta = logsumexp(logK + loga[:, None], axis=0)
        logq = _prox(energy, logKta, sigma, Vn, D, m, logw)
        logb = logq - logKta
        if it % 10 == 0 or it == max_iter:
            row = np.exp(loga + logsumexp(logK + logb[None, :], axis=1))
            if np.sum(np.abs(row - q)) < tol:
                return logq, it, True
    return logq, max_iter, False


def entropic_jko(grid, p0, /, *, tau, n_steps, epsilon, energy="entropy", diffusion=1.0, m=2.0,
                 potential=None, max_iter=5000, tol=1e-9, max_blur_ratio=0.1,
                 compensate=False):
    """Entropic JKO steps on a 1-D grid (Sinkhorn with a KL proximal step, Peyré 2015).

    Each step solves ``min_π <C, π>/(2τ) + (ε/(2τ)) KL(π) + F(π^T 1)`` over couplings with first
    marginal the current masses, ``C_ij = |x_i - x_j|^2``, by generalized Sinkhorn iterations in
    the log domain; ``F`` is ``Σ q V + D Σ q log(q/w)`` ("entropy") or
    ``Σ q V + D/(m-1) Σ w (q/w)^m`` ("porous"), ``w`` the cell widths.

    The entropic term blurs every step (arXiv 2502.12666): with this scaling each step
    convolves with a Gaussian of variance ``ε/2``, i.e. artificial diffusion
    ``D_art = ε/(4τ)`` (measured: pure-transport steps, ``D = 0``, spread a Gaussian's variance
    by exactly ``ε/2`` per step). Keep ``ε`` well below ``τ``: when
    ``ε/(4τ) > max_blur_ratio * D`` (or ``ε/τ > max_blur_ratio`` for ``D = 0``) an
    :class:`EntropicBlurWarning` is issued. ``compensate=True`` runs the steps with
    ``D - ε/(4τ)`` instead (entropy energy only; needs ``D >= ε/(4τ)``).

    The solve runs on the host (NumPy/SciPy sparse or banded LAPACK); inputs of any array-API
    namespace are accepted and the results come back in that namespace and dtype.

    Parameters
    ----------
    grid : array, shape (n,)
        Strictly increasing cell centres.
    p0 : array, shape (n,)
        Initial density at the centres (normalized internally to mass 1).
    tau : float
        JKO step.
    n_steps : int
    epsilon : float
        Entropic regularization ``ε`` of the transport term.
    energy : {"entropy", "porous"}
    diffusion : float
        ``D >= 0``.
    m : float
        Porous-medium exponent (> 1).
    potential : callable, optional
        ``V(x)`` on NumPy arrays.
    max_iter, tol
        Sinkhorn iterations per step and the stopping rule (L1 error of the fixed marginal).
    max_blur_ratio : float
        Threshold of the blur check described above.
    compensate : bool
        Subtract the artificial diffusion ``ε/(4τ)`` from ``D`` (entropy energy only).

    Returns
    -------
    JKOResult
        ``x`` (the grid), ``t``, ``p`` (densities after every step, ``(n_steps+1, n)``),
        ``free_energy``, ``sinkhorn_iterations``, ``success``, ``message``.
    """
    check_choice(energy, "energy", ("entropy", "porous"))
    tau = check_positive(tau, "tau")
    eps = check_positive(epsilon, "epsilon")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    max_blur_ratio = check_positive(max_blur_ratio, "max_blur_ratio")
    if isinstance(diffusion, bool) or not isinstance(diffusion, numbers.Real) or not diffusion >= 0:
        raise ValueError(f"diffusion must be a non-negative number, got {diffusion!r}")
    D = float(diffusion)
    if energy == "porous":
        m = check_positive(m, "m")
        if not m > 1:
            raise ValueError(f"m must be > 1 for the porous-medium energy, got {m}")
    if potential is not None and not callable(potential):
        raise TypeError("potential must be callable")
    blur = eps / (4 * tau)
    if (D > 0 and blur > max_blur_ratio * D) or (D == 0 and eps / tau > max_blur_ratio):
        warnings.warn(
            f"entropic blur epsilon={eps:g} is not small against tau={tau:g}: it adds artificial "
            f"diffusion epsilon/(4 tau) = {blur:g} (D = {D:g}); decrease epsilon",
            EntropicBlurWarning, stacklevel=2)
    D_eff = D
    if compensate:
        if energy != "entropy":
            raise ValueError("compensate=True needs energy='entropy'")
        if blur > D:
            raise ValueError(f"compensate=True needs diffusion >= epsilon/(4 tau) = {blur:g}")
        D_eff = D - blur
    xp = array_namespace(grid, p0)
    ga = as_float_array(grid, "grid", xp, ndim_min=1)
    pa = as_float_array(p0, "p0", xp, ndim_min=1)
    x, _, w = grid_cells(to_numpy(ga), "grid")
    p = np.asarray(to_numpy(pa), dtype=np.float64)
    if p.shape != x.shape:
        raise ValueError(f"p0 must have shape {x.shape} like grid, got {p.shape}")
    if np.any(p < 0):
        raise ValueError("p0 must be non-negative")
    q = p * w
    if q.sum() <= 0:
        raise ValueError("p0 must have positive mass")
    q = q / q.sum()
    Vn = np.zeros_like(x) if potential is None else np.broadcast_to(
        np.asarray(potential(x), dtype=np.float64), x.shape)
    logw = np.log(w)
    mm = m if energy == "porous" else 2.0
    logK = -(x[:, None] - x[None, :]) ** 2 / eps
    sigma = 2 * tau / eps  # the step's objective times 2τ/ε: KL(π|K) + σ F(q)

    def free(qq):
        with np.errstate(divide="ignore", invalid="ignore"):
            if energy == "entropy":
                u = np.where(qq > 0, qq * np.log(np.where(qq > 0, qq / w, 1.0)), 0.0)
            else:
                u = w * (qq / w) ** mm / (mm - 1)
        return float(np.sum(qq * Vn) + D * np.sum(u))

    out = [q / w]
    fe = [free(q)]  # F uses the physical D (reported), the steps use D_eff
    iters = []
    ok, msg = True, "completed"
    K = np.exp(logK)
    logb = np.zeros_like(x)
    for _ in range(n_steps):
        # warm start from the previous step's scaling (consecutive steps are close)
        logq, it, conv, lb = _step_scaled(K, q, sigma, energy, Vn, D_eff, mm, logw, max_iter,
                                          tol, np.where(np.isfinite(logb), logb, 0.0))
        if logq is not None:
            logb = lb
        else:  # scalings left the floating-point range: redo in the log domain
            logq, it, conv = _step_log(logK, q, sigma, energy, Vn, D_eff, mm, logw, max_iter, tol)
        if not conv:
            ok, msg = False, f"Sinkhorn did not reach tol={tol:g} in {max_iter} iterations"
        iters.append(it)
        q = np.exp(logq)
        q = q / q.sum()  # mass is 1 up to the Sinkhorn tolerance; keep it exact
        out.append(q / w)
        fe.append(free(q))
    dtype = pa.dtype
    return JKOResult(
        x=xp.asarray(x, dtype=dtype), t=xp.asarray(tau * np.arange(n_steps + 1), dtype=dtype),
        p=xp.asarray(np.array(out), dtype=dtype), free_energy=xp.asarray(np.array(fe), dtype=dtype),
        sinkhorn_iterations=np.array(iters, dtype=int), success=ok, status=0 if ok else 1,
        message=msg)
