"""Shared pieces of the finite-volume Fokker–Planck solvers (Chang–Cooper / Scharfetter–Gummel)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from probspace import Result, to_numpy

__all__ = ["bernoulli", "face_peclet", "diffusion_values", "grid_cells", "time_plan",
           "FokkerPlanckResult"]

# 4-point Gauss-Legendre rule on [0, 1]: integrates the drift along each face interval to
# O(dx^8), so the scheme's equilibrium is the Gibbs density to that accuracy (exact for
# polynomial drifts of degree <= 7, e.g. OU or double-well gradients).
_GL_X, _GL_W = np.polynomial.legendre.leggauss(4)
_GL_X = 0.5 * (_GL_X + 1.0)
_GL_W = 0.5 * _GL_W


class FokkerPlanckResult(Result):
    """Result of :func:`fokker_planck_1d` / :func:`fokker_planck_2d`.

    Fields: ``t`` (output times), ``p`` (densities, first axis time), ``mass``
    (``sum(p * cell volume)`` at each time), ``free_energy`` (relative entropy
    ``sum(vol * p * log(p / p_inf))`` to the scheme's discrete equilibrium ``equilibrium``,
    which for a gradient drift ``-V'`` and constant ``D = g^2/2`` equals
    ``(F[p] - F[p_inf]) / D`` with ``F[p] = int p V + D int p log p``), ``cell_volumes``,
    ``nsteps``, ``success``, ``status``, ``message``.
    """


def bernoulli(z):
    """``B(z) = z / (e^z - 1)`` evaluated stably (``B(0) = 1``)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    small = np.abs(z) < 1e-3
    zs = z[small]
    out[small] = 1.0 - zs / 2 + zs ** 2 / 12 - zs ** 4 / 720
    zb = z[~small]
    with np.errstate(over="ignore"):
        out[~small] = zb / np.expm1(zb)
    return out


def _call(fn, pts, xp, name):
    val = fn(xp.asarray(pts)) if xp is not None else fn(pts)
    val = np.asarray(to_numpy(val), dtype=np.float64)
    if val.shape == ():  # a constant
        val = np.broadcast_to(val, pts.shape)
    elif val.shape != pts.shape:
        raise ValueError(f"{name} returned shape {val.shape} for grid points of shape "
                         f"{pts.shape}; expected one value per point (or a constant)")
    if not np.all(np.isfinite(val)):
        raise ValueError(f"{name} returned non-finite values on the grid")
    return val


def diffusion_values(diffusion, pts, xp, name="diffusion"):
    """``D = g^2 / 2`` at ``pts`` for a constant or callable ``g``."""
    if callable(diffusion):
        g = _call(diffusion, pts, xp, name)
    else:
        if isinstance(diffusion, bool) or not isinstance(diffusion, numbers.Real):
            raise TypeError(f"{name} must be a real number or a callable g(x)")
        g = np.full(pts.shape, float(diffusion))
    D = 0.5 * g * g
    if not np.all(D > 0):
        raise ValueError(f"{name} must be nonzero everywhere on the grid (g^2/2 > 0)")
    return D


def face_peclet(drift_fn, diffusion, lo, hi, xp, name="drift"):
    """``Pe = int_lo^hi drift / D dx`` per face interval (Gauss-Legendre, 4 points)."""
    pts = lo[..., None] + (hi - lo)[..., None] * _GL_X
    b = _call(drift_fn, pts, xp, name)
    D = diffusion_values(diffusion, pts, xp)
    return (hi - lo) * np.sum(_GL_W * b / D, axis=-1)


def grid_cells(grid, name):
    """Cell widths for cell centres ``grid`` (faces halfway between centres)."""
    x = np.asarray(grid, dtype=np.float64)
    if x.ndim != 1 or x.size < 3:
        raise ValueError(f"{name} must be a 1-D array with at least 3 points, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    dx = np.diff(x)
    if not np.all(dx > 0):
        raise ValueError(f"{name} must be strictly increasing")
    faces = np.concatenate([[x[0] - dx[0] / 2], (x[1:] + x[:-1]) / 2, [x[-1] + dx[-1] / 2]])
    return x, dx, np.diff(faces)


DEFAULT_MAX_STEPS = 1_000_000


def time_plan(t_eval, t0, dt, max_steps=DEFAULT_MAX_STEPS, n_points=1):
    """Output times and the number of sub-steps between consecutive output times.

    The total number of steps is checked against ``max_steps`` and the output
    (``len(t_eval) x n_points`` float64) against the available memory, before any work:
    ``ValueError`` naming the arguments to change."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or \
            max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    t = np.asarray(to_numpy(t_eval), dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("t_eval must contain at least one time")
    if not np.all(np.isfinite(t)):
        raise ValueError("t_eval contains NaN or infinite values")
    if t[0] < t0 or np.any(np.diff(t) < 0):
        raise ValueError(f"t_eval must be non-decreasing and >= t0={t0}")
    span = t[-1] - t0
    if dt is None:
        dt = span / 1000 if span > 0 else 1.0
    else:
        if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not dt > 0 or math.isinf(dt):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    gaps = np.diff(np.concatenate([[t0], t]))
    with np.errstate(over="ignore"):
        steps = np.where(gaps > 0, np.ceil(gaps / dt - 1e-9), 0.0)
    total = float(np.sum(steps))
    if not total <= max_steps:
        raise ValueError(f"dt={dt!r} needs {total:.6g} time steps to reach t_eval[-1]="
                         f"{float(t[-1])!r} from t0={t0!r}, more than max_steps={max_steps}; increase dt "
                         "or max_steps")
    from ..ode._common import check_memory
    check_memory(8.0 * t.size * n_points * 2,
                 f"the output p ({t.size} times of t_eval x {n_points} grid points)",
                 "pass fewer t_eval times or a coarser grid")
    nsub = steps.astype(np.int64)
    return t, gaps, nsub


def kl_to(p, pinf, vol):
    """``sum(vol * p * log(p / pinf))`` per row, with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(pinf)), 0.0)
    return np.sum(terms * vol, axis=tuple(range(1, p.ndim)))

