"""``minimize_simplex``: first-order minimization of a smooth convex function over the simplex."""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Literal, SupportsFloat

from probspace import Result, array_namespace
from probspace._validation import check_choice, check_int, check_nonnegative
from probspace.typing import Array, ArrayLike, Namespace

from ._project import _float_input, eg_step, project_simplex

__all__ = ["minimize_simplex", "SimplexResult"]

_MESSAGES = {
    0: "optimality gap below tol",
    1: "maximum number of iterations reached",
    2: "non-finite objective or gradient",
    3: "stopped by callback",
    4: "line search failed to find a decrease (step size underflow)",
    5: "the gap is below tol but the point is off the simplex (numerical error); not certified",
    6: "the gap is below tol but below the rounding of the gradient values too "
       "(eps * max|grad| > tol); not certified: shift the objective or raise tol",
}


class SimplexResult(Result):
    """Result of :func:`minimize_simplex`.

    Attributes
    ----------
    x : array
        The final point on the simplex.
    fun : float
        Objective value at ``x``.
    gap : float
        Frank–Wolfe gap at ``x``: for convex ``fun``, ``fun - min fun <= gap``; a certificate.
    nit, nfev, njev : int
        Iterations, objective and gradient evaluations.
    success : bool
        True only when the result carries a valid certificate: ``x`` is on the simplex
        (``x >= 0``, ``|sum x - 1| <= 16 n eps``), ``gap <= tol``, and ``tol`` is above the
        rounding of the gradient values (``eps * max|grad|`` over the support and the
        minimum), without which a computed gap of 0 means nothing.
    status : int
        0 converged, 1 maxiter, 2 non-finite values, 3 callback stop, 4 line-search failure,
        5 gap below tol but ``x`` off the simplex, 6 gap below tol but below the gradient's
        rounding (both 5 and 6 have ``success=False``).
    message : str
    history : dict
        ``"fun"`` and ``"gap"`` per iteration (index 0 is the start), plus ``"lr"`` for eg/pgd.
    """


def _scalar(x: SupportsFloat) -> float:
    return float(x)


def minimize_simplex(fun: Callable[[Array], SupportsFloat], grad: Callable[[Array], Array],
                     p0: ArrayLike, /, *, method: Literal["eg", "pgd", "frank_wolfe"] = "eg",
                     lr: float | Callable[[int], SupportsFloat] | None = None,
                     maxiter: int = 1000, tol: float = 1e-9,
                     callback: Callable[[SimplexResult], bool | None] | None = None
                     ) -> SimplexResult:
    r"""Minimize a convex function over the probability simplex.

    NaN or inf in ``p0`` raise ``ValueError``; a non-finite objective or gradient during the run
    stops it with ``status=2`` (``success=False``).

    Parameters
    ----------
    fun : callable
        ``fun(p) -> float``.
    grad : callable
        ``grad(p) -> array`` of ``p``'s shape.
    p0 : array, 1-D
        Starting point on the simplex (non-negative, sums to 1 within 1e-8).  For ``"eg"``
        every coordinate that may be positive at the optimum must be positive in ``p0``
        (multiplicative updates keep zeros at zero); the uniform point is a good default.
    method : {"eg", "pgd", "frank_wolfe"}
        ``"eg"``: exponentiated gradient (entropic mirror descent).  With ``lr=None`` the step
        is chosen by backtracking on the relative-smoothness condition
        :math:`f(p^+) \le f(p) + \langle g, p^+ - p\rangle + \|p^+ - p\|_1^2/(2\eta)`
        (a lower bound of :math:`\mathrm{KL}(p^+\|p)/\eta` by Pinsker), tested through
        gradients, :math:`\langle g(p^+) - g, p^+ - p\rangle \le \|p^+ - p\|_1^2/(2\eta)`,
        which implies it for convex ``f`` and is free of cancellation near the optimum
        (no tuning; the step doubles after each accepted iteration); a float ``lr`` is a
        constant step and a callable ``lr(k)`` a schedule (e.g. the Beck–Teboulle
        :math:`\sqrt{2\ln n}/(L_\infty\sqrt{k})`) with ``k = 1, 2, ...``.
        ``"pgd"``: projected gradient with the same backtracking on
        :math:`\|p^+ - p\|_2^2/(2\eta)`.
        ``"frank_wolfe"``: Frank–Wolfe with away steps (Lacoste-Julien & Jaggi 2015) and the
        adaptive step of Pedregosa et al. (2020); linear convergence on strongly convex
        objectives; iterates are sparse.
    lr : None, float or callable
        Step-size rule for ``"eg"``/``"pgd"`` (see above); ignored by ``"frank_wolfe"``.
    maxiter : int
    tol : float
        Stop when the Frank–Wolfe gap (a bound on ``fun(p) - min fun``) is ``<= tol``.
    callback : callable, optional
        ``callback(res)`` after each iteration with a :class:`SimplexResult` snapshot;
        returning ``True`` stops.

    Returns
    -------
    SimplexResult

    Examples
    --------
    >>> import numpy as np
    >>> from numopt import minimize_simplex
    >>> c = np.array([0.3, -0.2, 1.0])
    >>> res = minimize_simplex(lambda p: p @ p + c @ p, lambda p: 2 * p + c, np.ones(3) / 3)
    >>> res.success
    True
    """
    check_choice(method, "method", ("eg", "pgd", "frank_wolfe"))
    maxiter = check_int(maxiter, "maxiter", minimum=0)
    tol = check_nonnegative(tol, "tol")
    if not callable(fun) or not callable(grad):
        raise TypeError("fun and grad must be callables")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    xp = array_namespace(p0, names=("p0",))
    p = _float_input(p0, "p0", xp)
    if p.ndim != 1 or p.shape[0] == 0:
        raise ValueError(f"p0 must be a non-empty 1-D array, got shape {tuple(p.shape)}")
    if bool(xp.any(xp.isnan(p))) or bool(xp.any(p < 0)):
        raise ValueError("p0 must be non-negative and finite")
    if abs(_scalar(xp.sum(p)) - 1.0) > 1e-8:
        raise ValueError(f"p0 must sum to 1 (a point of the probability simplex), sums to "
                         f"{_scalar(xp.sum(p))!r}")
    if lr is not None and not callable(lr):
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0 or math.isinf(lr):
            raise ValueError(f"lr must be None, a positive float or a callable, got {lr!r}")
    if method == "eg" and bool(xp.all(p == 0)):
        raise ValueError("p0 is all zero")
    solver = {"eg": _run_mirror, "pgd": _run_mirror, "frank_wolfe": _run_frank_wolfe}[method]
    return solver(xp, fun, grad, p, method, lr, maxiter, tol, callback)


def _gap(xp: Namespace, p: Array, g: Array) -> float:
    """Frank–Wolfe gap ``sum_i p_i (g_i - min g)``: equal to ``<p, g> - min g`` on the simplex
    but free of the cancellation that form suffers when ``|g|`` is large (a gradient around
    1e15 made that form return 0 or negative values at far-from-optimal points)."""
    gmin = xp.min(g)
    return _scalar(xp.sum(p * (g - gmin)))


def _certify(xp: Namespace, p: Array, g: Array, status: int, tol: float) -> int:
    """Downgrade a "converged" status whose certificate does not hold (see SimplexResult)."""
    if status != 0:
        return status
    n = p.shape[0]
    eps = float(xp.finfo(p.dtype).eps)
    if bool(xp.any(p < 0)) or abs(_scalar(xp.sum(p)) - 1.0) > 16 * n * eps:
        return 5
    support = p > 0
    gmin = xp.min(g)
    scale = max(abs(_scalar(gmin)), _scalar(xp.max(xp.where(support, xp.abs(g),
                                                             xp.zeros_like(g)))))
    geps = float(xp.finfo(g.dtype).eps) if xp.isdtype(g.dtype, "real floating") else eps
    if geps * scale > tol:
        return 6
    return 0


def _finish(xp: Namespace, p: Array, f: float, g: Array | None, nit: int, nfev: int, njev: int,
            status: int, tol: float, history: dict[str, list[float]]) -> SimplexResult:
    gap = _gap(xp, p, g) if g is not None else math.nan
    if g is not None:
        status = _certify(xp, p, g, status, tol)
    return SimplexResult(x=p, fun=f, gap=gap, nit=nit, nfev=nfev, njev=njev,
                         success=(status == 0), status=status, message=_MESSAGES[status],
                         history=history)


def _run_mirror(xp: Namespace, fun: Callable[[Array], SupportsFloat],
                grad: Callable[[Array], Array], p: Array, method: str,
                lr: float | Callable[[int], SupportsFloat] | None, maxiter: int, tol: float,
                callback: Callable[[SimplexResult], bool | None] | None) -> SimplexResult:
    f = _scalar(fun(p))
    g = grad(p)
    nfev, njev = 1, 1
    history = {"fun": [f], "gap": [], "lr": []}
    step = 1.0 if lr is None or callable(lr) else float(lr)
    if lr is None:
        # A first guess from the gradient scale: eta ~ 1 / max |g| keeps the first trial sane.
        gmax = _scalar(xp.max(xp.abs(g)))
        step = 1.0 / gmax if gmax > 0 else 1.0
    for k in range(1, maxiter + 1):
        if not (math.isfinite(f) and bool(xp.all(xp.isfinite(g)))):
            return _finish(xp, p, f, None, k - 1, nfev, njev, 2, tol, history)
        gap = _gap(xp, p, g)
        history["gap"].append(gap)
        if gap <= tol:
            return _finish(xp, p, f, g, k - 1, nfev, njev, 0, tol, history)
        if callable(lr):
            step = float(lr(k))
        accepted = False
        for _ in range(60):
            if method == "eg":
                q = eg_step(p, g, step)
                # Pinsker: KL(q||p) >= |q - p|_1^2 / 2, a bound free of the cancellation that
                # ruins a computed KL when q is close to p.
                l1 = _scalar(xp.sum(xp.abs(q - p)))
                bound = 0.5 * l1 * l1 / step
            else:
                q = project_simplex(p - step * g)
                d = q - p
                bound = _scalar(xp.sum(d * d)) / (2 * step)
            gq = grad(q)
            njev += 1
            # For convex f, f(q) <= f(p) + <g, q-p> + <g(q) - g, q-p>; bounding the last term by
            # the Bregman term gives the descent inequality without cancellation in f values.
            if lr is not None or _scalar(xp.sum((gq - g) * (q - p))) <= bound:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            return _finish(xp, p, f, g, k - 1, nfev, njev, 4, tol, history)
        history["lr"].append(step)
        p, g = q, gq
        f = _scalar(fun(p))
        nfev += 1
        history["fun"].append(f)
        if lr is None:
            step *= 2.0
        if callback is not None:
            snap = _finish(xp, p, f, g, k, nfev, njev, 1, tol, history)
            if callback(snap) is True:
                return _finish(xp, p, f, g, k, nfev, njev, 3, tol, history)
    if not (math.isfinite(f) and bool(xp.all(xp.isfinite(g)))):
        return _finish(xp, p, f, None, maxiter, nfev, njev, 2, tol, history)
    gap = _gap(xp, p, g)
    history["gap"].append(gap)
    return _finish(xp, p, f, g, maxiter, nfev, njev, 0 if gap <= tol else 1, tol, history)


def _run_frank_wolfe(xp: Namespace, fun: Callable[[Array], SupportsFloat],
                     grad: Callable[[Array], Array], p: Array, method: str,
                     lr: float | Callable[[int], SupportsFloat] | None, maxiter: int,
                     tol: float, callback: Callable[[SimplexResult], bool | None] | None
                     ) -> SimplexResult:
    n = p.shape[0]
    f = _scalar(fun(p))
    g = grad(p)
    nfev, njev = 1, 1
    history = {"fun": [f], "gap": [], "L": []}
    idx = xp.arange(n)
    lip = None  # local Lipschitz estimate of the gradient (Pedregosa et al. 2020)
    for k in range(1, maxiter + 1):
        if not (math.isfinite(f) and bool(xp.all(xp.isfinite(g)))):
            return _finish(xp, p, f, None, k - 1, nfev, njev, 2, tol, history)
        s = int(xp.argmin(g))
        gs = g - g[s]              # >= 0; differences, so no cancellation at large |g|
        gap = _scalar(xp.sum(p * gs))
        history["gap"].append(gap)
        if gap <= tol:
            return _finish(xp, p, f, g, k - 1, nfev, njev, 0, tol, history)
        support = p > 0
        big = xp.asarray(-xp.inf, dtype=g.dtype)
        a = int(xp.argmax(xp.where(support, g, big)))
        pa = _scalar(p[a])
        away_gap = _scalar(gs[a]) - gap
        e_s = xp.astype(idx == s, p.dtype)
        e_a = xp.astype(idx == a, p.dtype)
        if gap >= away_gap or pa >= 1.0:
            d = e_s - p
            gmax = 1.0
            slope = gap
        else:
            d = p - e_a
            gmax = pa / (1.0 - pa)
            slope = away_gap
        dd = _scalar(xp.sum(d * d))
        if lip is None:
            # Initial estimate from a tiny gradient difference along d.
            eps = 1e-6
            g2 = grad(p + eps * d)
            njev += 1
            lip = max(_scalar(xp.sqrt(xp.sum((g2 - g) ** 2))) / (eps * math.sqrt(dd)), 1e-12)
        accepted = False
        for _ in range(60):
            gamma = min(slope / (lip * dd), gmax)
            q = p + gamma * d
            if gamma == gmax and gmax < 1.0:
                q = xp.where(idx == a, xp.zeros_like(q), q)  # drop step: vertex leaves exactly
            q = xp.maximum(q, xp.zeros_like(q))
            gq = grad(q)
            njev += 1
            # Convexity: f(q) <= f + gamma <g, d> + gamma <g(q) - g, d>; the sufficient decrease
            # f(q) <= f - gamma slope + gamma^2 L |d|^2 / 2 follows from this gradient test.
            if _scalar(xp.sum((gq - g) * d)) <= 0.5 * gamma * lip * dd:
                accepted = True
                break
            lip *= 2.0
        if not accepted:
            return _finish(xp, p, f, g, k - 1, nfev, njev, 4, tol, history)
        history["L"].append(lip)
        lip *= 0.9
        p, g = q, gq
        f = _scalar(fun(p))
        nfev += 1
        history["fun"].append(f)
        if callback is not None:
            snap = _finish(xp, p, f, g, k, nfev, njev, 1, tol, history)
            if callback(snap) is True:
                return _finish(xp, p, f, g, k, nfev, njev, 3, tol, history)
    gap = _gap(xp, p, g)
    history["gap"].append(gap)
    return _finish(xp, p, f, g, maxiter, nfev, njev, 0 if gap <= tol else 1, tol, history)
