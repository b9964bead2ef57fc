"""Symbolic Fokker–Planck and continuity equations (the test-function derivation as code).

For ``dX = f dt + G dW`` (Itô), integrating a smooth test function φ against the law and
integrating by parts (J. Su, "Deriving the continuity equation and Fokker-Planck equation using
the test function method", kexue.fm, 2023, https://kexue.fm/archives/9461) gives

    ∂p/∂t = -Σ_i ∂_i(f_i p) + 1/2 Σ_ij ∂_i ∂_j (D_ij p),   D = G G^T,

and for the ODE ``dx = v dt`` the continuity equation ``∂p/∂t = -∇·(v p)``. The ODE with
velocity ``v = f - (1/(2p)) ∇·(D p)`` (the probability-flow ODE) has the same marginals.
"""
from __future__ import annotations

import sympy as sp

__all__ = ["fokker_planck_residual", "continuity_residual", "is_stationary",
           "probability_flow_drift", "probability_flow_ode", "diffusion_matrix"]


def _symbols(x):
    if isinstance(x, sp.Symbol):
        return [x], True
    try:
        xs = list(x)
    except TypeError:
        raise TypeError("x must be a sympy Symbol or a list of Symbols") from None
    if not xs or not all(isinstance(s, sp.Symbol) for s in xs):
        raise TypeError("x must be a sympy Symbol or a non-empty list of Symbols")
    return xs, False


def _vector(v, d, name):
    if d == 1 and not isinstance(v, (list, tuple, sp.MatrixBase)):
        return [sp.sympify(v)]
    vals = list(v) if not isinstance(v, sp.MatrixBase) else list(v)
    if len(vals) != d:
        raise ValueError(f"{name} must have {d} components, got {len(vals)}")
    return [sp.sympify(e) for e in vals]


def diffusion_matrix(diffusion, d):
    """``D = G G^T`` for a scalar ``g`` (``g^2 I``) or a ``d x m`` matrix ``G``."""
    if isinstance(diffusion, (list, tuple)):
        diffusion = sp.Matrix(diffusion)
    if isinstance(diffusion, sp.MatrixBase):
        G = diffusion
        if G.shape[0] != d:
            raise ValueError(f"diffusion matrix must have {d} rows, got shape {G.shape}")
        return G * G.T
    g = sp.sympify(diffusion)
    return g ** 2 * sp.eye(d)


def _simplify_zero(expr, density):
    """Reduce a residual; exactly ``0`` when it vanishes identically.

    The residual divided by the density is a rational function of the variables and of the
    exponentials left after ``powsimp``; its expanded numerator is tried first (fast), then
    ``simplify`` (for moderate sizes).  A nonzero residual comes back as
    ``(simplified residual / density) * density``.
    """
    p = sp.sympify(density)
    try:
        ratio = sp.powsimp(sp.expand(expr / p), force=True)
        num = sp.expand(sp.numer(sp.together(ratio)))
        if num == 0:
            return sp.Integer(0)
        if sp.count_ops(ratio) < 400:
            ratio = sp.simplify(ratio)
            if ratio == 0:
                return sp.Integer(0)
        return ratio * p
    except Exception:  # pragma: no cover - fall back to plain simplification
        return sp.simplify(expr)


def fokker_planck_residual(drift, diffusion, density, x, t=None):
    """``∂p/∂t + ∇·(f p) - 1/2 Σ ∂_i∂_j(D_ij p)`` for ``dX = drift dt + diffusion dW``.

    Zero exactly when ``density`` solves the Fokker–Planck equation.

    Parameters
    ----------
    drift : expr or list of expr
        ``f`` (one expression for a scalar ``x``, ``d`` for a list of symbols).
    diffusion : expr or Matrix
        The SDE's ``g`` (same convention as :func:`solvers.fokker_planck_1d`: the equation
        has ``1/2 ∂xx(g^2 p)``); for a list of symbols a ``d x m`` matrix ``G`` (``D = G G^T``),
        or a scalar meaning ``g I``.
    density : expr
        ``p(x)`` or ``p(x, t)``.
    x : Symbol or list of Symbols
    t : Symbol, optional
        Time symbol; ``None`` checks stationarity (``∂p/∂t = 0``).

    Returns
    -------
    sympy expression
        ``0`` for a solution; otherwise the residual as ``(reduced residual / p) * p``.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> fokker_planck_residual(-x, sp.sqrt(2), sp.exp(-x**2/2), x)
    0
    """
    xs, _ = _symbols(x)
    d = len(xs)
    f = _vector(drift, d, "drift")
    D = diffusion_matrix(diffusion, d)
    p = sp.sympify(density)
    res = sp.diff(p, t) if t is not None else sp.Integer(0)
    for i in range(d):
        res += sp.diff(f[i] * p, xs[i])
        for j in range(d):
            if D[i, j] != 0:
                res -= sp.Rational(1, 2) * sp.diff(D[i, j] * p, xs[i], xs[j])
    return _simplify_zero(res, p)


def continuity_residual(velocity, density, x, t=None):
    """``∂p/∂t + ∇·(v p)``: zero when ``density`` is transported by ``dx/dt = velocity``."""
    xs, _ = _symbols(x)
    v = _vector(velocity, len(xs), "velocity")
    p = sp.sympify(density)
    res = sp.diff(p, t) if t is not None else sp.Integer(0)
    for i, s in enumerate(xs):
        res += sp.diff(v[i] * p, s)
    return _simplify_zero(res, p)


def is_stationary(drift, diffusion, density, x):
    """True when ``density`` is a stationary solution of the Fokker–Planck equation.

    The residual is simplified symbolically and, if sympy cannot decide, tested with
    ``Expr.equals(0)`` (random numeric evaluation plus simplification).
    """
    res = fokker_planck_residual(drift, diffusion, density, x)
    if res == 0:
        return True
    p = sp.sympify(density)
    return bool((res / p).equals(0))


def probability_flow_drift(drift, diffusion, density, x):
    """Velocity ``v = f - (1/(2p)) ∇·(D p)`` of the ODE with the SDE's marginals.

    For constant scalar ``g`` this is ``f - (g^2/2) ∇log p``. Returns one expression for a
    scalar ``x``, a list for a list of symbols.
    """
    xs, scalar = _symbols(x)
    d = len(xs)
    f = _vector(drift, d, "drift")
    D = diffusion_matrix(diffusion, d)
    p = sp.sympify(density)
    v = []
    for i in range(d):
        div = sum((sp.diff(D[i, j] * p, xs[j]) for j in range(d)), sp.Integer(0))
        v.append(sp.simplify(f[i] - div / (2 * p)))
    return v[0] if scalar else v


def probability_flow_ode(drift, diffusion, density, x, t=None, /, *, xp=None):
    """The probability-flow ODE as a numeric right-hand side ``rhs(t, y)`` for ``solve_ode``.

    The velocity from :func:`probability_flow_drift` is compiled with
    :func:`probspace.sym.lambdify`; ``y`` has shape ``(..., d)`` and ``t`` a scalar or an
    array broadcastable against ``y[..., 0]``.
    """
    from probspace.sym import lambdify
    xs, scalar = _symbols(x)
    v = probability_flow_drift(drift, diffusion, density, x)
    v = [v] if scalar else v
    tt = t if t is not None else sp.Symbol("_t_unused")
    fns = [lambdify([tt, *xs], vi, xp) for vi in v]

    def rhs(time, y):
        from probspace import array_namespace
        ns = array_namespace(y) if xp is None else xp
        comps = [y[..., i] for i in range(len(xs))]
        out = [fn(time, *comps) for fn in fns]
        out = [o + ns.zeros_like(comps[0]) if not hasattr(o, "shape") or o.shape != comps[0].shape
               else o for o in out]
        return ns.stack(out, axis=-1)

    rhs.velocity = v
    return rhs
