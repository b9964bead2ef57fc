"""2-D Fokker–Planck equation on a tensor grid: Chang–Cooper fluxes per direction, sparse solves."""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from probspace import array_namespace, as_float_array, to_numpy
from probspace._validation import check_choice

from ._fokker_planck_common import (_GL_W, _GL_X, DEFAULT_MAX_STEPS, FokkerPlanckResult, bernoulli, grid_cells,
                                    kl_to, time_plan)

__all__ = ["fokker_planck_2d"]

_TIME = ("backward_euler", "crank_nicolson", "bdf2")


def _eval(fn, X, Y, xp, name, n_out):
    val = fn(xp.asarray(X), xp.asarray(Y))
    if n_out == 1:
        v = np.broadcast_to(np.asarray(to_numpy(val), dtype=np.float64), X.shape)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} returned non-finite values on the grid")
        return v
    if not isinstance(val, (tuple, list)) or len(val) != 2:
        raise ValueError(f"{name}(x, y) must return a pair (bx, by)")
    out = [np.broadcast_to(np.asarray(to_numpy(v), dtype=np.float64), X.shape) for v in val]
    if not all(np.all(np.isfinite(v)) for v in out):
        raise ValueError(f"{name} returned non-finite values on the grid")
    return out


def _D(diffusion, X, Y, xp):
    if callable(diffusion):
        g = _eval(diffusion, X, Y, xp, "diffusion", 1)
    else:
        if isinstance(diffusion, bool) or not isinstance(diffusion, numbers.Real):
            raise TypeError("diffusion must be a real number or a callable g(x, y)")
        g = np.full(X.shape, float(diffusion))
    D = 0.5 * g * g
    if not np.all(D > 0):
        raise ValueError("diffusion must be nonzero everywhere on the grid (g^2/2 > 0)")
    return D


def fokker_planck_2d(drift, diffusion, grid_x, grid_y, p0, t_eval, /, *,
                     time_scheme="backward_euler", dt=None, t0=0.0,
                     max_steps=DEFAULT_MAX_STEPS):
    """Solve the 2-D Fokker–Planck equation ``dp/dt = -div(b p) + 1/2 Lap(g^2 p)`` on a tensor grid.

    The law of ``dX = b(X) dt + g dW`` (isotropic ``g``) with zero-flux boundaries. Each edge
    of the tensor grid carries a Chang–Cooper / Scharfetter–Gummel flux in its direction
    (the drift component integrated along the edge by Gauss–Legendre), so a gradient drift
    ``b = -grad V`` with constant ``g`` has the discrete equilibrium ``exp(-V/D)`` on the nodes,
    backward Euler keeps densities positive and mass is conserved to round-off. Each step is
    one sparse solve with an LU factorization (SuperLU) reused for all steps of equal size.

    The solve runs on the host (NumPy/SciPy sparse or banded LAPACK); inputs of any array-API
    namespace are accepted and the results come back in that namespace and dtype.

    Parameters
    ----------
    drift : callable
        ``drift(x, y)`` -> ``(bx, by)`` on arrays of points.
    diffusion : float or callable
        ``g`` or ``g(x, y)``.
    grid_x, grid_y : array, shape (nx,), (ny,)
        Strictly increasing cell centres along each axis.
    p0 : array, shape (nx, ny)
        Non-negative initial density (``p0[i, j]`` at ``(grid_x[i], grid_y[j])``).
    t_eval : array, shape (k,)
        Non-decreasing output times ``>= t0``.
    time_scheme, dt, t0, max_steps
        As in :func:`fokker_planck_1d`.

    Returns
    -------
    FokkerPlanckResult
        ``p`` of shape ``(k, nx, ny)``, ``mass``, ``free_energy``, ``equilibrium``, ...

    Notes
    -----
    Callables receive arrays of grid points (this routine works on a grid, not on one member: the calling convention of :func:`solvers.solve_ode` does not apply) and return one value per point.  NaN and inf: grids, ``p0`` and ``t_eval``
    must be finite (``ValueError``); a drift or diffusion that returns NaN or inf raises
    ``ValueError`` naming it.
    """
    check_choice(time_scheme, "time_scheme", _TIME)
    if not callable(drift):
        raise TypeError("drift must be a callable drift(x, y) -> (bx, by)")
    xp = array_namespace(grid_x, grid_y, p0)
    gx = as_float_array(grid_x, "grid_x", xp, ndim_min=1)
    gy = as_float_array(grid_y, "grid_y", xp, ndim_min=1)
    p0_a = as_float_array(p0, "p0", xp, ndim_min=2)
    x, dxs, wx = grid_cells(to_numpy(gx), "grid_x")
    y, dys, wy = grid_cells(to_numpy(gy), "grid_y")
    nx, ny = x.size, y.size
    p = np.asarray(to_numpy(p0_a), dtype=np.float64)
    if p.shape != (nx, ny):
        raise ValueError(f"p0 must have shape {(nx, ny)}, got {p.shape}")
    if np.any(p < 0):
        raise ValueError("p0 must be non-negative")
    t, gaps, nsub = time_plan(t_eval, float(t0), dt, max_steps, nx * ny)
    vol = np.outer(wx, wy).ravel()

    Xn, Yn = np.meshgrid(x, y, indexing="ij")
    Dn = _D(diffusion, Xn, Yn, xp)
    # x-edges between (i, j) and (i+1, j): Pe = int bx / D dx along the edge
    lo = x[:-1, None, None] + dxs[:, None, None] * _GL_X          # (nx-1, 1, 4)
    Xq = np.broadcast_to(lo, (nx - 1, ny, _GL_X.size))
    Yq = np.broadcast_to(y[None, :, None], Xq.shape)
    bx, _ = _eval(drift, Xq, Yq, xp, "drift", 2)
    pe_x = dxs[:, None] * np.sum(_GL_W * bx / _D(diffusion, Xq, Yq, xp), axis=-1)
    lo = y[None, :-1, None] + dys[None, :, None] * _GL_X
    Yq = np.broadcast_to(lo, (nx, ny - 1, _GL_X.size))
    Xq = np.broadcast_to(x[:, None, None], Yq.shape)
    _, by = _eval(drift, Xq, Yq, xp, "drift", 2)
    pe_y = dys[None, :] * np.sum(_GL_W * by / _D(diffusion, Xq, Yq, xp), axis=-1)

    idx = np.arange(nx * ny).reshape(nx, ny)
    rows, cols, vals = [], [], []

    def edges(i_from, i_to, pe, h, width_perp, D_from, D_to):
        # flux from cell `from` to `to` across a face of length width_perp:
        # J = (B(-Pe) u_from - B(Pe) u_to) / h, u = D p
        a = bernoulli(-pe) / h * width_perp
        b = bernoulli(pe) / h * width_perp
        f, g = i_from.ravel(), i_to.ravel()
        a, b = a.ravel(), b.ravel()
        Df, Dt = D_from.ravel(), D_to.ravel()
        rows.extend([f, f, g, g])
        cols.extend([f, g, f, g])
        vals.extend([-a * Df, b * Dt, a * Df, -b * Dt])

    edges(idx[:-1, :], idx[1:, :], pe_x, dxs[:, None], wy[None, :], Dn[:-1, :], Dn[1:, :])
    edges(idx[:, :-1], idx[:, 1:], pe_y, dys[None, :], wx[:, None], Dn[:, :-1], Dn[:, 1:])
    K = sps.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(nx * ny, nx * ny))
    V = sps.diags(vol, format="csc")

    # discrete equilibrium: log u along x then y (exact for gradient drifts: every edge has
    # zero flux); for non-gradient drifts this is only a reference, not the stationary state
    logu = np.zeros((nx, ny))
    logu[1:, 0] = np.cumsum(pe_x[:, 0])
    logu[:, 1:] = logu[:, :1] + np.cumsum(pe_y, axis=1)
    logpi = (logu - np.log(Dn)).ravel()
    mass0 = float(np.sum(vol * p.ravel()))
    pinf = np.exp(logpi - logpi.max())
    pinf *= (mass0 if mass0 > 0 else 1.0) / np.sum(vol * pinf)

    facts = {}
    out = np.empty((t.size, nx * ny))
    pv, prev, last_tau, nsteps = p.ravel().copy(), None, None, 0
    for k in range(t.size):
        if nsub[k] > 0:
            tau = gaps[k] / nsub[k]
            if last_tau is None or abs(tau - last_tau) > 1e-12 * tau:
                prev, last_tau = None, tau   # restart BDF2 when the step changes
            tau = last_tau
            for _ in range(nsub[k]):
                if time_scheme == "backward_euler":
                    key = ("be", tau)
                    if key not in facts:
                        facts[key] = spla.splu(V - tau * K)
                    new = facts[key].solve(vol * pv)
                elif time_scheme == "crank_nicolson" or prev is None:  # CN also starts BDF2
                    key = ("cn", tau)
                    if key not in facts:
                        facts[key] = spla.splu(V - tau / 2 * K)
                    new = facts[key].solve(vol * pv + tau / 2 * (K @ pv))
                else:
                    key = ("bdf2", tau)
                    if key not in facts:
                        facts[key] = spla.splu(3.0 * V - 2 * tau * K)
                    new = facts[key].solve(vol * (4 * pv - prev))
                prev, pv = pv, new
                nsteps += 1
        out[k] = pv
    mass = out @ vol
    fe = kl_to(out, pinf[None, :] * (mass[:, None] / (mass0 if mass0 > 0 else 1.0)), vol[None, :])
    dtype = p0_a.dtype
    res = FokkerPlanckResult(
        t=xp.asarray(t, dtype=dtype), p=xp.asarray(out.reshape(t.size, nx, ny), dtype=dtype),
        mass=xp.asarray(mass, dtype=dtype), free_energy=xp.asarray(fe, dtype=dtype),
        equilibrium=xp.asarray(pinf.reshape(nx, ny), dtype=dtype),
        cell_volumes=xp.asarray(vol.reshape(nx, ny), dtype=dtype), nsteps=nsteps,
        success=bool(np.all(np.isfinite(out))), status=0, message="completed")
    if not res.success:
        res.status, res.message = 1, "non-finite densities"
    return res
