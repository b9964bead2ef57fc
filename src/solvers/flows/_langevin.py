"""Langevin particle samplers: unadjusted (ULA) and Metropolis-adjusted (MALA)."""
from __future__ import annotations

import math

import numpy as np

from probspace import Result, array_namespace, as_float_array, to_numpy
from probspace._validation import check_choice, check_int, check_positive
from probspace.random import as_stream

__all__ = ["langevin", "LangevinResult", "entropy_knn"]


class LangevinResult(Result):
    """Result of :func:`langevin`.

    Fields: ``x`` (final particles), ``acceptance_rate`` (MALA: mean acceptance over steps
    and particles; 1.0 for ULA), ``acceptance`` (MALA: per-particle acceptance rate, shape of
    the batch), ``trace`` and ``t`` (particles every ``thin`` steps, first axis time, when
    ``thin`` is given), ``free_energy`` (at the ``t`` times, when ``log_density`` is given and
    ``thin`` is set), ``nit`` (steps done), ``seed``, ``status`` (0, or -2 when particles
    became non-finite), ``success``, ``message``.
    """


def _call_grad(fn, x, name):
    g = fn(x)
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(f"{name} must return an array of shape {tuple(x.shape)}, got {tuple(g.shape)}")
    return g


def entropy_knn(x):
    """Kozachenko–Leonenko (1-nearest-neighbour) entropy estimate of a particle cloud.

    ``H ≈ ψ(n) - ψ(1) + log V_d + (d/n) Σ log ε_i`` with ``ε_i`` the distance from particle ``i``
    to its nearest neighbour and ``V_d`` the unit-ball volume.  ``x`` has shape ``(n, d)``
    (all leading axes of a batch are pooled by the caller).
    """
    from scipy.spatial import cKDTree
    from scipy.special import digamma, gammaln
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    dist, _ = cKDTree(x).query(x, k=2)
    eps = np.maximum(dist[:, 1], 1e-300)
    logvd = d / 2 * math.log(math.pi) - gammaln(d / 2 + 1)
    return float(digamma(n) - digamma(1) + logvd + d * np.mean(np.log(eps)))


def _free_energy(x, log_density):
    """``E[-log π̃(x)] + E[log p(x)]`` = KL(p‖π) - log Z, with a k-NN entropy estimate."""
    xn = np.asarray(to_numpy(x), dtype=np.float64)
    xn = xn.reshape(-1, xn.shape[-1])
    lp = np.asarray(to_numpy(log_density(x)), dtype=np.float64).reshape(-1)
    return float(-np.mean(lp) - entropy_knn(xn))


def langevin(grad_log_density, x0, /, *, step, n_steps, method="ula", log_density=None, seed=None,
             thin=None):
    """Langevin particles for a target ``π ∝ exp(log_density)``.

    ULA: ``x ← x + h ∇log π(x) + sqrt(2h) ξ`` (biased: for ``π = N(0, s)`` the stationary variance
    is ``s / (1 - h/(2s))``). MALA proposes the same move and accepts it with the
    Metropolis–Hastings probability for the proposal ``N(x + h ∇log π(x), 2h I)``, which makes
    ``π`` exactly invariant.

    Parameters
    ----------
    grad_log_density : callable
        ``grad_log_density(x)`` for ``x`` of shape ``(..., d)``, returning the same shape.
    x0 : array, shape (..., d)
        Initial particles (leading axes are independent chains; the last axis is the dimension).
    step : float
        Step ``h > 0``.
    n_steps : int
    method : {"ula", "mala"}
    log_density : callable, optional
        ``log_density(x)`` -> shape ``(...)``, up to an additive constant. Required by MALA;
        with ``thin`` it also gives the free-energy diagnostic.
    seed : int, Stream or None
        Randomness comes only from this ``probspace.random.Stream``.
    thin : int, optional
        Save the particles every ``thin`` steps (and at step 0) into ``trace``.

    Returns
    -------
    LangevinResult

    Notes
    -----
    Callables receive arrays of particles (this routine moves a cloud of particles, not one member: the calling convention of :func:`solvers.solve_ode` does not apply) and return one value per particle.  NaN and inf: the initial particles must be finite (``ValueError``).  If a step makes a particle NaN or infinite (a step too large for the target, or a callable returning NaN), the run stops before that step: ``x`` holds the last finite particles, ``nit`` the steps done, ``status`` is -2 and ``success`` False, with a message.

    Examples
    --------
    >>> import numpy as np
    >>> r = langevin(lambda x: -x, np.zeros((1000, 1)), step=0.1, n_steps=200, seed=0)
    >>> r.x.shape
    (1000, 1)
    """
    check_choice(method, "method", ("ula", "mala"))
    h = check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    if thin is not None:
        thin = check_int(thin, "thin", minimum=1)
    if not callable(grad_log_density):
        raise TypeError("grad_log_density must be callable")
    if method == "mala" and log_density is None:
        raise ValueError("log_density is required for method='mala'")
    if log_density is not None and not callable(log_density):
        raise TypeError("log_density must be callable")
    xp = array_namespace(x0)
    x = as_float_array(x0, "x0", xp, ndim_min=1)
    stream = as_stream(seed)
    seed_used = stream.seed
    dtype = x.dtype
    sq = math.sqrt(2 * h)
    batch = tuple(x.shape[:-1])
    g = _call_grad(grad_log_density, x, "grad_log_density")
    lp = log_density(x) if method == "mala" else None
    accepted = xp.zeros(batch, dtype=dtype) if method == "mala" else None
    trace, times, fe = [], [], []

    def record(k):
        trace.append(x)
        times.append(k)
        if log_density is not None:
            fe.append(_free_energy(x, log_density))

    # Noise from the stream (its Numba rung vectorizes Philox/Box-Muller across counters, so a
    # plain array update is as fast as a fused kernel here, and every rung gives the same numbers).
    def noise():
        return stream.normal(tuple(x.shape), xp=xp, dtype=dtype)

    if thin is not None:
        record(0)
    status, done = 0, n_steps
    for k in range(1, n_steps + 1):
        x_prev = x
        if method == "ula":
            x = x + h * g + sq * noise()
            if not bool(xp.all(xp.isfinite(x))):
                x, status, done = x_prev, -2, k - 1
                break
            g = _call_grad(grad_log_density, x, "grad_log_density")
            if not bool(xp.all(xp.isfinite(g))):
                x, status, done = x_prev, -2, k - 1
                break
        else:
            y = x + h * g + sq * noise()
            gy = _call_grad(grad_log_density, y, "grad_log_density")
            lpy = log_density(y)
            # log q(x|y) - log q(y|x), q(b|a) = N(b; a + h ∇log π(a), 2h I)
            fwd = xp.sum((y - x - h * g) ** 2, axis=-1)
            bwd = xp.sum((x - y - h * gy) ** 2, axis=-1)
            log_alpha = lpy - lp + (fwd - bwd) / (4 * h)
            u = stream.uniform(batch, xp=xp, dtype=dtype)
            acc = xp.log(u) < log_alpha
            x = xp.where(acc[..., None], y, x)
            g = xp.where(acc[..., None], gy, g)
            lp = xp.where(acc, lpy, lp)
            accepted = accepted + xp.astype(acc, dtype)
            if not bool(xp.all(xp.isfinite(x))):
                x, status, done = x_prev, -2, k - 1
                break
        if thin is not None and k % thin == 0:
            record(k)

    res = LangevinResult(x=x, nit=done, seed=seed_used, status=status, success=status == 0,
                         message="completed" if status == 0 else
                         f"non-finite particles in step {done + 1} (step too large, or the "
                         "callables returned NaN/inf); x holds the last finite particles")
    if method == "mala":
        per = accepted / max(n_steps, 1)
        res.acceptance = per
        res.acceptance_rate = float(xp.mean(per)) if n_steps else float("nan")  # (0 steps)
    else:
        res.acceptance_rate = 1.0
    if thin is not None:
        res.trace = xp.stack(trace, axis=0)
        res.t = xp.asarray([k * h for k in times], dtype=dtype)
        if log_density is not None:
            res.free_energy = xp.asarray(fe, dtype=dtype)
    return res
