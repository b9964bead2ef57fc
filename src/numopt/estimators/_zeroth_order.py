"""Zeroth-order (Gaussian-smoothing) gradient estimates."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from probspace import Result, array_namespace, as_float_array
from probspace.typing import Array, Seed
from probspace._validation import check_int, check_positive
from probspace.random import as_stream

__all__ = ["zeroth_order_grad", "GradientEstimate"]


class GradientEstimate(Result):
    """A Monte Carlo gradient estimate.

    Fields: ``grad`` (the estimate, same shape/namespace/dtype as the input), ``stderr``
    (per-coordinate standard error: sample standard deviation of the per-sample estimates over
    ``sqrt(n_samples)``), ``n_samples``, ``nfev`` (function evaluations) and, for policy
    gradients, ``baseline`` and ``mean_reward``.
    """


def _scalar(value: Any, name: str) -> Any:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must return a real scalar, got {type(value).__name__}") from None
    return v


def zeroth_order_grad(f: Callable[[Array], Any], x: Array, /, *, eps: float, n_samples: int,
                      seed: Seed, antithetic: bool = True,
                      vectorized: bool = False) -> GradientEstimate:
    """Gaussian-smoothing (zeroth-order) estimate of ``grad f(x)``.

    NaN or inf in ``x`` raise ``ValueError``; non-finite values of ``f`` propagate into the
    estimate.

    With ``u_i ~ N(0, I)`` the per-sample estimates are
    ``(f(x + eps u) - f(x - eps u)) / (2 eps) * u`` (antithetic pairs) or
    ``(f(x + eps u) - f(x)) / eps * u`` (forward, ``f(x)`` acting as the baseline); both are
    unbiased for the gradient of the smoothed function ``E f(x + eps u)``, which equals
    ``grad f`` for quadratics and tends to it as ``eps -> 0`` for smooth ``f`` (for
    non-differentiable ``f`` such as ``r(argmax x)`` the smoothed gradient is what is estimated;
    J. Su, "Policy gradient and zeroth-order optimization: different paths to the same
    destination", kexue.fm, 2020, https://kexue.fm/archives/7737).  For a quadratic the antithetic per-sample estimate is exactly
    ``(u.g) u`` with covariance ``|g|^2 I + g g^T``.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``; with ``vectorized=True`` ``f(X) -> (m,)`` for ``X`` of shape
        ``(m, *x.shape)``.
    x : array
        The point (any shape, any array-API namespace; real floating).
    eps : float > 0
        Smoothing radius.
    n_samples : int >= 2
        Number of directions ``u`` (each costs 2 evaluations, or 1 plus one shared ``f(x)``).
    seed : int, None or probspace.random.Stream
        Source of the directions.
    antithetic : bool
        Use antithetic pairs (lower variance; exact cancellation of the even part of ``f``).
    vectorized : bool
        Evaluate ``f`` once on a batch of points instead of point by point.

    Returns
    -------
    GradientEstimate
        ``grad``, ``stderr``, ``n_samples``, ``nfev``.
    """
    if not callable(f):
        raise TypeError("f must be callable")
    xp = array_namespace(x, names=("x",))
    x = as_float_array(x, "x", xp)
    eps = check_positive(eps, "eps")
    n = check_int(n_samples, "n_samples", minimum=2)
    stream = as_stream(seed)
    shape = tuple(x.shape)
    u = stream.normal((n, *shape), xp=xp, dtype=x.dtype)
    if hasattr(x, "device"):
        u = xp.asarray(u, device=x.device)

    def evaluate(points: Array) -> Array:
        if vectorized:
            vals = f(points)
            vals = xp.asarray(vals)
            if tuple(vals.shape) != (points.shape[0],):
                raise ValueError(f"vectorized f must return shape ({points.shape[0]},), "
                                 f"got {tuple(vals.shape)}")
            return xp.astype(vals, x.dtype)
        vals = [_scalar(f(points[i, ...]), "f") for i in range(points.shape[0])]
        return xp.asarray(vals, dtype=x.dtype)

    if antithetic:
        fp = evaluate(x + eps * u)
        fm = evaluate(x - eps * u)
        coef = (fp - fm) / (2.0 * eps)
        nfev = 2 * n
    else:
        fp = evaluate(x + eps * u)
        f0 = _scalar(f(x) if not vectorized else f(xp.reshape(x, (1, *shape)))[0], "f")
        coef = (fp - f0) / eps
        nfev = n + 1
    coef = xp.reshape(coef, (n,) + (1,) * len(shape))
    per = coef * u
    grad = xp.mean(per, axis=0)
    stderr = xp.std(per, axis=0, correction=1) / math.sqrt(n)
    return GradientEstimate(grad=grad, stderr=stderr, n_samples=n, nfev=nfev)
