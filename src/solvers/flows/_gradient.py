"""Gradient flows as ODEs and their bridge to optimizers.

* Gradient descent with learning rate ``η`` is the explicit Euler method for ``x' = -∇f(x)``.
* Heavy-ball momentum ``v ← β v - α ∇f(x)``, ``x ← x + v`` is the leapfrog (central-difference)
  discretization, with step ``γ``, of the damped flow ``x'' + λ x' = -∇f(x)``:
  ``β = (1 - λγ/2)/(1 + λγ/2)``, ``α = γ^2/(1 + λγ/2)`` (J. Su, "Optimization algorithms from a
  dynamical perspective (I): from SGD to momentum acceleration", kexue.fm, 2018,
  https://kexue.fm/archives/5655).
* Gradient descent with step ``η`` follows the flow of the modified loss
  ``L + (η/4)|∇L|^2`` to higher order than the plain flow (implicit gradient regularization,
  D. G. T. Barrett and B. Dherin, "Implicit gradient regularization", ICLR 2021,
  arXiv:2009.11162; J. Su, "Optimization algorithms from a dynamical perspective (V): why the
  learning rate should not be too small?", kexue.fm, 2020, https://kexue.fm/archives/7787):
  one step differs from the modified flow by
  ``O(η^3)`` and from the plain flow by ``O(η^2)``.
"""
from __future__ import annotations

import math
import numbers
import weakref

import numpy as np

from probspace import Result, array_namespace, as_float_array
from probspace._array import is_numpy
from probspace._validation import check_int, check_positive

from ..ode import solve_ode

__all__ = ["gradient_flow", "igr_modified_gradient", "gradient_descent", "heavy_ball",
           "heavy_ball_to_ode", "ode_to_heavy_ball", "heavy_ball_start", "rescale_momentum", "damped_flow"]


def _check_grad(grad):
    if not callable(grad):
        raise TypeError("grad must be callable grad(x) -> array of x's shape")


def igr_modified_gradient(grad, eta, /, *, hvp=None, fd_step=None):
    """Gradient of the IGR modified loss ``L + (eta/4) |∇L|^2``: ``∇L + (eta/2) H ∇L``.

    Parameters
    ----------
    grad : callable
        ``∇L(x)``; ``x`` of shape ``(d,)`` (one point) or ``(..., d)`` (a batch, when ``grad``
        accepts one): the returned function acts on what ``grad`` acts on.
    eta : float
        The gradient-descent learning rate whose iterates the modified flow tracks.
    hvp : callable, optional
        Hessian-vector product ``hvp(x, v) = H(x) v``. Without it ``H ∇L`` is a central
        difference of ``grad`` along ``∇L`` (step ``fd_step``, default ``6e-6 (1 + |x|)``).

    Returns
    -------
    callable
        ``x -> ∇L(x) + (eta/2) H(x) ∇L(x)``.  NaN or inf in ``grad``'s values propagate.
    """
    _check_grad(grad)
    eta = check_positive(eta, "eta")
    if hvp is not None and not callable(hvp):
        raise TypeError("hvp must be callable hvp(x, v)")

    def modified(x):
        g = grad(x)
        if hvp is not None:
            hg = hvp(x, g)
        else:
            xp = array_namespace(x)
            gn = xp.sqrt(xp.sum(g * g, axis=-1, keepdims=True))
            xn = xp.sqrt(xp.sum(x * x, axis=-1, keepdims=True))
            h = fd_step if fd_step is not None else 6e-6 * (1.0 + xn)
            scale = xp.where(gn > 0, gn, xp.ones_like(gn))
            u = g / scale
            hg = (grad(x + h * u) - grad(x - h * u)) / (2 * h) * scale
        return g + (eta / 2) * hg

    return modified


def _igr_member_numpy(grad, eta, hvp, fd_step):
    """The IGR modified gradient for one member in plain NumPy (so Numba can compile it)."""
    half = eta / 2
    if hvp is not None:
        def modified(x):
            g = np.asarray(grad(x))
            return g + half * np.asarray(hvp(x, g))
        return modified
    fixed = fd_step is not None
    step = float(fd_step) if fixed else 0.0

    def modified_fd(x):
        g = np.asarray(grad(x))
        gn = np.sqrt(np.sum(g * g))
        h = step if fixed else 6e-6 * (1.0 + np.sqrt(np.sum(x * x)))
        scale = gn if gn > 0 else 1.0
        u = g / scale
        hg = (np.asarray(grad(x + h * u)) - np.asarray(grad(x - h * u))) / (2 * h) * scale
        return g + half * hg

    return modified_fd


# per-member right-hand sides are cached per gradient, so that repeated flows of the same grad
# reuse the compiled kernel instead of compiling a new closure every call
_RHS = weakref.WeakKeyDictionary()


def _cached_rhs(grad, key, make):
    try:
        table = _RHS.setdefault(grad, {})
    except TypeError:  # not weak-referenceable
        return make()
    if key not in table:
        table[key] = make()
    return table[key]


def _gradient_rhs(grad, igr_lr, hvp, fd_step, vectorized, numpy_input):
    if vectorized or not numpy_input:
        g = grad if igr_lr is None else igr_modified_gradient(grad, igr_lr, hvp=hvp,
                                                              fd_step=fd_step)

        def rhs_any(t, x):
            return -g(x)
        return rhs_any

    def make():
        g = grad if igr_lr is None else _igr_member_numpy(grad, igr_lr, hvp, fd_step)

        def rhs(t, x):
            return -np.asarray(g(x))
        return rhs

    return _cached_rhs(grad, ("flow", igr_lr, hvp, fd_step), make)


def gradient_flow(grad, x0, t_span, /, *, igr_lr=None, hvp=None, vectorized=False,
                  **ode_options):
    """Solve the gradient flow ``x' = -∇f(x)`` with :func:`solvers.solve_ode`.

    Parameters
    ----------
    grad : callable
        ``∇f(x)``, with :func:`solvers.solve_ode`'s calling convention: by default ``grad``
        receives **one member**, ``x`` of shape ``(d,)``, and returns shape ``(d,)`` (on NumPy
        input it is compiled with Numba into the fused kernel for large batches, else run
        per member in Python); with ``vectorized=True`` it receives the whole batch, ``x`` of
        shape ``(*batch, d)`` in any array-API namespace.  Nothing is inferred from shapes.
    x0 : array, shape (*batch, d)
        Initial points; leading axes are a batch (each member with its own adaptive steps).
    t_span : (t0, t1)
    igr_lr : float, optional
        Follow the implicit-gradient-regularization modified flow of
        ``f + (igr_lr/4)|∇f|^2`` instead: the flow that gradient descent with learning rate
        ``igr_lr`` tracks to second order (see :func:`igr_modified_gradient`).
    hvp : callable, optional
        Hessian-vector product ``hvp(x, v)`` for the modified flow (same convention as
        ``grad``).
    vectorized : bool
        ``grad`` (and ``hvp``) act on the whole batch.
    **ode_options
        Passed to :func:`solvers.solve_ode` (``method``, ``rtol``, ``atol``, ``t_eval``,
        ``dt0``, ``events``, ``dense_output``, ...).

    Returns
    -------
    ODEResult
        ``t``, ``y`` of shape ``(*batch, n_times, d)``, ... (see :func:`solvers.solve_ode`; a
        gradient that turns NaN or inf stops that member with status -2).

    Notes
    -----
    ``method="euler"`` with ``dt0=lr`` reproduces gradient descent (:func:`gradient_descent`).
    Along the flow ``df/dt = -|∇f|^2 <= 0``.
    """
    _check_grad(grad)
    if igr_lr is not None:
        igr_lr = check_positive(igr_lr, "igr_lr")
    if hvp is not None and not callable(hvp):
        raise TypeError("hvp must be callable hvp(x, v)")
    numpy_input = is_numpy(array_namespace(x0))
    rhs = _gradient_rhs(grad, igr_lr, hvp, None, vectorized, numpy_input)
    return solve_ode(rhs, t_span, x0, vectorized=vectorized, **ode_options)


def gradient_descent(grad, x0, /, *, lr, n_steps):
    """Gradient descent ``x ← x - lr ∇f(x)`` (explicit Euler on the gradient flow).

    Returns a Result with ``x`` (final iterate) and ``trace`` (all iterates, first axis the
    step, ``n_steps + 1`` entries).
    """
    _check_grad(grad)
    lr = check_positive(lr, "lr")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    xp = array_namespace(x0)
    x = as_float_array(x0, "x0", xp, ndim_min=1)
    trace = [x]
    for _ in range(n_steps):
        x = x - lr * grad(x)
        trace.append(x)
    return Result(x=x, trace=xp.stack(trace, axis=0), nit=n_steps)


def heavy_ball(grad, x0, /, *, lr, momentum, n_steps, v0=None):
    """Heavy-ball momentum ``v ← β v - α ∇f(x)``, ``x ← x + v`` (``α = lr``, ``β = momentum``).

    The leapfrog discretization of ``x'' + λ x' = -∇f`` with step ``γ``; see
    :func:`heavy_ball_to_ode` for ``(γ, λ)``. Returns a Result with ``x``, ``v`` and ``trace``
    (all iterates, ``n_steps + 1`` entries).
    """
    _check_grad(grad)
    lr = check_positive(lr, "lr")
    beta = _check_momentum(momentum)
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    xp = array_namespace(x0, v0)
    x = as_float_array(x0, "x0", xp, ndim_min=1)
    v = xp.zeros_like(x) if v0 is None else as_float_array(v0, "v0", xp)
    trace = [x]
    for _ in range(n_steps):
        v = beta * v - lr * grad(x)
        x = x + v
        trace.append(x)
    return Result(x=x, v=v, trace=xp.stack(trace, axis=0), nit=n_steps)


def heavy_ball_start(grad, x0, /, *, lr, momentum, u0=None):
    """Initial ``v0`` that makes :func:`heavy_ball` a second-order scheme for the damped flow.

    Heavy ball started from ``v0 = 0`` matches ``x'' + λx' = -∇f`` started at rest only to first
    order (its first step moves ``α ∇f`` instead of ``γ^2/2 ∇f``). Matching the Taylor expansion
    of the flow with initial velocity ``u0`` over one step gives
    ``v0 = [γ(1 - λγ/2) u0 + (α - γ^2/2) ∇f(x0)] / β``, with ``(γ, λ)`` from
    :func:`heavy_ball_to_ode`; then the iterates ``x_n`` are within ``O(γ^2)`` of ``x(nγ)``.
    """
    _check_grad(grad)
    gamma, lam = heavy_ball_to_ode(lr, momentum)
    if momentum == 0:
        raise ValueError("momentum must be positive to set an initial velocity")
    xp = array_namespace(x0, u0)
    x = as_float_array(x0, "x0", xp, ndim_min=1)
    v = (lr - gamma ** 2 / 2) * grad(x)
    if u0 is not None:
        v = v + gamma * (1 - lam * gamma / 2) * as_float_array(u0, "u0", xp)
    return v / momentum


def _check_momentum(beta):
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not -1 < beta < 1:
        raise ValueError(f"momentum must lie in (-1, 1), got {beta!r}")
    return float(beta)


def ode_to_heavy_ball(gamma, friction):
    """``(γ, λ) -> (α, β)``: ``β = (1 - λγ/2)/(1 + λγ/2)``, ``α = γ^2/(1 + λγ/2)``."""
    gamma = check_positive(gamma, "gamma")
    if isinstance(friction, bool) or not isinstance(friction, numbers.Real) or not friction >= 0:
        raise ValueError(f"friction must be a non-negative number, got {friction!r}")
    c = friction * gamma / 2
    return gamma ** 2 / (1 + c), (1 - c) / (1 + c)


def heavy_ball_to_ode(lr, momentum):
    """``(α, β) -> (γ, λ)``, the inverse of :func:`ode_to_heavy_ball` (needs ``0 <= β < 1``).

    ``γ = sqrt(2α/(1+β))``, ``λ = 2(1-β)/((1+β)γ)``; for small steps ``β ≈ 1 - λ sqrt(α)``.
    """
    lr = check_positive(lr, "lr")
    beta = _check_momentum(momentum)
    if beta < 0:
        raise ValueError(f"momentum must be >= 0 for a non-negative friction, got {beta}")
    gamma = math.sqrt(2 * lr / (1 + beta))
    return gamma, 2 * (1 - beta) / ((1 + beta) * gamma)


def rescale_momentum(lr, momentum, new_lr, /, *, exact=True):
    """Momentum for a new learning rate that keeps the friction ``λ`` of the damped flow.

    ``exact=True`` solves ``λ(new_lr, β') = λ(lr, β)`` in closed form; ``exact=False`` is the
    rule of thumb ``β' = 1 - (1 - β) sqrt(new_lr/lr)`` (from ``β ≈ 1 - λ sqrt(α)``).
    """
    _, lam = heavy_ball_to_ode(lr, momentum)
    new_lr = check_positive(new_lr, "new_lr")
    if not exact:
        return 1 - (1 - momentum) * math.sqrt(new_lr / lr)
    # (1 - β')/sqrt(1 + β') = λ sqrt(α'/2) =: c; with u = sqrt(1 + β'): u^2 + c u - 2 = 0
    c = lam * math.sqrt(new_lr / 2)
    u = (-c + math.sqrt(c * c + 8)) / 2
    return u * u - 1


def damped_flow(grad, x0, t_span, /, *, friction, v0=None, vectorized=False, **ode_options):
    """Solve the damped (heavy-ball) flow ``x'' + λ x' = -∇f(x)`` with :func:`solve_ode`.

    ``grad`` follows :func:`gradient_flow`'s convention (one member ``x`` of shape ``(d,)`` by
    default; the whole batch with ``vectorized=True``).  Returns the ODEResult with two extra
    fields, ``x`` and ``v`` (position and velocity, shape ``(*batch, n_times, d)``).
    """
    _check_grad(grad)
    if isinstance(friction, bool) or not isinstance(friction, numbers.Real) or not friction >= 0:
        raise ValueError(f"friction must be a non-negative number, got {friction!r}")
    lam = float(friction)
    xp = array_namespace(x0, v0)
    x = as_float_array(x0, "x0", xp, ndim_min=1)
    v = xp.zeros_like(x) if v0 is None else as_float_array(v0, "v0", xp)
    d = x.shape[-1]

    if vectorized or not is_numpy(xp):
        def rhs(t, y):
            ns = array_namespace(y)
            pos, vel = y[..., :d], y[..., d:]
            return ns.concat([vel, -lam * vel - grad(pos)], axis=-1)
    else:
        def make():
            def rhs_member(t, y):
                vel = y[d:]
                return np.concatenate((vel, -lam * vel - np.asarray(grad(y[:d]))))
            return rhs_member
        rhs = _cached_rhs(grad, ("damped", lam, d), make)

    res = solve_ode(rhs, t_span, xp.concat([x, v], axis=-1), vectorized=vectorized, **ode_options)
    res["x"] = res.y[..., :d]
    res["v"] = res.y[..., d:]
    return res
