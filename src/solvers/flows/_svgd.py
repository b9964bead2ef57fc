"""Deterministic interacting-particle flows: SVGD and the probability-flow ODE of a KDE density."""
from __future__ import annotations

import math
import numbers

from probspace import Result, array_namespace, as_float_array, backend_for
from probspace._validation import check_int, check_positive

__all__ = ["svgd", "kde_probability_flow", "svgd_direction", "kde_score", "ParticleFlowResult"]


class ParticleFlowResult(Result):
    """Result of :func:`svgd` / :func:`kde_probability_flow`.

    Fields: ``x`` (final particles), ``nit``, ``bandwidth`` (the last kernel bandwidth
    used), and ``trace``/``t`` (particles every ``thin`` steps, first axis time) when ``thin``
    is given; ``status`` (0, or -2 when particles became non-finite), ``success``,
    ``message``.
    """


def _sqdist(xp, x):
    """Pairwise squared distances ``|x_i - x_j|^2`` of ``x`` (..., n, d) -> (..., n, n)."""
    diff = x[..., :, None, :] - x[..., None, :, :]
    return xp.sum(diff * diff, axis=-1)


def _median_last2(xp, a):
    """Median of all entries of the last two axes (lower/upper middle averaged)."""
    from probspace._array import is_numpy
    if is_numpy(xp):  # selection (O(n^2)) instead of a full sort
        import numpy as np
        return np.median(a, axis=(-2, -1))
    n = a.shape[-1] * a.shape[-2]
    s = xp.sort(xp.reshape(a, (*a.shape[:-2], n)), axis=-1)
    return 0.5 * (s[..., (n - 1) // 2] + s[..., n // 2])


def _status(status, done):
    return dict(status=status, success=status == 0,
                message="completed" if status == 0 else
                f"non-finite particles in step {done + 1} (step too large, or the callables "
                "returned NaN/inf); x holds the last finite particles")


def _check_common(grad_log_density, particles, step, n_steps, thin):
    if not callable(grad_log_density):
        raise TypeError("grad_log_density must be callable")
    h = check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    if thin is not None:
        thin = check_int(thin, "thin", minimum=1)
    xp = array_namespace(particles)
    x = as_float_array(particles, "particles", xp, ndim_min=2)
    if x.shape[-2] < 2:
        raise ValueError(f"particles needs at least 2 particles on axis -2, got shape {x.shape}")
    return xp, x, h, n_steps, thin


def _check_bandwidth(bandwidth, choices):
    if isinstance(bandwidth, str):
        if bandwidth not in choices:
            raise ValueError(f"bandwidth must be a positive number or one of {choices}, got {bandwidth!r}")
        return bandwidth
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, numbers.Real):
        raise TypeError("bandwidth must be a positive number or a string")
    return check_positive(bandwidth, "bandwidth")


def svgd_direction(grad_log_density, x, bandwidth="median"):
    """The SVGD update direction ``φ`` and the RBF bandwidth used.

    ``φ(x_i) = 1/n Σ_j [k(x_j, x_i) ∇log π(x_j) + ∇_{x_j} k(x_j, x_i)]`` with
    ``k(x, y) = exp(-|x - y|^2 / h)``. ``bandwidth="median"``: ``h = med / log(n + 1)`` with ``med``
    the median of all squared pairwise distances (Liu & Wang 2016), per batch member.
    """
    xp = array_namespace(x)
    n = x.shape[-2]
    if backend_for(xp) == "numba" and x.dtype == xp.float64:
        return _svgd_direction_numba(grad_log_density, x, bandwidth)
    d2 = _sqdist(xp, x)
    if isinstance(bandwidth, str):
        h = _median_last2(xp, d2) / math.log(n + 1)
        h_out = xp.where(h > 0, h, xp.ones_like(h))  # all particles equal: any h works
        h = h_out[..., None, None]
    else:
        h = h_out = bandwidth
    K = xp.exp(-d2 / h)
    g = grad_log_density(x)
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(f"grad_log_density must return shape {tuple(x.shape)}, got {tuple(g.shape)}")
    drive = K @ g
    repulse = (2.0 / h) * (x * xp.sum(K, axis=-1)[..., None] - K @ x)
    return (drive + repulse) / n, h_out


def _svgd_direction_numba(grad_log_density, x, bandwidth):
    import numpy as np
    from . import _svgd_numba as K
    n, d = x.shape[-2], x.shape[-1]
    g = grad_log_density(x)
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(f"grad_log_density must return shape {tuple(x.shape)}, got {tuple(g.shape)}")
    xs = np.ascontiguousarray(x).reshape(-1, n, d)
    gs = np.ascontiguousarray(g, dtype=np.float64).reshape(-1, n, d)
    out = np.empty_like(xs)
    hs = np.empty(xs.shape[0])
    d2 = np.empty((n, n))
    for b in range(xs.shape[0]):
        K.sqdist(xs[b], d2)
        if isinstance(bandwidth, str):
            h = float(np.median(d2)) / math.log(n + 1)
            h = h if h > 0 else 1.0
        else:
            h = float(bandwidth)
        hs[b] = h
        K.svgd_phi(xs[b], gs[b], d2, h, out[b])
    h_out = hs.reshape(x.shape[:-2]) if isinstance(bandwidth, str) else bandwidth
    return out.reshape(x.shape), h_out


def svgd(grad_log_density, particles, /, *, step, n_steps, bandwidth="median", thin=None):
    """Stein variational gradient descent with an RBF kernel.

    ``x_i ← x_i + step · φ(x_i)``, ``φ`` from :func:`svgd_direction`.

    Parameters
    ----------
    grad_log_density : callable
        ``grad_log_density(x)`` on arrays of shape ``(..., n, d)``.
    particles : array, shape (..., n, d)
        ``n`` particles in ``d`` dimensions; leading axes are independent particle systems.
    step : float
    n_steps : int
    bandwidth : "median" or float
        ``h`` of ``k(x, y) = exp(-|x - y|^2 / h)``; "median" recomputes it every step.
    thin : int, optional
        Save the particles every ``thin`` steps into ``trace``.

    Returns
    -------
    ParticleFlowResult

    Notes
    -----
    Callables receive arrays of particles (this routine moves a cloud of particles, not one member: the calling convention of :func:`solvers.solve_ode` does not apply) and return one value per particle.  NaN and inf: the initial particles must be finite (``ValueError``).  If a step makes a particle NaN or infinite (a step too large for the target, or a callable returning NaN), the run stops before that step: ``x`` holds the last finite particles, ``nit`` the steps done, ``status`` is -2 and ``success`` False, with a message.
    """
    xp, x, h, n_steps, thin = _check_common(grad_log_density, particles, step, n_steps, thin)
    bw = _check_bandwidth(bandwidth, ("median",))
    trace, times = ([x], [0]) if thin else ([], [])
    used = bw
    status, done = 0, n_steps
    for k in range(1, n_steps + 1):
        phi, used = svgd_direction(grad_log_density, x, bw)
        x_new = x + h * phi
        if not bool(xp.all(xp.isfinite(x_new))):
            status, done = -2, k - 1
            break
        x = x_new
        if thin and k % thin == 0:
            trace.append(x)
            times.append(k)
    res = ParticleFlowResult(x=x, nit=done, bandwidth=used, **_status(status, done))
    if thin:
        res.trace = xp.stack(trace, axis=0)
        res.t = xp.asarray([k * h for k in times], dtype=x.dtype)
    return res


def kde_score(x, sigma):
    """``∇ log p̃`` at the particles for ``p̃ = 1/n Σ_j N(·; x_j, σ^2 I)`` (x: (..., n, d)).

    ``sigma`` is a float or an array broadcastable to ``(..., 1, 1)``.
    """
    xp = array_namespace(x)
    if backend_for(xp) == "numba" and x.dtype == xp.float64:
        import numpy as np
        from . import _svgd_numba as K
        n, d = x.shape[-2], x.shape[-1]
        xs = np.ascontiguousarray(x).reshape(-1, n, d)
        sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64).reshape(-1)
                              if np.ndim(sigma) else np.float64(sigma), (xs.shape[0],))
        out = np.empty_like(xs)
        for b in range(xs.shape[0]):
            K.kde_score(xs[b], float(sig[b]), out[b])
        return out.reshape(x.shape)
    logits = -_sqdist(xp, x) / (2 * sigma ** 2)
    logits = logits - xp.max(logits, axis=-1, keepdims=True)
    w = xp.exp(logits)
    w = w / xp.sum(w, axis=-1, keepdims=True)
    return (w @ x - x) / sigma ** 2


def _silverman(xp, x):
    n, d = x.shape[-2], x.shape[-1]
    sd = xp.mean(xp.std(x, axis=-2, correction=1), axis=-1)
    sd = xp.where(sd > 0, sd, xp.ones_like(sd))
    fac = (4.0 / (d + 2)) ** (1.0 / (d + 4)) * n ** (-1.0 / (d + 4))
    return fac * sd


def kde_probability_flow(grad_log_density, particles, /, *, step, n_steps, bandwidth="silverman",
                         thin=None):
    """Deterministic particle flow ``dx/dt = ∇log π(x) - ∇log p̃_t(x)`` (explicit Euler).

    ``p̃_t`` is the Gaussian kernel density estimate of the particles (bandwidth ``σ``), so this
    is the probability-flow ODE of the Langevin diffusion ``dx = ∇log π dt + sqrt(2) dW`` with
    the unknown density replaced by its Gaussian smoothing (a "blob" method). With
    ``∇log π = 0`` it is a deterministic particle scheme for the heat equation.

    Parameters
    ----------
    grad_log_density : callable
        ``grad_log_density(x)`` on arrays of shape ``(..., n, d)``.
    particles : array, shape (..., n, d)
    step : float
    n_steps : int
    bandwidth : "silverman" or float
        Kernel standard deviation ``σ``; "silverman" uses Silverman's rule on the current
        particles at every step.
    thin : int, optional

    Returns
    -------
    ParticleFlowResult

    Notes
    -----
    Callables receive arrays of particles (this routine moves a cloud of particles, not one member: the calling convention of :func:`solvers.solve_ode` does not apply) and return one value per particle.  NaN and inf: the initial particles must be finite (``ValueError``).  If a step makes a particle NaN or infinite (a step too large for the target, or a callable returning NaN), the run stops before that step: ``x`` holds the last finite particles, ``nit`` the steps done, ``status`` is -2 and ``success`` False, with a message.
    """
    xp, x, h, n_steps, thin = _check_common(grad_log_density, particles, step, n_steps, thin)
    bw = _check_bandwidth(bandwidth, ("silverman",))
    trace, times = ([x], [0]) if thin else ([], [])
    sigma = bw
    status, done = 0, n_steps
    for k in range(1, n_steps + 1):
        sigma = _silverman(xp, x) if isinstance(bw, str) else bw
        sig = sigma[..., None, None] if isinstance(bw, str) else sigma
        g = grad_log_density(x)
        if tuple(g.shape) != tuple(x.shape):
            raise ValueError(f"grad_log_density must return shape {tuple(x.shape)}, got {tuple(g.shape)}")
        x_new = x + h * (g - kde_score(x, sig))
        if not bool(xp.all(xp.isfinite(x_new))):
            status, done = -2, k - 1
            break
        x = x_new
        if thin and k % thin == 0:
            trace.append(x)
            times.append(k)
    res = ParticleFlowResult(x=x, nit=done, bandwidth=sigma, **_status(status, done))
    if thin:
        res.trace = xp.stack(trace, axis=0)
        res.t = xp.asarray([k * h for k in times], dtype=x.dtype)
    return res
